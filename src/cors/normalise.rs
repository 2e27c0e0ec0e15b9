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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CorsMethod::*;

    #[test]
    fn lists_are_sorted_deduplicated_and_headers_lower_cased() {
        let rule = CorsRule {
            id: Some(String::new()),
            allowed_origins: vec![
                "https://b.example".into(),
                "https://a.example".into(),
                "https://b.example".into(),
            ],
            allowed_methods: vec![Put, Get, Put],
            allowed_headers: vec![
                "X-Amz-Date".into(),
                "content-type".into(),
                "x-amz-date".into(),
            ],
            expose_headers: vec!["ETag".into(), "etag".into()],
            max_age_seconds: Some(10),
        };
        let want = CorsRule {
            id: None,
            allowed_origins: vec!["https://a.example".into(), "https://b.example".into()],
            allowed_methods: vec![Get, Put],
            allowed_headers: vec!["content-type".into(), "x-amz-date".into()],
            expose_headers: vec!["etag".into()],
            max_age_seconds: Some(10),
        };
        assert_eq!(normalise_rule(&rule), want);
    }

    #[test]
    fn origins_keep_their_case() {
        let rule = CorsRule {
            allowed_origins: vec!["https://A.example".into(), "https://a.example".into()],
            allowed_methods: vec![Get],
            ..CorsRule::default()
        };
        assert_eq!(
            normalise_rule(&rule).allowed_origins,
            vec!["https://A.example", "https://a.example"]
        );
    }

    #[test]
    fn rule_order_is_kept() {
        let a = CorsRule {
            id: Some("b".into()),
            allowed_methods: vec![Get],
            ..CorsRule::default()
        };
        let b = CorsRule {
            id: Some("a".into()),
            allowed_methods: vec![Get],
            ..CorsRule::default()
        };
        let ids: Vec<_> = normalise(&[a, b])
            .into_iter()
            .map(|r| r.id.unwrap())
            .collect();
        assert_eq!(ids, vec!["b", "a"]);
    }
}
