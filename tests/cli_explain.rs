//! `bucketcors explain` through the real binary, on fixtures written to a temporary directory.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::bin::command as bucketcors;

const UPLOADS: &str = "apiVersion: bucketcors.dev/v1alpha1
kind: BucketCorsPolicy
metadata: {name: uploads, namespace: demo}
spec:
  bucket: demo-uploads
  rules:
    - id: app-read
      allowedOrigins: ['https://app.example.com']
      allowedMethods: [GET]
    - id: app-write
      allowedOrigins: ['https://app.example.com', 'http://localhost:*']
      allowedMethods: [PUT, POST]
      allowedHeaders: [Content-Type, 'x-amz-meta-*']
      exposeHeaders: [ETag]
      maxAgeSeconds: 3000
    - allowedOrigins: ['*']
      allowedMethods: [GET, HEAD]
";

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixture(text: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    Fixture { _dir: dir, path }
}

/// Runs `explain FILE ARGS... --output json`; returns the exit code and the JSON answer.
fn explain_json(file: &Path, args: &[&str]) -> (i32, Value) {
    let out = bucketcors()
        .arg("explain")
        .arg(file)
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), answer)
}

/// Runs `explain` expecting failure; returns standard error.
fn explain_fails(file: &Path, args: &[&str]) -> String {
    let out = bucketcors()
        .arg("explain")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    stderr
}

#[test]
fn an_allowed_preflight_echoes_the_origin() {
    let f = fixture(UPLOADS);
    let (code, answer) = explain_json(
        &f.path,
        &[
            "--origin",
            "https://app.example.com",
            "--method",
            "PUT",
            "--header",
            "Content-Type",
            "--header",
            "X-Amz-Meta-Owner",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        answer,
        json!({
            "allowed": true,
            "matchedRule": {"index": 1, "id": "app-write"},
            "headers": {
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Headers": "content-type, x-amz-meta-owner",
                "Access-Control-Allow-Methods": "PUT, POST",
                "Access-Control-Allow-Origin": "https://app.example.com",
                "Access-Control-Expose-Headers": "ETag",
                "Access-Control-Max-Age": "3000",
                "Vary": VARY
            }
        })
    );
}

#[test]
fn a_star_origin_answers_star_and_a_rule_without_id_has_null_id() {
    let f = fixture(UPLOADS);
    let (code, answer) = explain_json(
        &f.path,
        &["--origin", "https://elsewhere.example", "--method", "HEAD"],
    );
    assert_eq!(code, 0);
    assert_eq!(
        answer,
        json!({
            "allowed": true,
            "matchedRule": {"index": 2, "id": null},
            "headers": {
                "Access-Control-Allow-Methods": "GET, HEAD",
                "Access-Control-Allow-Origin": "*",
                "Vary": VARY
            }
        })
    );
}

#[test]
fn a_refused_preflight_has_no_rule_and_no_headers() {
    let f = fixture(UPLOADS);
    // The write rule allows the origin and method but not the Authorization header; the last
    // rule allows any origin but not PUT.
    let (code, answer) = explain_json(
        &f.path,
        &[
            "--origin",
            "https://app.example.com",
            "--method",
            "PUT",
            "--header",
            "Authorization",
        ],
    );
    assert_eq!(code, 0, "a refusal is an answer, not an error");
    assert_eq!(
        answer,
        json!({"allowed": false, "matchedRule": null, "headers": {}})
    );

    let out = bucketcors()
        .arg("explain")
        .arg(&f.path)
        .args([
            "--origin",
            "https://app.example.com",
            "--method",
            "PUT",
            "--header",
            "Authorization",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("refused: "), "{text}");
    assert!(
        text.contains("rule 0 (app-read): method PUT not allowed"),
        "{text}"
    );
    assert!(
        text.contains("rule 1 (app-write): header Authorization not allowed"),
        "{text}"
    );
    assert!(text.contains("rule 2: method PUT not allowed"), "{text}");
}

#[test]
fn the_first_full_match_wins_over_an_earlier_partial_match() {
    let f = fixture(UPLOADS);
    // Rule 0 matches the origin but not POST; rule 1 answers.
    let (_, answer) = explain_json(
        &f.path,
        &["--origin", "https://app.example.com", "--method", "POST"],
    );
    assert_eq!(
        answer["matchedRule"],
        json!({"index": 1, "id": "app-write"})
    );
    // GET from the app is rule 0, although rule 2 would match too.
    let (_, answer) = explain_json(
        &f.path,
        &["--origin", "https://app.example.com", "--method", "GET"],
    );
    assert_eq!(answer["matchedRule"], json!({"index": 0, "id": "app-read"}));
    assert_eq!(
        answer["headers"]["Access-Control-Allow-Origin"],
        json!("https://app.example.com")
    );
}

#[test]
fn wildcard_origins_and_ports() {
    let f = fixture(UPLOADS);
    let (_, answer) = explain_json(
        &f.path,
        &["--origin", "http://localhost:5173", "--method", "PUT"],
    );
    assert_eq!(answer["matchedRule"]["index"], json!(1));
    // Scheme and case matter: neither is the app's origin, so only the public read rule is left.
    let (_, answer) = explain_json(
        &f.path,
        &["--origin", "https://localhost:5173", "--method", "PUT"],
    );
    assert_eq!(answer["allowed"], json!(false));
    let (_, answer) = explain_json(
        &f.path,
        &["--origin", "https://APP.example.com", "--method", "PUT"],
    );
    assert_eq!(answer["allowed"], json!(false));
}

#[test]
fn headers_may_be_given_as_one_comma_separated_value_and_methods_in_any_case() {
    let f = fixture(UPLOADS);
    let (_, answer) = explain_json(
        &f.path,
        &[
            "--origin",
            "https://app.example.com",
            "--method",
            "put",
            "--header",
            "content-type, x-amz-meta-a",
        ],
    );
    assert_eq!(answer["matchedRule"]["index"], json!(1));
    assert_eq!(
        answer["headers"]["Access-Control-Allow-Headers"],
        json!("content-type, x-amz-meta-a")
    );
}

#[test]
fn text_output_lists_the_response_headers() {
    let f = fixture(UPLOADS);
    let out = bucketcors()
        .arg("explain")
        .arg(&f.path)
        .args([
            "--origin",
            "https://app.example.com",
            "--method",
            "PUT",
            "--header",
            "Content-Type",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("allowed: rule 1 (app-write) answers PUT from https://app.example.com"),
        "{text}"
    );
    assert!(
        text.contains("\nAccess-Control-Allow-Origin: https://app.example.com\n"),
        "{text}"
    );
    assert!(text.contains(&format!("\nVary: {VARY}\n")), "{text}");
}

#[test]
fn reads_standard_input() {
    let out = bucketcors()
        .args([
            "explain",
            "-",
            "--origin",
            "https://x.example",
            "--method",
            "GET",
            "-o",
            "json",
        ])
        .write_stdin(UPLOADS)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["matchedRule"]["index"], json!(2));
}

#[test]
fn the_file_must_hold_exactly_one_policy() {
    let two = fixture(&format!(
        "{UPLOADS}---\n{}",
        UPLOADS.replace("name: uploads", "name: other")
    ));
    let stderr = explain_fails(&two.path, &["--origin", "https://a", "--method", "GET"]);
    assert!(stderr.contains(&two.path.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("2 BucketCorsPolicy documents (documents 1, 2)"),
        "{stderr}"
    );

    let none = fixture("apiVersion: v1\nkind: Secret\nmetadata: {name: keys}\n");
    let stderr = explain_fails(&none.path, &["--origin", "https://a", "--method", "GET"]);
    assert!(
        stderr.contains(&none.path.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("no BucketCorsPolicy"), "{stderr}");

    // Endpoints next to the policy are fine.
    let with_endpoint = fixture(&format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: S3Endpoint\nmetadata: {{name: minio, namespace: demo}}\nspec: {{region: us-east-1}}\n---\n{UPLOADS}"
    ));
    let (code, answer) = explain_json(
        &with_endpoint.path,
        &["--origin", "https://a", "--method", "GET"],
    );
    assert_eq!((code, &answer["allowed"]), (0, &json!(true)));
}

#[test]
fn an_invalid_policy_is_an_error_naming_file_document_and_field() {
    let f = fixture(&format!(
        "---\n{}",
        UPLOADS.replace("'http://localhost:*'", "'http://*:*'")
    ));
    let stderr = explain_fails(&f.path, &["--origin", "https://a", "--method", "GET"]);
    let want = format!(
        "{} (document 1): spec.rules[1].allowedOrigins[1]: ",
        f.path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");

    let f = fixture(&UPLOADS.replace("[GET, HEAD]", "[GET, FETCH]"));
    let stderr = explain_fails(&f.path, &["--origin", "https://a", "--method", "GET"]);
    let want = format!(
        "{} (document 1): spec.rules[2].allowedMethods[1]: unknown variant `FETCH`",
        f.path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

#[test]
fn unreadable_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let stderr = explain_fails(&missing, &["--origin", "https://a", "--method", "GET"]);
    assert!(stderr.contains("missing.yaml: cannot read"), "{stderr}");
    let garbage = fixture("rules: [unclosed\n");
    let stderr = explain_fails(&garbage.path, &["--origin", "https://a", "--method", "GET"]);
    assert!(stderr.contains("not valid YAML"), "{stderr}");
}

#[test]
fn the_examples_explain() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let (code, answer) = explain_json(
        &root.join("browser-uploads.yaml"),
        &[
            "--origin",
            "https://app.example.com",
            "--method",
            "PUT",
            "--header",
            "content-type",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        answer["matchedRule"],
        json!({"index": 0, "id": "app-uploads"})
    );
    assert_eq!(
        answer["headers"]["Access-Control-Expose-Headers"],
        json!("ETag, x-amz-version-id")
    );
    let (_, answer) = explain_json(
        &root.join("static-site.yaml"),
        &[
            "--origin",
            "https://pr-7.preview.example.com",
            "--method",
            "GET",
        ],
    );
    assert_eq!(
        answer["matchedRule"],
        json!({"index": 1, "id": "preview-read"})
    );
    let (_, answer) = explain_json(
        &root.join("ibm-cos.yaml"),
        &[
            "--origin",
            "https://media.example.com",
            "--method",
            "GET",
            "--header",
            "Range",
        ],
    );
    assert_eq!(answer["allowed"], json!(true));
}
