//! The pure CORS engine: no I/O, no clocks, no Kubernetes.
//!
//! Desired rules come from a policy, live rules from a store; both are plain [`CorsRule`]
//! lists. Everything here is a function of its arguments, so the reconciler's decisions can be
//! tested exhaustively without a network.

mod evaluate;
mod fingerprint;
mod normalise;
mod plan;
mod shadow;
mod validate;
mod wildcard;
pub mod xml;

pub use evaluate::{CorsRequest, Evaluation, MatchedRule, RuleVerdict, VARY, evaluate};
pub use fingerprint::fingerprint;
pub use normalise::{normalise, normalise_rule};
pub use plan::{Plan, diff_summary, equivalent, plan};
pub use shadow::{Shadowed, rule_covers, shadowed_rules};
pub use validate::{ValidationIssue, validate_rules, validate_spec};
pub use xml::{MAX_CONFIGURATION_BYTES, configuration_xml, configuration_xml_size};

pub use crate::api::{CorsMethod, CorsRule};
