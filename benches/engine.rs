//! Micro-benchmarks of the pure CORS engine (validate, normalise, plan, fingerprint, diff,
//! XML, evaluate, shadow detection), for one rule and for the S3 maximum of 100 rules.
//!
//! Run with `make bench-engine` (or `cargo bench --bench engine`). Runs are kept short
//! (sample size 20, about 2 s of measurement per case) so the whole suite stays under two
//! minutes on a small shared machine; the figures are reported in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use bucketcors::api::{BucketCorsPolicySpec, DeletionPolicy, DriftPolicy};
use bucketcors::cors::{self, CorsMethod, CorsRequest, CorsRule};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Rule counts measured: the common case and S3's limit.
const SIZES: [usize; 2] = [1, 100];

/// A realistic rule: a few origins (one wildcard), several methods and headers, an id.
fn rule(index: usize) -> CorsRule {
    CorsRule {
        id: Some(format!("rule-{index}")),
        allowed_origins: vec![
            format!("https://app{index}.example.com"),
            format!("https://*.tenant{index}.example.com"),
            "http://localhost:3000".to_owned(),
        ],
        allowed_methods: vec![CorsMethod::Get, CorsMethod::Put, CorsMethod::Head],
        allowed_headers: vec![
            "Authorization".to_owned(),
            "Content-Type".to_owned(),
            "x-amz-*".to_owned(),
        ],
        expose_headers: vec!["ETag".to_owned(), "x-amz-request-id".to_owned()],
        max_age_seconds: Some(3000),
    }
}

fn rules(count: usize) -> Vec<CorsRule> {
    (0..count).map(rule).collect()
}

/// The same rules in the shape a store may hand them back: lists reversed inside each rule and
/// header names in another case. Equivalent, so planning must find nothing to do.
fn as_returned_by_store(rules: &[CorsRule]) -> Vec<CorsRule> {
    rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.allowed_origins.reverse();
            r.allowed_methods.reverse();
            r.allowed_headers = r
                .allowed_headers
                .iter()
                .rev()
                .map(|h| h.to_ascii_lowercase())
                .collect();
            r.expose_headers = r
                .expose_headers
                .iter()
                .rev()
                .map(|h| h.to_ascii_uppercase())
                .collect();
            r
        })
        .collect()
}

/// The rules with the last one changed, as after an out-of-band edit of one rule.
fn drifted(rules: &[CorsRule]) -> Vec<CorsRule> {
    let mut live = rules.to_vec();
    if let Some(last) = live.last_mut() {
        last.allowed_origins
            .push("https://evil.example.net".to_owned());
        last.max_age_seconds = Some(1);
    }
    live
}

fn spec(count: usize) -> BucketCorsPolicySpec {
    BucketCorsPolicySpec {
        bucket: "bench-bucket".to_owned(),
        endpoint_ref: None,
        expected_bucket_owner: None,
        rules: rules(count),
        drift_policy: DriftPolicy::Enforce,
        deletion_policy: DeletionPolicy::Delete,
        interval: None,
        suspend: false,
    }
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    for size in SIZES {
        let desired = rules(size);
        let in_sync = as_returned_by_store(&desired);
        let changed = drifted(&desired);
        let policy = spec(size);
        assert!(
            cors::validate_spec(&policy).is_empty(),
            "benchmark policy must be valid"
        );
        assert!(
            !cors::plan(&desired, &in_sync).is_change(),
            "store shape must be equivalent"
        );
        assert!(
            cors::plan(&desired, &changed).is_change(),
            "drifted rules must need a write"
        );

        group.bench_with_input(BenchmarkId::new("validate_spec", size), &policy, |b, p| {
            b.iter(|| cors::validate_spec(black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("normalise", size), &in_sync, |b, r| {
            b.iter(|| cors::normalise(black_box(r)))
        });
        group.bench_with_input(
            BenchmarkId::new("plan_in_sync", size),
            &in_sync,
            |b, live| b.iter(|| cors::plan(black_box(&desired), black_box(live))),
        );
        group.bench_with_input(
            BenchmarkId::new("plan_drifted", size),
            &changed,
            |b, live| b.iter(|| cors::plan(black_box(&desired), black_box(live))),
        );
        group.bench_with_input(BenchmarkId::new("fingerprint", size), &desired, |b, r| {
            b.iter(|| cors::fingerprint(black_box(r)))
        });
        group.bench_with_input(
            BenchmarkId::new("diff_summary", size),
            &changed,
            |b, live| b.iter(|| cors::diff_summary(black_box(&desired), black_box(live))),
        );
        group.bench_with_input(
            BenchmarkId::new("configuration_xml", size),
            &desired,
            |b, r| b.iter(|| cors::configuration_xml(black_box(r))),
        );

        // A preflight only the last rule answers: every earlier rule is examined and refused.
        let last = size - 1;
        let request = CorsRequest {
            origin: format!("https://app{last}.example.com"),
            method: "PUT".to_owned(),
            headers: vec!["authorization".to_owned(), "x-amz-date".to_owned()],
        };
        let answer = cors::evaluate(&desired, &request);
        assert_eq!(
            answer.matched_rule.map(|m| m.index),
            Some(last),
            "only the last rule matches"
        );
        group.bench_with_input(
            BenchmarkId::new("evaluate_last_rule", size),
            &request,
            |b, req| b.iter(|| cors::evaluate(black_box(&desired), black_box(req))),
        );
        // A preflight no rule answers: every rule is examined.
        let refused = CorsRequest {
            origin: "https://x.tenant.example.org".to_owned(),
            method: "GET".to_owned(),
            headers: vec![],
        };
        assert!(
            !cors::evaluate(&desired, &refused).allowed,
            "no rule matches"
        );
        group.bench_with_input(
            BenchmarkId::new("evaluate_refused", size),
            &refused,
            |b, req| b.iter(|| cors::evaluate(black_box(&desired), black_box(req))),
        );
        // Shadow detection compares every rule with every earlier one (n^2 / 2 pairs).
        assert!(
            cors::shadowed_rules(&desired).is_empty(),
            "no benchmark rule is shadowed"
        );
        group.bench_with_input(
            BenchmarkId::new("shadowed_rules", size),
            &desired,
            |b, r| b.iter(|| cors::shadowed_rules(black_box(r))),
        );
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
