//! Helpers shared by the integration tests. Each test binary uses a different subset.
#![allow(dead_code)]

pub mod argocd;
pub mod bin;
pub mod cluster;
pub mod proxy;
pub mod s3;
