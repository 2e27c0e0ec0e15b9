//! `S3Endpoint` and `ClusterS3Endpoint`: how to reach a store and with which identity.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// How to reach an S3 store, shared by the namespaced and the cluster-scoped endpoint.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSettings {
    /// Base URL of an S3-compatible store, e.g.
    /// `https://s3.us-south.cloud-object-storage.appdomain.cloud`. Absent means AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))")
        .message("url must be an http:// or https:// URL"))]
    // A password in the URL would be shown wherever the URL is (status, events, logs).
    #[x_kube(validation = kube::core::Rule::new("!self.matches('^https?://[^/?#]*@')")
        .message("url must not contain credentials (user:password@); use credentials.secretRef"))]
    pub url: Option<String>,

    /// Region used to sign requests (SigV4 needs one even for S3-compatible stores,
    /// which often accept any value such as `us-east-1`).
    #[schemars(length(min = 1, max = 64))]
    pub region: String,

    /// Address buckets as `URL/bucket` instead of `bucket.URL`. Most self-hosted stores need this.
    #[serde(default)]
    pub force_path_style: bool,

    /// Integrity header sent with PutBucketCors. `Auto` sends CRC32 and, if the store answers that
    /// it needs Content-MD5, retries once with Content-MD5 and keeps using it for this endpoint.
    #[serde(default)]
    pub checksum: ChecksumMode,

    /// Which identity signs the requests.
    #[serde(default)]
    pub credentials: EndpointCredentials,

    /// TLS settings for stores with a private certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,

    /// Client-side limit on the requests the controller sends to this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// The integrity header sent with PutBucketCors.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum ChecksumMode {
    /// CRC32, falling back once to Content-MD5 when the store demands it (remembered per endpoint).
    #[default]
    Auto,
    /// `x-amz-checksum-crc32`.
    #[serde(rename = "CRC32")]
    Crc32,
    /// `x-amz-checksum-crc32c`.
    #[serde(rename = "CRC32C")]
    Crc32c,
    /// `x-amz-checksum-sha1`.
    #[serde(rename = "SHA1")]
    Sha1,
    /// `x-amz-checksum-sha256`.
    #[serde(rename = "SHA256")]
    Sha256,
    /// `x-amz-checksum-crc64nvme`.
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    /// A signed `Content-MD5` header and no `x-amz-checksum-*` headers, for stores that require it.
    #[serde(rename = "ContentMD5")]
    ContentMd5,
}

impl std::str::FromStr for ChecksumMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            format!("unknown checksum mode {s:?}; expected one of Auto, CRC32, CRC32C, SHA1, SHA256, CRC64NVME, ContentMD5")
        })
    }
}

/// Which identity signs the requests to an endpoint.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.source != 'Secret' || has(self.secretRef)")
    .message("secretRef is required when source is Secret"))]
pub struct EndpointCredentials {
    /// `Default`: the AWS SDK chain of the controller's pod (environment, web identity / IRSA,
    /// EKS Pod Identity, instance metadata). `Secret`: static keys from `secretRef`.
    #[serde(default)]
    pub source: CredentialSource,

    /// Secret with keys `accessKeyId`, `secretAccessKey` and optionally `sessionToken`.
    /// An `S3Endpoint` may only use Secrets in its own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,

    /// Role to assume (STS AssumeRole) with the credentials above before talking to S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRole>,
}

/// Where credentials come from.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash,
)]
pub enum CredentialSource {
    /// The AWS SDK default credential chain of the controller.
    #[default]
    Default,
    /// Static keys from a Kubernetes Secret.
    Secret,
}

/// A reference to a Secret.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret. Required on a `ClusterS3Endpoint`; on an `S3Endpoint` it may
    /// only be the endpoint's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to one key of a Secret.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret (same rules as for `credentials.secretRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key within the Secret. Default `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// STS AssumeRole settings.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRole {
    /// ARN of the role to assume.
    #[schemars(length(min = 20, max = 2048))]
    pub role_arn: String,
    /// External ID required by the role's trust policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Session name shown in CloudTrail. Default `bucketcors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
}

/// TLS settings for an endpoint.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// Secret key holding PEM certificates of the certificate authorities to trust, in addition
    /// to the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyReference>,
}

/// A token bucket limiting the requests sent to one endpoint.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per second.
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_second: i32,
    /// Requests that may be sent at once after a quiet period. Default: `requestsPerSecond`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub burst: Option<i32>,
}

/// An S3 store reachable from one namespace. Policies in the same namespace refer to it with
/// `endpointRef: {kind: S3Endpoint, name: ...}`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "bucketcors.dev",
    version = "v1alpha1",
    kind = "S3Endpoint",
    doc = "An S3 store (URL, region, credentials) that BucketCorsPolicies in the same namespace can use.",
    plural = "s3endpoints",
    namespaced,
    cel,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct S3EndpointSpec {
    /// Connection settings.
    #[serde(flatten)]
    pub settings: EndpointSettings,
}

/// An S3 store usable from every namespace that `allowedNamespaces` admits. Policies refer to it
/// with `endpointRef: {kind: ClusterS3Endpoint, name: ...}`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "bucketcors.dev",
    version = "v1alpha1",
    kind = "ClusterS3Endpoint",
    doc = "An S3 store (URL, region, credentials) that BucketCorsPolicies in every namespace admitted by allowedNamespaces can use.",
    plural = "clusters3endpoints",
    cel,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.credentials) || !has(self.credentials.secretRef) || has(self.credentials.secretRef.__namespace__)"
).message("credentials.secretRef.namespace is required on a ClusterS3Endpoint"))]
// A cluster-scoped object has no namespace to default to; the controller would refuse it.
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.tls) || !has(self.tls.caSecretRef) || has(self.tls.caSecretRef.__namespace__)"
).message("tls.caSecretRef.namespace is required on a ClusterS3Endpoint"))]
pub struct ClusterS3EndpointSpec {
    /// Connection settings.
    #[serde(flatten)]
    pub settings: EndpointSettings,

    /// Namespaces whose policies may use this endpoint, selected by their labels.
    /// Absent admits every namespace; `{}` also admits every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<LabelSelector>,
}
