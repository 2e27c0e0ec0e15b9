//! bucketcors keeps the CORS configuration of S3 buckets exactly as declared in Kubernetes.
//!
//! Data flows one way: a `BucketCorsPolicy` ([`api`]) is validated into desired rules
//! ([`cors`]), compared with the live rules read through a [`s3::CorsStore`], turned into a
//! [`cors::Plan`], acted on, and summarised into status ([`status`]). Only [`s3`],
//! [`reconcile`]'s edges and [`controller`] touch the network.

pub mod api;
pub mod cli;
pub mod controller;
pub mod cors;
pub mod reconcile;
pub mod s3;
pub mod status;
pub mod telemetry;
