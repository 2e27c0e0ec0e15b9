//! `bucketcors plan`, `apply` and `export` end to end: the real binary against the real servers
//! (moto for behaviour, versitygw where credentials must be checked), through a recording proxy
//! that counts what was written.

mod support;

use std::path::Path;
use std::process::Output;

use aws_sdk_s3::types::{CorsConfiguration, CorsRule as SdkCorsRule};
use bucketcors::api::ChecksumMode;
use bucketcors::s3::{Credentials, EndpointConfig, SecretString, StaticCredentials};
use support::proxy::RecordingProxy;
use support::s3::{S3Server, Server, server};

/// Runs the binary with a clean environment: only the AWS settings given here count.
async fn bucketcors(
    args: Vec<String>,
    access: &str,
    secret: &str,
    extra_env: Vec<(&'static str, String)>,
) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").expect("write");
    let mut cmd = std::process::Command::new(support::bin::bucketcors());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(&args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run bucketcors"))
        .await
        .expect("join")
}

fn s3_flags(url: &str) -> Vec<String> {
    vec!["--endpoint-url".into(), url.into(), "--path-style".into()]
}

struct Cli<'a> {
    server: &'a S3Server,
    proxy: RecordingProxy,
}

impl Cli<'_> {
    async fn run(&self, command: &str, file: &Path, extra: &[&str]) -> Output {
        let mut args = vec![command.to_owned(), file.display().to_string()];
        args.extend(s3_flags(&self.proxy.url));
        args.extend(extra.iter().map(|s| s.to_string()));
        bucketcors(
            args,
            &self.server.access_key,
            &self.server.secret_key,
            vec![],
        )
        .await
    }

    async fn export(&self, bucket: &str) -> Output {
        let mut args = vec![
            "export".into(),
            "--bucket".into(),
            bucket.into(),
            "--namespace".into(),
            "shop".into(),
        ];
        args.extend(s3_flags(&self.proxy.url));
        bucketcors(
            args,
            &self.server.access_key,
            &self.server.secret_key,
            vec![],
        )
        .await
    }

    /// Write requests (PutBucketCors, DeleteBucketCors) the proxy saw for `bucket`.
    fn writes(&self, bucket: &str) -> usize {
        self.proxy
            .requests()
            .iter()
            .filter(|r| r.is_for_bucket(bucket) && (r.method == "PUT" || r.method == "DELETE"))
            .count()
    }

    fn requests_for(&self, bucket: &str) -> usize {
        self.proxy
            .requests()
            .iter()
            .filter(|r| r.is_for_bucket(bucket))
            .count()
    }
}

async fn cli(test: &str) -> Option<(S3Server, tempfile::TempDir)> {
    Some((
        server(test, Server::Moto)?,
        tempfile::tempdir().expect("tempdir"),
    ))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn policy(name: &str, bucket: &str, extra_spec: &str, rules: &str) -> String {
    format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\nmetadata: {{name: {name}, namespace: shop}}\n\
         spec:\n  bucket: {bucket}\n{extra_spec}  rules:\n{rules}"
    )
}

const RULES: &str = "    - id: uploads\n      allowedOrigins: [\"https://shop.example.com\"]\n      allowedMethods: [GET, PUT]\n      allowedHeaders: [\"*\"]\n      maxAgeSeconds: 300\n    - allowedOrigins: [\"*\"]\n      allowedMethods: [GET]\n";
const RULES_SWAPPED: &str = "    - allowedOrigins: [\"*\"]\n      allowedMethods: [GET]\n    - id: uploads\n      allowedOrigins: [\"https://shop.example.com\"]\n      allowedMethods: [GET, PUT]\n      allowedHeaders: [\"*\"]\n      maxAgeSeconds: 300\n";

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_twice_writes_once_then_plan_is_clean_and_reordering_is_a_change() {
    let Some((s, dir)) =
        cli("apply_twice_writes_once_then_plan_is_clean_and_reordering_is_a_change").await
    else {
        return;
    };
    let cli = Cli {
        server: &s,
        proxy: RecordingProxy::start(&s.url).await,
    };
    let bucket = s.new_bucket("cliapply").await;
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, policy("web", &bucket, "", RULES)).unwrap();

    let out = cli.run("plan", &file, &[]).await;
    assert_eq!(code(&out), 2, "a change is pending: {}", text(&out));

    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("put the declared rules"),
        "{}",
        text(&out)
    );
    assert_eq!(cli.writes(&bucket), 1);

    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("no change"), "{}", text(&out));
    assert_eq!(cli.writes(&bucket), 1, "the second apply wrote nothing");

    let out = cli.run("plan", &file, &["--output", "json"]).await;
    assert_eq!(code(&out), 0, "in sync after apply: {}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let entry = &json["policies"][0];
    assert_eq!(entry["action"], "none");
    assert_eq!(entry["bucket"], bucket.as_str());
    assert_eq!(
        (entry["name"].as_str(), entry["namespace"].as_str()),
        (Some("web"), Some("shop"))
    );
    assert_eq!(entry["liveRules"].as_array().map(Vec::len), Some(2));

    // Same rules, other order: S3 uses the first match, so this is a change.
    std::fs::write(&file, policy("web", &bucket, "", RULES_SWAPPED)).unwrap();
    let out = cli.run("plan", &file, &["--output", "json"]).await;
    assert_eq!(code(&out), 2, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    assert_eq!(json["policies"][0]["action"], "put");
    assert!(
        json["policies"][0]["diff"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(cli.writes(&bucket), 1, "plan never writes");

    // Declaring no rules deletes the configuration, once.
    std::fs::write(
        &file,
        policy("web", &bucket, "", "").replace("  rules:\n", "  rules: []\n"),
    )
    .unwrap();
    let out = cli.run("apply", &file, &["--output", "json"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apply JSON");
    assert_eq!(
        (
            json["policies"][0]["action"].as_str(),
            json["policies"][0]["result"].as_str()
        ),
        (Some("delete"), Some("deleted"))
    );
    let out = cli.run("plan", &file, &[]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(cli.writes(&bucket), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_apply_is_a_no_op() {
    let Some((s, dir)) = cli("export_then_apply_is_a_no_op").await else {
        return;
    };
    let cli = Cli {
        server: &s,
        proxy: RecordingProxy::start(&s.url).await,
    };

    // A bucket configured by someone else, in a shape of its own (lower-case method names are
    // not accepted by the servers, so: mixed-case headers, duplicates, unordered values).
    let bucket = s.new_bucket("cliexport").await;
    let rule = |origins: &[&str], methods: &[&str], headers: &[&str]| {
        SdkCorsRule::builder()
            .set_allowed_origins(Some(origins.iter().map(|s| s.to_string()).collect()))
            .set_allowed_methods(Some(methods.iter().map(|s| s.to_string()).collect()))
            .set_allowed_headers(Some(headers.iter().map(|s| s.to_string()).collect()))
            .build()
            .unwrap()
    };
    let config = CorsConfiguration::builder()
        .cors_rules(rule(
            &["https://b.example", "https://a.example"],
            &["PUT", "GET"],
            &["X-Custom", "content-TYPE"],
        ))
        .cors_rules(rule(&["*"], &["HEAD"], &[]))
        .build()
        .unwrap();
    s.sdk()
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(config)
        .send()
        .await
        .unwrap();

    let out = cli.export(&bucket).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        yaml.contains("kind: BucketCorsPolicy") && yaml.contains(&format!("bucket: {bucket}")),
        "{yaml}"
    );
    let file = dir.path().join("exported.yaml");
    std::fs::write(&file, &yaml).unwrap();

    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("no change"), "{}", text(&out));
    assert_eq!(
        cli.writes(&bucket),
        0,
        "exported then applied writes nothing"
    );
    assert!(
        cli.requests_for(&bucket) >= 2,
        "export and apply read the bucket through the proxy"
    );
    assert_eq!(code(&cli.run("plan", &file, &[]).await), 0);

    // A bucket without CORS exports an empty list, which applies as a no-op too.
    let empty = s.new_bucket("cliexportnone").await;
    let out = cli.export(&empty).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(yaml.contains("rules: []"), "{yaml}");
    std::fs::write(&file, &yaml).unwrap();
    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(cli.writes(&empty), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_policies_are_planned_not_written_and_suspended_ones_are_skipped() {
    let Some((s, dir)) =
        cli("report_policies_are_planned_not_written_and_suspended_ones_are_skipped").await
    else {
        return;
    };
    let cli = Cli {
        server: &s,
        proxy: RecordingProxy::start(&s.url).await,
    };
    let reported = s.new_bucket("clireport").await;
    let suspended = s.new_bucket("clisuspend").await;
    let file = dir.path().join("policies.yaml");
    let text_in = format!(
        "{}---\n{}",
        policy("reported", &reported, "  driftPolicy: Report\n", RULES),
        policy("paused", &suspended, "  suspend: true\n", RULES)
    );
    std::fs::write(&file, text_in).unwrap();

    let out = cli.run("plan", &file, &["--output", "json"]).await;
    assert_eq!(code(&out), 2, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["policies"][0]["action"], "put");
    assert_eq!(json["policies"][1]["action"], "none");

    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("drift reported, not written (driftPolicy: Report)"),
        "{said}"
    );
    assert!(said.contains("suspended, skipped"), "{said}");
    assert_eq!(cli.writes(&reported), 0);
    assert!(
        cli.requests_for(&reported) >= 2,
        "plan and apply read the reported bucket"
    );
    assert_eq!(
        cli.requests_for(&suspended),
        0,
        "a suspended policy's bucket is not even read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policies_fail_before_any_s3_call() {
    let Some((s, dir)) = cli("invalid_policies_fail_before_any_s3_call").await else {
        return;
    };
    let cli = Cli {
        server: &s,
        proxy: RecordingProxy::start(&s.url).await,
    };
    let file = dir.path().join("invalid.yaml");
    let many: String = (0..101)
        .map(|i| {
            format!(
                "    - allowedOrigins: [\"https://{i}.example\"]\n      allowedMethods: [GET]\n"
            )
        })
        .collect();
    let valid = policy("ok", "some-bucket", "", RULES);
    // An invalid spec (101 rules), after a valid one: nothing is read or written for either.
    std::fs::write(
        &file,
        format!(
            "{valid}---\n{}",
            policy("too-many", "other-bucket", "", &many)
        ),
    )
    .unwrap();
    for command in ["plan", "apply"] {
        let out = cli.run(command, &file, &[]).await;
        assert_eq!(code(&out), 1, "{command}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("101 rules"),
            "{command}: {}",
            text(&out)
        );
    }
    // A document that is not a policy at all (unknown method).
    std::fs::write(
        &file,
        policy(
            "bad",
            "some-bucket",
            "",
            "    - allowedOrigins: [\"*\"]\n      allowedMethods: [PATCH]\n",
        ),
    )
    .unwrap();
    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    // Two policies for one bucket would undo each other.
    std::fs::write(
        &file,
        format!("{valid}---\n{}", policy("twin", "some-bucket", "", RULES)),
    )
    .unwrap();
    let out = cli.run("apply", &file, &[]).await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("also managed by"), "{}", text(&out));
    assert!(
        cli.proxy.requests().is_empty(),
        "no S3 request: {:?}",
        cli.proxy.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_or_debug_output() {
    let Some(s) = server(
        "secrets_never_reach_logs_errors_or_debug_output",
        Server::Versitygw,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bucket = s.new_bucket("clisecret").await;
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, policy("web", &bucket, "", RULES)).unwrap();

    const SECRET: &str = "wrongSECRETrecognisable0123456789XYZ";
    const TOKEN: &str = "sessionTOKENrecognisable9876543210ABC";
    for level in ["debug", "trace"] {
        for command in ["plan", "apply"] {
            let mut args = vec![command.to_owned(), file.display().to_string()];
            args.extend(s3_flags(&s.url));
            let env = vec![
                ("RUST_LOG", level.to_owned()),
                ("AWS_SESSION_TOKEN", TOKEN.to_owned()),
            ];
            let out = bucketcors(args, &s.access_key, SECRET, env).await;
            let all = text(&out);
            assert_eq!(code(&out), 1, "{command} with a wrong secret fails: {all}");
            assert!(
                all.contains("AccessDenied")
                    || all.contains("SignatureDoesNotMatch")
                    || all.contains("InvalidToken"),
                "{all}"
            );
            assert!(
                all.lines().count() > 5,
                "{level} logging produced output: {all}"
            );
            assert!(
                !all.contains(SECRET),
                "{command} RUST_LOG={level}: secret key in output"
            );
            assert!(
                !all.contains(TOKEN),
                "{command} RUST_LOG={level}: session token in output"
            );
        }
    }

    let config = EndpointConfig {
        credentials: Credentials::Static(StaticCredentials {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: SecretString::new(SECRET),
            session_token: Some(SecretString::new(TOKEN)),
        }),
        ..s.endpoint(ChecksumMode::Auto)
    };
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(
            shown.contains("AKIAEXAMPLE"),
            "the access key id is not secret: {shown}"
        );
        assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
    }
    let store = bucketcors::s3::AwsCorsStore::connect(&config)
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_keeps_the_expected_bucket_owner_and_apply_sends_it() {
    let Some((s, dir)) = cli("export_keeps_the_expected_bucket_owner_and_apply_sends_it").await
    else {
        return;
    };
    let cli = Cli {
        server: &s,
        proxy: RecordingProxy::start(&s.url).await,
    };
    // moto's account; the owner check passes, and the header is what matters here.
    const OWNER: &str = "123456789012";
    let bucket = s.new_bucket("cliowner").await;
    let mut args = vec![
        "export".to_owned(),
        "--bucket".into(),
        bucket.clone(),
        "--expected-bucket-owner".into(),
        OWNER.into(),
    ];
    args.extend(s3_flags(&cli.proxy.url));
    let out = bucketcors(args, &s.access_key, &s.secret_key, vec![]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        yaml.contains(&format!("expectedBucketOwner: '{OWNER}'")),
        "{yaml}"
    );
    let owners = |cli: &Cli| -> Vec<Option<String>> {
        cli.proxy
            .requests()
            .iter()
            .filter(|r| r.is_for_bucket(&bucket))
            .map(|r| r.header("x-amz-expected-bucket-owner").map(str::to_owned))
            .collect()
    };
    assert_eq!(owners(&cli), [Some(OWNER.to_owned())], "export's read");

    // The exported policy carries the owner, so plan and apply send it too.
    cli.proxy.clear();
    let file = dir.path().join("exported.yaml");
    std::fs::write(&file, &yaml).unwrap();
    for command in ["plan", "apply"] {
        let out = cli.run(command, &file, &[]).await;
        assert_eq!(code(&out), 0, "{command}: {}", text(&out));
    }
    let sent = owners(&cli);
    assert!(
        !sent.is_empty() && sent.iter().all(|o| o.as_deref() == Some(OWNER)),
        "{sent:?}"
    );
}

/// Needs no server: the URL is refused before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_endpoint_url_is_refused_and_never_printed() {
    const PASSWORD: &str = "hunter2recognisable";
    let url = format!("http://AKIAUSER:{PASSWORD}@127.0.0.1:9");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, policy("web", "some-bucket", "", RULES)).unwrap();
    let runs = [
        vec![
            "plan".to_owned(),
            file.display().to_string(),
            "--endpoint-url".into(),
            url.clone(),
        ],
        vec![
            "apply".to_owned(),
            file.display().to_string(),
            "--endpoint-url".into(),
            url.clone(),
        ],
        vec![
            "export".to_owned(),
            "--bucket".into(),
            "some-bucket".into(),
            "--endpoint-url".into(),
            url.clone(),
        ],
    ];
    for args in runs {
        let command = args[0].clone();
        let out = bucketcors(
            args,
            "AKIAEXAMPLE",
            "secret",
            vec![("RUST_LOG", "debug".into())],
        )
        .await;
        let all = text(&out);
        assert_eq!(code(&out), 1, "{command}: {all}");
        assert!(all.contains("credentials"), "{command}: {all}");
        assert!(all.contains("***@127.0.0.1:9"), "{command}: {all}");
        assert!(!all.contains(PASSWORD), "{command}: {all}");
    }
    // Through the environment as well.
    let out = bucketcors(
        vec!["plan".into(), file.display().to_string()],
        "AKIAEXAMPLE",
        "secret",
        vec![("AWS_ENDPOINT_URL_S3", url.clone())],
    )
    .await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));
}
