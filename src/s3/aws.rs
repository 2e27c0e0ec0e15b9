//! The aws-sdk-s3 adapter behind [`CorsStore`]: one client per endpoint, built once from an
//! [`EndpointConfig`], with the endpoint's checksum mode, rate limit and error classification.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::CorsConfiguration;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::checksum::{Integrity, demands_content_md5, initial_integrity, use_content_md5};
use super::classify::{NO_SUCH_CORS_CONFIGURATION, classify};
use super::convert::{from_sdk, to_sdk};
use super::ratelimit::RateLimiter;
use super::{
    BucketRef, CorsStore, Credentials, EndpointConfig, Operation, StoreError, StoreErrorKind,
};
use crate::api::{ChecksumMode, CorsRule};

/// Attempts per operation (the first try included) for throttling and transient failures. The
/// SDK's standard retry mode never retries other 4xx answers.
const MAX_ATTEMPTS: u32 = 3;
/// Session name for AssumeRole when the endpoint names none.
const DEFAULT_SESSION_NAME: &str = "bucketcors";

/// Why a client for an endpoint could not be built. Never contains credentials.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint URL is not an absolute http(s) URL.
    #[error("invalid endpoint URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No region configured and none found in the AWS environment or profile.
    #[error(
        "no region: set one for the endpoint (SigV4 needs a region even for S3-compatible stores)"
    )]
    MissingRegion,
    /// The CA bundle holds no usable PEM certificate.
    #[error("invalid CA bundle: {0}")]
    InvalidCaBundle(String),
    /// The HTTPS client could not be built.
    #[error("cannot build the HTTPS client: {0}")]
    HttpClient(String),
    /// AssumeRole failed (checked once at connect time, so a wrong role shows at once).
    #[error("assuming role {role_arn} failed: {message}")]
    AssumeRole {
        /// The role that was to be assumed.
        role_arn: String,
        /// STS's answer.
        message: String,
        /// The credentials error.
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
    },
}

/// Told about the outcome of every store request, e.g. to count
/// `bucketcors_s3_requests_total{operation,outcome}`.
pub trait RequestObserver: Send + Sync {
    /// `outcome` is `success` or a [`StoreErrorKind::as_str`] label.
    fn observe(&self, operation: Operation, outcome: &str);
}

/// A [`CorsStore`] talking to one S3 endpoint through aws-sdk-s3.
pub struct AwsCorsStore {
    client: aws_sdk_s3::Client,
    endpoint: String,
    mode: ChecksumMode,
    /// Set once an `Auto` endpoint has asked for Content-MD5; from then on every put uses it.
    content_md5_learned: AtomicBool,
    limiter: RateLimiter,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl std::fmt::Debug for AwsCorsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately not the SDK client: it carries the credentials provider.
        f.debug_struct("AwsCorsStore")
            .field("endpoint", &self.endpoint)
            .field("checksum", &self.mode)
            .field(
                "content_md5_learned",
                &self.content_md5_learned.load(Ordering::Relaxed),
            )
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl AwsCorsStore {
    /// Builds a client for `config`. Only AssumeRole touches the network here.
    pub async fn connect(config: &EndpointConfig) -> Result<AwsCorsStore, ConnectError> {
        if let Some(url) = &config.url {
            check_url(url)?;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            );
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(pem) = &config.ca_bundle_pem {
            loader = loader.http_client(https_client(pem)?);
        }
        if let Credentials::Static(keys) = &config.credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.expose().to_owned(),
                keys.session_token.as_ref().map(|t| t.expose().to_owned()),
                None,
                "bucketcors-static",
            ));
        }
        let mut sdk_config = loader.load().await;
        if sdk_config.region().is_none() {
            return Err(ConnectError::MissingRegion);
        }
        if let Some((role_arn, external_id, session_name)) = &config.assume_role {
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name(
                    session_name
                        .clone()
                        .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned()),
                )
                .configure(&sdk_config);
            if let Some(external_id) = external_id {
                builder = builder.external_id(external_id.clone());
            }
            let provider = builder.build().await;
            // Fail at connect time rather than on every request; the SDK caches the result.
            provider
                .provide_credentials()
                .await
                .map_err(|source| ConnectError::AssumeRole {
                    role_arn: role_arn.clone(),
                    message: DisplayErrorContext(&source).to_string(),
                    source,
                })?;
            sdk_config = sdk_config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        }

        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(config.force_path_style);
        if let Some(url) = &config.url {
            s3 = s3.endpoint_url(url.clone());
        }
        Ok(AwsCorsStore {
            client: aws_sdk_s3::Client::from_conf(s3.build()),
            endpoint: config.url.clone().unwrap_or_else(|| "AWS".to_owned()),
            mode: config.checksum,
            content_md5_learned: AtomicBool::new(false),
            limiter: RateLimiter::new(config.rate_limit.as_ref()),
            observer: None,
        })
    }

    /// Reports the outcome of every request to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// True once an `Auto` endpoint has switched to Content-MD5.
    pub fn uses_content_md5(&self) -> bool {
        self.mode == ChecksumMode::ContentMd5 || self.content_md5_learned.load(Ordering::Relaxed)
    }

    fn observe<T>(&self, operation: Operation, result: &Result<T, StoreError>) {
        if let Some(observer) = &self.observer {
            observer.observe(
                operation,
                result
                    .as_ref()
                    .map_or_else(|e| e.kind.as_str(), |_| "success"),
            );
        }
    }

    async fn put_once(
        &self,
        bucket: &BucketRef,
        configuration: CorsConfiguration,
        integrity: &Integrity,
    ) -> Result<
        (),
        SdkError<aws_sdk_s3::operation::put_bucket_cors::PutBucketCorsError, HttpResponse>,
    > {
        self.limiter.acquire().await;
        let request = self
            .client
            .put_bucket_cors()
            .bucket(&bucket.name)
            .set_expected_bucket_owner(bucket.expected_owner.clone())
            .cors_configuration(configuration);
        match integrity {
            Integrity::Checksum(algorithm) => {
                request.checksum_algorithm(algorithm.clone()).send().await?
            }
            Integrity::ContentMd5 => {
                request
                    .customize()
                    .mutate_request(use_content_md5)
                    .send()
                    .await?
            }
        };
        Ok(())
    }

    async fn put_inner(&self, bucket: &BucketRef, rules: &[CorsRule]) -> Result<(), StoreError> {
        let sdk_rules = to_sdk(rules).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Other,
                Operation::Put,
                &bucket.name,
                e.to_string(),
            )
        })?;
        let configuration = CorsConfiguration::builder()
            .set_cors_rules(Some(sdk_rules))
            .build()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Other,
                    Operation::Put,
                    &bucket.name,
                    e.to_string(),
                )
            })?;
        let integrity = if self.uses_content_md5() {
            Integrity::ContentMd5
        } else {
            initial_integrity(self.mode)
        };
        let result = match self
            .put_once(bucket, configuration.clone(), &integrity)
            .await
        {
            Err(err)
                if self.mode == ChecksumMode::Auto
                    && integrity != Integrity::ContentMd5
                    && demands_content_md5(err.code(), err.message()) =>
            {
                tracing::info!(endpoint = %self.endpoint, bucket = %bucket.name,
                    "store demands Content-MD5 for PutBucketCors; using it for this endpoint from now on");
                self.observe(
                    Operation::Put,
                    &Err::<(), _>(store_error(Operation::Put, &bucket.name, &err)),
                );
                self.content_md5_learned.store(true, Ordering::Relaxed);
                self.put_once(bucket, configuration, &Integrity::ContentMd5)
                    .await
            }
            other => other,
        };
        result.map_err(|err| store_error(Operation::Put, &bucket.name, &err))
    }
}

#[async_trait]
impl CorsStore for AwsCorsStore {
    async fn get(&self, bucket: &BucketRef) -> Result<Vec<CorsRule>, StoreError> {
        self.limiter.acquire().await;
        let answer = self
            .client
            .get_bucket_cors()
            .bucket(&bucket.name)
            .set_expected_bucket_owner(bucket.expected_owner.clone())
            .send()
            .await;
        let result = match answer {
            // An empty 200 and NoSuchCORSConfiguration both mean "no rules".
            Ok(output) => from_sdk(output.cors_rules()).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Other,
                    Operation::Get,
                    &bucket.name,
                    e.to_string(),
                )
            }),
            Err(err) if err.code() == Some(NO_SUCH_CORS_CONFIGURATION) => Ok(Vec::new()),
            Err(err) => Err(store_error(Operation::Get, &bucket.name, &err)),
        };
        self.observe(Operation::Get, &result);
        result
    }

    async fn put(&self, bucket: &BucketRef, rules: &[CorsRule]) -> Result<(), StoreError> {
        let result = self.put_inner(bucket, rules).await;
        self.observe(Operation::Put, &result);
        result
    }

    async fn delete(&self, bucket: &BucketRef) -> Result<(), StoreError> {
        self.limiter.acquire().await;
        let answer = self
            .client
            .delete_bucket_cors()
            .bucket(&bucket.name)
            .set_expected_bucket_owner(bucket.expected_owner.clone())
            .send()
            .await;
        let result = match answer {
            Ok(_) => Ok(()),
            // Some stores answer a delete of nothing with NoSuchCORSConfiguration: already done.
            Err(err) if err.code() == Some(NO_SUCH_CORS_CONFIGURATION) => Ok(()),
            Err(err) => Err(store_error(Operation::Delete, &bucket.name, &err)),
        };
        self.observe(Operation::Delete, &result);
        result
    }
}

/// Turns an SDK error into a classified [`StoreError`] carrying the store's code and message.
fn store_error<E>(operation: Operation, bucket: &str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, message) = match err {
        SdkError::ServiceError(_) => {
            let kind = classify(err.code(), status);
            let mut message = String::new();
            if let Some(status) = status {
                message.push_str(&status.to_string());
            }
            for part in [err.code(), err.message()].into_iter().flatten() {
                if !message.is_empty() {
                    message.push_str(if message.ends_with(char::is_numeric) {
                        " "
                    } else {
                        ": "
                    });
                }
                message.push_str(part);
            }
            if err.code().is_none() && err.message().is_none() {
                message.push_str(" (no error code in the answer)");
            }
            (kind, message)
        }
        SdkError::TimeoutError(_) => (
            StoreErrorKind::Transient,
            format!("timed out: {}", DisplayErrorContext(err)),
        ),
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => (
            StoreErrorKind::Transient,
            format!("connection failed: {}", DisplayErrorContext(err)),
        ),
        SdkError::ResponseError(_) => (
            StoreErrorKind::Transient,
            format!("unreadable answer: {}", DisplayErrorContext(err)),
        ),
        _ => (StoreErrorKind::Other, DisplayErrorContext(err).to_string()),
    };
    StoreError {
        kind,
        operation,
        bucket: bucket.to_owned(),
        message,
        source: None,
    }
}

fn check_url(url: &str) -> Result<(), ConnectError> {
    let invalid = |reason: &str| ConnectError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => {
            return Err(invalid(
                "not an absolute URL (expected http:// or https://)",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if uri.query().is_some() {
        return Err(invalid("a query string is not allowed"));
    }
    Ok(())
}

/// An HTTPS client trusting the system roots plus the PEM certificates in `pem`. The PEM is
/// checked here: the SDK's TLS layer would panic on a bad certificate at first use.
fn https_client(
    pem: &[u8],
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, ConnectError> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert =
            cert.map_err(|e| ConnectError::InvalidCaBundle(format!("unreadable PEM: {e}")))?;
        roots.add(cert).map_err(|e| {
            ConnectError::InvalidCaBundle(format!("not a usable CA certificate: {e}"))
        })?;
    }
    if roots.is_empty() {
        return Err(ConnectError::InvalidCaBundle(
            "no CERTIFICATE block found".to_owned(),
        ));
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem.to_vec()))
        .build()
        .map_err(|e| ConnectError::HttpClient(e.to_string()))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:9000").is_ok());
        assert!(check_url("https://s3.us-south.cloud-object-storage.appdomain.cloud").is_ok());
        for bad in [
            "127.0.0.1:9000",
            "ftp://example.com",
            "http://",
            "not a url",
            "https://h/?x=1",
        ] {
            assert!(
                matches!(check_url(bad), Err(ConnectError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_ca_bundles_are_rejected() {
        assert!(matches!(
            https_client(b"not pem"),
            Err(ConnectError::InvalidCaBundle(_))
        ));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            https_client(garbage),
            Err(ConnectError::InvalidCaBundle(_))
        ));
    }

    #[tokio::test]
    async fn connect_rejects_bad_input_before_any_request() {
        let config = EndpointConfig {
            url: Some("nope".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        assert!(matches!(
            AwsCorsStore::connect(&config).await,
            Err(ConnectError::InvalidUrl { .. })
        ));
        let config = EndpointConfig {
            url: Some("https://127.0.0.1:1".into()),
            region: Some("us-east-1".into()),
            ca_bundle_pem: Some(b"junk".to_vec()),
            ..Default::default()
        };
        assert!(matches!(
            AwsCorsStore::connect(&config).await,
            Err(ConnectError::InvalidCaBundle(_))
        ));
    }
}
