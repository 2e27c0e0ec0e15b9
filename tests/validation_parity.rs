//! One table of accepted and rejected specs of every kind, checked by both validations:
//!
//! - the Rust validation the CLI and controller run (`serde` plus `cors::validate_spec` for
//!   policies; for endpoints, what `lint` runs: `cli::input` plus the `s3::validate_*` checks),
//!   and
//! - what the API server runs: the generated CRD's OpenAPI schema keywords (checked here by a
//!   small walker over the CRD JSON) and its CEL rules (kube's client-side `validate_cel`).
//!
//! Every case says which server-side mechanism must catch it, so a constraint that disappears
//! from the CRD, or a CEL rule that stops working, fails here; and every case must be rejected
//! by Rust at the same field, so the two cannot drift apart.

use bucketcors::api::{BucketCorsPolicy, ClusterS3Endpoint, S3Endpoint};
use bucketcors::cli::input::{Loaded, parse_into};
use bucketcors::cors::validate_spec;
use kube::CustomResourceExt as _;
use serde_json::{Value, json};

/// The kind a case is an object of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Policy,
    S3Endpoint,
    ClusterS3Endpoint,
}

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
    kind: Kind,
    spec: Value,
    /// `None` for a valid spec; else the field Rust names, and the mechanism that rejects it
    /// on the server (whose path is this field or a parent of it).
    invalid: Option<(&'static str, By)>,
}

fn ok(name: &'static str, spec: Value) -> Case {
    Case {
        name,
        kind: Kind::Policy,
        spec,
        invalid: None,
    }
}

fn bad(name: &'static str, spec: Value, field: &'static str, by: By) -> Case {
    Case {
        name,
        kind: Kind::Policy,
        spec,
        invalid: Some((field, by)),
    }
}

impl Case {
    /// This case as an object of `kind` ([`ok`] and [`bad`] make policies).
    fn of(mut self, kind: Kind) -> Case {
        self.kind = kind;
        self
    }
}

/// An endpoint spec: a region plus `patch` merged in at the top level.
fn endpoint(patch: Value) -> Value {
    let mut s = json!({"region": "us-east-1"});
    for (k, v) in patch.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
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
        ok("origin of 512 characters", with(json!({"allowedOrigins": [long(512)]}))),
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
        // RE2's `.` does not match a newline: a rule written with `.*` lets these through.
        bad(
            "origin with two stars around a newline",
            with(json!({"allowedOrigins": ["https://a*\n*.example"]})),
            "spec.rules[0].allowedOrigins[0]",
            Cel,
        ),
        bad("origin of star, newline, star", with(json!({"allowedOrigins": ["*\n*"]})), "spec.rules[0].allowedOrigins[0]", Cel),
        bad("empty origin", with(json!({"allowedOrigins": [""]})), "spec.rules[0].allowedOrigins[0]", Schema),
        bad("origin of 513 characters", with(json!({"allowedOrigins": [long(513)]})), "spec.rules[0].allowedOrigins[0]", Schema),
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
        bad("allowed header with two stars around a newline", with(json!({"allowedHeaders": ["x-*\n*"]})), "spec.rules[0].allowedHeaders[0]", Cel),
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
        bad("unknown drift policy", spec_with(json!({"driftPolicy": "Sometimes"})), "spec.driftPolicy", Schema),
        bad("lower-case drift policy", spec_with(json!({"driftPolicy": "report"})), "spec.driftPolicy", Schema),
        bad("unknown deletion policy", spec_with(json!({"deletionPolicy": "Orphan"})), "spec.deletionPolicy", Schema),
        bad("lower-case deletion policy", spec_with(json!({"deletionPolicy": "retain"})), "spec.deletionPolicy", Schema),
        bad(
            "XML document over 64 KiB",
            spec(
                (0..100)
                    .map(|i| json!({"id": format!("r{i}"), "allowedOrigins": [format!("https://{}.example", "a".repeat(480)), format!("https://{}.example.net", "a".repeat(480))], "allowedMethods": ["GET"]}))
                    .collect(),
            ),
            "spec.rules",
            RustOnly,
        ),
    ]
    .into_iter()
    .chain(endpoint_cases())
    .collect()
}

/// `S3Endpoint` and `ClusterS3Endpoint` specs. Both kinds share their settings, so most cases
/// run as both.
fn endpoint_cases() -> Vec<Case> {
    use By::*;
    use Kind::{ClusterS3Endpoint as Cluster, S3Endpoint as Namespaced};
    let both = |case: fn() -> Case| [case().of(Namespaced), case().of(Cluster)];
    let full = json!({
        "url": "https://s3.us-south.cloud-object-storage.appdomain.cloud",
        "region": "us-south",
        "forcePathStyle": true,
        "checksum": "ContentMD5",
        "credentials": {
            "source": "Secret",
            "secretRef": {"name": "cos-hmac", "namespace": "demo"},
            "assumeRole": {"roleArn": "arn:aws:iam::123456789012:role/cors", "externalId": "x", "sessionName": "s"}
        },
        "tls": {"caSecretRef": {"name": "ca", "namespace": "demo", "key": "ca.crt"}},
        "rateLimit": {"requestsPerSecond": 50, "burst": 100}
    });
    let mut cases = vec![
        ok("every endpoint field", full.clone()).of(Namespaced),
        ok("every endpoint field", {
            let mut c = full;
            c["allowedNamespaces"] = json!({"matchLabels": {"team": "shop"}});
            c
        })
        .of(Cluster),
        ok("a Secret in the endpoint's own namespace by default", endpoint(json!({
            "credentials": {"source": "Secret", "secretRef": {"name": "keys"}}
        })))
        .of(Namespaced),
        bad(
            "a Secret in another namespace",
            endpoint(json!({"credentials": {"source": "Secret", "secretRef": {"name": "keys", "namespace": "other"}}})),
            "spec.credentials.secretRef.namespace",
            RustOnly,
        )
        .of(Namespaced),
        bad(
            "secretRef without a namespace",
            endpoint(json!({"credentials": {"source": "Secret", "secretRef": {"name": "keys"}}})),
            "spec.credentials.secretRef.namespace",
            Cel,
        )
        .of(Cluster),
        bad(
            "caSecretRef without a namespace",
            endpoint(json!({"tls": {"caSecretRef": {"name": "ca"}}})),
            "spec.tls.caSecretRef.namespace",
            Cel,
        )
        .of(Cluster),
    ];
    for checksum in [
        "Auto",
        "CRC32",
        "CRC32C",
        "SHA1",
        "SHA256",
        "CRC64NVME",
        "ContentMD5",
    ] {
        for kind in [Namespaced, Cluster] {
            cases.push(
                ok(
                    "every checksum mode",
                    endpoint(json!({"checksum": checksum})),
                )
                .of(kind),
            );
        }
    }
    let shared: [fn() -> Case; 21] = [
        || ok("a region only", endpoint(json!({}))),
        || {
            ok(
                "an http URL with a port",
                endpoint(json!({"url": "http://127.0.0.1:9000"})),
            )
        },
        || {
            ok(
                "an @ in the URL's path",
                endpoint(json!({"url": "https://s3.example.com/a@b"})),
            )
        },
        || {
            ok(
                "default credentials",
                endpoint(json!({"credentials": {"source": "Default"}})),
            )
        },
        || {
            ok(
                "burst omitted",
                endpoint(json!({"rateLimit": {"requestsPerSecond": 1}})),
            )
        },
        || {
            bad(
                "unknown checksum",
                endpoint(json!({"checksum": "MD5"})),
                "spec.checksum",
                Schema,
            )
        },
        || {
            bad(
                "lower-case checksum",
                endpoint(json!({"checksum": "crc32"})),
                "spec.checksum",
                Schema,
            )
        },
        || {
            bad(
                "unknown credentials source",
                endpoint(json!({"credentials": {"source": "Vault"}})),
                "spec.credentials.source",
                Schema,
            )
        },
        || {
            bad(
                "source Secret without secretRef",
                endpoint(json!({"credentials": {"source": "Secret"}})),
                "spec.credentials",
                Cel,
            )
        },
        || {
            bad(
                "an ftp URL",
                endpoint(json!({"url": "ftp://s3.example.com"})),
                "spec.url",
                Cel,
            )
        },
        || {
            bad(
                "a URL without scheme",
                endpoint(json!({"url": "s3.example.com"})),
                "spec.url",
                Cel,
            )
        },
        || {
            bad(
                "a URL with user and password",
                endpoint(json!({"url": "https://AKIA:secret@s3.example.com"})),
                "spec.url",
                Cel,
            )
        },
        || {
            bad(
                "a URL with a user",
                endpoint(json!({"url": "http://admin@127.0.0.1:9000/"})),
                "spec.url",
                Cel,
            )
        },
        || {
            bad(
                "a URL with a query",
                endpoint(json!({"url": "https://s3.example.com/?x=1"})),
                "spec.url",
                RustOnly,
            )
        },
        || {
            bad(
                "an empty region",
                endpoint(json!({"region": ""})),
                "spec.region",
                Schema,
            )
        },
        || {
            bad(
                "a region of 65 characters",
                endpoint(json!({"region": "r".repeat(65)})),
                "spec.region",
                Schema,
            )
        },
        || {
            bad(
                "an empty secret name",
                endpoint(json!({"credentials": {"secretRef": {"name": "", "namespace": "demo"}}})),
                "spec.credentials.secretRef.name",
                Schema,
            )
        },
        || {
            bad(
                "a role ARN of 19 characters",
                endpoint(json!({"credentials": {"assumeRole": {"roleArn": "a".repeat(19)}}})),
                "spec.credentials.assumeRole.roleArn",
                Schema,
            )
        },
        || {
            bad(
                "zero requests per second",
                endpoint(json!({"rateLimit": {"requestsPerSecond": 0}})),
                "spec.rateLimit.requestsPerSecond",
                Schema,
            )
        },
        || {
            bad(
                "a burst above 100000",
                endpoint(json!({"rateLimit": {"requestsPerSecond": 1, "burst": 100001}})),
                "spec.rateLimit.burst",
                Schema,
            )
        },
        || {
            bad(
                "an empty CA secret name",
                endpoint(json!({"tls": {"caSecretRef": {"name": "", "namespace": "demo"}}})),
                "spec.tls.caSecretRef.name",
                Schema,
            )
        },
    ];
    for case in shared {
        cases.extend(both(case));
    }
    cases
}

fn object(spec: &Value) -> Value {
    object_of(Kind::Policy, spec)
}

fn object_of(kind: Kind, spec: &Value) -> Value {
    let (kind, metadata) = match kind {
        Kind::Policy => (
            "BucketCorsPolicy",
            json!({"name": "p", "namespace": "demo"}),
        ),
        Kind::S3Endpoint => ("S3Endpoint", json!({"name": "e", "namespace": "demo"})),
        Kind::ClusterS3Endpoint => ("ClusterS3Endpoint", json!({"name": "e"})),
    };
    json!({
        "apiVersion": "bucketcors.dev/v1alpha1",
        "kind": kind,
        "metadata": metadata,
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
/// paths of `validate_spec`. Endpoints go through the reader `lint` uses, which names fields
/// that `#[serde(flatten)]` would otherwise hide, and then through their checks.
fn rust_rejects(kind: Kind, spec: &Value) -> Vec<String> {
    if kind != Kind::Policy {
        let mut loaded = Loaded::default();
        let yaml = serde_yaml_ng::to_string(&object_of(kind, spec)).unwrap();
        parse_into("case.yaml", &yaml, &mut loaded);
        let mut paths: Vec<String> = loaded.errors.into_iter().map(|e| e.path).collect();
        for doc in loaded.endpoints {
            paths.extend(doc.endpoint.validate().into_iter().map(|i| i.path));
        }
        return paths;
    }
    match serde_path_to_error::deserialize::<_, BucketCorsPolicy>(object(spec)) {
        Err(err) => vec![err.path().to_string()],
        Ok(policy) => validate_spec(&policy.spec)
            .into_iter()
            .map(|i| i.path)
            .collect(),
    }
}

/// The `(path, message)` of every CEL rule that fails, via kube's generated `validate_cel`;
/// `None` when the object cannot be built as its type (a schema-level type error comes first on
/// the server).
fn cel_errors(kind: Kind, spec: &Value) -> Option<Vec<(String, String)>> {
    let object = object_of(kind, spec);
    let result = match kind {
        Kind::Policy => serde_json::from_value::<BucketCorsPolicy>(object)
            .ok()?
            .validate_cel(),
        Kind::S3Endpoint => serde_json::from_value::<S3Endpoint>(object)
            .ok()?
            .validate_cel(),
        Kind::ClusterS3Endpoint => serde_json::from_value::<ClusterS3Endpoint>(object)
            .ok()?
            .validate_cel(),
    };
    Some(match result {
        Ok(()) => vec![],
        Err(errors) => errors
            .iter()
            .map(|e| (e.field_path.clone(), e.message.clone()))
            .collect(),
    })
}

/// The paths CEL rejects (see [`cel_errors`]).
fn cel_rejects(kind: Kind, spec: &Value) -> Option<Vec<String>> {
    cel_errors(kind, spec).map(|errors| errors.into_iter().map(|(path, _)| path).collect())
}

fn crd_schema() -> Value {
    crd_schema_of(Kind::Policy)
}

fn crd_schema_of(kind: Kind) -> Value {
    let crd = match kind {
        Kind::Policy => BucketCorsPolicy::crd(),
        Kind::S3Endpoint => S3Endpoint::crd(),
        Kind::ClusterS3Endpoint => ClusterS3Endpoint::crd(),
    };
    let crd = serde_json::to_value(crd).unwrap();
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
    let mut failures = Vec::new();
    for case in cases() {
        let rust = rust_rejects(case.kind, &case.spec);
        let cel = cel_rejects(case.kind, &case.spec);
        let mut structural = Vec::new();
        schema_rejects(
            &crd_schema_of(case.kind),
            &object_of(case.kind, &case.spec),
            "",
            &mut structural,
        );
        let mut problem =
            |what: String| failures.push(format!("{:?} {}: {what}", case.kind, case.name));
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
    let count = |kind: Kind, by: By| {
        cases
            .iter()
            .filter(|c| c.kind == kind && c.invalid.is_some_and(|(_, b)| b == by))
            .count()
    };
    let accepted = |kind: Kind| {
        cases
            .iter()
            .filter(|c| c.kind == kind && c.invalid.is_none())
            .count()
    };
    assert!(count(Kind::Policy, By::Cel) >= 6);
    assert!(count(Kind::Policy, By::Schema) >= 15);
    assert_eq!(count(Kind::Policy, By::RustOnly), 1);
    for kind in [Kind::S3Endpoint, Kind::ClusterS3Endpoint] {
        assert!(count(kind, By::Cel) >= 5, "{kind:?}");
        assert!(count(kind, By::Schema) >= 10, "{kind:?}");
        assert!(accepted(kind) >= 10, "{kind:?}");
    }
}

#[test]
fn every_endpoint_cel_rule_is_exercised() {
    // Each rule in the endpoint CRDs must reject at least one case, so a rule that stops
    // working (or a new one without a case) shows here.
    for kind in [Kind::S3Endpoint, Kind::ClusterS3Endpoint] {
        let schema = serde_json::to_string(&crd_schema_of(kind)).unwrap();
        let rules = schema.matches("\"rule\":").count();
        let messages: std::collections::BTreeSet<String> = cases()
            .iter()
            .filter(|c| c.kind == kind)
            .filter_map(|c| cel_errors(kind, &c.spec))
            .flatten()
            .map(|(_, message)| message)
            .collect();
        assert_eq!(messages.len(), rules, "{kind:?}: {messages:#?}");
    }
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
    assert_eq!(rule["allowedOrigins"]["items"]["maxLength"], json!(512));
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
