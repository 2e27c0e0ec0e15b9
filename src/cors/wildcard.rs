//! `*` wildcards as S3 uses them in `AllowedOrigin` and `AllowedHeader`.
//!
//! A valid pattern has at most one `*`, matching any run of characters (including none). The
//! matcher accepts any number of `*` so that it never misbehaves on input that skipped
//! validation; the inclusion test is exact for valid patterns and conservative otherwise.

/// True when `value` matches `pattern`. Origins are compared case-sensitively; header names
/// are compared after both sides are lower-cased by the caller.
pub(crate) fn matches(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    // `split` always yields at least one part.
    let prefix = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let Some((suffix, middle)) = rest.split_last() else {
        return pattern == value;
    };
    if value.len() < prefix.len() + suffix.len()
        || !value.starts_with(prefix)
        || !value.ends_with(suffix)
    {
        return false;
    }
    // Both checks above succeeded, so these offsets are character boundaries.
    let mut inner = &value[prefix.len()..value.len() - suffix.len()];
    for part in middle {
        match inner.find(part) {
            Some(at) => inner = &inner[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// True when every value `specific` matches is also matched by `general`.
///
/// Exact for patterns with at most one `*`; for anything else it only answers `true` when the
/// two patterns are identical, so callers can rely on a `true`.
pub(crate) fn covers(general: &str, specific: &str) -> bool {
    if general == specific {
        return true;
    }
    match (split_once_star(general), split_once_star(specific)) {
        // A literal covers only itself (handled above).
        (Some(None), _) => false,
        // A one-star pattern covers a literal it matches.
        (Some(Some(_)), Some(None)) => matches(general, specific),
        // `P*S` covers `P'*S'` exactly when P' starts with P and S' ends with S: every
        // value of the specific pattern then starts with P and ends with S, and is long enough.
        (Some(Some((prefix, suffix))), Some(Some((inner_prefix, inner_suffix)))) => {
            inner_prefix.starts_with(prefix) && inner_suffix.ends_with(suffix)
        }
        // More than one `*` somewhere: not certain.
        _ => false,
    }
}

/// `Some(None)` for a literal, `Some(Some((prefix, suffix)))` for a one-star pattern, `None` for
/// a pattern with more than one `*`.
fn split_once_star(pattern: &str) -> Option<Option<(&str, &str)>> {
    match pattern.split_once('*') {
        None => Some(None),
        Some((prefix, suffix)) if !suffix.contains('*') => Some(Some((prefix, suffix))),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(matches("https://a.example", "https://a.example"));
        assert!(!matches("https://a.example", "https://a.example.com"));
        assert!(!matches("https://a.example", "https://A.example"));
        assert!(!matches("", "x"));
        assert!(matches("", ""));
    }

    #[test]
    fn one_star_matches_any_run_including_none() {
        assert!(matches("*", ""));
        assert!(matches("*", "https://anything"));
        assert!(matches("https://*.example.com", "https://a.b.example.com"));
        assert!(matches("https://*example.com", "https://example.com"));
        assert!(!matches("https://*.example.com", "https://example.com"));
        assert!(matches("https://*", "https://"));
        assert!(matches("*.com", ".com"));
        assert!(!matches("*.com", ".co"));
    }

    #[test]
    fn prefix_and_suffix_may_not_overlap() {
        assert!(!matches("ab*ba", "aba"));
        assert!(matches("ab*ba", "abba"));
    }

    #[test]
    fn several_stars_still_match_sensibly() {
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "axxc"));
        assert!(matches("**", ""));
    }

    #[test]
    fn multibyte_values_do_not_panic() {
        assert!(matches("é*é", "éé"));
        assert!(!matches("é*é", "é"));
        assert!(matches("*ü", "xü"));
    }

    #[test]
    fn covers_is_exact_for_one_star_patterns() {
        assert!(covers("*", "https://x"));
        assert!(covers("*", "https://*.example.com"));
        assert!(covers("https://*", "https://*.example.com"));
        assert!(covers("https://*.com", "https://*.example.com"));
        assert!(covers("https://*.example.com", "https://a.example.com"));
        assert!(!covers("https://a.example.com", "https://*.example.com"));
        assert!(!covers("https://*.example.com", "https://*example.com"));
        assert!(!covers("https://a*", "https://*"));
        assert!(!covers("x", "y"));
    }

    #[test]
    fn covers_is_conservative_with_several_stars() {
        // Never claims more than it can prove.
        assert!(covers("a*b*c", "a*b*c"));
        assert!(!covers("a*b*c", "a*c"));
        assert!(!covers("a*c", "a*b*d"));
    }
}
