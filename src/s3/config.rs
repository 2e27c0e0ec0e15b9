//! Everything needed to build a client for one endpoint, independent of where it came from
//! (CLI flags, controller defaults, or an `S3Endpoint` object and its Secrets).

use crate::api::{ChecksumMode, RateLimit};

/// A string that never shows itself in `Debug` or `Display`, for secret keys and tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value; call only where it is handed to the SDK.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Static keys, e.g. IBM COS HMAC keys read from a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticCredentials {
    /// Access key id (not secret; safe to log).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Session token for temporary credentials.
    pub session_token: Option<SecretString>,
}

/// Where the signing identity comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    /// The AWS SDK default chain (environment, profile, web identity / IRSA, pod identity, IMDS).
    #[default]
    Default,
    /// Fixed keys.
    Static(StaticCredentials),
}

/// How to reach one S3 endpoint. `Debug` shows the URL without any `user:password@` in it
/// (such URLs are refused when connecting, but the configuration may be logged before that).
#[derive(Clone, Default, PartialEq)]
pub struct EndpointConfig {
    /// Base URL of an S3-compatible store; `None` means AWS.
    pub url: Option<String>,
    /// Signing region; `None` lets the SDK's region chain decide (environment, profile).
    pub region: Option<String>,
    /// Path-style addressing (`URL/bucket`).
    pub force_path_style: bool,
    /// Integrity header mode for PutBucketCors.
    pub checksum: ChecksumMode,
    /// Signing identity.
    pub credentials: Credentials,
    /// Role to assume with the identity above: (role ARN, external id, session name).
    pub assume_role: Option<(String, Option<String>, Option<String>)>,
    /// Extra PEM certificate authorities to trust.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Client-side request rate limit.
    pub rate_limit: Option<RateLimit>,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("url", &self.url.as_deref().map(super::redact_url))
            .field("region", &self.region)
            .field("force_path_style", &self.force_path_style)
            .field("checksum", &self.checksum)
            .field("credentials", &self.credentials)
            .field("assume_role", &self.assume_role)
            .field(
                "ca_bundle_pem",
                &self.ca_bundle_pem.as_ref().map(|pem| pem.len()),
            )
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials_in_the_url() {
        let config = EndpointConfig {
            url: Some("https://user:hunter2@s3.example.com".into()),
            ..Default::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("https://***@s3.example.com"), "{shown}");
    }
}
