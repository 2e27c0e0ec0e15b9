//! The S3 side: a narrow [`CorsStore`] trait and its aws-sdk-s3 adapter.
//!
//! The reconciler and the CLI only ever see [`CorsStore`]; how a store is reached (endpoint,
//! credentials, checksum quirks, rate limits) is decided once, in [`EndpointConfig`].

mod config;
mod error;
mod store;

pub use config::{Credentials, EndpointConfig, SecretString, StaticCredentials};
pub use error::{Operation, StoreError, StoreErrorKind};
pub use store::{BucketRef, CorsStore};
