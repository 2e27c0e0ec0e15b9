//! The S3 side: a narrow [`CorsStore`] trait and its aws-sdk-s3 adapter.
//!
//! The reconciler and the CLI only ever see [`CorsStore`]; how a store is reached (endpoint,
//! credentials, checksum quirks, rate limits) is decided once, in [`EndpointConfig`].

mod aws;
mod checksum;
pub mod classify;
mod config;
mod convert;
mod error;
mod ratelimit;
mod store;
mod url;
mod validate;

pub use aws::{AwsCorsStore, ConnectError, RequestObserver};
pub use checksum::content_md5;
pub use config::{Credentials, EndpointConfig, SecretString, StaticCredentials};
pub use convert::ConvertError;
pub use error::{Operation, StoreError, StoreErrorKind};
pub use store::{BucketRef, CorsStore};
pub use url::{UrlProblem, check_url, redact_url};
pub use validate::{validate_cluster_s3_endpoint, validate_s3_endpoint};
