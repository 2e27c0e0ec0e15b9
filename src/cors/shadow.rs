//! Rules that can never be the first full match, because an earlier rule matches every request
//! they would.
//!
//! S3 answers each request with the first rule whose origins, methods and allowed headers all
//! match. If an earlier rule matches everything a later one does, the later one is dead: its
//! expose headers and max age are never sent. Detection is conservative: a rule is reported only
//! when one earlier rule provably covers it (a rule covered only by several earlier rules
//! together is not reported).

use super::CorsRule;
use super::wildcard::covers;

/// A rule that can never match first.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shadowed {
    /// 0-based index of the rule that never matches.
    pub index: usize,
    /// 0-based index of the earlier rule that matches every request it would.
    pub shadowed_by: usize,
}

/// Every rule shadowed by an earlier one, in rule order; for each, the first rule that shadows
/// it.
pub fn shadowed_rules(rules: &[CorsRule]) -> Vec<Shadowed> {
    rules
        .iter()
        .enumerate()
        .filter_map(|(index, later)| {
            rules[..index]
                .iter()
                .position(|earlier| rule_covers(earlier, later))
                .map(|shadowed_by| Shadowed { index, shadowed_by })
        })
        .collect()
}

/// True when `earlier` matches every request `later` matches.
pub fn rule_covers(earlier: &CorsRule, later: &CorsRule) -> bool {
    // A rule without origins or methods matches nothing; say nothing about it rather than
    // calling it shadowed (validation reports it).
    if later.allowed_origins.is_empty() || later.allowed_methods.is_empty() {
        return false;
    }
    let methods = later
        .allowed_methods
        .iter()
        .all(|m| earlier.allowed_methods.contains(m));
    let origins = later
        .allowed_origins
        .iter()
        .all(|o| earlier.allowed_origins.iter().any(|e| covers(e, o)));
    // A later rule without allowed headers only matches requests that ask for none, which the
    // earlier rule matches too; otherwise each header pattern it allows must be allowed earlier.
    let headers = later.allowed_headers.iter().all(|h| {
        let h = h.to_ascii_lowercase();
        earlier
            .allowed_headers
            .iter()
            .any(|e| covers(&e.to_ascii_lowercase(), &h))
    });
    methods && origins && headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CorsMethod::{self, *};

    fn rule(origins: &[&str], methods: &[CorsMethod], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.to_vec(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            expose_headers: vec![],
            max_age_seconds: None,
        }
    }

    #[test]
    fn wildcard_origin_with_more_methods_and_any_header_shadows() {
        let rules = [
            rule(&["https://*.example.com"], &[Get, Put, Head], &["*"]),
            rule(&["https://app.example.com"], &[Get], &["Authorization"]),
        ];
        assert_eq!(
            shadowed_rules(&rules),
            vec![Shadowed {
                index: 1,
                shadowed_by: 0
            }]
        );
    }

    #[test]
    fn identical_rules_shadow_the_second() {
        let r = rule(&["https://a.example"], &[Get], &[]);
        assert_eq!(
            shadowed_rules(&[r.clone(), r]),
            vec![Shadowed {
                index: 1,
                shadowed_by: 0
            }]
        );
    }

    #[test]
    fn a_later_rule_with_another_method_is_reachable() {
        let rules = [
            rule(&["*"], &[Get], &["*"]),
            rule(&["https://a.example"], &[Get, Put], &[]),
        ];
        assert_eq!(shadowed_rules(&rules), vec![]);
    }

    #[test]
    fn a_later_rule_with_an_uncovered_origin_is_reachable() {
        let rules = [
            rule(&["https://*.example.com"], &[Get], &[]),
            rule(
                &["https://a.example.com", "https://example.com"],
                &[Get],
                &[],
            ),
        ];
        assert_eq!(shadowed_rules(&rules), vec![]);
    }

    #[test]
    fn a_later_rule_allowing_headers_the_earlier_refuses_is_reachable() {
        // The earlier rule refuses any preflight that asks for a header.
        let rules = [
            rule(&["*"], &[Get], &[]),
            rule(&["*"], &[Get], &["Content-Type"]),
        ];
        assert_eq!(shadowed_rules(&rules), vec![]);
        let rules = [
            rule(&["*"], &[Get], &["x-amz-*"]),
            rule(&["*"], &[Get], &["X-Amz-Date", "Range"]),
        ];
        assert_eq!(shadowed_rules(&rules), vec![]);
    }

    #[test]
    fn header_coverage_ignores_case() {
        let rules = [
            rule(&["*"], &[Get], &["X-Amz-*"]),
            rule(&["*"], &[Get], &["x-amz-date", "x-AMZ-meta-*"]),
        ];
        assert_eq!(
            shadowed_rules(&rules),
            vec![Shadowed {
                index: 1,
                shadowed_by: 0
            }]
        );
    }

    #[test]
    fn origins_are_case_sensitive() {
        let rules = [
            rule(&["https://A.example"], &[Get], &[]),
            rule(&["https://a.example"], &[Get], &[]),
        ];
        assert_eq!(shadowed_rules(&rules), vec![]);
    }

    #[test]
    fn reports_the_first_shadowing_rule_and_only_later_rules() {
        let rules = [
            rule(&["https://a.example"], &[Get], &[]),
            rule(&["*"], &[Get, Put], &["*"]),
            rule(&["https://a.example"], &[Get], &[]),
            rule(&["https://b.example"], &[Put], &[]),
        ];
        assert_eq!(
            shadowed_rules(&rules),
            vec![
                Shadowed {
                    index: 2,
                    shadowed_by: 0
                },
                Shadowed {
                    index: 3,
                    shadowed_by: 1
                }
            ]
        );
    }

    #[test]
    fn rules_without_origins_or_methods_are_not_reported() {
        let rules = [
            rule(&["*"], &[Get], &["*"]),
            rule(&[], &[Get], &[]),
            rule(&["*"], &[], &[]),
        ];
        assert_eq!(shadowed_rules(&rules), vec![]);
    }
}
