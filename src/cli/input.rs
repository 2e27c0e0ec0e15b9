//! Reading policies from files or standard input, with errors that name the file, the document
//! and the field.
//!
//! A file may mix policies with the other objects a user applies next to them: bucketcors
//! endpoints (`S3Endpoint`, `ClusterS3Endpoint`) and Kubernetes `Secret`s. Endpoints are read
//! into their types too (so `lint` can check them, and a broken one is reported like a broken
//! policy); Secrets are skipped. Any other kind is an error, so a typo in `kind` is never
//! silently ignored.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;

use crate::api::{BucketCorsPolicy, ClusterS3Endpoint, EndpointSettings, GROUP, S3Endpoint};
use crate::cors::ValidationIssue;
use crate::s3::{validate_cluster_s3_endpoint, validate_s3_endpoint};

/// The bucketcors kinds that may appear next to policies and are not policies.
const ENDPOINT_KINDS: [&str; 2] = ["S3Endpoint", "ClusterS3Endpoint"];

/// One policy read from a file.
#[derive(Clone, Debug)]
pub struct PolicyDocument {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 0-based position of the document in its file.
    pub document: usize,
    /// The policy.
    pub policy: BucketCorsPolicy,
}

impl PolicyDocument {
    /// `file#document` (1-based document number, as people count).
    pub fn location(&self) -> String {
        format!("{} (document {})", self.file, self.document + 1)
    }
}

/// An endpoint object of either kind.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// An `S3Endpoint`.
    Namespaced(Box<S3Endpoint>),
    /// A `ClusterS3Endpoint`.
    Cluster(Box<ClusterS3Endpoint>),
}

impl Endpoint {
    /// `S3Endpoint` or `ClusterS3Endpoint`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Namespaced(_) => "S3Endpoint",
            Self::Cluster(_) => "ClusterS3Endpoint",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &kube::core::ObjectMeta {
        match self {
            Self::Namespaced(e) => &e.metadata,
            Self::Cluster(e) => &e.metadata,
        }
    }

    /// The checks the API server and the controller would make (see [`crate::s3::validate_s3_endpoint`]).
    pub fn validate(&self) -> Vec<ValidationIssue> {
        match self {
            Self::Namespaced(e) => validate_s3_endpoint(e),
            Self::Cluster(e) => validate_cluster_s3_endpoint(e),
        }
    }
}

/// One endpoint object read from a file.
#[derive(Clone, Debug)]
pub struct EndpointDocument {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 0-based position of the document in its file.
    pub document: usize,
    /// The endpoint.
    pub endpoint: Endpoint,
}

/// A document of a known kind that is neither a policy nor an endpoint (a `Secret`), which
/// readers of policies skip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedDocument {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 0-based position of the document in its file.
    pub document: usize,
    /// Its kind, e.g. `ClusterS3Endpoint` or `Secret`.
    pub kind: String,
    /// Its `metadata.name`, when it has one.
    pub name: Option<String>,
}

/// A file or document that is not a valid policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}", document.map(|d| format!(" (document {})", d + 1)).unwrap_or_default(), if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct InputError {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 0-based document number, when the error is inside one document.
    pub document: Option<usize>,
    /// Field path inside the document (`spec.rules[3].allowedMethods[0]`), empty for the whole
    /// document or file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Everything read from a set of files: the policies, the documents skipped, and the errors.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The policies, in file and document order.
    pub policies: Vec<PolicyDocument>,
    /// The endpoint objects, in file and document order.
    pub endpoints: Vec<EndpointDocument>,
    /// Documents of other known kinds, which were skipped.
    pub skipped: Vec<SkippedDocument>,
    /// Files and documents that could not be read as policies.
    pub errors: Vec<InputError>,
}

/// Reads every `BucketCorsPolicy` from `paths` (`-` is standard input). Documents that are empty
/// or of another known kind (see the module documentation) are left out; everything else that
/// is not a valid object of its kind is reported, and reading goes on, so one bad document hides
/// nothing about the others.
pub fn load(paths: &[PathBuf]) -> (Vec<PolicyDocument>, Vec<InputError>) {
    let loaded = load_all(paths);
    (loaded.policies, loaded.errors)
}

/// Like [`load`], and also says which documents were skipped.
pub fn load_all(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        let file = display_name(path);
        match read_source(path) {
            Ok(text) => parse_into(&file, &text, &mut loaded),
            Err(err) => loaded.errors.push(InputError {
                file,
                document: None,
                path: String::new(),
                message: format!("cannot read: {err}"),
            }),
        }
    }
    loaded
}

/// Parses every document of one YAML text, keeping policies and errors.
pub fn parse_documents(
    file: &str,
    text: &str,
    policies: &mut Vec<PolicyDocument>,
    errors: &mut Vec<InputError>,
) {
    let mut loaded = Loaded::default();
    parse_into(file, text, &mut loaded);
    policies.append(&mut loaded.policies);
    errors.append(&mut loaded.errors);
}

/// Parses every document of one YAML text into `loaded`.
pub fn parse_into(file: &str, text: &str, loaded: &mut Loaded) {
    for (document, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let error = |path: String, message: String| InputError {
            file: file.to_owned(),
            document: Some(document),
            path,
            message,
        };
        let value = match serde_yaml_ng::Value::deserialize(de) {
            Ok(serde_yaml_ng::Value::Null) => continue,
            Ok(value) => value,
            Err(err) => {
                loaded
                    .errors
                    .push(error(String::new(), format!("not valid YAML: {err}")));
                // After a syntax error the stream cannot be resynchronised.
                break;
            }
        };
        match parse_document(value) {
            Ok(Parsed::Policy(policy)) => loaded.policies.push(PolicyDocument {
                file: file.to_owned(),
                document,
                policy: *policy,
            }),
            Ok(Parsed::Endpoint(endpoint)) => loaded.endpoints.push(EndpointDocument {
                file: file.to_owned(),
                document,
                endpoint,
            }),
            Ok(Parsed::Skipped { kind, name }) => loaded.skipped.push(SkippedDocument {
                file: file.to_owned(),
                document,
                kind,
                name,
            }),
            Err((path, message)) => loaded.errors.push(error(path, message)),
        }
    }
}

enum Parsed {
    Policy(Box<BucketCorsPolicy>),
    Endpoint(Endpoint),
    Skipped { kind: String, name: Option<String> },
}

fn parse_document(value: serde_yaml_ng::Value) -> Result<Parsed, (String, String)> {
    let serde_yaml_ng::Value::Mapping(map) = &value else {
        return Err((
            String::new(),
            "expected a Kubernetes object (a YAML mapping with apiVersion and kind)".to_owned(),
        ));
    };
    let field = |name: &str| map.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let expected = format!("{GROUP}/v1alpha1");
    let kind = field("kind").ok_or_else(|| {
        (
            "kind".to_owned(),
            "missing; expected BucketCorsPolicy".to_owned(),
        )
    })?;
    let api_version = field("apiVersion").unwrap_or_default();
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    if kind == "Secret" && api_version == "v1" {
        return Ok(Parsed::Skipped { kind, name });
    }
    let known = kind == "BucketCorsPolicy" || ENDPOINT_KINDS.contains(&kind.as_str());
    if !known {
        return Err((
            "kind".to_owned(),
            format!(
                "{kind:?} is not a BucketCorsPolicy (only S3Endpoint, ClusterS3Endpoint and v1 Secret documents may appear next to policies)"
            ),
        ));
    }
    if api_version != expected {
        return Err((
            "apiVersion".to_owned(),
            format!("{api_version:?} is not supported for {kind}; expected {expected}"),
        ));
    }
    match kind.as_str() {
        "S3Endpoint" => {
            return typed_endpoint::<S3Endpoint>(value)
                .map(|e| Parsed::Endpoint(Endpoint::Namespaced(Box::new(e))));
        }
        "ClusterS3Endpoint" => {
            return typed_endpoint::<ClusterS3Endpoint>(value)
                .map(|e| Parsed::Endpoint(Endpoint::Cluster(Box::new(e))));
        }
        _ => {}
    }
    // kube's duration parser panics on values too large for a Duration; check the text first,
    // with the same pattern the CRD schema enforces.
    if let Some(interval) = value.get("spec").and_then(|s| s.get("interval"))
        && let Some(text) = interval.as_str()
    {
        check_go_duration(text).map_err(|message| ("spec.interval".to_owned(), message))?;
    }
    typed::<BucketCorsPolicy>(value).map(|policy| Parsed::Policy(Box::new(policy)))
}

/// Like [`typed`], for the endpoint kinds. Their specs hold the settings through
/// `#[serde(flatten)]`, which hides the path of an error inside them, so the settings are read
/// on their own first, for an error that names the field (`spec.credentials.source`).
fn typed_endpoint<T: serde::de::DeserializeOwned>(
    value: serde_yaml_ng::Value,
) -> Result<T, (String, String)> {
    if let Some(spec) = value.get("spec") {
        typed::<EndpointSettings>(spec.clone()).map_err(|(path, message)| {
            let path = if path.is_empty() {
                "spec".to_owned()
            } else {
                format!("spec.{path}")
            };
            (path, message)
        })?;
    }
    typed::<T>(value)
}

/// Deserializes a document into its type; an error names the field it is about.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_yaml_ng::Value,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        (if path == "." { String::new() } else { path }, message)
    })
}

/// Accepts what the schema's pattern `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$` accepts, up to
/// about 30 years (the API server's CEL `duration()` refuses far less than what would overflow).
fn check_go_duration(text: &str) -> Result<(), String> {
    const MAX_SECONDS: f64 = 1e9;
    let invalid = || format!("{text:?} is not a duration such as 30s, 10m or 1h30m");
    let mut rest = text;
    let mut seconds = 0.0_f64;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(number_len);
        let well_formed = match number.split_once('.') {
            Some((whole, fraction)) => {
                !whole.is_empty() && !fraction.is_empty() && !fraction.contains('.')
            }
            None => !number.is_empty(),
        };
        if !well_formed {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let (scale, unit_len) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
        ]
        .into_iter()
        .find(|(unit, _)| after.starts_with(unit))
        .map(|(unit, scale)| (scale, unit.len()))
        .ok_or_else(invalid)?;
        seconds += value * scale;
        rest = &after[unit_len..];
    }
    if seconds > MAX_SECONDS {
        return Err(format!("{text:?} is too long; use at most a few years"));
    }
    Ok(())
}

fn read_source(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "apiVersion: bucketcors.dev/v1alpha1
kind: BucketCorsPolicy
metadata: {name: web, namespace: demo}
spec:
  bucket: demo-web
  rules:
    - allowedOrigins: ['https://a.example']
      allowedMethods: [GET]
";

    fn parse(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        parse_into("f.yaml", text, &mut loaded);
        loaded
    }

    #[test]
    fn endpoints_are_read_and_secrets_skipped() {
        let text = format!(
            "{POLICY}---
apiVersion: bucketcors.dev/v1alpha1
kind: ClusterS3Endpoint
metadata: {{name: cos}}
spec: {{region: us-south}}
---
apiVersion: v1
kind: Secret
metadata: {{name: keys, namespace: demo}}
stringData: {{accessKeyId: x}}
---
"
        );
        let loaded = parse(&text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.policies.len(), 1);
        assert_eq!(loaded.endpoints.len(), 1);
        let endpoint = &loaded.endpoints[0];
        assert_eq!(
            (endpoint.document, endpoint.endpoint.kind()),
            (1, "ClusterS3Endpoint")
        );
        assert_eq!(endpoint.endpoint.metadata().name.as_deref(), Some("cos"));
        let kinds: Vec<_> = loaded
            .skipped
            .iter()
            .map(|s| (s.document, s.kind.as_str()))
            .collect();
        assert_eq!(kinds, vec![(2, "Secret")]);
    }

    #[test]
    fn endpoint_field_errors_name_the_field() {
        let endpoint = |kind: &str, spec: &str| {
            format!(
                "apiVersion: bucketcors.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: e}}\nspec: {spec}\n"
            )
        };
        let cases = [
            ("S3Endpoint", "{region: x, checksum: MD5}", "spec.checksum"),
            (
                "ClusterS3Endpoint",
                "{region: x, credentials: {source: Vault}}",
                "spec.credentials.source",
            ),
            ("S3Endpoint", "{checksum: Auto}", "spec"),
            (
                "ClusterS3Endpoint",
                "{region: x, rateLimit: {requestsPerSecond: many}}",
                "spec.rateLimit.requestsPerSecond",
            ),
        ];
        for (kind, spec, path) in cases {
            let loaded = parse(&format!("{POLICY}---\n{}", endpoint(kind, spec)));
            assert_eq!(loaded.policies.len(), 1, "{spec}");
            assert!(loaded.endpoints.is_empty(), "{spec}");
            assert_eq!(loaded.errors.len(), 1, "{spec}: {:?}", loaded.errors);
            assert_eq!(
                (loaded.errors[0].document, loaded.errors[0].path.as_str()),
                (Some(1), path),
                "{spec}: {}",
                loaded.errors[0]
            );
        }
    }

    #[test]
    fn unknown_kinds_and_versions_are_errors() {
        let loaded = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: v2\nkind: Secret\n",
        );
        let at: Vec<_> = loaded
            .errors
            .iter()
            .map(|e| (e.document, e.path.as_str()))
            .collect();
        assert_eq!(at, vec![(Some(0), "kind"), (Some(1), "kind")]);
        let loaded = parse(&POLICY.replace("v1alpha1", "v1"));
        assert_eq!(loaded.errors[0].path, "apiVersion");
        let loaded = parse("apiVersion: bucketcors.dev/v1\nkind: S3Endpoint\n");
        assert_eq!(loaded.errors[0].path, "apiVersion");
    }

    #[test]
    fn field_errors_name_the_field() {
        let loaded = parse(&POLICY.replace("[GET]", "[GET, PATCH]"));
        assert_eq!(loaded.errors.len(), 1);
        assert_eq!(loaded.errors[0].path, "spec.rules[0].allowedMethods[1]");
        assert!(
            loaded.errors[0].message.contains("PATCH"),
            "{}",
            loaded.errors[0]
        );
        assert_eq!(
            loaded.errors[0].to_string().split(':').next(),
            Some("f.yaml (document 1)")
        );
    }

    #[test]
    fn huge_intervals_are_refused_without_panicking() {
        for interval in [
            "99999999999999999999h",
            "1e3s",
            "-1m",
            "",
            "5",
            "1.s",
            "m",
            "1h1",
        ] {
            let loaded = parse(&format!("{POLICY}  interval: '{interval}'\n"));
            assert_eq!(loaded.errors.len(), 1, "{interval}: {:?}", loaded.errors);
            assert_eq!(loaded.errors[0].path, "spec.interval", "{interval}");
        }
        for interval in ["30s", "1h30m", "1.5h", "90000ms", "10m"] {
            let loaded = parse(&format!("{POLICY}  interval: '{interval}'\n"));
            assert!(loaded.errors.is_empty(), "{interval}: {:?}", loaded.errors);
        }
    }

    #[test]
    fn a_syntax_error_stops_the_file_but_keeps_earlier_documents() {
        let loaded = parse(&format!("{POLICY}---\nkind: [unclosed\n"));
        assert_eq!(loaded.policies.len(), 1);
        assert_eq!(loaded.errors.len(), 1);
        assert_eq!(loaded.errors[0].document, Some(1));
    }
}
