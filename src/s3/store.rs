//! The one interface the rest of the program uses to read and write a bucket's CORS.

use async_trait::async_trait;

use super::StoreError;
use crate::api::CorsRule;

/// Which bucket, and the owner it is expected to have.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketRef {
    /// Bucket name.
    pub name: String,
    /// Sent as `ExpectedBucketOwner`, so a bucket that changed hands is never touched.
    pub expected_owner: Option<String>,
}

impl BucketRef {
    /// A bucket with no expected owner.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            expected_owner: None,
        }
    }
}

/// Get, put and delete one bucket's CORS configuration.
///
/// "No configuration" is not an error: [`CorsStore::get`] returns an empty list for it, whether
/// the store answered `NoSuchCORSConfiguration` or an empty document.
#[async_trait]
pub trait CorsStore: Send + Sync {
    /// The rules on the bucket, in the store's order; empty when it has no CORS configuration.
    async fn get(&self, bucket: &BucketRef) -> Result<Vec<CorsRule>, StoreError>;
    /// Replace the bucket's configuration with `rules` (which must not be empty).
    async fn put(&self, bucket: &BucketRef, rules: &[CorsRule]) -> Result<(), StoreError>;
    /// Remove the bucket's configuration. Succeeds when there was none.
    async fn delete(&self, bucket: &BucketRef) -> Result<(), StoreError>;
}
