//! `bucketcors lint` through the real binary, on fixtures written to a temporary directory.

use std::path::{Path, PathBuf};

mod support;

use serde_json::{Value, json};
use support::bin::command as bucketcors;

const HEADER: &str = "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\n";

/// A policy document named `name` whose spec is `spec` (YAML, indented by two spaces).
fn policy(name: &str, spec: &str) -> String {
    format!("{HEADER}metadata: {{name: {name}, namespace: demo}}\nspec:\n{spec}")
}

const GOOD_SPEC: &str = "  bucket: demo-web
  rules:
    - id: read
      allowedOrigins: ['https://www.example.com']
      allowedMethods: [GET, HEAD]
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `lint --output json` on `files`; returns the exit code and the parsed report.
fn lint_json(files: &[&Path]) -> (i32, Value) {
    let out = bucketcors()
        .arg("lint")
        .arg("--output")
        .arg("json")
        .args(files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "lint panicked: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "lint did not print JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), report)
}

/// Lints one file holding `text` and returns the exit code and its errors as
/// `(document, path, message)`.
fn lint_errors(text: &str) -> (i32, Vec<(Value, String, String)>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "policy.yaml", text);
    let (code, report) = lint_json(&[&file]);
    let errors = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["file"], json!(file.display().to_string()), "{e}");
            (
                e["document"].clone(),
                e["path"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (code, errors, report)
}

/// Asserts that linting `text` fails with one error at `document` and `path` whose message
/// contains `needle`, both in JSON and in the text output.
fn assert_rejected(text: &str, document: usize, path: &str, needle: &str) {
    let (code, errors, report) = lint_errors(text);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["valid"], json!(false));
    assert!(
        errors
            .iter()
            .any(|(d, p, m)| d == &json!(document) && p == path && m.contains(needle)),
        "expected an error at document {document}, {path} mentioning {needle:?}; got {errors:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p.yaml", text);
    let out = bucketcors().arg("lint").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = match path {
        "" => format!("error  {} (document {document}) ", file.display()),
        _ => format!("error  {} (document {document}) {path}:", file.display()),
    };
    assert!(
        stdout.contains(&want),
        "text output lacks {want:?}:\n{stdout}"
    );
}

#[test]
fn the_examples_lint_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let files: Vec<PathBuf> = ["static-site.yaml", "browser-uploads.yaml", "ibm-cos.yaml"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (code, report) = lint_json(&refs);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["valid"], json!(true));
    assert_eq!(report["errors"], json!([]));
    assert_eq!(report["warnings"], json!([]));
    let policies = report["policies"].as_array().unwrap();
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["static-site", "browser-uploads", "cos-media"]);
    for p in policies {
        assert_eq!(p["namespace"], json!("demo"));
        assert!(p["bucket"].as_str().unwrap().starts_with("demo-"), "{p}");
        let bytes = p["xmlBytes"].as_u64().unwrap();
        assert!(bytes > 200 && bytes < 65536, "{p}");
    }
    assert_eq!(report["endpoints"][0]["kind"], json!("ClusterS3Endpoint"));
    assert_eq!(report["endpoints"][0]["name"], json!("ibm-cos-us-south"));
    assert_eq!(report["endpoints"][0]["valid"], json!(true));
    assert_eq!(report["skipped"], json!([]));

    let out = bucketcors().arg("lint").args(&files).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap();
    let pattern = regex::Regex::new(
        r"^ok  .*static-site\.yaml \(document 1\) static-site: 2 rules, \d+ bytes of XML$",
    )
    .unwrap();
    assert!(pattern.is_match(first), "{stdout}");
    assert!(
        stdout.ends_with("3 policies and 1 endpoint checked, 0 invalid; 0 errors, 0 warnings\n"),
        "{stdout}"
    );
}

/// An endpoint document of `kind` (`S3Endpoint` in namespace demo, or `ClusterS3Endpoint`)
/// whose spec is `spec` (YAML flow mapping).
fn endpoint(kind: &str, spec: &str) -> String {
    let metadata = match kind {
        "S3Endpoint" => "{name: store, namespace: demo}",
        _ => "{name: store}",
    };
    format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: {kind}\nmetadata: {metadata}\nspec: {spec}\n"
    )
}

#[test]
fn an_invalid_endpoint_next_to_a_valid_policy_is_an_error() {
    for kind in ["S3Endpoint", "ClusterS3Endpoint"] {
        let text = format!(
            "{}---\n{}",
            policy("p", GOOD_SPEC),
            endpoint(kind, "{region: us-east-1, checksum: MD5}")
        );
        assert_rejected(&text, 2, "spec.checksum", "MD5");
        let (_, _, report) = lint_errors(&text);
        assert_eq!(report["policies"][0]["valid"], json!(true), "{report}");
        assert_eq!(
            report["endpoints"],
            json!([]),
            "not readable as an endpoint"
        );
    }
}

#[test]
fn endpoint_field_errors_name_the_field() {
    let cases = [
        (
            "S3Endpoint",
            "{region: x, credentials: {source: Vault}}",
            "spec.credentials.source",
            "Vault",
        ),
        (
            "ClusterS3Endpoint",
            "{region: x, rateLimit: {requestsPerSecond: fast}}",
            "spec.rateLimit.requestsPerSecond",
            "fast",
        ),
        ("S3Endpoint", "{checksum: Auto}", "spec", "region"),
        // What the schema and CEL check.
        (
            "S3Endpoint",
            "{region: x, credentials: {source: Secret}}",
            "spec.credentials",
            "secretRef is required",
        ),
        (
            "ClusterS3Endpoint",
            "{region: x, url: 'ftp://s3.example.com'}",
            "spec.url",
            "http",
        ),
        ("S3Endpoint", "{region: ''}", "spec.region", "empty"),
        (
            "ClusterS3Endpoint",
            "{region: x, rateLimit: {requestsPerSecond: 0}}",
            "spec.rateLimit.requestsPerSecond",
            "1 to 100000",
        ),
        (
            "ClusterS3Endpoint",
            "{region: x, credentials: {source: Secret, secretRef: {name: keys}}}",
            "spec.credentials.secretRef.namespace",
            "required on a ClusterS3Endpoint",
        ),
        (
            "ClusterS3Endpoint",
            "{region: x, tls: {caSecretRef: {name: ca}}}",
            "spec.tls.caSecretRef.namespace",
            "required on a ClusterS3Endpoint",
        ),
        // What only the controller would refuse.
        (
            "S3Endpoint",
            "{region: x, credentials: {source: Secret, secretRef: {name: keys, namespace: other}}}",
            "spec.credentials.secretRef.namespace",
            "own namespace",
        ),
    ];
    for (kind, spec, path, needle) in cases {
        let text = format!("{}---\n{}", policy("p", GOOD_SPEC), endpoint(kind, spec));
        assert_rejected(&text, 2, path, needle);
    }
}

#[test]
fn a_password_in_an_endpoint_url_is_an_error_that_does_not_repeat_it() {
    let text = endpoint(
        "ClusterS3Endpoint",
        "{region: x, url: 'https://AKIAKEY:hunter2secret@s3.example.com'}",
    );
    assert_rejected(&text, 1, "spec.url", "credentials");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "e.yaml", &text);
    for output in ["text", "json"] {
        let out = bucketcors()
            .args(["lint", "--output", output])
            .arg(&file)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("hunter2secret"), "{all}");
    }
}

#[test]
fn valid_endpoints_are_reported_as_checked() {
    let text = format!(
        "{}---\n{}---\n{}",
        endpoint(
            "S3Endpoint",
            "{url: 'http://127.0.0.1:9000', region: us-east-1, forcePathStyle: true, checksum: ContentMD5}"
        ),
        endpoint(
            "ClusterS3Endpoint",
            "{region: us-south, credentials: {source: Secret, secretRef: {name: k, namespace: ops}}, allowedNamespaces: {matchLabels: {team: shop}}}"
        ),
        policy("p", GOOD_SPEC)
    );
    let (code, errors, report) = lint_errors(&text);
    assert_eq!((code, errors), (0, vec![]), "{report}");
    let file = report["policies"][0]["file"].clone();
    assert_eq!(
        report["endpoints"],
        json!([
            {"file": file, "document": 1, "kind": "S3Endpoint", "name": "store", "namespace": "demo", "valid": true},
            {"file": file, "document": 2, "kind": "ClusterS3Endpoint", "name": "store", "namespace": null, "valid": true},
        ])
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "all.yaml", &text);
    let out = bucketcors().arg("lint").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("ok  {} (document 1) S3Endpoint store", path.display())
    );
    assert_eq!(
        lines[1],
        format!(
            "ok  {} (document 2) ClusterS3Endpoint store",
            path.display()
        )
    );
    assert_eq!(
        lines[3],
        "1 policy and 2 endpoints checked, 0 invalid; 0 errors, 0 warnings"
    );
}

#[test]
fn a_yaml_file_that_is_not_a_policy() {
    assert_rejected("name: my-app\nreplicas: 3\n", 1, "kind", "missing");
    assert_rejected("- a\n- b\n", 1, "", "Kubernetes object");
}

#[test]
fn a_wrong_kind() {
    assert_rejected(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        1,
        "kind",
        "ConfigMap",
    );
    assert_rejected(
        &policy("p", GOOD_SPEC).replace("kind: BucketCorsPolicy", "kind: BucketCorsPolicies"),
        1,
        "kind",
        "BucketCorsPolicies",
    );
    assert_rejected(
        &policy("p", GOOD_SPEC).replace("v1alpha1", "v1"),
        1,
        "apiVersion",
        "bucketcors.dev/v1alpha1",
    );
}

#[test]
fn a_missing_field() {
    assert_rejected(
        &policy("p", "  rules: []\n"),
        1,
        "spec",
        "missing field `bucket`",
    );
    assert_rejected(
        &policy(
            "p",
            &GOOD_SPEC.replace("      allowedMethods: [GET, HEAD]\n", ""),
        ),
        1,
        "spec.rules[0]",
        "allowedMethods",
    );
    assert_rejected(
        &format!("{HEADER}metadata: {{namespace: demo}}\nspec:\n{GOOD_SPEC}"),
        1,
        "metadata.name",
        "missing",
    );
}

#[test]
fn an_unknown_method() {
    assert_rejected(
        &policy("p", &GOOD_SPEC.replace("[GET, HEAD]", "[GET, PATCH]")),
        1,
        "spec.rules[0].allowedMethods[1]",
        "PATCH",
    );
}

#[test]
fn an_unknown_field() {
    assert_rejected(
        &policy("p", &GOOD_SPEC.replace("allowedMethods", "allowedMethod")),
        1,
        "spec.rules[0].allowedMethod",
        "unknown field",
    );
}

#[test]
fn one_hundred_and_one_rules() {
    let mut spec = String::from("  bucket: demo-web\n  rules:\n");
    for i in 0..101 {
        spec.push_str(&format!("    - id: r{i}\n      allowedOrigins: ['https://a.example']\n      allowedMethods: [GET]\n"));
    }
    assert_rejected(&policy("p", &spec), 1, "spec.rules", "101 rules");
}

#[test]
fn a_300_character_id() {
    let id = "i".repeat(300);
    assert_rejected(
        &policy("p", &GOOD_SPEC.replace("id: read", &format!("id: {id}"))),
        1,
        "spec.rules[0].id",
        "300 characters",
    );
}

#[test]
fn a_configuration_over_64_kib_of_xml() {
    let mut spec = String::from("  bucket: demo-web\n  rules:\n");
    for i in 0..80 {
        spec.push_str(&format!(
            "    - id: r{i}\n      allowedOrigins: ['https://{0}.example', 'https://{0}.example.net']\n      allowedMethods: [GET]\n",
            "a".repeat(480)
        ));
    }
    assert_rejected(&policy("p", &spec), 1, "spec.rules", "bytes as XML");
}

#[test]
fn wildcard_errors_name_the_entry() {
    let spec = GOOD_SPEC.replace(
        "['https://www.example.com']",
        "['https://www.example.com', 'https://*.*.example.com']",
    );
    assert_rejected(
        &policy("p", &spec),
        1,
        "spec.rules[0].allowedOrigins[1]",
        "more than one '*'",
    );
    let spec = format!("{GOOD_SPEC}      exposeHeaders: [ETag, '*']\n");
    assert_rejected(
        &policy("p", &spec),
        1,
        "spec.rules[0].exposeHeaders[1]",
        "'*'",
    );
}

#[test]
fn an_interval_too_short_or_too_long() {
    assert_rejected(
        &policy("p", &format!("{GOOD_SPEC}  interval: 10s\n")),
        1,
        "spec.interval",
        "at least 30s",
    );
    assert_rejected(
        &policy(
            "p",
            &format!("{GOOD_SPEC}  interval: 99999999999999999999h\n"),
        ),
        1,
        "spec.interval",
        "too long",
    );
}

#[test]
fn not_yaml_at_all() {
    assert_rejected(
        &format!("{}---\nspec: [unclosed\n", policy("p", GOOD_SPEC)),
        2,
        "",
        "not valid YAML",
    );
}

#[test]
fn documents_are_numbered_and_good_ones_still_reported() {
    let text = format!(
        "{}---\n{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: keys}}\n---\n{}",
        policy("first", GOOD_SPEC),
        policy("second", &GOOD_SPEC.replace("[GET, HEAD]", "[]")),
        policy("third", &GOOD_SPEC.replace("demo-web", "demo-other")),
    );
    let (code, errors, report) = lint_errors(&text);
    assert_eq!(code, 1);
    assert_eq!(
        errors,
        vec![(
            json!(2),
            "spec.rules[0].allowedMethods".to_owned(),
            errors[0].2.clone()
        )]
    );
    let valid: Vec<(&str, bool)> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(valid, [("first", true), ("second", false), ("third", true)]);
    assert_eq!(
        report["skipped"],
        json!([{"file": report["policies"][0]["file"], "document": 3, "kind": "Secret", "name": "keys"}])
    );
    // The second policy manages the same bucket as the first.
    assert_eq!(report["warnings"][0]["path"], json!("spec.bucket"));
    assert_eq!(report["warnings"][0]["document"], json!(2));
}

#[test]
fn shadowed_rules_are_warnings_only() {
    let spec = "  bucket: demo-web
  rules:
    - id: everyone
      allowedOrigins: ['*']
      allowedMethods: [GET, HEAD, PUT]
      allowedHeaders: ['*']
    - id: app
      allowedOrigins: ['https://app.example.com']
      allowedMethods: [PUT]
      allowedHeaders: [Content-Type]
      exposeHeaders: [ETag]
";
    let (code, errors, report) = lint_errors(&policy("p", spec));
    assert_eq!(code, 0, "{report}");
    assert_eq!(errors, vec![]);
    assert_eq!(report["valid"], json!(true));
    let warning = &report["warnings"][0];
    assert_eq!(warning["path"], json!("spec.rules[1]"));
    assert_eq!(warning["document"], json!(1));
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("rule 0 (everyone)"),
        "{warning}"
    );
}

#[test]
fn reads_standard_input_and_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", &policy("from-file", GOOD_SPEC));
    let out = bucketcors()
        .args(["lint", "-o", "json", "-"])
        .arg(&good)
        .write_stdin(policy(
            "from-stdin",
            &GOOD_SPEC.replace("demo-web", "demo-stdin"),
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["<stdin>", good.to_str().unwrap()]);
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let good = write(dir.path(), "good.yaml", &policy("p", GOOD_SPEC));
    let (code, report) = lint_json(&[&missing, &good]);
    assert_eq!(code, 1);
    assert_eq!(
        report["errors"][0]["file"],
        json!(missing.display().to_string())
    );
    assert_eq!(report["errors"][0]["document"], json!(null));
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read")
    );
    assert_eq!(report["policies"].as_array().unwrap().len(), 1);
}

#[test]
fn json_output_has_the_documented_shape() {
    let (_, _, report) = lint_errors(&policy("p", &GOOD_SPEC.replace("[GET, HEAD]", "[]")));
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    for key in ["valid", "errors", "warnings", "policies"] {
        assert!(
            keys.iter().any(|k| *k == key),
            "{key} missing from {keys:?}"
        );
    }
    let error = report["errors"][0].as_object().unwrap();
    for key in ["file", "document", "path", "message"] {
        assert!(error.contains_key(key), "{key} missing from {error:?}");
    }
    let policy = report["policies"][0].as_object().unwrap();
    for key in ["name", "rules", "xmlBytes"] {
        assert!(policy.contains_key(key), "{key} missing from {policy:?}");
    }
}

#[test]
fn text_output_follows_the_command_line_order() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "a-bad.yaml",
        &policy("bad", &GOOD_SPEC.replace("[GET, HEAD]", "[]")),
    );
    let empty = write(dir.path(), "b-empty.yaml", "# nothing yet\n");
    let good = write(
        dir.path(),
        "c-good.yaml",
        &policy("good", &GOOD_SPEC.replace("demo-web", "demo-good")),
    );
    let out = bucketcors()
        .arg("lint")
        .args([&good, &bad, &empty])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with(&format!(
            "ok  {} (document 1) good: 1 rule, ",
            good.display()
        )),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "error  {} (document 1) spec.rules[0].allowedMethods: ",
            bad.display()
        )),
        "{stdout}"
    );
    assert_eq!(
        lines[2],
        format!("warning  {} holds no Kubernetes objects", empty.display())
    );
    assert_eq!(
        lines[3],
        "2 policies checked, 1 invalid; 1 error, 1 warning"
    );
}
