//! What S3 answers to a CORS request, given a bucket's rules.
//!
//! S3 uses the first rule where the origin matches an `AllowedOrigin` (exact, case-sensitive,
//! one `*` matching any run of characters), the method is an `AllowedMethod`, and every
//! requested header matches an `AllowedHeader` (case-insensitive, `*` wildcard). The response
//! headers are built from that rule alone.

use std::collections::BTreeMap;

use super::CorsRule;
use super::wildcard::matches;

/// The value of `Vary` on every CORS response.
pub const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// A CORS request (a preflight, or the actual request with no requested headers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsRequest {
    /// The `Origin` header, e.g. `https://shop.example.com`.
    pub origin: String,
    /// The method, or the preflight's `Access-Control-Request-Method` (compared exactly, as HTTP
    /// methods are case-sensitive).
    pub method: String,
    /// The header names of `Access-Control-Request-Headers`.
    pub headers: Vec<String>,
}

/// The rule that answered a request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MatchedRule {
    /// 0-based position of the rule.
    pub index: usize,
    /// The rule's id, if it has one.
    pub id: Option<String>,
}

/// Why one rule did or did not answer a request; S3 stops at the first rule that matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleVerdict {
    /// The rule matched; it answers the request.
    Matched,
    /// No allowed origin matches the request's origin.
    OriginNotAllowed,
    /// The origin matched, the method is not allowed.
    MethodNotAllowed,
    /// Origin and method matched; this requested header is not allowed.
    HeaderNotAllowed(String),
}

/// The outcome of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// True when a rule matched and S3 answers with CORS headers.
    pub allowed: bool,
    /// The rule that matched.
    pub matched_rule: Option<MatchedRule>,
    /// The CORS response headers, by name (empty when refused).
    pub headers: BTreeMap<String, String>,
    /// One verdict per rule examined, in order, up to and including the one that matched.
    pub verdicts: Vec<RuleVerdict>,
}

/// Evaluates `request` against `rules` as S3 does.
pub fn evaluate(rules: &[CorsRule], request: &CorsRequest) -> Evaluation {
    let mut verdicts = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        match judge(rule, request) {
            Ok(origin_entry) => {
                verdicts.push(RuleVerdict::Matched);
                return Evaluation {
                    allowed: true,
                    matched_rule: Some(MatchedRule {
                        index,
                        id: rule.id.clone(),
                    }),
                    headers: response_headers(rule, origin_entry, request),
                    verdicts,
                };
            }
            Err(refusal) => verdicts.push(refusal),
        }
    }
    Evaluation {
        allowed: false,
        matched_rule: None,
        headers: BTreeMap::new(),
        verdicts,
    }
}

/// `Ok(the matching origin entry)` or why the rule does not match.
fn judge<'r>(rule: &'r CorsRule, request: &CorsRequest) -> Result<&'r str, RuleVerdict> {
    // A request without an origin is not a CORS request; no rule answers it.
    let origin = (!request.origin.is_empty())
        .then(|| {
            rule.allowed_origins
                .iter()
                .find(|o| matches(o, &request.origin))
        })
        .flatten()
        .ok_or(RuleVerdict::OriginNotAllowed)?;
    if !rule
        .allowed_methods
        .iter()
        .any(|m| m.as_str() == request.method)
    {
        return Err(RuleVerdict::MethodNotAllowed);
    }
    let allowed: Vec<String> = rule
        .allowed_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if let Some(refused) = request
        .headers
        .iter()
        .find(|h| !allowed.iter().any(|a| matches(a, &h.to_ascii_lowercase())))
    {
        return Err(RuleVerdict::HeaderNotAllowed(refused.clone()));
    }
    Ok(origin)
}

fn response_headers(
    rule: &CorsRule,
    origin_entry: &str,
    request: &CorsRequest,
) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    let mut set = |name: &str, value: String| {
        headers.insert(name.to_owned(), value);
    };
    if origin_entry == "*" {
        set("Access-Control-Allow-Origin", "*".to_owned());
    } else {
        set("Access-Control-Allow-Origin", request.origin.clone());
        set("Access-Control-Allow-Credentials", "true".to_owned());
    }
    set(
        "Access-Control-Allow-Methods",
        join(rule.allowed_methods.iter().map(|m| m.as_str())),
    );
    if !request.headers.is_empty() {
        let lower: Vec<String> = request
            .headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        set(
            "Access-Control-Allow-Headers",
            join(lower.iter().map(String::as_str)),
        );
    }
    if !rule.expose_headers.is_empty() {
        set(
            "Access-Control-Expose-Headers",
            join(rule.expose_headers.iter().map(String::as_str)),
        );
    }
    if let Some(seconds) = rule.max_age_seconds {
        set("Access-Control-Max-Age", seconds.to_string());
    }
    set("Vary", VARY.to_owned());
    headers
}

fn join<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CorsMethod::{self, *};

    fn rule(id: &str, origins: &[&str], methods: &[CorsMethod], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: (!id.is_empty()).then(|| id.to_owned()),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.to_vec(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            expose_headers: vec![],
            max_age_seconds: None,
        }
    }

    fn request(origin: &str, method: &str, headers: &[&str]) -> CorsRequest {
        CorsRequest {
            origin: origin.to_owned(),
            method: method.to_owned(),
            headers: headers.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn allowed(rules: &[CorsRule], origin: &str) -> bool {
        evaluate(rules, &request(origin, "GET", &[])).allowed
    }

    #[test]
    fn star_suffix_origin() {
        let rules = [rule("", &["*.example.com"], &[Get], &[])];
        assert!(allowed(&rules, "https://a.example.com"));
        assert!(allowed(&rules, "http://x.y.example.com"));
        assert!(!allowed(&rules, "https://example.org"));
        assert!(!allowed(&rules, "https://a.example.com.evil.test"));
    }

    #[test]
    fn prefix_star_origin() {
        let rules = [rule("", &["https://app.example.com*"], &[Get], &[])];
        assert!(allowed(&rules, "https://app.example.com"));
        assert!(allowed(&rules, "https://app.example.com:8443"));
        assert!(!allowed(&rules, "http://app.example.com"));
    }

    #[test]
    fn start_star_end_origin() {
        let rules = [rule("", &["https://*.example.com"], &[Get], &[])];
        assert!(allowed(&rules, "https://a.example.com"));
        assert!(allowed(&rules, "https://a.b.example.com"));
        // The star matches a run of characters between the fixed parts, not the dot itself.
        assert!(!allowed(&rules, "https://example.com"));
        assert!(!allowed(&rules, "https://a.example.co"));
        assert!(!allowed(&rules, "http://a.example.com"));
    }

    #[test]
    fn scheme_and_port_must_match_exactly() {
        let rules = [rule("", &["https://shop.example.com"], &[Get], &[])];
        assert!(allowed(&rules, "https://shop.example.com"));
        assert!(!allowed(&rules, "http://shop.example.com"));
        assert!(!allowed(&rules, "https://shop.example.com:443"));
        assert!(!allowed(&rules, "https://shop.example.com:8443"));
    }

    #[test]
    fn origins_are_case_sensitive() {
        let rules = [rule("", &["https://Shop.example.com"], &[Get], &[])];
        assert!(allowed(&rules, "https://Shop.example.com"));
        assert!(!allowed(&rules, "https://shop.example.com"));
    }

    #[test]
    fn headers_are_case_insensitive_with_wildcards() {
        let rules = [rule("", &["*"], &[Put], &["Content-Type", "X-Amz-Meta-*"])];
        let e = evaluate(
            &rules,
            &request("https://a", "PUT", &["content-type", "x-amz-meta-Owner"]),
        );
        assert!(e.allowed);
        assert_eq!(
            e.headers["Access-Control-Allow-Headers"],
            "content-type, x-amz-meta-owner"
        );
        let e = evaluate(
            &rules,
            &request("https://a", "PUT", &["CONTENT-TYPE", "Authorization"]),
        );
        assert!(!e.allowed);
        assert_eq!(
            e.verdicts,
            vec![RuleVerdict::HeaderNotAllowed("Authorization".into())]
        );
    }

    #[test]
    fn a_rule_without_allowed_headers_refuses_a_preflight_requesting_one() {
        let rules = [rule("", &["*"], &[Get], &[])];
        assert!(evaluate(&rules, &request("https://a", "GET", &[])).allowed);
        let e = evaluate(&rules, &request("https://a", "GET", &["x-custom"]));
        assert!(!e.allowed);
        assert_eq!(e.matched_rule, None);
        assert!(e.headers.is_empty());
    }

    #[test]
    fn methods_are_compared_exactly() {
        let rules = [rule("", &["*"], &[Get, Head], &[])];
        assert!(evaluate(&rules, &request("https://a", "HEAD", &[])).allowed);
        assert!(!evaluate(&rules, &request("https://a", "PUT", &[])).allowed);
        assert!(!evaluate(&rules, &request("https://a", "get", &[])).allowed);
        assert!(!evaluate(&rules, &request("https://a", "PATCH", &[])).allowed);
    }

    #[test]
    fn the_first_full_match_wins() {
        let rules = [
            rule("read", &["https://app.example.com"], &[Get], &[]),
            rule("write", &["https://app.example.com"], &[Put], &["*"]),
            rule("also-write", &["*"], &[Put], &["*"]),
        ];
        let e = evaluate(
            &rules,
            &request("https://app.example.com", "PUT", &["content-type"]),
        );
        assert!(e.allowed);
        assert_eq!(
            e.matched_rule,
            Some(MatchedRule {
                index: 1,
                id: Some("write".into())
            })
        );
        assert_eq!(
            e.verdicts,
            vec![RuleVerdict::MethodNotAllowed, RuleVerdict::Matched]
        );
        // The earlier rule matches origin and method but not the header: the next one answers.
        let rules = [
            rule("", &["*"], &[Get], &[]),
            rule("", &["*"], &[Get], &["range"]),
        ];
        let e = evaluate(&rules, &request("https://a", "GET", &["Range"]));
        assert_eq!(e.matched_rule, Some(MatchedRule { index: 1, id: None }));
    }

    #[test]
    fn allow_origin_is_star_only_for_the_star_entry() {
        let rules = [rule("", &["*"], &[Get], &[])];
        let e = evaluate(&rules, &request("https://a.example", "GET", &[]));
        assert_eq!(e.headers["Access-Control-Allow-Origin"], "*");
        assert!(!e.headers.contains_key("Access-Control-Allow-Credentials"));

        let rules = [rule("", &["https://*"], &[Get], &[])];
        let e = evaluate(&rules, &request("https://a.example", "GET", &[]));
        assert_eq!(
            e.headers["Access-Control-Allow-Origin"],
            "https://a.example"
        );
        assert_eq!(e.headers["Access-Control-Allow-Credentials"], "true");
    }

    #[test]
    fn the_matched_entry_decides_star_versus_echo() {
        // The first matching origin entry of the rule is the one that counts.
        let rules = [rule("", &["https://a.example", "*"], &[Get], &[])];
        let e = evaluate(&rules, &request("https://a.example", "GET", &[]));
        assert_eq!(
            e.headers["Access-Control-Allow-Origin"],
            "https://a.example"
        );
        let e = evaluate(&rules, &request("https://b.example", "GET", &[]));
        assert_eq!(e.headers["Access-Control-Allow-Origin"], "*");
    }

    #[test]
    fn full_response_headers() {
        let mut r = rule(
            "uploads",
            &["https://app.example.com"],
            &[Put, Post],
            &["*"],
        );
        r.expose_headers = vec!["ETag".into(), "x-amz-request-id".into()];
        r.max_age_seconds = Some(3000);
        let e = evaluate(
            &[r],
            &request(
                "https://app.example.com",
                "PUT",
                &["Content-Type", "X-Amz-Date"],
            ),
        );
        let want: BTreeMap<String, String> = [
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Headers", "content-type, x-amz-date"),
            ("Access-Control-Allow-Methods", "PUT, POST"),
            ("Access-Control-Allow-Origin", "https://app.example.com"),
            ("Access-Control-Expose-Headers", "ETag, x-amz-request-id"),
            ("Access-Control-Max-Age", "3000"),
            ("Vary", VARY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(e.headers, want);
    }

    #[test]
    fn no_rules_or_no_origin_refuses() {
        assert!(!evaluate(&[], &request("https://a", "GET", &[])).allowed);
        let rules = [rule("", &["*"], &[Get], &[])];
        assert!(!evaluate(&rules, &request("", "GET", &[])).allowed);
    }
}
