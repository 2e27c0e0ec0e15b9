//! Comparing desired and live rules, and deciding the one write (if any) that fixes the bucket.

use std::fmt::Write as _;

use super::{CorsRule, normalise_rule};

/// The single action that brings a bucket from its live configuration to the desired one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The bucket already has an equivalent configuration.
    Nothing,
    /// Write these rules (PutBucketCors), exactly as declared.
    Put(Vec<CorsRule>),
    /// Remove the bucket's configuration (DeleteBucketCors): the policy declares no rules.
    Delete,
}

impl Plan {
    /// True when the plan changes the bucket.
    pub fn is_change(&self) -> bool {
        !matches!(self, Plan::Nothing)
    }
}

/// True when two configurations behave the same: same number of rules, and each rule equal to
/// the one at the same position once both are normalised. No configuration (`[]`) equals an
/// empty one.
pub fn equivalent(a: &[CorsRule], b: &[CorsRule]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| normalise_rule(x) == normalise_rule(y))
}

/// What to do so that a bucket whose live rules are `live` ends up with `desired`.
pub fn plan(desired: &[CorsRule], live: &[CorsRule]) -> Plan {
    if equivalent(desired, live) {
        Plan::Nothing
    } else if desired.is_empty() {
        Plan::Delete
    } else {
        Plan::Put(desired.to_vec())
    }
}

/// A short, human-readable description of how `live` differs from `desired`, for condition
/// messages and CLI output. Empty when they are equivalent.
pub fn diff_summary(desired: &[CorsRule], live: &[CorsRule]) -> String {
    let mut parts = Vec::new();
    for index in 0..desired.len().max(live.len()) {
        match (desired.get(index), live.get(index)) {
            (Some(want), Some(have)) => {
                let (want, have) = (normalise_rule(want), normalise_rule(have));
                if want != have {
                    parts.push(format!(
                        "rule {}: {}",
                        label(index, &want),
                        rule_changes(&want, &have)
                    ));
                }
            }
            (Some(want), None) => {
                parts.push(format!("rule {}: missing on bucket", label(index, want)))
            }
            (None, Some(have)) => parts.push(format!("rule {}: not declared", label(index, have))),
            (None, None) => unreachable!("index is below the longer length"),
        }
    }
    parts.join("; ")
}

fn label(index: usize, rule: &CorsRule) -> String {
    match &rule.id {
        Some(id) => format!("{index} ({id})"),
        None => index.to_string(),
    }
}

fn rule_changes(want: &CorsRule, have: &CorsRule) -> String {
    let mut out = String::new();
    list_change(
        &mut out,
        "allowedOrigins",
        &want.allowed_origins,
        &have.allowed_origins,
    );
    let methods = |r: &CorsRule| {
        r.allowed_methods
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
    };
    list_change(&mut out, "allowedMethods", &methods(want), &methods(have));
    list_change(
        &mut out,
        "allowedHeaders",
        &want.allowed_headers,
        &have.allowed_headers,
    );
    list_change(
        &mut out,
        "exposeHeaders",
        &want.expose_headers,
        &have.expose_headers,
    );
    if want.max_age_seconds != have.max_age_seconds {
        let show = |v: Option<i32>| v.map_or_else(|| "unset".to_owned(), |v| v.to_string());
        sep(&mut out);
        let _ = write!(
            out,
            "maxAgeSeconds {} -> {}",
            show(have.max_age_seconds),
            show(want.max_age_seconds)
        );
    }
    if want.id != have.id {
        sep(&mut out);
        let _ = write!(
            out,
            "id {:?} -> {:?}",
            have.id.as_deref().unwrap_or(""),
            want.id.as_deref().unwrap_or("")
        );
    }
    out
}

fn list_change(out: &mut String, field: &str, want: &[String], have: &[String]) {
    let added: Vec<&str> = want
        .iter()
        .filter(|v| !have.contains(v))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = have
        .iter()
        .filter(|v| !want.contains(v))
        .map(String::as_str)
        .collect();
    if added.is_empty() && removed.is_empty() {
        return;
    }
    sep(out);
    out.push_str(field);
    for v in added {
        let _ = write!(out, " +{v}");
    }
    for v in removed {
        let _ = write!(out, " -{v}");
    }
}

fn sep(out: &mut String) {
    if !out.is_empty() {
        out.push_str(", ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CorsMethod::*;

    fn rule(id: &str, origin: &str) -> CorsRule {
        CorsRule {
            id: Some(id.into()),
            allowed_origins: vec![origin.into(), "https://static.example".into()],
            allowed_methods: vec![Get, Head],
            allowed_headers: vec!["Authorization".into(), "Range".into()],
            expose_headers: vec!["ETag".into(), "Content-Length".into()],
            max_age_seconds: Some(600),
        }
    }

    #[test]
    fn reordered_lists_inside_a_rule_are_equal() {
        let desired = vec![rule("a", "https://app.example")];
        let mut live = desired.clone();
        live[0].allowed_origins.reverse();
        live[0].allowed_methods.reverse();
        live[0].allowed_headers.reverse();
        live[0].expose_headers.reverse();
        assert!(equivalent(&desired, &live));
        assert_eq!(plan(&desired, &live), Plan::Nothing);
        assert_eq!(diff_summary(&desired, &live), "");
    }

    #[test]
    fn reordered_rules_are_not_equal() {
        let desired = vec![
            rule("a", "https://a.example"),
            rule("b", "https://b.example"),
        ];
        let live = vec![desired[1].clone(), desired[0].clone()];
        assert!(!equivalent(&desired, &live));
        assert_eq!(plan(&desired, &live), Plan::Put(desired.clone()));
        let summary = diff_summary(&desired, &live);
        assert!(summary.starts_with("rule 0 (a): "), "{summary}");
        assert!(summary.contains("rule 1 (b): "), "{summary}");
    }

    #[test]
    fn header_case_is_ignored_but_origin_case_is_not() {
        let desired = vec![rule("a", "https://app.example")];
        let mut live = desired.clone();
        live[0].allowed_headers = vec!["authorization".into(), "RANGE".into()];
        live[0].expose_headers = vec!["etag".into(), "content-length".into()];
        assert_eq!(plan(&desired, &live), Plan::Nothing);
        live[0].allowed_origins[0] = "https://APP.example".into();
        assert!(plan(&desired, &live).is_change());
        assert_eq!(
            diff_summary(&desired, &live),
            "rule 0 (a): allowedOrigins +https://app.example -https://APP.example"
        );
    }

    #[test]
    fn duplicate_values_are_ignored() {
        let desired = vec![rule("a", "https://app.example")];
        let mut live = desired.clone();
        live[0].allowed_methods.push(Get);
        live[0].allowed_origins.push("https://app.example".into());
        live[0].expose_headers.push("etag".into());
        assert_eq!(plan(&desired, &live), Plan::Nothing);
    }

    #[test]
    fn empty_live_configuration_equals_no_rules() {
        assert_eq!(plan(&[], &[]), Plan::Nothing);
        assert!(!plan(&[], &[]).is_change());
        assert_eq!(plan(&[], &[rule("a", "https://a")]), Plan::Delete);
        assert_eq!(
            plan(&[rule("a", "https://a")], &[]),
            Plan::Put(vec![rule("a", "https://a")])
        );
        assert_eq!(
            diff_summary(&[rule("a", "https://a")], &[]),
            "rule 0 (a): missing on bucket"
        );
        assert_eq!(
            diff_summary(&[], &[rule("a", "https://a")]),
            "rule 0 (a): not declared"
        );
    }

    #[test]
    fn absent_optional_fields_differ_from_present_ones() {
        let desired = vec![rule("a", "https://a")];
        let mut live = desired.clone();
        live[0].max_age_seconds = None;
        live[0].id = None;
        assert!(plan(&desired, &live).is_change());
        assert_eq!(
            diff_summary(&desired, &live),
            "rule 0 (a): maxAgeSeconds unset -> 600, id \"\" -> \"a\""
        );
        // An empty id is the same as none.
        let mut no_id = desired.clone();
        no_id[0].id = None;
        let mut empty_id = desired;
        empty_id[0].id = Some(String::new());
        assert_eq!(plan(&no_id, &empty_id), Plan::Nothing);
    }

    #[test]
    fn a_changed_field_is_described() {
        let desired = vec![rule("a", "https://a")];
        let mut live = desired.clone();
        live[0].allowed_methods = vec![Get];
        live[0].max_age_seconds = Some(5);
        assert_eq!(
            diff_summary(&desired, &live),
            "rule 0 (a): allowedMethods +HEAD, maxAgeSeconds 5 -> 600"
        );
    }
}
