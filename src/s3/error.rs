//! Store errors, classified into what a caller can act on.

/// The S3 operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GetBucketCors
    Get,
    /// PutBucketCors
    Put,
    /// DeleteBucketCors
    Delete,
}

impl Operation {
    /// Lower-case name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Put => "put",
            Self::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Get => "GetBucketCors",
            Self::Put => "PutBucketCors",
            Self::Delete => "DeleteBucketCors",
        })
    }
}

/// What kind of failure a store reported; decides whether to retry or to wait for a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// The bucket does not exist.
    NoSuchBucket,
    /// Credentials rejected, permission missing, or the bucket belongs to another owner.
    AccessDenied,
    /// The store rejected the configuration (MalformedXML, InvalidRequest, ...).
    InvalidConfiguration,
    /// The store does not implement bucket CORS (501 NotImplemented, or 405 MethodNotAllowed
    /// from stores that have no bucket CORS endpoint at all).
    NotImplemented,
    /// The store redirected the request (301 PermanentRedirect): the bucket lives in another
    /// region than the one configured. The SDK does not follow redirects, and retrying the same
    /// request would only be redirected again, so a person must set the region.
    WrongRegion,
    /// The store asked us to slow down (SlowDown, 503, 429).
    Throttled,
    /// A failure that may pass: 5xx, timeouts, connection errors.
    Transient,
    /// Anything else.
    Other,
}

impl StoreErrorKind {
    /// True when trying again later, unchanged, may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }

    /// snake_case name, as used in metric labels (`outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSuchBucket => "no_such_bucket",
            Self::AccessDenied => "access_denied",
            Self::InvalidConfiguration => "invalid_configuration",
            Self::NotImplemented => "not_implemented",
            Self::WrongRegion => "wrong_region",
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::Other => "other",
        }
    }
}

/// A failed store operation. The message is the store's own words (code and message), never
/// credentials.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on bucket {bucket:?} failed ({kind:?}): {message}")]
pub struct StoreError {
    /// What kind of failure this is.
    pub kind: StoreErrorKind,
    /// Which operation failed.
    pub operation: Operation,
    /// The bucket concerned.
    pub bucket: String,
    /// The store's error code and message, or a description of the transport failure.
    pub message: String,
    /// The underlying error, if any: for an answer from the store, the SDK's modelled error
    /// (code, message, request id); for a transport failure, the SDK error and its causes.
    /// Neither holds credentials or the signed request.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error without an underlying cause.
    pub fn new(
        kind: StoreErrorKind,
        operation: Operation,
        bucket: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation,
            bucket: bucket.to_owned(),
            message: message.into(),
            source: None,
        }
    }
}
