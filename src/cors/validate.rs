//! Validation of declared rules with S3's own limits.
//!
//! These are the rules the API server enforces through the CRD's schema and CEL (see
//! `src/api/`), plus the one CEL cannot express: the 64 KB limit on the XML document. They are
//! kept in step with the CRD by `tests/validation_parity.rs`, which runs both on one table of
//! cases.

use std::collections::HashMap;

use super::xml::{MAX_CONFIGURATION_BYTES, configuration_xml_size};
use crate::api::{
    BucketCorsPolicySpec, CorsRule, MAX_LIST_ITEMS, MAX_RULE_ID_LEN, MAX_RULES, MAX_VALUE_LEN,
    MIN_INTERVAL,
};

/// Longest bucket name the schema accepts.
const MAX_BUCKET_LEN: usize = 255;
/// Longest `expectedBucketOwner` the schema accepts.
const MAX_OWNER_LEN: usize = 64;
/// Longest object name the schema accepts for `endpointRef.name`.
const MAX_OBJECT_NAME_LEN: usize = 253;
/// S3 accepts at most this many methods in one rule (there are only five).
const MAX_METHODS: usize = 5;

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
    let mut issues = Issues::default();
    issues.length("spec.bucket", &spec.bucket, MAX_BUCKET_LEN);
    if let Some(owner) = &spec.expected_bucket_owner {
        issues.length("spec.expectedBucketOwner", owner, MAX_OWNER_LEN);
    }
    if let Some(endpoint) = &spec.endpoint_ref {
        issues.length("spec.endpointRef.name", &endpoint.name, MAX_OBJECT_NAME_LEN);
    }
    if let Some(interval) = spec.interval
        && (interval.is_negative() || interval < MIN_INTERVAL)
    {
        issues.push(
            "spec.interval",
            format!("{interval} is too short; the interval must be at least 30s"),
        );
    }
    let mut all = issues.0;
    all.extend(validate_rules(&spec.rules));
    all
}

/// Checks a list of rules (paths are reported under `spec.rules`).
pub fn validate_rules(rules: &[CorsRule]) -> Vec<ValidationIssue> {
    let mut issues = Issues::default();
    if rules.len() > MAX_RULES {
        issues.push(
            "spec.rules",
            format!("{} rules; S3 accepts at most {MAX_RULES}", rules.len()),
        );
    }
    let mut first_with_id: HashMap<&str, usize> = HashMap::new();
    for (index, rule) in rules.iter().enumerate() {
        let at = format!("spec.rules[{index}]");
        if let Some(id) = &rule.id {
            issues.length(&format!("{at}.id"), id, MAX_RULE_ID_LEN);
            match first_with_id.get(id.as_str()) {
                Some(first) => issues.push(
                    &format!("{at}.id"),
                    format!("{id:?} is already the id of rule {first}; rule ids must be unique within the policy"),
                ),
                None => {
                    first_with_id.insert(id, index);
                }
            }
        }
        validate_rule_lists(&mut issues, &at, rule);
        if let Some(seconds) = rule.max_age_seconds
            && seconds < 0
        {
            issues.push(
                &format!("{at}.maxAgeSeconds"),
                format!("{seconds} is negative; use 0 to 2147483647"),
            );
        }
    }
    let size = configuration_xml_size(rules);
    if size > MAX_CONFIGURATION_BYTES {
        issues.push(
            "spec.rules",
            format!("the CORS configuration is {size} bytes as XML; S3 accepts at most {MAX_CONFIGURATION_BYTES}"),
        );
    }
    issues.0
}

fn validate_rule_lists(issues: &mut Issues, at: &str, rule: &CorsRule) {
    let origins = format!("{at}.allowedOrigins");
    if rule.allowed_origins.is_empty() {
        issues.push(
            &origins,
            "at least one origin is required (use \"*\" for any origin)".to_owned(),
        );
    }
    issues.count(&origins, rule.allowed_origins.len(), MAX_LIST_ITEMS);
    for (i, origin) in rule.allowed_origins.iter().enumerate() {
        let path = format!("{origins}[{i}]");
        issues.length(&path, origin, MAX_VALUE_LEN);
        issues.at_most_one_star(&path, origin);
    }

    let methods = format!("{at}.allowedMethods");
    if rule.allowed_methods.is_empty() {
        issues.push(
            &methods,
            "at least one method is required (GET, PUT, HEAD, POST or DELETE)".to_owned(),
        );
    }
    issues.count(&methods, rule.allowed_methods.len(), MAX_METHODS);

    let headers = format!("{at}.allowedHeaders");
    issues.count(&headers, rule.allowed_headers.len(), MAX_LIST_ITEMS);
    for (i, header) in rule.allowed_headers.iter().enumerate() {
        let path = format!("{headers}[{i}]");
        issues.length(&path, header, MAX_VALUE_LEN);
        issues.at_most_one_star(&path, header);
    }

    let expose = format!("{at}.exposeHeaders");
    issues.count(&expose, rule.expose_headers.len(), MAX_LIST_ITEMS);
    for (i, header) in rule.expose_headers.iter().enumerate() {
        let path = format!("{expose}[{i}]");
        issues.length(&path, header, MAX_VALUE_LEN);
        if header.contains('*') {
            issues.push(
                &path,
                format!("{header:?} contains '*'; expose headers must be named exactly"),
            );
        }
    }
}

/// Collects issues; the helpers word the common checks the same way everywhere.
#[derive(Default)]
struct Issues(Vec<ValidationIssue>);

impl Issues {
    fn push(&mut self, path: &str, message: String) {
        self.0.push(ValidationIssue {
            path: path.to_owned(),
            message,
        });
    }

    /// Between 1 and `max` characters (Unicode scalar values, as the schema's `maxLength` counts).
    fn length(&mut self, path: &str, value: &str, max: usize) {
        let chars = value.chars().count();
        if chars == 0 {
            self.push(path, "must not be empty".to_owned());
        } else if chars > max {
            self.push(
                path,
                format!("is {chars} characters long; at most {max} are allowed"),
            );
        }
    }

    fn count(&mut self, path: &str, len: usize, max: usize) {
        if len > max {
            self.push(
                path,
                format!("has {len} entries; at most {max} are allowed"),
            );
        }
    }

    fn at_most_one_star(&mut self, path: &str, value: &str) {
        if value.matches('*').count() > 1 {
            self.push(
                path,
                format!("{value:?} contains more than one '*' wildcard; at most one is allowed"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CorsMethod, EndpointKind, EndpointRef};

    fn rule() -> CorsRule {
        CorsRule {
            id: Some("web".into()),
            allowed_origins: vec!["https://shop.example.com".into()],
            allowed_methods: vec![CorsMethod::Get],
            ..CorsRule::default()
        }
    }

    fn spec(rules: Vec<CorsRule>) -> BucketCorsPolicySpec {
        serde_json::from_value(serde_json::json!({"bucket": "shop-assets", "rules": []}))
            .map(|mut s: BucketCorsPolicySpec| {
                s.rules = rules;
                s
            })
            .unwrap()
    }

    /// The paths of the issues found in `spec`.
    fn paths(spec: &BucketCorsPolicySpec) -> Vec<String> {
        validate_spec(spec).into_iter().map(|i| i.path).collect()
    }

    fn rejected_at(spec: &BucketCorsPolicySpec, path: &str) {
        let issues = validate_spec(spec);
        assert!(
            issues.iter().any(|i| i.path == path),
            "expected an issue at {path}, got {issues:?}"
        );
    }

    #[test]
    fn a_typical_policy_is_valid() {
        let mut second = rule();
        second.id = Some("uploads".into());
        second.allowed_methods = vec![CorsMethod::Put, CorsMethod::Post];
        second.allowed_headers = vec!["*".into()];
        second.expose_headers = vec!["ETag".into()];
        second.max_age_seconds = Some(3000);
        assert_eq!(validate_spec(&spec(vec![rule(), second])), vec![]);
        assert_eq!(validate_spec(&spec(vec![])), vec![]);
    }

    #[test]
    fn bucket_must_be_1_to_255_characters() {
        let mut s = spec(vec![]);
        s.bucket = String::new();
        rejected_at(&s, "spec.bucket");
        s.bucket = "b".repeat(255);
        assert_eq!(paths(&s), Vec::<String>::new());
        s.bucket = "b".repeat(256);
        rejected_at(&s, "spec.bucket");
    }

    #[test]
    fn expected_owner_and_endpoint_name_lengths() {
        let mut s = spec(vec![]);
        s.expected_bucket_owner = Some("123456789012".into());
        s.endpoint_ref = Some(EndpointRef {
            kind: EndpointKind::S3Endpoint,
            name: "minio".into(),
        });
        assert_eq!(paths(&s), Vec::<String>::new());
        s.expected_bucket_owner = Some(String::new());
        s.endpoint_ref = Some(EndpointRef {
            kind: EndpointKind::S3Endpoint,
            name: "n".repeat(254),
        });
        assert_eq!(
            paths(&s),
            vec!["spec.expectedBucketOwner", "spec.endpointRef.name"]
        );
    }

    #[test]
    fn interval_must_be_at_least_30_seconds() {
        let mut s = spec(vec![]);
        for (text, ok) in [
            ("30s", true),
            ("10m", true),
            ("29s", false),
            ("0s", false),
            ("-1m", false),
        ] {
            s.interval = Some(text.parse().unwrap());
            assert_eq!(validate_spec(&s).is_empty(), ok, "interval {text}");
        }
        s.interval = Some("1s".parse().unwrap());
        rejected_at(&s, "spec.interval");
    }

    #[test]
    fn zero_to_100_rules() {
        let rules: Vec<CorsRule> = (0..100)
            .map(|i| CorsRule {
                id: Some(format!("r{i}")),
                ..rule()
            })
            .collect();
        assert!(validate_spec(&spec(rules.clone())).is_empty());
        let mut too_many = rules;
        too_many.push(rule());
        let issues = validate_spec(&spec(too_many));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "spec.rules");
        assert!(
            issues[0].message.contains("101 rules"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn id_is_1_to_255_characters_and_unique() {
        let with_id = |id: &str| CorsRule {
            id: Some(id.into()),
            ..rule()
        };
        assert!(validate_spec(&spec(vec![with_id(&"i".repeat(255))])).is_empty());
        // Characters, not bytes, as the schema's maxLength counts.
        assert!(validate_spec(&spec(vec![with_id(&"é".repeat(255))])).is_empty());
        rejected_at(&spec(vec![with_id(&"i".repeat(256))]), "spec.rules[0].id");
        rejected_at(&spec(vec![with_id("")]), "spec.rules[0].id");
        // Rules without an id never clash.
        let no_id = CorsRule { id: None, ..rule() };
        assert!(validate_spec(&spec(vec![no_id.clone(), no_id, with_id("a")])).is_empty());
        let issues = validate_spec(&spec(vec![with_id("a"), with_id("b"), with_id("a")]));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "spec.rules[2].id");
        assert!(
            issues[0].message.contains("rule 0"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn origins_one_or_more_each_at_most_one_star_and_512_chars() {
        let with = |origins: Vec<String>| {
            spec(vec![CorsRule {
                allowed_origins: origins,
                ..rule()
            }])
        };
        assert!(validate_spec(&with(vec!["*".into()])).is_empty());
        assert!(
            validate_spec(&with(vec![
                "https://*.example.com".into(),
                "http://localhost:*".into()
            ]))
            .is_empty()
        );
        assert!(validate_spec(&with(vec!["o".repeat(512)])).is_empty());
        rejected_at(&with(vec![]), "spec.rules[0].allowedOrigins");
        rejected_at(
            &with(vec!["https://a".into(), "https://*.*.example.com".into()]),
            "spec.rules[0].allowedOrigins[1]",
        );
        rejected_at(&with(vec!["**".into()]), "spec.rules[0].allowedOrigins[0]");
        rejected_at(
            &with(vec!["o".repeat(513)]),
            "spec.rules[0].allowedOrigins[0]",
        );
        rejected_at(
            &with(vec![String::new()]),
            "spec.rules[0].allowedOrigins[0]",
        );
        assert!(
            validate_spec(&with(
                (0..100).map(|i| format!("https://{i}.example")).collect()
            ))
            .is_empty()
        );
        rejected_at(
            &with((0..101).map(|i| format!("https://{i}.example")).collect()),
            "spec.rules[0].allowedOrigins",
        );
    }

    #[test]
    fn methods_one_to_five() {
        let with = |methods: Vec<CorsMethod>| {
            spec(vec![CorsRule {
                allowed_methods: methods,
                ..rule()
            }])
        };
        assert!(validate_spec(&with(CorsMethod::ALL.to_vec())).is_empty());
        rejected_at(&with(vec![]), "spec.rules[0].allowedMethods");
        let mut six = CorsMethod::ALL.to_vec();
        six.push(CorsMethod::Get);
        rejected_at(&with(six), "spec.rules[0].allowedMethods");
    }

    #[test]
    fn allowed_headers_at_most_one_star_each() {
        let with = |headers: Vec<&str>| {
            spec(vec![CorsRule {
                allowed_headers: headers.into_iter().map(String::from).collect(),
                ..rule()
            }])
        };
        assert!(validate_spec(&with(vec![])).is_empty());
        assert!(validate_spec(&with(vec!["*", "x-amz-*", "Content-Type"])).is_empty());
        rejected_at(&with(vec!["x-*-*"]), "spec.rules[0].allowedHeaders[0]");
        rejected_at(&with(vec!["ok", ""]), "spec.rules[0].allowedHeaders[1]");
        rejected_at(&with(vec!["h"; 101]), "spec.rules[0].allowedHeaders");
        let long = "h".repeat(513);
        rejected_at(&with(vec![&long]), "spec.rules[0].allowedHeaders[0]");
    }

    #[test]
    fn expose_headers_never_contain_a_star() {
        let with = |headers: Vec<&str>| {
            spec(vec![CorsRule {
                expose_headers: headers.into_iter().map(String::from).collect(),
                ..rule()
            }])
        };
        assert!(validate_spec(&with(vec!["ETag", "x-amz-request-id"])).is_empty());
        rejected_at(&with(vec!["ETag", "*"]), "spec.rules[0].exposeHeaders[1]");
        rejected_at(&with(vec!["x-amz-*"]), "spec.rules[0].exposeHeaders[0]");
        rejected_at(&with(vec![""]), "spec.rules[0].exposeHeaders[0]");
        rejected_at(&with(vec!["h"; 101]), "spec.rules[0].exposeHeaders");
    }

    #[test]
    fn max_age_is_0_to_i32_max() {
        let with = |age: i32| {
            spec(vec![CorsRule {
                max_age_seconds: Some(age),
                ..rule()
            }])
        };
        assert!(validate_spec(&with(0)).is_empty());
        assert!(validate_spec(&with(i32::MAX)).is_empty());
        rejected_at(&with(-1), "spec.rules[0].maxAgeSeconds");
    }

    #[test]
    fn the_xml_document_must_fit_in_64_kib() {
        // 100 rules of two long origins each: about 1 KiB per rule, over the limit in total,
        // while every per-field limit holds.
        let long = "a".repeat(480);
        let big = |i: usize| CorsRule {
            id: Some(format!("r{i}")),
            allowed_origins: vec![
                format!("https://{long}.example"),
                format!("https://{long}.example.net"),
            ],
            ..rule()
        };
        let rules: Vec<CorsRule> = (0..100).map(big).collect();
        let issues = validate_rules(&rules);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "spec.rules");
        assert!(
            issues[0].message.contains("bytes as XML"),
            "{}",
            issues[0].message
        );
        // 50 of them fit.
        assert!(validate_rules(&rules[..50]).is_empty());
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let bad = CorsRule {
            id: Some(String::new()),
            allowed_origins: vec![],
            allowed_methods: vec![],
            allowed_headers: vec!["**".into()],
            expose_headers: vec!["*".into()],
            max_age_seconds: Some(-5),
        };
        assert_eq!(
            paths(&spec(vec![bad])),
            vec![
                "spec.rules[0].id",
                "spec.rules[0].allowedOrigins",
                "spec.rules[0].allowedMethods",
                "spec.rules[0].allowedHeaders[0]",
                "spec.rules[0].exposeHeaders[0]",
                "spec.rules[0].maxAgeSeconds",
            ]
        );
    }
}
