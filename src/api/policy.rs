//! `BucketCorsPolicy`: the CORS rules one bucket must have, and what the controller found.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::rule::CorsRule;

/// The re-read interval used when a policy does not set one.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);
/// The shortest re-read interval a policy may ask for.
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The CORS configuration one S3 bucket must have.
///
/// The controller reads the bucket's live CORS configuration every `interval`, compares it with
/// `rules` (order matters: S3 uses the first rule that matches), and writes only when they differ.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "bucketcors.dev",
    version = "v1alpha1",
    kind = "BucketCorsPolicy",
    doc = "The CORS configuration one S3 bucket must have. The bucketcors controller reads the bucket's live configuration every interval, writes the declared rules only when they differ, and reports what it found and did in status.",
    plural = "bucketcorspolicies",
    shortname = "bcp",
    namespaced,
    cel,
    status = "BucketCorsPolicyStatus",
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".spec.bucket"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Rules","type":"integer","description":"Number of CORS rules on the bucket at the last read","jsonPath":".status.ruleCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketCorsPolicySpec {
    /// Name of the bucket whose CORS configuration this policy owns. Immutable: to manage
    /// another bucket, create another policy.
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("bucket is immutable"))]
    pub bucket: String,

    /// The S3 endpoint (store, region, credentials) that holds the bucket. When absent, the
    /// controller's default endpoint is used (its `--default-*` flags and AWS environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_ref: Option<EndpointRef>,

    /// AWS account ID expected to own the bucket, sent as `ExpectedBucketOwner` on every request
    /// so a bucket name that now belongs to someone else is never touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub expected_bucket_owner: Option<String>,

    /// The CORS rules, in order; S3 answers each request with the first rule that matches.
    /// At most 100 rules. An empty list means the bucket must have no CORS configuration at all.
    #[schemars(length(max = 100))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(r, !has(r.id) || self.exists_one(o, has(o.id) && o.id == r.id))"
    ).message("rule ids must be unique within the policy"))]
    pub rules: Vec<CorsRule>,

    /// What to do when the bucket's live configuration differs from `rules`:
    /// `Enforce` writes the declared rules; `Report` never writes and only reports the difference
    /// (not even when the policy is deleted: `deletionPolicy` then acts as `Retain`).
    #[serde(default)]
    pub drift_policy: DriftPolicy,

    /// What happens to the bucket's CORS configuration when this policy is deleted:
    /// `Delete` removes it, `Retain` leaves it as it is, `Restore` puts back the configuration
    /// the bucket had before this policy first changed it (`status.original`, recorded before
    /// the first write whatever the deletionPolicy was then, so it may be switched to `Restore`
    /// at any time). Nothing is written on deletion when `driftPolicy` is `Report` (it never
    /// writes), when the policy is suspended, or when it never owned the bucket (its spec was
    /// never valid, or an older policy on the same bucket owned it): all these act as `Retain`.
    /// A cleanup that keeps failing is given up after the controller's `--cleanup-timeout`
    /// (default 1h), leaving the bucket as it is.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// How often the live configuration is re-read to catch changes made outside Kubernetes,
    /// as a Go duration (`30s`, `10m`, `1h`). Default `10m`, at least `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "interval_schema")]
    #[x_kube(validation = kube::core::Rule::new("duration(self) >= duration('30s')")
        .message("interval must be at least 30s"))]
    pub interval: Option<kube::core::Duration>,

    /// When true, the controller leaves the bucket alone and reports `Suspended`.
    #[serde(default)]
    pub suspend: bool,
}

fn interval_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
        "description": "How often the live configuration is re-read to catch changes made outside Kubernetes, as a Go duration (`30s`, `10m`, `1h`). Default `10m`, at least `30s`."
    })
}

/// Rules reported from a store are shown as the store returned them, even when they would not
/// pass the spec's validation, so their schema is deliberately loose.
fn reported_rules_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

/// Which endpoint object a policy uses.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointRef {
    /// `ClusterS3Endpoint` (cluster-wide, must admit this namespace) or `S3Endpoint`
    /// (in the policy's own namespace).
    #[serde(default)]
    pub kind: EndpointKind,
    /// Name of the endpoint object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The kind of an endpoint reference.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum EndpointKind {
    /// A namespaced `S3Endpoint` in the policy's namespace.
    S3Endpoint,
    /// A cluster-scoped `ClusterS3Endpoint`.
    #[default]
    ClusterS3Endpoint,
}

impl std::fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::S3Endpoint => "S3Endpoint",
            Self::ClusterS3Endpoint => "ClusterS3Endpoint",
        })
    }
}

/// What the controller does when the live configuration differs from the declared one.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum DriftPolicy {
    /// Write the declared rules whenever the bucket differs.
    #[default]
    Enforce,
    /// Never write, not even on deletion; report the difference in status (`DriftReported`).
    Report,
}

/// What happens to the bucket's CORS configuration when the policy is deleted.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum DeletionPolicy {
    /// Remove the bucket's CORS configuration (DeleteBucketCors), if the policy owned the
    /// bucket and may write (`driftPolicy: Enforce`).
    #[default]
    Delete,
    /// Leave the bucket's CORS configuration as it is.
    Retain,
    /// Put back the configuration the bucket had before this policy first changed it
    /// (`status.original`, recorded before the first write whatever the deletion policy was),
    /// or remove it if the bucket had none.
    Restore,
}

/// What the controller last found and did. Follows kstatus, so `kubectl wait`, Argo CD and Flux
/// agree on readiness.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BucketCorsPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (the summary), `Reconciling` (work in progress or being retried) and `Stalled`
    /// (cannot progress without a change from a person).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The endpoint the policy resolved to, e.g. `ClusterS3Endpoint/ibm-cos`, or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// The rules on the bucket at the last successful read, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "reported_rules_schema")]
    pub live_rules: Option<Vec<CorsRule>>,

    /// Number of rules on the bucket at the last successful read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_count: Option<i32>,

    /// `sha256:` digest of the normalised rules last confirmed on the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,

    /// When the live configuration was last read successfully and that read changed the status.
    /// To keep a policy in sync from causing a status write every interval, a read that finds
    /// nothing new does not refresh this field, except as a heartbeat once it is older than
    /// 1 hour or 12 intervals, whichever is longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,

    /// When the controller last wrote the bucket's CORS configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<Time>,

    /// When the live configuration was last found to differ from the declared one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_time: Option<Time>,

    /// How many times the live configuration was found to differ after having been in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_count: Option<i64>,

    /// Set when the store keeps the declared rules in a form of its own that goes beyond what
    /// bucketcors treats as equivalent (for example, it drops rule ids). While the bucket shows
    /// exactly that form and the rules are unchanged, the bucket counts as in sync, so such a
    /// store causes one write, not a write every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_form: Option<StoreForm>,

    /// The configuration the bucket had before this policy first changed it, recorded once,
    /// just before the policy's first write, whatever the `deletionPolicy` (so switching to
    /// `Restore` later restores the true original), and never replaced or removed afterwards.
    /// Written under its own field manager (`bucketcors-original`). Absent while the policy has
    /// not written the bucket, and on policies that wrote it with a bucketcors older than this
    /// rule; `Restore` then leaves the bucket as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalConfiguration>,
}

/// The form a store returned the declared rules in, right after writing them.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoreForm {
    /// Fingerprint of the declared rules that were written.
    pub declared: String,
    /// Fingerprint of the rules the store returned for them.
    pub returned: String,
}

/// The bucket's CORS configuration as captured once, before the policy's first write.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OriginalConfiguration {
    /// When the configuration was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_time: Option<Time>,
    /// The rules the bucket had; empty when it had no CORS configuration.
    #[serde(default)]
    #[schemars(schema_with = "reported_rules_schema")]
    pub rules: Vec<CorsRule>,
}

impl BucketCorsPolicySpec {
    /// The re-read interval, with the default applied.
    pub fn interval(&self) -> std::time::Duration {
        self.interval.map(Into::into).unwrap_or(DEFAULT_INTERVAL)
    }
}

impl BucketCorsPolicy {
    /// The `namespace/name` of this policy, for logs and messages.
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}
