//! One table of accepted and rejected policy specs, checked by both validations:
//!
//! - the Rust validation the CLI and controller run (`serde` plus `cors::validate_spec`), and
//! - what the API server runs: the generated CRD's OpenAPI schema keywords (checked here by a
//!   small walker over the CRD JSON) and its CEL rules (kube's client-side `validate_cel`).
//!
//! Every case says which server-side mechanism must catch it, so a constraint that disappears
//! from the CRD, or a CEL rule that stops working, fails here; and every case must be rejected
//! by Rust at the same field, so the two cannot drift apart.

use bucketcors::api::BucketCorsPolicy;
use bucketcors::cors::validate_spec;
use kube::CustomResourceExt as _;
use serde_json::{Value, json};

/// Which server-side mechanism must reject a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    /// An OpenAPI schema keyword (maxItems, maxLength, enum, minimum, pattern, ...).
    Schema,
    /// A CEL `x-kubernetes-validations` rule.
    Cel,
    /// Nothing on the server: only the Rust validation knows (the 64 KB XML limit).
    RustOnly,
}

struct Case {
    name: &'static str,
    spec: Value,
    /// `None` for a valid spec; else the field Rust names, and the mechanism that rejects it
    /// on the server (whose path is this field or a parent of it).
    invalid: Option<(&'static str, By)>,
}

fn ok(name: &'static str, spec: Value) -> Case {
    Case {
        name,
        spec,
        invalid: None,
    }
}

fn bad(name: &'static str, spec: Value, field: &'static str, by: By) -> Case {
    Case {
        name,
        spec,
        invalid: Some((field, by)),
    }
}

fn rule() -> Value {
    json!({"id": "web", "allowedOrigins": ["https://shop.example.com"], "allowedMethods": ["GET"]})
}

/// A spec with `rules`.
fn spec(rules: Vec<Value>) -> Value {
    json!({"bucket": "demo-bucket", "rules": rules})
}

/// A spec with one rule: the base rule with `patch` merged in.
fn with(patch: Value) -> Value {
    let mut r = rule();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            r.as_object_mut().unwrap().remove(k);
        } else {
            r[k] = v.clone();
        }
    }
    spec(vec![r])
}

/// A spec with `patch` merged in at the top level.
fn spec_with(patch: Value) -> Value {
    let mut s = spec(vec![rule()]);
    for (k, v) in patch.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn rules_with_ids(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("r{i}"), "allowedOrigins": ["https://a.example"], "allowedMethods": ["GET"]}))
        .collect()
}

fn cases() -> Vec<Case> {
    use By::*;
    let long = |n: usize| "x".repeat(n);
    vec![
        // Accepted.
        ok("one rule", spec(vec![rule()])),
        ok("no rules means no CORS configuration", spec(vec![])),
        ok(
            "every field",
            with(json!({
                "allowedOrigins": ["https://a.example", "https://*.b.example", "*"],
                "allowedMethods": ["GET", "PUT", "HEAD", "POST", "DELETE"],
                "allowedHeaders": ["*", "x-amz-*", "Content-Type"],
                "exposeHeaders": ["ETag", "x-amz-request-id"],
                "maxAgeSeconds": 3000
            })),
        ),
        ok("100 rules", spec(rules_with_ids(100))),
        ok("rules without ids", spec(vec![with(json!({"id": null}))["rules"][0].clone(); 3])),
        ok(
            "ids unique among rules with and without",
            spec(vec![rule(), with(json!({"id": null}))["rules"][0].clone(), with(json!({"id": "other"}))["rules"][0].clone()]),
        ),
        ok("id of 255 characters", with(json!({"id": long(255)}))),
        ok("bucket of 255 characters", spec_with(json!({"bucket": long(255)}))),
        ok("origin of 1024 characters", with(json!({"allowedOrigins": [long(1024)]}))),
        ok("origin with one star in the middle", with(json!({"allowedOrigins": ["https://*.example.com"]}))),
        ok("100 origins", with(json!({"allowedOrigins": (0..100).map(|i| format!("https://{i}.example")).collect::<Vec<_>>()}))),
        ok("header with one star", with(json!({"allowedHeaders": ["x-amz-meta-*"]}))),
        ok("100 allowed headers", with(json!({"allowedHeaders": (0..100).map(|i| format!("h{i}")).collect::<Vec<_>>()}))),
        ok("max age 0", with(json!({"maxAgeSeconds": 0}))),
        ok("max age i32::MAX", with(json!({"maxAgeSeconds": 2147483647}))),
        ok("interval 30s", spec_with(json!({"interval": "30s"}))),
        ok("interval 1h30m", spec_with(json!({"interval": "1h30m"}))),
        ok("interval 1.5h", spec_with(json!({"interval": "1.5h"}))),
        ok(
            "endpoint, owner and policies",
            spec_with(json!({
                "endpointRef": {"kind": "S3Endpoint", "name": "minio"},
                "expectedBucketOwner": "123456789012",
                "driftPolicy": "Report",
                "deletionPolicy": "Restore",
                "suspend": true
            })),
        ),
        // Rejected.
        bad("empty bucket", spec_with(json!({"bucket": ""})), "spec.bucket", Schema),
        bad("bucket of 256 characters", spec_with(json!({"bucket": long(256)})), "spec.bucket", Schema),
        bad("101 rules", spec(rules_with_ids(101)), "spec.rules", Schema),
        bad("empty id", with(json!({"id": ""})), "spec.rules[0].id", Schema),
        bad("id of 256 characters", with(json!({"id": long(256)})), "spec.rules[0].id", Schema),
        bad(
            "duplicate ids",
            spec(vec![rule(), with(json!({"id": "other"}))["rules"][0].clone(), rule()]),
            "spec.rules[2].id",
            Cel,
        ),
        bad("no origins", with(json!({"allowedOrigins": []})), "spec.rules[0].allowedOrigins", Schema),
        bad(
            "origin with two stars",
            with(json!({"allowedOrigins": ["https://a.example", "https://*.*.example"]})),
            "spec.rules[0].allowedOrigins[1]",
            Cel,
        ),
        bad("origin of two stars only", with(json!({"allowedOrigins": ["**"]})), "spec.rules[0].allowedOrigins[0]", Cel),
        bad("empty origin", with(json!({"allowedOrigins": [""]})), "spec.rules[0].allowedOrigins[0]", Schema),
        bad("origin of 1025 characters", with(json!({"allowedOrigins": [long(1025)]})), "spec.rules[0].allowedOrigins[0]", Schema),
        bad(
            "101 origins",
            with(json!({"allowedOrigins": (0..101).map(|i| format!("https://{i}.example")).collect::<Vec<_>>()})),
            "spec.rules[0].allowedOrigins",
            Schema,
        ),
        bad("no methods", with(json!({"allowedMethods": []})), "spec.rules[0].allowedMethods", Schema),
        bad(
            "six methods",
            with(json!({"allowedMethods": ["GET", "PUT", "HEAD", "POST", "DELETE", "GET"]})),
            "spec.rules[0].allowedMethods",
            Schema,
        ),
        bad("unknown method", with(json!({"allowedMethods": ["GET", "PATCH"]})), "spec.rules[0].allowedMethods[1]", Schema),
        bad("lower-case method", with(json!({"allowedMethods": ["get"]})), "spec.rules[0].allowedMethods[0]", Schema),
        bad("allowed header with two stars", with(json!({"allowedHeaders": ["x-*-*"]})), "spec.rules[0].allowedHeaders[0]", Cel),
        bad("empty allowed header", with(json!({"allowedHeaders": [""]})), "spec.rules[0].allowedHeaders[0]", Schema),
        bad(
            "101 allowed headers",
            with(json!({"allowedHeaders": (0..101).map(|i| format!("h{i}")).collect::<Vec<_>>()})),
            "spec.rules[0].allowedHeaders",
            Schema,
        ),
        bad("expose header star", with(json!({"exposeHeaders": ["ETag", "*"]})), "spec.rules[0].exposeHeaders[1]", Cel),
        bad("expose header with a star", with(json!({"exposeHeaders": ["x-amz-*"]})), "spec.rules[0].exposeHeaders[0]", Cel),
        bad(
            "101 expose headers",
            with(json!({"exposeHeaders": (0..101).map(|i| format!("h{i}")).collect::<Vec<_>>()})),
            "spec.rules[0].exposeHeaders",
            Schema,
        ),
        bad("negative max age", with(json!({"maxAgeSeconds": -1})), "spec.rules[0].maxAgeSeconds", Schema),
        bad("max age above i32::MAX", with(json!({"maxAgeSeconds": 2147483648_i64})), "spec.rules[0].maxAgeSeconds", Schema),
        bad("interval 29s", spec_with(json!({"interval": "29s"})), "spec.interval", Cel),
        bad("interval 500ms", spec_with(json!({"interval": "500ms"})), "spec.interval", Cel),
        bad("interval without unit", spec_with(json!({"interval": "10"})), "spec.interval", Schema),
        bad("empty expected owner", spec_with(json!({"expectedBucketOwner": ""})), "spec.expectedBucketOwner", Schema),
        bad("empty endpoint name", spec_with(json!({"endpointRef": {"name": ""}})), "spec.endpointRef.name", Schema),
        bad("unknown endpoint kind", spec_with(json!({"endpointRef": {"kind": "Bucket", "name": "x"}})), "spec.endpointRef.kind", Schema),
        bad(
            "XML document over 64 KiB",
            spec(
                (0..100)
                    .map(|i| json!({"id": format!("r{i}"), "allowedOrigins": [format!("https://{}.example", "a".repeat(1000))], "allowedMethods": ["GET"]}))
                    .collect(),
            ),
            "spec.rules",
            RustOnly,
        ),
    ]
}

fn object(spec: &Value) -> Value {
    json!({
        "apiVersion": "bucketcors.dev/v1alpha1",
        "kind": "BucketCorsPolicy",
        "metadata": {"name": "p", "namespace": "demo"},
        "spec": spec
    })
}

/// True when `parent` is `field` or one of its ancestors (`spec.rules` of `spec.rules[2].id`).
fn covers(parent: &str, field: &str) -> bool {
    field == parent
        || field
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// The fields Rust rejects: the serde path when the object does not deserialize, else the
/// paths of `validate_spec`.
fn rust_rejects(spec: &Value) -> Vec<String> {
    match serde_path_to_error::deserialize::<_, BucketCorsPolicy>(object(spec)) {
        Err(err) => vec![err.path().to_string()],
        Ok(policy) => validate_spec(&policy.spec)
            .into_iter()
            .map(|i| i.path)
            .collect(),
    }
}

/// The paths CEL rejects, via kube's generated `validate_cel`; `None` when the object cannot be
/// built as a typed `BucketCorsPolicy` (a schema-level type error comes first on the server).
fn cel_rejects(spec: &Value) -> Option<Vec<String>> {
    let policy: BucketCorsPolicy = serde_json::from_value(object(spec)).ok()?;
    Some(match policy.validate_cel() {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.field_path.clone()).collect(),
    })
}

fn crd_schema() -> Value {
    let crd = serde_json::to_value(BucketCorsPolicy::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The paths the schema's structural keywords reject. Covers the keywords the bucketcors CRDs
/// use: required, properties, items, min/maxItems, min/maxLength, enum, minimum/maximum,
/// pattern, type.
fn schema_rejects(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let fail = |out: &mut Vec<String>| out.push(path.to_owned());
    if value.is_null() && schema["nullable"] == json!(true) {
        return;
    }
    match schema["type"].as_str() {
        Some("object") if !value.is_object() => return fail(out),
        Some("array") if !value.is_array() => return fail(out),
        Some("string") if !value.is_string() => return fail(out),
        Some("integer") if !(value.is_i64() || value.is_u64()) => return fail(out),
        Some("boolean") if !value.is_boolean() => return fail(out),
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        fail(out);
    }
    if let Some(s) = value.as_str() {
        let chars = s.chars().count() as u64;
        if schema["maxLength"].as_u64().is_some_and(|max| chars > max)
            || schema["minLength"].as_u64().is_some_and(|min| chars < min)
        {
            fail(out);
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && !regex::Regex::new(pattern).unwrap().is_match(s)
        {
            fail(out);
        }
    }
    if let Some(n) = value.as_f64()
        && (schema["maximum"].as_f64().is_some_and(|max| n > max)
            || schema["minimum"].as_f64().is_some_and(|min| n < min))
    {
        fail(out);
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if schema["maxItems"].as_u64().is_some_and(|max| len > max)
            || schema["minItems"].as_u64().is_some_and(|min| len < min)
        {
            fail(out);
        }
        for (i, item) in items.iter().enumerate() {
            schema_rejects(&schema["items"], item, &format!("{path}[{i}]"), out);
        }
    }
    if let Some(fields) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            if !fields.contains_key(required.as_str().unwrap()) {
                out.push(format!("{path}.{}", required.as_str().unwrap()));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, child) in properties {
                if let Some(v) = fields.get(name) {
                    let child_path = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    schema_rejects(child, v, &child_path, out);
                }
            }
        }
    }
}

#[test]
fn rust_and_api_server_validation_agree_on_every_case() {
    let schema = crd_schema();
    let mut failures = Vec::new();
    for case in cases() {
        let rust = rust_rejects(&case.spec);
        let cel = cel_rejects(&case.spec);
        let mut structural = Vec::new();
        schema_rejects(&schema, &object(&case.spec), "", &mut structural);
        let mut problem = |what: String| failures.push(format!("{}: {what}", case.name));
        match case.invalid {
            None => {
                if !rust.is_empty() {
                    problem(format!("Rust rejects a valid spec at {rust:?}"));
                }
                if !structural.is_empty() {
                    problem(format!("the schema rejects a valid spec at {structural:?}"));
                }
                match &cel {
                    Some(paths) if !paths.is_empty() => {
                        problem(format!("CEL rejects a valid spec at {paths:?}"))
                    }
                    None => problem("a valid spec does not deserialize".into()),
                    _ => {}
                }
            }
            Some((field, by)) => {
                if !rust.iter().any(|p| p == field) {
                    problem(format!("Rust should reject {field}, rejected {rust:?}"));
                }
                let schema_caught = structural.iter().any(|p| covers(p, field));
                let cel_caught = cel.iter().flatten().any(|p| covers(p, field));
                match by {
                    By::Schema if !schema_caught => problem(format!(
                        "the schema should reject {field}, rejected {structural:?}"
                    )),
                    By::Cel if !cel_caught => {
                        problem(format!("CEL should reject {field}, rejected {cel:?}"))
                    }
                    By::RustOnly if schema_caught || cel_caught => problem(format!(
                        "the server was expected to accept, schema {structural:?}, CEL {cel:?}"
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "validation drift:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_both_mechanisms() {
    let cases = cases();
    let count = |by: By| {
        cases
            .iter()
            .filter(|c| c.invalid.is_some_and(|(_, b)| b == by))
            .count()
    };
    assert!(count(By::Cel) >= 6, "CEL cases: {}", count(By::Cel));
    assert!(
        count(By::Schema) >= 15,
        "schema cases: {}",
        count(By::Schema)
    );
    assert_eq!(count(By::RustOnly), 1);
}

#[test]
fn schema_limits_are_in_the_crd() {
    let schema = crd_schema();
    let spec = &schema["properties"]["spec"];
    let rule = &spec["properties"]["rules"]["items"]["properties"];
    assert_eq!(spec["properties"]["rules"]["maxItems"], json!(100));
    assert_eq!(spec["properties"]["bucket"]["maxLength"], json!(255));
    assert_eq!(rule["id"]["maxLength"], json!(255));
    assert_eq!(rule["allowedOrigins"]["minItems"], json!(1));
    assert_eq!(rule["allowedOrigins"]["maxItems"], json!(100));
    assert_eq!(rule["allowedOrigins"]["items"]["maxLength"], json!(1024));
    assert_eq!(rule["allowedMethods"]["minItems"], json!(1));
    assert_eq!(rule["allowedMethods"]["maxItems"], json!(5));
    assert_eq!(
        rule["allowedMethods"]["items"]["enum"],
        json!(["GET", "PUT", "HEAD", "POST", "DELETE"])
    );
    assert_eq!(rule["allowedHeaders"]["maxItems"], json!(100));
    assert_eq!(rule["exposeHeaders"]["maxItems"], json!(100));
    assert_eq!(rule["maxAgeSeconds"]["minimum"], json!(0.0));
    assert_eq!(rule["maxAgeSeconds"]["maximum"], json!(2147483647.0));
}

#[test]
fn bucket_is_immutable() {
    let policy = |bucket: &str| -> BucketCorsPolicy {
        serde_json::from_value(object(&spec_with(json!({"bucket": bucket})))).unwrap()
    };
    let old = policy("demo-a");
    assert!(policy("demo-a").validate_cel_update(&old).is_ok());
    let errors = policy("demo-b").validate_cel_update(&old).unwrap_err();
    let errors = errors.as_slice();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field_path, "spec.bucket");
    assert_eq!(errors[0].message, "bucket is immutable");
    // Creation does not evaluate the transition rule.
    assert!(policy("demo-b").validate_cel().is_ok());
}

#[test]
fn other_fields_may_change_on_update() {
    let old: BucketCorsPolicy = serde_json::from_value(object(&spec(vec![rule()]))).unwrap();
    let new: BucketCorsPolicy = serde_json::from_value(object(&spec_with(
        json!({"interval": "1h", "suspend": true}),
    )))
    .unwrap();
    assert!(new.validate_cel_update(&old).is_ok());
}
