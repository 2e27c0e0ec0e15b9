//! Offline checks of `S3Endpoint` and `ClusterS3Endpoint` objects.
//!
//! The same limits the CRD's schema and CEL enforce (see `src/api/endpoint.rs`), so `lint` can
//! reject in a file what the API server would reject, plus what only the controller can tell:
//! the URL must be one the client accepts, and an `S3Endpoint` may only read Secrets in its own
//! namespace. `tests/validation_parity.rs` runs these and the CRD's rules on one table of cases.

use super::url::check_url;
use crate::api::{ClusterS3Endpoint, CredentialSource, EndpointSettings, S3Endpoint};
use crate::cors::ValidationIssue;

/// Longest region the schema accepts.
const MAX_REGION_LEN: usize = 64;
/// Longest object name the schema accepts (Secrets).
const MAX_OBJECT_NAME_LEN: usize = 253;
/// Shortest and longest role ARN the schema accepts.
const ROLE_ARN_LEN: (usize, usize) = (20, 2048);
/// Range of `rateLimit.requestsPerSecond` and `rateLimit.burst` in the schema.
const RATE_RANGE: (i32, i32) = (1, 100_000);

/// Checks a namespaced `S3Endpoint`. Empty when it is valid.
pub fn validate_s3_endpoint(endpoint: &S3Endpoint) -> Vec<ValidationIssue> {
    let mut issues = check_settings(&endpoint.spec.settings);
    // CEL cannot see metadata.namespace, and an object in a file may not say it; when it does,
    // a Secret elsewhere is one the controller will refuse to read.
    if let Some(own) = endpoint.metadata.namespace.as_deref() {
        let settings = &endpoint.spec.settings;
        let references = [
            (
                "spec.credentials.secretRef.namespace",
                settings
                    .credentials
                    .secret_ref
                    .as_ref()
                    .and_then(|r| r.namespace.as_deref()),
            ),
            (
                "spec.tls.caSecretRef.namespace",
                settings
                    .tls
                    .as_ref()
                    .and_then(|t| t.ca_secret_ref.as_ref())
                    .and_then(|r| r.namespace.as_deref()),
            ),
        ];
        for (path, wanted) in references {
            if let Some(wanted) = wanted
                && wanted != own
            {
                issues.push(issue(
                    path,
                    format!(
                        "{wanted:?} is another namespace; an S3Endpoint may only read Secrets in its own namespace {own:?}"
                    ),
                ));
            }
        }
    }
    issues
}

/// Checks a `ClusterS3Endpoint`. Empty when it is valid.
pub fn validate_cluster_s3_endpoint(endpoint: &ClusterS3Endpoint) -> Vec<ValidationIssue> {
    let settings = &endpoint.spec.settings;
    let mut issues = check_settings(settings);
    // A cluster-scoped object has no namespace a Secret reference could default to.
    if settings
        .credentials
        .secret_ref
        .as_ref()
        .is_some_and(|r| r.namespace.is_none())
    {
        issues.push(issue(
            "spec.credentials.secretRef.namespace",
            "required on a ClusterS3Endpoint".to_owned(),
        ));
    }
    if settings
        .tls
        .as_ref()
        .and_then(|t| t.ca_secret_ref.as_ref())
        .is_some_and(|r| r.namespace.is_none())
    {
        issues.push(issue(
            "spec.tls.caSecretRef.namespace",
            "required on a ClusterS3Endpoint".to_owned(),
        ));
    }
    issues
}

/// The checks both kinds share.
fn check_settings(settings: &EndpointSettings) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    if let Some(url) = &settings.url
        && let Err(problem) = check_url(url)
    {
        // The problem's words, never the URL: it may hold a password.
        issues.push(issue("spec.url", problem.to_string()));
    }
    length(
        &mut issues,
        "spec.region",
        &settings.region,
        1,
        MAX_REGION_LEN,
    );
    let credentials = &settings.credentials;
    match &credentials.secret_ref {
        None if credentials.source == CredentialSource::Secret => issues.push(issue(
            "spec.credentials",
            "secretRef is required when source is Secret".to_owned(),
        )),
        None => {}
        Some(secret) => length(
            &mut issues,
            "spec.credentials.secretRef.name",
            &secret.name,
            1,
            MAX_OBJECT_NAME_LEN,
        ),
    }
    if let Some(role) = &credentials.assume_role {
        length(
            &mut issues,
            "spec.credentials.assumeRole.roleArn",
            &role.role_arn,
            ROLE_ARN_LEN.0,
            ROLE_ARN_LEN.1,
        );
    }
    if let Some(ca) = settings.tls.as_ref().and_then(|t| t.ca_secret_ref.as_ref()) {
        length(
            &mut issues,
            "spec.tls.caSecretRef.name",
            &ca.name,
            1,
            MAX_OBJECT_NAME_LEN,
        );
    }
    if let Some(limit) = &settings.rate_limit {
        range(
            &mut issues,
            "spec.rateLimit.requestsPerSecond",
            limit.requests_per_second,
        );
        if let Some(burst) = limit.burst {
            range(&mut issues, "spec.rateLimit.burst", burst);
        }
    }
    issues
}

fn issue(path: &str, message: String) -> ValidationIssue {
    ValidationIssue {
        path: path.to_owned(),
        message,
    }
}

/// Between `min` and `max` characters (Unicode scalar values, as the schema counts).
fn length(issues: &mut Vec<ValidationIssue>, path: &str, value: &str, min: usize, max: usize) {
    let chars = value.chars().count();
    if chars == 0 {
        issues.push(issue(path, "must not be empty".to_owned()));
    } else if chars < min || chars > max {
        issues.push(issue(
            path,
            format!("is {chars} characters long; {min} to {max} are allowed"),
        ));
    }
}

fn range(issues: &mut Vec<ValidationIssue>, path: &str, value: i32) {
    let (min, max) = RATE_RANGE;
    if !(min..=max).contains(&value) {
        issues.push(issue(path, format!("{value} is outside {min} to {max}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn namespaced(spec: serde_json::Value) -> S3Endpoint {
        serde_json::from_value(json!({
            "apiVersion": "bucketcors.dev/v1alpha1", "kind": "S3Endpoint",
            "metadata": {"name": "e", "namespace": "demo"}, "spec": spec
        }))
        .unwrap()
    }

    fn cluster(spec: serde_json::Value) -> ClusterS3Endpoint {
        serde_json::from_value(json!({
            "apiVersion": "bucketcors.dev/v1alpha1", "kind": "ClusterS3Endpoint",
            "metadata": {"name": "e"}, "spec": spec
        }))
        .unwrap()
    }

    fn paths(issues: Vec<ValidationIssue>) -> Vec<String> {
        issues.into_iter().map(|i| i.path).collect()
    }

    #[test]
    fn a_full_endpoint_is_valid() {
        let spec = json!({
            "url": "https://s3.example.com", "region": "us-east-1", "forcePathStyle": true,
            "checksum": "ContentMD5",
            "credentials": {"source": "Secret", "secretRef": {"name": "keys", "namespace": "demo"},
                "assumeRole": {"roleArn": "arn:aws:iam::123456789012:role/cors"}},
            "tls": {"caSecretRef": {"name": "ca", "namespace": "demo"}},
            "rateLimit": {"requestsPerSecond": 50, "burst": 100}
        });
        assert_eq!(validate_s3_endpoint(&namespaced(spec.clone())), vec![]);
        assert_eq!(validate_cluster_s3_endpoint(&cluster(spec)), vec![]);
        assert_eq!(
            validate_s3_endpoint(&namespaced(json!({"region": "x"}))),
            vec![]
        );
    }

    #[test]
    fn every_problem_names_its_field() {
        let spec = json!({
            "url": "ftp://s3.example.com", "region": "",
            "credentials": {"source": "Secret", "assumeRole": {"roleArn": "short"}},
            "tls": {"caSecretRef": {"name": ""}},
            "rateLimit": {"requestsPerSecond": 0, "burst": 100001}
        });
        assert_eq!(
            paths(validate_s3_endpoint(&namespaced(spec))),
            [
                "spec.url",
                "spec.region",
                "spec.credentials",
                "spec.credentials.assumeRole.roleArn",
                "spec.tls.caSecretRef.name",
                "spec.rateLimit.requestsPerSecond",
                "spec.rateLimit.burst",
            ]
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_repeating_it() {
        let issues = validate_s3_endpoint(&namespaced(
            json!({"url": "https://key:hunter2@s3.example.com", "region": "x"}),
        ));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "spec.url");
        assert!(!issues[0].message.contains("hunter2"), "{}", issues[0]);
    }

    #[test]
    fn secret_namespaces_follow_the_scope() {
        let refs = |ns: Option<&str>| {
            let mut r = json!({"name": "s"});
            if let Some(ns) = ns {
                r["namespace"] = json!(ns);
            }
            json!({"region": "x", "credentials": {"source": "Secret", "secretRef": r},
                "tls": {"caSecretRef": r}})
        };
        assert_eq!(
            paths(validate_cluster_s3_endpoint(&cluster(refs(None)))),
            [
                "spec.credentials.secretRef.namespace",
                "spec.tls.caSecretRef.namespace"
            ]
        );
        assert_eq!(
            validate_cluster_s3_endpoint(&cluster(refs(Some("a")))),
            vec![]
        );
        assert_eq!(validate_s3_endpoint(&namespaced(refs(None))), vec![]);
        assert_eq!(
            validate_s3_endpoint(&namespaced(refs(Some("demo")))),
            vec![]
        );
        assert_eq!(
            paths(validate_s3_endpoint(&namespaced(refs(Some("other"))))),
            [
                "spec.credentials.secretRef.namespace",
                "spec.tls.caSecretRef.namespace"
            ]
        );
    }
}
