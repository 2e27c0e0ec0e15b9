//! Property tests of the pure engine: normal form, plan, fingerprint, shadowing, evaluation.

use bucketcors::cors::{
    CorsMethod, CorsRequest, CorsRule, Plan, equivalent, evaluate, fingerprint, normalise, plan,
    shadowed_rules, validate_rules,
};
use proptest::prelude::*;
use proptest::sample::subsequence;

/// Origins from a small set, so that rules overlap and wildcards match often.
fn origin() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        "https://[ab]\\.example(:8443)?",
        "https?://\\*\\.example",
        "https://[ab]\\*",
        "\\*\\.example",
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        "(Content-Type|X-Amz-Date|Range|Authorization|x-amz-meta-a)",
        "[Xx]-[Aa]mz-\\*",
    ]
}

fn methods() -> impl Strategy<Value = Vec<CorsMethod>> {
    subsequence(CorsMethod::ALL.to_vec(), 1..=5).prop_shuffle()
}

/// A rule that passes validation (ids are assigned by [`rules`]).
fn rule() -> impl Strategy<Value = CorsRule> {
    (
        prop::collection::vec(origin(), 1..4),
        methods(),
        prop::collection::vec(header(), 0..3),
        prop::collection::vec("(ETag|Content-Length|x-amz-request-id)", 0..3),
        prop::option::of(0..100_000i32),
    )
        .prop_map(
            |(
                allowed_origins,
                allowed_methods,
                allowed_headers,
                expose_headers,
                max_age_seconds,
            )| {
                CorsRule {
                    id: None,
                    allowed_origins,
                    allowed_methods,
                    allowed_headers,
                    expose_headers,
                    max_age_seconds,
                }
            },
        )
}

/// A valid configuration: 0 to 5 rules, some with (unique) ids.
fn rules() -> impl Strategy<Value = Vec<CorsRule>> {
    prop::collection::vec((rule(), any::<bool>()), 0..6).prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, (mut rule, named))| {
                rule.id = named.then(|| format!("rule-{i}"));
                rule
            })
            .collect()
    })
}

/// The same configuration as a store might return it: lists reordered, header names in
/// another case, values repeated.
fn reshaped(rules: &[CorsRule], seed: u64) -> Vec<CorsRule> {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift: deterministic for a given seed, enough to vary the shape.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let shuffle = |values: &mut Vec<String>, next: &mut dyn FnMut() -> u64| {
        for i in (1..values.len()).rev() {
            values.swap(i, (next() % (i as u64 + 1)) as usize);
        }
    };
    rules
        .iter()
        .map(|rule| {
            let mut r = rule.clone();
            shuffle(&mut r.allowed_origins, &mut next);
            r.allowed_methods.reverse();
            if next() % 2 == 0
                && let Some(first) = r.allowed_methods.first().copied()
            {
                r.allowed_methods.push(first);
            }
            for list in [&mut r.allowed_headers, &mut r.expose_headers] {
                shuffle(list, &mut next);
                for h in list.iter_mut() {
                    *h = if next() % 2 == 0 {
                        h.to_ascii_uppercase()
                    } else {
                        h.to_ascii_lowercase()
                    };
                }
                if let Some(first) = list.first().cloned() {
                    list.push(first);
                }
            }
            r
        })
        .collect()
}

fn request() -> impl Strategy<Value = CorsRequest> {
    (
        prop_oneof![
            "https://[abc]\\.example(:8443)?",
            "http://[ab]\\.example",
            "https://[ab]",
            "https://x\\.[ab]\\.example",
            "https://A\\.example",
        ],
        prop::sample::select(vec!["GET", "PUT", "HEAD", "POST", "DELETE", "PATCH"]),
        prop::collection::vec(
            "(content-type|X-Amz-Date|range|x-amz-meta-a|x-custom)",
            0..3,
        ),
    )
        .prop_map(|(origin, method, headers)| CorsRequest {
            origin,
            method: method.to_owned(),
            headers,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_configurations_are_valid(x in rules()) {
        prop_assert_eq!(validate_rules(&x), vec![]);
    }

    #[test]
    fn normalisation_is_idempotent(x in rules()) {
        let once = normalise(&x);
        prop_assert_eq!(normalise(&once), once.clone());
        prop_assert!(equivalent(&once, &x));
    }

    #[test]
    fn a_configuration_plans_nothing_against_itself(x in rules()) {
        prop_assert_eq!(plan(&x, &x), Plan::Nothing);
    }

    #[test]
    fn comparison_ignores_order_inside_rules_header_case_and_duplicates(x in rules(), seed in any::<u64>()) {
        let live = reshaped(&x, seed);
        prop_assert!(equivalent(&x, &live));
        prop_assert_eq!(plan(&x, &live), Plan::Nothing);
        prop_assert_eq!(fingerprint(&x), fingerprint(&live));
    }

    #[test]
    fn comparison_is_sensitive_to_rule_order(
        x in rules().prop_filter("two rules or more", |x| x.len() >= 2),
        i in any::<prop::sample::Index>(),
        j in any::<prop::sample::Index>(),
    ) {
        let (i, j) = (i.index(x.len()), j.index(x.len()));
        prop_assume!(i != j);
        prop_assume!(normalise(&x[i..=i]) != normalise(&x[j..=j]));
        let mut swapped = x.clone();
        swapped.swap(i, j);
        prop_assert!(!equivalent(&x, &swapped));
        prop_assert_eq!(plan(&x, &swapped), Plan::Put(x.clone()));
        prop_assert_ne!(fingerprint(&x), fingerprint(&swapped));
    }

    #[test]
    fn fingerprints_are_equal_exactly_when_configurations_are_equivalent(a in rules(), b in rules(), seed in any::<u64>(), same in any::<bool>()) {
        // Half the time compare with a reshaped copy, so that the equal side is exercised.
        let b = if same { reshaped(&a, seed) } else { b };
        prop_assert_eq!(fingerprint(&a) == fingerprint(&b), equivalent(&a, &b));
    }

    #[test]
    fn a_shadowed_rule_never_answers(x in rules(), requests in prop::collection::vec(request(), 1..20)) {
        let shadowed: Vec<usize> = shadowed_rules(&x).into_iter().map(|s| s.index).collect();
        for request in &requests {
            if let Some(matched) = evaluate(&x, request).matched_rule {
                prop_assert!(!shadowed.contains(&matched.index), "rule {} answered {:?}", matched.index, request);
            }
        }
    }

    #[test]
    fn equivalent_configurations_answer_alike(x in rules(), seed in any::<u64>(), request in request()) {
        let a = evaluate(&x, &request);
        let b = evaluate(&reshaped(&x, seed), &request);
        prop_assert_eq!(a.allowed, b.allowed);
        prop_assert_eq!(a.matched_rule.map(|m| m.index), b.matched_rule.map(|m| m.index));
    }
}
