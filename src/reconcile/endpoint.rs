//! From a policy's `endpointRef` to an [`EndpointConfig`]: which endpoint object, whether the
//! policy may use it, which Secrets it reads, and a cache key that changes when any of them does.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{ClusterView, ReconcileError};
use crate::api::{BucketCorsPolicy, CredentialSource, EndpointKind, EndpointSettings};
use crate::s3::{Credentials, EndpointConfig, SecretString, StaticCredentials};

/// The Secret key holding the access key id.
pub const ACCESS_KEY_ID: &str = "accessKeyId";
/// The Secret key holding the secret access key.
pub const SECRET_ACCESS_KEY: &str = "secretAccessKey";
/// The optional Secret key holding a session token.
pub const SESSION_TOKEN: &str = "sessionToken";
/// The default key of a CA bundle in `tls.caSecretRef`.
pub const DEFAULT_CA_KEY: &str = "ca.crt";

/// What a policy without `endpointRef` uses: the controller's `--default-*` flags.
pub const DEFAULT_ENDPOINT: &str = "default";

/// An endpoint ready to connect to.
#[derive(Clone, Debug)]
pub struct ResolvedEndpoint {
    /// How status names it: `ClusterS3Endpoint/x`, `S3Endpoint/x` or `default`.
    pub display: String,
    /// Changes whenever the endpoint object or a Secret it reads changes (resource versions),
    /// so a cached client is never used with stale credentials.
    pub identity: String,
    /// The connection settings.
    pub config: EndpointConfig,
}

/// Where a bucket lives, for conflict detection: the store's base URL (`aws` for AWS, whose
/// bucket names are global). Two policies with the same bucket and location compete for it.
pub fn location(
    policy: &BucketCorsPolicy,
    view: &dyn ClusterView,
    default: &EndpointConfig,
) -> Option<String> {
    let url = match &policy.spec.endpoint_ref {
        None => default.url.clone(),
        Some(r) => settings(policy, r.kind, &r.name, view)?.0.url,
    };
    Some(url.map_or_else(|| "aws".to_owned(), |u| u.trim_end_matches('/').to_owned()))
}

/// The endpoint object's settings, its namespace (for Secret lookups) and resource version.
fn settings(
    policy: &BucketCorsPolicy,
    kind: EndpointKind,
    name: &str,
    view: &dyn ClusterView,
) -> Option<(
    EndpointSettings,
    Option<String>,
    String,
    Option<LabelSelector>,
)> {
    match kind {
        EndpointKind::S3Endpoint => {
            let ns = policy.metadata.namespace.clone().unwrap_or_default();
            let ep = view.s3_endpoint(&ns, name)?;
            let rv = ep.metadata.resource_version.clone().unwrap_or_default();
            Some((ep.spec.settings.clone(), Some(ns), rv, None))
        }
        EndpointKind::ClusterS3Endpoint => {
            let ep = view.cluster_s3_endpoint(name)?;
            let rv = ep.metadata.resource_version.clone().unwrap_or_default();
            Some((
                ep.spec.settings.clone(),
                None,
                rv,
                ep.spec.allowed_namespaces.clone(),
            ))
        }
    }
}

/// Resolves the policy's endpoint: finds the object, checks the policy may use it, reads the
/// Secrets it references and builds the connection settings.
pub async fn resolve(
    policy: &BucketCorsPolicy,
    view: &dyn ClusterView,
    default: &EndpointConfig,
) -> Result<ResolvedEndpoint, ReconcileError> {
    let Some(r) = &policy.spec.endpoint_ref else {
        return Ok(ResolvedEndpoint {
            display: DEFAULT_ENDPOINT.to_owned(),
            identity: DEFAULT_ENDPOINT.to_owned(),
            config: default.clone(),
        });
    };
    let policy_ns = policy.metadata.namespace.clone().unwrap_or_default();
    let display = format!("{}/{}", r.kind, r.name);
    let (settings, endpoint_ns, rv, allowed) =
        settings(policy, r.kind, &r.name, view).ok_or_else(|| {
            ReconcileError::EndpointNotFound(match r.kind {
                EndpointKind::S3Endpoint => format!("S3Endpoint {policy_ns}/{} not found", r.name),
                EndpointKind::ClusterS3Endpoint => {
                    format!("ClusterS3Endpoint {} not found", r.name)
                }
            })
        })?;
    if let Some(selector) = &allowed {
        let labels = view
            .namespace_labels(&policy_ns)
            .await
            .map_err(ReconcileError::from)?
            .unwrap_or_default();
        let admitted = selector_admits(selector, &labels).map_err(|e| {
            ReconcileError::Forbidden(format!("{display}: invalid allowedNamespaces: {e}"))
        })?;
        if !admitted {
            return Err(ReconcileError::Forbidden(format!(
                "{display} does not admit namespace {policy_ns:?} (allowedNamespaces)"
            )));
        }
    }
    let mut identity = format!(
        "{}/{}/{}@{rv}",
        r.kind,
        endpoint_ns.as_deref().unwrap_or(""),
        r.name
    );

    let credentials = match settings.credentials.source {
        CredentialSource::Default => Credentials::Default,
        CredentialSource::Secret => {
            let sref = settings.credentials.secret_ref.as_ref().ok_or_else(|| {
                ReconcileError::InvalidSpec(format!(
                    "{display}: credentials.source is Secret but secretRef is missing"
                ))
            })?;
            let ns = secret_namespace(&display, endpoint_ns.as_deref(), sref.namespace.as_deref())?;
            let secret = read_secret(view, &ns, &sref.name).await?;
            identity.push_str(&format!(
                ";secret {ns}/{}@{}",
                sref.name,
                secret.resource_version.as_deref().unwrap_or("")
            ));
            let text = |key: &str| -> Result<Option<String>, ReconcileError> {
                secret
                    .data
                    .get(key)
                    .map(|v| {
                        String::from_utf8(v.clone())
                            .map(|s| s.trim().to_owned())
                            .map_err(|_| {
                                ReconcileError::SecretNotFound(format!(
                                    "Secret {ns}/{}: key {key} is not UTF-8",
                                    sref.name
                                ))
                            })
                    })
                    .transpose()
            };
            let missing = |key: &str| {
                ReconcileError::SecretNotFound(format!(
                    "Secret {ns}/{} has no key {key}",
                    sref.name
                ))
            };
            Credentials::Static(StaticCredentials {
                access_key_id: text(ACCESS_KEY_ID)?.ok_or_else(|| missing(ACCESS_KEY_ID))?,
                secret_access_key: SecretString::new(
                    text(SECRET_ACCESS_KEY)?.ok_or_else(|| missing(SECRET_ACCESS_KEY))?,
                ),
                session_token: text(SESSION_TOKEN)?.map(SecretString::new),
            })
        }
    };

    let ca_bundle_pem = match settings.tls.as_ref().and_then(|t| t.ca_secret_ref.as_ref()) {
        None => None,
        Some(ca) => {
            let ns = secret_namespace(&display, endpoint_ns.as_deref(), ca.namespace.as_deref())?;
            let key = ca.key.as_deref().unwrap_or(DEFAULT_CA_KEY);
            let secret = read_secret(view, &ns, &ca.name).await?;
            identity.push_str(&format!(
                ";ca {ns}/{}@{}",
                ca.name,
                secret.resource_version.as_deref().unwrap_or("")
            ));
            Some(secret.data.get(key).cloned().ok_or_else(|| {
                ReconcileError::SecretNotFound(format!("Secret {ns}/{} has no key {key}", ca.name))
            })?)
        }
    };

    let assume_role = settings.credentials.assume_role.as_ref().map(|a| {
        (
            a.role_arn.clone(),
            a.external_id.clone(),
            a.session_name.clone(),
        )
    });
    Ok(ResolvedEndpoint {
        display,
        identity,
        config: EndpointConfig {
            url: settings.url,
            region: Some(settings.region),
            force_path_style: settings.force_path_style,
            checksum: settings.checksum,
            credentials,
            assume_role,
            ca_bundle_pem,
            rate_limit: settings.rate_limit,
        },
    })
}

/// The namespace a Secret reference resolves to. A namespaced endpoint reads only its own
/// namespace; a cluster endpoint must say which namespace.
fn secret_namespace(
    display: &str,
    endpoint_ns: Option<&str>,
    wanted: Option<&str>,
) -> Result<String, ReconcileError> {
    match (endpoint_ns, wanted) {
        (Some(own), None) => Ok(own.to_owned()),
        (Some(own), Some(w)) if w == own => Ok(own.to_owned()),
        (Some(own), Some(w)) => Err(ReconcileError::Forbidden(format!(
            "{display} may only read Secrets in its own namespace {own:?}, not {w:?}"
        ))),
        (None, Some(w)) => Ok(w.to_owned()),
        (None, None) => Err(ReconcileError::InvalidSpec(format!(
            "{display}: a Secret reference needs a namespace"
        ))),
    }
}

async fn read_secret(
    view: &dyn ClusterView,
    ns: &str,
    name: &str,
) -> Result<super::SecretData, ReconcileError> {
    view.secret(ns, name)
        .await
        .map_err(ReconcileError::from)?
        .ok_or_else(|| ReconcileError::SecretNotFound(format!("Secret {ns}/{name} not found")))
}

/// Evaluates a Kubernetes label selector (`matchLabels` and `matchExpressions` with `In`,
/// `NotIn`, `Exists`, `DoesNotExist`). An empty selector admits everything. An unknown operator
/// is an error rather than a silent yes or no.
pub fn selector_admits(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default();
        let value = labels.get(&expr.key);
        let ok = match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => return Err(format!("unknown operator {other:?} for key {:?}", expr.key)),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn selectors() {
        let l = labels(&[("team", "shop"), ("env", "prod")]);
        assert!(selector_admits(&LabelSelector::default(), &l).unwrap());
        let ml = |pairs: &[(&str, &str)]| LabelSelector {
            match_labels: Some(labels(pairs)),
            ..Default::default()
        };
        assert!(selector_admits(&ml(&[("team", "shop")]), &l).unwrap());
        assert!(!selector_admits(&ml(&[("team", "web")]), &l).unwrap());
        assert!(!selector_admits(&ml(&[("missing", "x")]), &l).unwrap());
        let me = |e: LabelSelectorRequirement| LabelSelector {
            match_expressions: Some(vec![e]),
            ..Default::default()
        };
        assert!(selector_admits(&me(expr("env", "In", &["prod", "stage"])), &l).unwrap());
        assert!(!selector_admits(&me(expr("env", "In", &["dev"])), &l).unwrap());
        assert!(!selector_admits(&me(expr("env", "NotIn", &["prod"])), &l).unwrap());
        assert!(selector_admits(&me(expr("tier", "NotIn", &["x"])), &l).unwrap());
        assert!(selector_admits(&me(expr("team", "Exists", &[])), &l).unwrap());
        assert!(!selector_admits(&me(expr("tier", "Exists", &[])), &l).unwrap());
        assert!(selector_admits(&me(expr("tier", "DoesNotExist", &[])), &l).unwrap());
        assert!(!selector_admits(&me(expr("team", "DoesNotExist", &[])), &l).unwrap());
        assert!(selector_admits(&me(expr("team", "Gt", &[])), &l).is_err());
        // Both parts must hold.
        let both = LabelSelector {
            match_labels: Some(labels(&[("team", "shop")])),
            match_expressions: Some(vec![expr("env", "In", &["dev"])]),
        };
        assert!(!selector_admits(&both, &l).unwrap());
    }
}
