//! The status fixtures of tests/fixtures/status are real objects: this test makes the controller
//! write each state against the real control plane, moto and versitygw, reads the object back
//! (`kubectl get bcp NAME -o json`, without `managedFields`), checks that the Argo CD health check
//! gives it the expected health, and that the recorded fixture has the same `Ready` condition.
//!
//! `BUCKETCORS_UPDATE_FIXTURES=1` rewrites the fixtures from the objects it captured.
//! Runs under `hack/controlplane/with-controlplane.sh hack/s3/with-s3.sh`;
//! `BUCKETCORS_SKIP_CLUSTER_TESTS=1` skips.

mod support;

use std::time::{Duration, Instant};

use bucketcors::api::{ChecksumMode, CorsMethod, CorsRule};
use bucketcors::s3::{BucketRef, CorsStore};
use serde_json::Value;
use support::argocd::{EXPECTED, fixtures_dir, health_of, lua};
use support::cluster::{self, TestCluster, free_port, kubectl};
use support::s3::{S3Server, Server};

const RULES: &str = "  - {id: uploads, allowedOrigins: ['https://shop.example.com'], allowedMethods: [GET, PUT], allowedHeaders: ['*'], exposeHeaders: [ETag], maxAgeSeconds: 3000}\n";

fn policy(name: &str, bucket: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\nmetadata: {{name: {name}}}\n\
         spec:\n  bucket: {bucket}\n  endpointRef: {{kind: S3Endpoint, name: {endpoint}}}\n{extra}  rules:\n{RULES}"
    )
}

fn rule(origin: &str) -> CorsRule {
    CorsRule {
        id: Some("uploads".into()),
        allowed_origins: vec![origin.into()],
        allowed_methods: vec![CorsMethod::Get, CorsMethod::Put],
        allowed_headers: vec!["*".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(3000),
    }
}

async fn put_directly(server: &S3Server, bucket: &str, rules: &[CorsRule]) {
    server
        .store(ChecksumMode::Auto)
        .await
        .put(&BucketRef::new(bucket), rules)
        .await
        .expect("put bucket CORS");
}

/// The object as `kubectl get -o json` prints it, without `managedFields` (bookkeeping noise).
fn capture(c: &TestCluster, name: &str) -> Value {
    let out = kubectl()
        .env("KUBECONFIG", &c.kubeconfig)
        .args(["-n", &c.namespace, "get", "bcp", name, "-o", "json"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl get bcp {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut obj: Value = serde_json::from_slice(&out.stdout).expect("kubectl JSON");
    if let Some(meta) = obj["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    obj
}

fn ready(obj: &Value) -> Option<(String, String)> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

/// Waits until the policy's Ready condition is (status, reason), then captures it.
async fn capture_when(c: &TestCluster, name: &str, status: &str, reason: &str) -> Value {
    let start = Instant::now();
    loop {
        let obj = capture(c, name);
        if ready(&obj) == Some((status.to_owned(), reason.to_owned())) {
            return obj;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{name}: Ready is {:?}, wanted {status}/{reason}",
            ready(&obj)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn fixtures_are_real_controller_objects() {
    let Some(c) = cluster::cluster("fixtures").await else {
        return;
    };
    let Some(moto) = support::s3::server("fixtures", Server::Moto) else {
        return;
    };
    let gw = support::s3::server("fixtures", Server::Versitygw).expect("versitygw");

    // Endpoints: moto; versitygw with a wrong secret key; a closed port; a port that accepts
    // connections and never answers (the first visit stays in progress while the read hangs).
    c.moto_endpoint().await;
    c.s3_secret("gw-wrong", &gw.access_key, "not-the-secret-key")
        .await;
    c.s3_endpoint("gw-wrong", &gw.url, "gw-wrong").await;
    c.s3_endpoint(
        "down",
        &format!("http://127.0.0.1:{}", free_port()),
        "moto-keys",
    )
    .await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("addr"));
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    c.s3_endpoint("silent", &silent_url, "moto-keys").await;

    let bucket = |_: &str| moto.new_bucket("fixtures");
    let (b_applied, b_insync, b_drift, b_stale, b_suspended, b_nostatus, b_first) = (
        bucket("applied").await,
        bucket("insync").await,
        bucket("drift").await,
        bucket("stale").await,
        bucket("suspended").await,
        bucket("nostatus").await,
        bucket("first").await,
    );
    let b_gw = gw.new_bucket("fixtures").await;
    put_directly(&moto, &b_insync, &[rule("https://shop.example.com")]).await;
    put_directly(&moto, &b_drift, &[rule("https://old.example.com")]).await;

    // Before any controller runs: an object without status.
    c.apply(&policy("no-status", &b_nostatus, "moto", "")).await;
    let mut captured = vec![("no-status", capture(&c, "no-status"))];
    assert!(captured[0].1.get("status").is_none_or(Value::is_null));

    for (name, bucket, endpoint, extra) in [
        ("first-visit", b_first.as_str(), "silent", ""),
        ("ready-applied", &b_applied, "moto", ""),
        ("ready-insync", &b_insync, "moto", ""),
        ("stale-generation", &b_stale, "moto", ""),
        ("reconciling-unavailable", &b_applied, "down", ""),
        ("stalled-accessdenied", &b_gw, "gw-wrong", ""),
        (
            "stalled-nosuchbucket",
            &support::s3::unique_bucket("missing"),
            "moto",
            "",
        ),
        ("suspended", &b_suspended, "moto", "  suspend: true\n"),
        (
            "drift-reported",
            &b_drift,
            "moto",
            "  driftPolicy: Report\n",
        ),
    ] {
        c.apply(&policy(name, bucket, endpoint, extra)).await;
    }
    let mut ctl = c.start_controller(&[]);
    for (name, status, reason) in [
        ("first-visit", "Unknown", "Progressing"),
        ("ready-applied", "True", "Applied"),
        ("ready-insync", "True", "InSync"),
        ("reconciling-unavailable", "False", "Unavailable"),
        ("stalled-accessdenied", "False", "AccessDenied"),
        ("stalled-nosuchbucket", "False", "NoSuchBucket"),
        ("suspended", "Unknown", "Suspended"),
        ("drift-reported", "False", "DriftReported"),
    ] {
        captured.push((name, capture_when(&c, name, status, reason).await));
    }
    // A spec change the controller has not seen (it is stopped): the status is a generation old.
    capture_when(&c, "stale-generation", "True", "Applied").await;
    ctl.kill();
    c.apply(&policy(
        "stale-generation",
        &b_stale,
        "moto",
        "  interval: 5m\n",
    ))
    .await;
    let stale = capture(&c, "stale-generation");
    assert!(
        stale["metadata"]["generation"].as_i64() > stale["status"]["observedGeneration"].as_i64(),
        "stale-generation: {stale}"
    );
    captured.push(("stale-generation", stale));

    let names: Vec<&str> = captured.iter().map(|(n, _)| *n).collect();
    let mut expected_names: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    expected_names.sort_unstable();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected_names, "one capture per fixture");

    let update = std::env::var("BUCKETCORS_UPDATE_FIXTURES").as_deref() == Ok("1");
    let lua = lua();
    let mut wrong = Vec::new();
    for (name, obj) in &captured {
        let want = EXPECTED
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| *h)
            .expect("expected health");
        if let Some(lua) = lua {
            let (got, message) = health_of(lua, obj);
            if got != want {
                wrong.push(format!(
                    "{name}: live object is {got} ({message}), want {want}"
                ));
            }
        }
        let path = fixtures_dir().join(format!("{name}.json"));
        if update {
            let mut text = serde_json::to_string_pretty(obj).expect("JSON");
            text.push('\n');
            std::fs::write(&path, text).expect("write fixture");
            continue;
        }
        let recorded: Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        if ready(&recorded) != ready(obj) {
            wrong.push(format!(
                "{name}: fixture Ready {:?}, the controller writes {:?} \
                 (BUCKETCORS_UPDATE_FIXTURES=1 records the new objects)",
                ready(&recorded),
                ready(obj)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
