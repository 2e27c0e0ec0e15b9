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
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| normalise_rule(x) == normalise_rule(y))
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
                    parts.push(format!("rule {}: {}", label(index, &want), rule_changes(&want, &have)));
                }
            }
            (Some(want), None) => parts.push(format!("rule {}: missing on bucket", label(index, want))),
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
    list_change(&mut out, "allowedOrigins", &want.allowed_origins, &have.allowed_origins);
    let methods = |r: &CorsRule| r.allowed_methods.iter().map(|m| m.to_string()).collect::<Vec<_>>();
    list_change(&mut out, "allowedMethods", &methods(want), &methods(have));
    list_change(&mut out, "allowedHeaders", &want.allowed_headers, &have.allowed_headers);
    list_change(&mut out, "exposeHeaders", &want.expose_headers, &have.expose_headers);
    if want.max_age_seconds != have.max_age_seconds {
        let show = |v: Option<i32>| v.map_or_else(|| "unset".to_owned(), |v| v.to_string());
        sep(&mut out);
        let _ = write!(out, "maxAgeSeconds {} -> {}", show(have.max_age_seconds), show(want.max_age_seconds));
    }
    if want.id != have.id {
        sep(&mut out);
        let _ = write!(out, "id {:?} -> {:?}", have.id.as_deref().unwrap_or(""), want.id.as_deref().unwrap_or(""));
    }
    out
}

fn list_change(out: &mut String, field: &str, want: &[String], have: &[String]) {
    let added: Vec<&str> = want.iter().filter(|v| !have.contains(v)).map(String::as_str).collect();
    let removed: Vec<&str> = have.iter().filter(|v| !want.contains(v)).map(String::as_str).collect();
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
