//! Why a pass could not reach the declared state, classified by what unblocks it.

use crate::s3::{StoreError, StoreErrorKind};
use crate::status::Reason;

/// A failure of one pass. Each variant maps to exactly one condition reason ([`Self::reason`]);
/// retryable ones ([`Self::is_retryable`]) are retried with backoff, the others wait for a change
/// from a person (and the regular interval).
///
/// Messages name objects and quote stores, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The spec, or the configuration the store was sent, is invalid.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The store rejected the identity or its permissions.
    #[error("access denied: {0}")]
    AccessDenied(#[source] StoreError),
    /// The bucket does not exist.
    #[error("no such bucket: {0}")]
    NoSuchBucket(#[source] StoreError),
    /// Another, older policy owns the bucket.
    #[error("bucket {bucket:?} is owned by BucketCorsPolicy {owner}")]
    Conflict {
        /// The bucket.
        bucket: String,
        /// `namespace/name` of the owning policy.
        owner: String,
    },
    /// The store does not implement bucket CORS.
    #[error("the store does not support bucket CORS: {0}")]
    CorsNotSupported(#[source] StoreError),
    /// The referenced endpoint object does not exist.
    #[error("{0}")]
    EndpointNotFound(String),
    /// A referenced Secret (or a key in it) does not exist.
    #[error("{0}")]
    SecretNotFound(String),
    /// The endpoint may not be used from this namespace, or may not read that Secret.
    #[error("{0}")]
    Forbidden(String),
    /// The store asked us to slow down.
    #[error("throttled: {0}")]
    Throttled(#[source] StoreError),
    /// The store or the Kubernetes API could not be reached, or failed in a way that may pass.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ReconcileError {
    /// The condition reason this failure is reported with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidSpec(_) => Reason::InvalidSpec,
            Self::AccessDenied(_) => Reason::AccessDenied,
            Self::NoSuchBucket(_) => Reason::NoSuchBucket,
            Self::Conflict { .. } => Reason::Conflict,
            Self::CorsNotSupported(_) => Reason::CorsNotSupported,
            Self::EndpointNotFound(_) => Reason::EndpointNotFound,
            Self::SecretNotFound(_) => Reason::SecretNotFound,
            Self::Forbidden(_) => Reason::Forbidden,
            Self::Throttled(_) => Reason::Throttled,
            Self::Unavailable(_) => Reason::Unavailable,
        }
    }

    /// True when the same pass, retried later unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled(_) | Self::Unavailable(_))
    }
}

impl From<StoreError> for ReconcileError {
    fn from(e: StoreError) -> Self {
        match e.kind {
            StoreErrorKind::NoSuchBucket => Self::NoSuchBucket(e),
            StoreErrorKind::AccessDenied => Self::AccessDenied(e),
            // The store's own words explain what it rejected.
            StoreErrorKind::InvalidConfiguration => {
                Self::InvalidSpec(format!("the store rejected the rules: {}", e.message))
            }
            StoreErrorKind::NotImplemented => Self::CorsNotSupported(e),
            // The endpoint's region is wrong: a person must fix the spec; retrying is redirected again.
            StoreErrorKind::WrongRegion => Self::InvalidSpec(e.to_string()),
            StoreErrorKind::Throttled => Self::Throttled(e),
            // Unknown failures are retried with backoff: cheap, and never a write loop.
            StoreErrorKind::Transient | StoreErrorKind::Other => Self::Unavailable(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::Operation;

    #[test]
    fn store_errors_map_to_reasons() {
        let e = |k| ReconcileError::from(StoreError::new(k, Operation::Get, "b", "msg"));
        assert_eq!(
            e(StoreErrorKind::NoSuchBucket).reason(),
            Reason::NoSuchBucket
        );
        assert_eq!(
            e(StoreErrorKind::AccessDenied).reason(),
            Reason::AccessDenied
        );
        assert_eq!(
            e(StoreErrorKind::NotImplemented).reason(),
            Reason::CorsNotSupported
        );
        let invalid = e(StoreErrorKind::InvalidConfiguration);
        assert_eq!(invalid.reason(), Reason::InvalidSpec);
        assert!(invalid.to_string().contains("msg"));
        let redirected = e(StoreErrorKind::WrongRegion);
        assert_eq!(redirected.reason(), Reason::InvalidSpec);
        assert!(!redirected.is_retryable());
        assert!(e(StoreErrorKind::Throttled).is_retryable());
        assert!(e(StoreErrorKind::Transient).is_retryable());
        assert!(e(StoreErrorKind::Other).is_retryable());
        assert!(!e(StoreErrorKind::AccessDenied).is_retryable());
    }
}
