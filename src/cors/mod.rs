//! The pure CORS engine: no I/O, no clocks, no Kubernetes.
//!
//! Desired rules come from a policy, live rules from a store; both are plain [`CorsRule`]
//! lists. Everything here is a function of its arguments, so the reconciler's decisions can be
//! tested exhaustively without a network.

mod fingerprint;
mod normalise;
mod plan;
mod validate;

pub use fingerprint::fingerprint;
pub use normalise::{normalise, normalise_rule};
pub use validate::{ValidationIssue, validate_rules, validate_spec};
pub use plan::{Plan, diff_summary, equivalent, plan};

pub use crate::api::{CorsMethod, CorsRule};
