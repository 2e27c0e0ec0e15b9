//! Normal form of CORS rules: the form two configurations are compared in.
//!
//! Stores may hand back what they were given in a different but equivalent shape (values
//! reordered inside a rule, header names in another case, duplicates collapsed). Comparing
//! normal forms is what keeps the controller from writing the same configuration forever.

use super::CorsRule;

/// The normal form of one rule.
///
/// - methods: de-duplicated, in a fixed order;
/// - origins: de-duplicated and sorted (origins are case-sensitive, so their case is kept);
/// - allowed and expose headers: lower-cased (header names are case-insensitive), de-duplicated
///   and sorted;
/// - an empty `id` is the same as no `id`.
///
/// The order of rules is never touched: S3 uses the first rule that matches.
pub fn normalise_rule(rule: &CorsRule) -> CorsRule {
    let mut methods = rule.allowed_methods.clone();
    methods.sort_unstable();
    methods.dedup();
    CorsRule {
        id: rule.id.clone().filter(|id| !id.is_empty()),
        allowed_origins: sorted_unique(rule.allowed_origins.iter().cloned()),
        allowed_methods: methods,
        allowed_headers: sorted_unique(rule.allowed_headers.iter().map(|h| h.to_ascii_lowercase())),
        expose_headers: sorted_unique(rule.expose_headers.iter().map(|h| h.to_ascii_lowercase())),
        max_age_seconds: rule.max_age_seconds,
    }
}

/// The normal form of a whole configuration, rule by rule, order preserved.
pub fn normalise(rules: &[CorsRule]) -> Vec<CorsRule> {
    rules.iter().map(normalise_rule).collect()
}

fn sorted_unique(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut values: Vec<String> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}
