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
use super::classify::{NO_SUCH_CORS_CONFIGURATION, advice, classify};
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
    /// The endpoint URL is not an absolute http(s) URL, or holds credentials.
    #[error("invalid endpoint URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured, with any `user:password@` replaced by `***@`.
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
                    &Err::<(), _>(store_error(Operation::Put, &bucket.name, err)),
                );
                self.content_md5_learned.store(true, Ordering::Relaxed);
                self.put_once(bucket, configuration, &Integrity::ContentMd5)
                    .await
            }
            other => other,
        };
        result.map_err(|err| store_error(Operation::Put, &bucket.name, err))
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
            Err(err) => Err(store_error(Operation::Get, &bucket.name, err)),
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
            Err(err) => Err(store_error(Operation::Delete, &bucket.name, err)),
        };
        self.observe(Operation::Delete, &result);
        result
    }
}

/// Turns an SDK error into a classified [`StoreError`] carrying the store's code and message,
/// and keeping the SDK error as its source so the cause chain reaches logs and callers.
fn store_error<E>(operation: Operation, bucket: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, message) = match &err {
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
            let bucket_region = err
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"));
            if let Some(advice) = advice(kind, bucket_region) {
                message.push_str("; ");
                message.push_str(&advice);
            }
            (kind, message)
        }
        SdkError::TimeoutError(_) => (
            StoreErrorKind::Transient,
            format!("timed out: {}", DisplayErrorContext(&err)),
        ),
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => (
            StoreErrorKind::Transient,
            format!("connection failed: {}", DisplayErrorContext(&err)),
        ),
        SdkError::ResponseError(_) => (
            StoreErrorKind::Transient,
            format!("unreadable answer: {}", DisplayErrorContext(&err)),
        ),
        _ => (StoreErrorKind::Other, DisplayErrorContext(&err).to_string()),
    };
    // Neither form holds the request (so no signature or credentials): a service error keeps
    // only the modelled error (code, message, request id), not the raw response; the other
    // variants hold transport or parsing errors.
    let source: Box<dyn std::error::Error + Send + Sync + 'static> = match err {
        SdkError::ServiceError(context) => Box::new(context.into_err()),
        other => Box::new(other),
    };
    StoreError {
        kind,
        operation,
        bucket: bucket.to_owned(),
        message,
        source: Some(source),
    }
}

/// Refuses URLs the client must not use, naming the URL without any credentials in it.
fn check_url(url: &str) -> Result<(), ConnectError> {
    super::url::check_url(url).map_err(|problem| ConnectError::InvalidUrl {
        url: super::url::redact_url(url).into_owned(),
        reason: problem.to_string(),
    })
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
            "http://user:pass@127.0.0.1:9000",
        ] {
            assert!(
                matches!(check_url(bad), Err(ConnectError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn connect_refuses_credentials_in_the_url_without_repeating_them() {
        let config = EndpointConfig {
            url: Some("http://AKIAUSER:hunter2secret@127.0.0.1:9000".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        let err = AwsCorsStore::connect(&config).await.unwrap_err();
        assert!(matches!(err, ConnectError::InvalidUrl { .. }), "{err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("hunter2secret"), "{shown}");
            assert!(shown.contains("127.0.0.1:9000"), "{shown}");
        }
        assert!(err.to_string().contains("credentials"), "{err}");
    }

    /// An answer from the store, as the SDK hands it over.
    fn answer(
        status: u16,
        code: &str,
        headers: &[(&'static str, &'static str)],
    ) -> SdkError<aws_sdk_s3::operation::get_bucket_cors::GetBucketCorsError, HttpResponse> {
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::operation::get_bucket_cors::GetBucketCorsError;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from("<Error>raw body</Error>"),
        );
        for (name, value) in headers {
            response.headers_mut().insert(*name, *value);
        }
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("the store's words")
            .build();
        SdkError::service_error(GetBucketCorsError::generic(meta), response)
    }

    /// Every error in `err`'s source chain, outermost first, as `Display` and `Debug`.
    fn chain(err: &dyn std::error::Error) -> Vec<String> {
        let mut out = Vec::new();
        let mut next = err.source();
        while let Some(cause) = next {
            out.push(format!("{cause} | {cause:?}"));
            next = cause.source();
        }
        out
    }

    #[test]
    fn service_errors_keep_the_sdk_error_as_source() {
        let err = store_error(Operation::Get, "b", answer(403, "AccessDenied", &[]));
        assert_eq!(err.kind, StoreErrorKind::AccessDenied);
        let causes = chain(&err);
        assert!(!causes.is_empty(), "no source");
        assert!(causes[0].contains("AccessDenied"), "{causes:?}");
        // The modelled error only: the raw response (and whatever it echoes) stays behind.
        assert!(causes.iter().all(|c| !c.contains("raw body")), "{causes:?}");
    }

    #[test]
    fn transport_errors_keep_their_cause_chain() {
        let sdk: SdkError<
            aws_sdk_s3::operation::get_bucket_cors::GetBucketCorsError,
            HttpResponse,
        > = SdkError::timeout_error(std::io::Error::other("deadline passed"));
        let err = store_error(Operation::Get, "b", sdk);
        assert_eq!(err.kind, StoreErrorKind::Transient);
        let causes = chain(&err);
        assert!(
            causes.iter().any(|c| c.contains("deadline passed")),
            "{causes:?}"
        );
    }

    #[test]
    fn a_redirect_asks_for_the_region() {
        let err = store_error(
            Operation::Get,
            "b",
            answer(
                301,
                "PermanentRedirect",
                &[("x-amz-bucket-region", "eu-west-1")],
            ),
        );
        assert_eq!(err.kind, StoreErrorKind::WrongRegion);
        assert!(!err.kind.is_retryable());
        let shown = err.to_string();
        assert!(shown.contains("301 PermanentRedirect"), "{shown}");
        assert!(shown.contains("another region (eu-west-1)"), "{shown}");
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

    #[test]
    fn a_pem_ca_bundle_builds_a_client() {
        // A throwaway self-signed CA (certificate only; the key was never kept).
        let pem = include_bytes!("testdata/test-ca.pem");
        assert!(https_client(pem).is_ok());
        // Certificates after junk text are still found, as in a concatenated bundle.
        let mut bundle = b"# comment line\n".to_vec();
        bundle.extend_from_slice(pem);
        assert!(https_client(&bundle).is_ok());
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
