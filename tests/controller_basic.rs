//! The controller against the real control plane and moto: apply -> Ready, drift repair and
//! report, no write loop (also against a normalising store), deletion policies (with Report, a
//! later switch to Restore, and a store gone for good), conflicts.
//!
//! Each test runs its own `bucketcors controller` process limited to its own namespace, so the
//! metrics it scrapes count only that test's work. Passes before the interval are forced by
//! changing an annotation (the documented trigger); drift repair is also shown by the interval
//! alone (30s, the minimum CEL allows).

mod support;

use std::time::Duration;

use bucketcors::api::{ChecksumMode, CorsMethod, CorsRule};
use bucketcors::s3::{BucketRef, CorsStore};
use support::cluster::{self, TestCluster};
use support::s3::{S3Server, Server};

const SECS: fn(u64) -> Duration = Duration::from_secs;

async fn setup(test: &str) -> Option<(TestCluster, S3Server)> {
    let c = cluster::cluster(test).await?;
    let moto = support::s3::server(test, Server::Moto)?;
    c.moto_endpoint().await;
    Some((c, moto))
}

fn policy(name: &str, bucket: &str, extra: &str, rules: &str) -> String {
    format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\nmetadata: {{name: {name}}}\n\
         spec:\n  bucket: {bucket}\n  endpointRef: {{kind: S3Endpoint, name: moto}}\n{extra}  rules:\n{rules}"
    )
}

const TWO_RULES: &str = "  - {id: uploads, allowedOrigins: ['https://shop.example'], allowedMethods: [PUT, POST], allowedHeaders: ['Content-Type', 'x-amz-*'], exposeHeaders: [ETag], maxAgeSeconds: 3000}\n  - {id: public, allowedOrigins: ['*'], allowedMethods: [GET, HEAD]}\n";

async fn live(moto: &S3Server, bucket: &str) -> Vec<CorsRule> {
    moto.store(ChecksumMode::Auto)
        .await
        .get(&BucketRef::new(bucket))
        .await
        .expect("read bucket CORS")
}

fn ids(rules: &[CorsRule]) -> Vec<Option<String>> {
    rules.iter().map(|r| r.id.clone()).collect()
}

async fn put_directly(moto: &S3Server, bucket: &str, rules: &[CorsRule]) {
    moto.store(ChecksumMode::Auto)
        .await
        .put(&BucketRef::new(bucket), rules)
        .await
        .expect("put bucket CORS");
}

#[tokio::test]
async fn apply_makes_the_policy_ready_with_exactly_the_rules() {
    let Some((c, moto)) = setup("apply").await else {
        return;
    };
    let bucket = moto.new_bucket("apply").await;
    let ctl = c.start_controller(&[]);
    c.apply(&policy("web", &bucket, "", TWO_RULES)).await;
    let started = std::time::Instant::now();
    c.wait_ready("web", "True", "Applied", SECS(20)).await;
    eprintln!("Ready after {:?}", started.elapsed());

    let rules = live(&moto, &bucket).await;
    assert_eq!(
        ids(&rules),
        [Some("uploads".to_owned()), Some("public".to_owned())],
        "order kept"
    );
    assert_eq!(
        rules[0].allowed_methods,
        [CorsMethod::Put, CorsMethod::Post]
    );
    assert_eq!(rules[0].max_age_seconds, Some(3000));

    let out = cluster::kubectl()
        .args([
            "--kubeconfig",
            c.kubeconfig.to_str().unwrap(),
            "-n",
            &c.namespace,
        ])
        .args(["wait", "--for=condition=Ready", "bcp/web", "--timeout=10s"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = c.status("web").await.unwrap();
    assert_eq!(status.rule_count, Some(2));
    assert_eq!(status.endpoint.as_deref(), Some("S3Endpoint/moto"));
    assert_eq!(
        status.fingerprint,
        Some(bucketcors::cors::fingerprint(&rules))
    );
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(1))
    );
    assert_eq!(
        ctl.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
        1.0
    );
    let (code, body) = ctl.get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        body.contains("bucketcors_policies{state=\"ready\"} 1"),
        "{body}"
    );
    assert_eq!(ctl.get("/healthz").await.unwrap().0, 200);
    assert_eq!(ctl.get("/readyz").await.unwrap().0, 200);
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(c.client.clone(), &c.namespace);
    let events = events.list(&Default::default()).await.expect("list events");
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Applied")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web")),
        "an Applied event for web"
    );

    // A spec change is applied (new generation).
    c.apply(&policy(
        "web",
        &bucket,
        "",
        "  - {allowedOrigins: ['https://new.example'], allowedMethods: [GET]}\n",
    ))
    .await;
    let start = std::time::Instant::now();
    loop {
        let rules = live(&moto, &bucket).await;
        if rules.len() == 1 && rules[0].allowed_origins == ["https://new.example"] {
            break;
        }
        assert!(
            start.elapsed() < SECS(20),
            "spec change not applied: {rules:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    c.wait_ready("web", "True", "Applied", SECS(10)).await;
    assert_eq!(c.status("web").await.unwrap().observed_generation, Some(2));
}

#[tokio::test]
async fn enforce_repairs_drift_within_the_interval_and_report_only_reports() {
    let Some((c, moto)) = setup("drift").await else {
        return;
    };
    let (enforced, reported) = (
        moto.new_bucket("enforce").await,
        moto.new_bucket("report").await,
    );
    let ctl = c.start_controller(&[]);
    c.apply(&policy(
        "enforce",
        &enforced,
        "  interval: 30s\n",
        TWO_RULES,
    ))
    .await;
    c.apply(&policy(
        "report",
        &reported,
        "  interval: 30s\n  driftPolicy: Report\n",
        TWO_RULES,
    ))
    .await;
    c.wait_ready("enforce", "True", "Applied", SECS(20)).await;
    // Report never writes: the empty bucket is reported, not fixed.
    c.wait_ready("report", "False", "DriftReported", SECS(20))
        .await;
    assert!(live(&moto, &reported).await.is_empty());

    let evil = vec![CorsRule {
        allowed_origins: vec!["https://evil.example".into()],
        allowed_methods: vec![CorsMethod::Delete],
        ..CorsRule::default()
    }];
    put_directly(&moto, &enforced, &evil).await;
    let changed_at = std::time::Instant::now();
    // No poke: the interval (30s, ±10%) alone must find and repair it.
    loop {
        let rules = live(&moto, &enforced).await;
        if ids(&rules) == [Some("uploads".to_owned()), Some("public".to_owned())] {
            break;
        }
        assert!(
            changed_at.elapsed() < SECS(40),
            "not repaired within the interval: {rules:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("repaired {:?} after the change", changed_at.elapsed());
    let status = c.status("enforce").await.unwrap();
    assert_eq!(status.drift_count, Some(1));
    assert!(status.last_drift_time.is_some());
    assert_eq!(ctl.metric("bucketcors_drift_detected_total").await, 1.0);

    // Report: make it in sync, then drift it: reported with the diff, bucket left alone.
    put_directly(&moto, &reported, &live(&moto, &enforced).await).await;
    c.poke("report").await;
    c.wait_ready("report", "True", "InSync", SECS(10)).await;
    put_directly(&moto, &reported, &evil).await;
    c.poke("report").await;
    c.wait_ready("report", "False", "DriftReported", SECS(10))
        .await;
    let (_, _, message) = c.condition("report", "Ready").await.unwrap();
    assert!(message.contains("evil.example"), "{message}");
    assert_eq!(c.condition("report", "Stalled").await.unwrap().0, "False");
    assert_eq!(
        c.condition("report", "Reconciling").await.unwrap().0,
        "False"
    );
    tokio::time::sleep(SECS(2)).await;
    assert_eq!(
        live(&moto, &reported).await,
        evil,
        "Report mode wrote to the bucket"
    );
}

#[tokio::test]
async fn no_write_loop_even_with_a_normalising_store() {
    let Some((c, moto)) = setup("noloop").await else {
        return;
    };
    let bucket = moto.new_bucket("noloop").await;
    // The bucket already holds the declared rules in another, equivalent shape: values
    // reordered inside the rule, header names in another case.
    let variant = vec![
        CorsRule {
            id: Some("uploads".into()),
            allowed_origins: vec!["https://shop.example".into()],
            allowed_methods: vec![CorsMethod::Post, CorsMethod::Put],
            allowed_headers: vec!["X-AMZ-*".into(), "content-type".into()],
            expose_headers: vec!["etag".into()],
            max_age_seconds: Some(3000),
        },
        CorsRule {
            id: Some("public".into()),
            allowed_origins: vec!["*".into()],
            allowed_methods: vec![CorsMethod::Head, CorsMethod::Get],
            ..CorsRule::default()
        },
    ];
    put_directly(&moto, &bucket, &variant).await;
    let ctl = c.start_controller(&[]);
    c.apply(&policy("web", &bucket, "  interval: 30s\n", TWO_RULES))
        .await;
    c.wait_ready("web", "True", "InSync", SECS(20)).await;
    let patches = ctl.metric("bucketcors_status_patches_total").await;
    let gets = ctl
        .metric("bucketcors_s3_requests_total{operation=\"get\",outcome=\"success\"}")
        .await;
    let before = c.status("web").await.unwrap();
    // Three intervals.
    tokio::time::sleep(SECS(100)).await;
    let gets_after = ctl
        .metric("bucketcors_s3_requests_total{operation=\"get\",outcome=\"success\"}")
        .await;
    assert!(
        gets_after >= gets + 2.0,
        "the bucket was re-read every interval ({gets} -> {gets_after})"
    );
    assert_eq!(
        ctl.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
        0.0,
        "no PutBucketCors"
    );
    assert_eq!(
        ctl.metric("bucketcors_s3_requests_total{operation=\"put\",outcome=\"success\"}")
            .await,
        0.0
    );
    assert_eq!(
        ctl.metric("bucketcors_status_patches_total").await,
        patches,
        "no status patches in the steady state"
    );
    assert_eq!(c.status("web").await.unwrap(), before);
    assert_eq!(
        live(&moto, &bucket).await,
        variant,
        "the bucket was never rewritten"
    );
}

#[tokio::test]
async fn deletion_policies_leave_the_bucket_as_promised() {
    let Some((c, moto)) = setup("deletion").await else {
        return;
    };
    let original = vec![CorsRule {
        id: Some("before".into()),
        allowed_origins: vec!["https://old.example".into()],
        allowed_methods: vec![CorsMethod::Get],
        ..CorsRule::default()
    }];
    let (del, ret, res, res_empty) = (
        moto.new_bucket("del").await,
        moto.new_bucket("ret").await,
        moto.new_bucket("res").await,
        moto.new_bucket("resempty").await,
    );
    for b in [&del, &ret, &res] {
        put_directly(&moto, b, &original).await;
    }
    let _ctl = c.start_controller(&[]);
    c.apply(&policy(
        "del",
        &del,
        "  deletionPolicy: Delete\n",
        TWO_RULES,
    ))
    .await;
    c.apply(&policy(
        "ret",
        &ret,
        "  deletionPolicy: Retain\n",
        TWO_RULES,
    ))
    .await;
    c.apply(&policy(
        "res",
        &res,
        "  deletionPolicy: Restore\n",
        TWO_RULES,
    ))
    .await;
    c.apply(&policy(
        "resempty",
        &res_empty,
        "  deletionPolicy: Restore\n",
        TWO_RULES,
    ))
    .await;
    for name in ["del", "ret", "res", "resempty"] {
        c.wait_ready(name, "True", "Applied", SECS(20)).await;
    }
    let captured = c
        .status("res")
        .await
        .unwrap()
        .original
        .expect("original captured");
    assert_eq!(captured.rules, original);
    assert!(captured.captured_time.is_some());
    assert_eq!(
        c.status("resempty").await.unwrap().original.unwrap().rules,
        vec![]
    );

    for name in ["del", "ret", "res", "resempty"] {
        c.delete_policy(name).await;
    }
    for name in ["del", "ret", "res", "resempty"] {
        c.wait_gone(name, SECS(20)).await;
    }
    assert_eq!(
        live(&moto, &del).await,
        vec![],
        "Delete removes the configuration"
    );
    assert_eq!(
        ids(&live(&moto, &ret).await),
        [Some("uploads".to_owned()), Some("public".to_owned())],
        "Retain keeps it"
    );
    assert_eq!(
        live(&moto, &res).await,
        original,
        "Restore puts the original back"
    );
    assert_eq!(
        live(&moto, &res_empty).await,
        vec![],
        "Restore of nothing deletes"
    );

    // A bucket that no longer exists does not block deletion.
    let doomed = moto.new_bucket("doomed").await;
    c.apply(&policy("doomed", &doomed, "", TWO_RULES)).await;
    c.wait_ready("doomed", "True", "Applied", SECS(20)).await;
    moto.sdk()
        .delete_bucket_cors()
        .bucket(&doomed)
        .send()
        .await
        .expect("delete cors");
    moto.sdk()
        .delete_bucket()
        .bucket(&doomed)
        .send()
        .await
        .expect("delete bucket");
    c.delete_policy("doomed").await;
    c.wait_gone("doomed", SECS(20)).await;
}

/// Reasons of the Events about policy `name`.
async fn event_reasons(c: &TestCluster, name: &str) -> Vec<String> {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(c.client.clone(), &c.namespace);
    let events = events.list(&Default::default()).await.expect("list events");
    events
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
async fn deletion_of_report_policies_and_a_later_switch_to_restore() {
    let Some((c, moto)) = setup("deletion-report").await else {
        return;
    };
    let original = vec![CorsRule {
        id: Some("before".into()),
        allowed_origins: vec!["https://old.example".into()],
        allowed_methods: vec![CorsMethod::Get],
        ..CorsRule::default()
    }];
    let (report, switched) = (
        moto.new_bucket("report").await,
        moto.new_bucket("switched").await,
    );
    for b in [&report, &switched] {
        put_directly(&moto, b, &original).await;
    }
    let _ctl = c.start_controller(&[]);
    // Report with the default deletionPolicy (Delete): deleting it must not write.
    c.apply(&policy(
        "report",
        &report,
        "  driftPolicy: Report\n",
        TWO_RULES,
    ))
    .await;
    c.apply(&policy("switched", &switched, "", TWO_RULES)).await;
    c.wait_ready("report", "False", "DriftReported", SECS(20))
        .await;
    c.wait_ready("switched", "True", "Applied", SECS(20)).await;
    // Captured under deletionPolicy Delete, by its own field manager.
    assert_eq!(
        c.status("switched").await.unwrap().original.unwrap().rules,
        original
    );
    let managed = c
        .policies()
        .get("switched")
        .await
        .unwrap()
        .metadata
        .managed_fields
        .unwrap_or_default();
    let owns_original = |manager: &str| {
        managed.iter().any(|m| {
            m.manager.as_deref() == Some(manager)
                && m.fields_v1
                    .as_ref()
                    .is_some_and(|f| f.0["f:status"].get("f:original").is_some())
        })
    };
    assert!(owns_original("bucketcors-original"), "{managed:?}");
    assert!(!owns_original("bucketcors"), "{managed:?}");

    // Drift and its repair write the status again; the original stays.
    let drift = CorsRule {
        allowed_origins: vec!["https://drift.example".into()],
        allowed_methods: vec![CorsMethod::Get],
        ..CorsRule::default()
    };
    put_directly(&moto, &switched, &[drift]).await;
    c.poke("switched").await;
    c.wait_ready("switched", "True", "Applied", SECS(20)).await;
    c.apply(&policy(
        "switched",
        &switched,
        "  deletionPolicy: Restore\n",
        TWO_RULES,
    ))
    .await;
    c.poke("switched").await;
    tokio::time::sleep(SECS(2)).await;
    assert_eq!(
        c.status("switched").await.unwrap().original.unwrap().rules,
        original
    );

    for name in ["report", "switched"] {
        c.delete_policy(name).await;
    }
    for name in ["report", "switched"] {
        c.wait_gone(name, SECS(20)).await;
    }
    assert_eq!(
        live(&moto, &report).await,
        original,
        "Report never writes, not even on deletion"
    );
    assert!(
        event_reasons(&c, "report")
            .await
            .contains(&"Retained".to_owned())
    );
    assert_eq!(
        live(&moto, &switched).await,
        original,
        "switched to Restore later: the true original comes back"
    );
}

#[tokio::test]
async fn deletion_against_a_store_that_is_gone_is_abandoned_after_the_cleanup_timeout() {
    let Some((c, moto)) = setup("deletion-timeout").await else {
        return;
    };
    let bucket = moto.new_bucket("gone").await;
    let _ctl = c.start_controller(&["--cleanup-timeout", "8s"]);
    c.apply(&policy("gone", &bucket, "", TWO_RULES)).await;
    c.wait_ready("gone", "True", "Applied", SECS(20)).await;
    // The store goes away for good (nothing listens on port 1).
    c.s3_endpoint("moto", "http://127.0.0.1:1", "moto-keys")
        .await;
    c.delete_policy("gone").await;
    c.wait_gone("gone", SECS(90)).await;
    let reasons = event_reasons(&c, "gone").await;
    assert!(reasons.contains(&"CleanupFailed".to_owned()), "{reasons:?}");
    assert!(
        reasons.contains(&"CleanupAbandoned".to_owned()),
        "{reasons:?}"
    );
    assert_eq!(
        ids(&live(&moto, &bucket).await),
        [Some("uploads".to_owned()), Some("public".to_owned())],
        "left as it is"
    );
}

#[tokio::test]
async fn two_policies_on_one_bucket_one_owner_no_flapping_and_takeover() {
    let Some((c, moto)) = setup("conflict").await else {
        return;
    };
    let bucket = moto.new_bucket("conflict").await;
    let ctl = c.start_controller(&[]);
    c.apply(&policy("first", &bucket, "  interval: 30s\n", TWO_RULES))
        .await;
    c.wait_ready("first", "True", "Applied", SECS(20)).await;
    // Creation timestamps have one-second resolution: make the order unambiguous.
    tokio::time::sleep(SECS(1)).await;
    let other_rules =
        "  - {id: other, allowedOrigins: ['https://other.example'], allowedMethods: [GET]}\n";
    c.apply(&policy("second", &bucket, "  interval: 30s\n", other_rules))
        .await;
    c.wait_ready("second", "False", "Conflict", SECS(20)).await;
    let (_, _, msg) = c.condition("second", "Stalled").await.unwrap();
    assert!(msg.contains(&format!("{}/first", c.namespace)), "{msg}");
    assert_eq!(c.condition("second", "Stalled").await.unwrap().0, "True");

    let snapshot = (
        c.status("first").await.unwrap(),
        c.status("second").await.unwrap(),
    );
    let writes = ctl
        .metric("bucketcors_cors_writes_total{operation=\"put\"}")
        .await;
    // Several interval passes, plus forced ones.
    for _ in 0..3 {
        c.poke("first").await;
        c.poke("second").await;
        tokio::time::sleep(SECS(2)).await;
    }
    tokio::time::sleep(SECS(35)).await;
    assert_eq!(
        (
            c.status("first").await.unwrap(),
            c.status("second").await.unwrap()
        ),
        snapshot,
        "status flapped"
    );
    assert_eq!(
        ctl.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
        writes,
        "the bucket was rewritten"
    );
    assert_eq!(
        ids(&live(&moto, &bucket).await),
        [Some("uploads".to_owned()), Some("public".to_owned())]
    );

    // The owner goes (Retain, so the bucket keeps its rules until the new owner writes).
    c.apply(&policy(
        "first",
        &bucket,
        "  interval: 30s\n  deletionPolicy: Retain\n",
        TWO_RULES,
    ))
    .await;
    c.delete_policy("first").await;
    c.wait_gone("first", SECS(20)).await;
    c.wait_ready("second", "True", "Applied", SECS(20)).await;
    assert_eq!(ids(&live(&moto, &bucket).await), [Some("other".to_owned())]);
}

/// The messages the controller logs about one pass (src/controller.rs).
const PASS_MESSAGES: [&str; 6] = [
    "reconciled",
    "pass stalled",
    "pass failed; retrying",
    "pass failed",
    "cleaned up; releasing the finalizer",
    "finalizer patch raced a newer version of the policy; looking again",
];

#[tokio::test]
async fn json_logs_carry_the_policy_and_bucket_on_every_line_of_a_pass() {
    let Some((c, moto)) = setup("jsonlogs").await else {
        return;
    };
    let (ok_bucket, retry_bucket) = (
        moto.new_bucket("jsonok").await,
        moto.new_bucket("jsonretry").await,
    );
    let missing_bucket = format!("{ok_bucket}-missing");
    let closed = format!("http://127.0.0.1:{}", cluster::free_port());
    // The "down" endpoint works at first, so the policy owns its bucket (deletion only writes
    // to a bucket the policy owned); then it stops answering.
    c.s3_endpoint("down", &cluster::moto_url(), "moto-keys")
        .await;
    // BUCKETCORS_LOG_FORMAT, as the Helm chart sets it (and no --log-format).
    let ctl = c.start_controller_with(&[], &[("BUCKETCORS_LOG_FORMAT", "json")]);
    c.apply(&policy("ok", &ok_bucket, "", TWO_RULES)).await;
    c.apply(&policy("stalled", &missing_bucket, "", TWO_RULES))
        .await;
    c.apply(
        &policy("retrying", &retry_bucket, "", TWO_RULES).replace("name: moto}", "name: down}"),
    )
    .await;
    c.wait_ready("ok", "True", "Applied", SECS(20)).await;
    c.wait_ready("stalled", "False", "NoSuchBucket", SECS(20))
        .await;
    c.wait_ready("retrying", "True", "Applied", SECS(20)).await;
    c.s3_endpoint("down", &closed, "moto-keys").await;
    c.wait_ready("retrying", "False", "Unavailable", SECS(20))
        .await;
    // A cleanup that cannot reach its store fails the pass: kube-runtime's error policy logs it.
    c.delete_policy("retrying").await;
    let start = std::time::Instant::now();
    while !ctl.log().contains("\"message\":\"pass failed\"") {
        assert!(
            start.elapsed() < SECS(20),
            "no failed cleanup pass logged:\n{}",
            ctl.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Bring the endpoint back: the cleanup finishes.
    c.s3_endpoint("down", &cluster::moto_url(), "moto-keys")
        .await;
    c.wait_gone("retrying", SECS(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let buckets = [
        ("ok", ok_bucket.as_str()),
        ("stalled", missing_bucket.as_str()),
        ("retrying", retry_bucket.as_str()),
    ];
    let log = ctl.log();
    let mut seen: Vec<(String, String)> = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let message = v["message"].as_str().unwrap_or_default();
        let target = v["target"].as_str().unwrap_or_default();
        // Lines of a pass: what the controller says about one, and whatever the modules a
        // pass runs (reconcile, the S3 adapter, the event publisher) say.
        let pass_target = [
            "bucketcors::reconcile",
            "bucketcors::s3",
            "bucketcors::telemetry::events",
        ]
        .iter()
        .any(|t| target.starts_with(t));
        if !PASS_MESSAGES.contains(&message) && !pass_target {
            continue;
        }
        let span = &v["span"];
        assert_eq!(span["namespace"], c.namespace.as_str(), "{line}");
        let policy = span["policy"]
            .as_str()
            .unwrap_or_else(|| panic!("no policy on {line}"));
        let bucket = buckets
            .iter()
            .find(|(p, _)| *p == policy)
            .unwrap_or_else(|| panic!("unknown policy {policy}: {line}"))
            .1;
        assert_eq!(span["bucket"], bucket, "{line}");
        seen.push((policy.to_owned(), message.to_owned()));
    }
    for (policy, message) in [
        ("ok", "reconciled"),
        ("stalled", "pass stalled"),
        ("retrying", "pass failed; retrying"),
        ("retrying", "pass failed"),
        ("retrying", "cleaned up; releasing the finalizer"),
    ] {
        assert!(
            seen.iter().any(|(p, m)| p == policy && m == message),
            "no {message:?} line for {policy}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn without_the_flag_a_kubeconfig_list_is_merged_as_kubectl_does() {
    let Some((c, moto)) = setup("kubeconfiglist").await else {
        return;
    };
    let bucket = moto.new_bucket("kubeconfiglist").await;
    // A second file that only adds an unrelated cluster; listed first, so the current
    // context can only come from merging in the real one.
    let dir = tempfile::tempdir().expect("temp dir");
    let other = dir.path().join("other.kubeconfig");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: Config\n\
         clusters: [{name: elsewhere, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: nobody, user: {token: nothing}}]\n\
         contexts: [{name: elsewhere, context: {cluster: elsewhere, user: nobody}}]\n",
    )
    .expect("write kubeconfig");
    let list =
        std::env::join_paths([other.as_path(), c.kubeconfig.as_path()]).expect("KUBECONFIG list");
    let ctl = c.start_controller_with(&[], &[("KUBECONFIG", list.to_str().unwrap())]);
    ctl.wait_ready(SECS(20)).await;
    c.apply(&policy("web", &bucket, "", TWO_RULES)).await;
    c.wait_ready("web", "True", "Applied", SECS(20)).await;
}

#[tokio::test]
async fn the_policies_gauge_counts_drift_apart_and_forgets_policies_that_leave_the_watch() {
    let Some((c, moto)) = setup("gauge").await else {
        return;
    };
    let (ready_bucket, report_bucket) = (
        moto.new_bucket("gready").await,
        moto.new_bucket("greport").await,
    );
    let ctl = c.start_controller(&["--selector", "shard=a"]);
    let labelled = |name: &str, bucket: &str, shard: &str, extra: &str| {
        policy(name, bucket, extra, TWO_RULES).replace(
            &format!("metadata: {{name: {name}}}"),
            &format!("metadata: {{name: {name}, labels: {{shard: {shard}}}}}"),
        )
    };
    c.apply(&labelled("ready", &ready_bucket, "a", "")).await;
    c.apply(&labelled(
        "report",
        &report_bucket,
        "a",
        "  driftPolicy: Report\n",
    ))
    .await;
    c.wait_ready("ready", "True", "Applied", SECS(20)).await;
    c.wait_ready("report", "False", "DriftReported", SECS(20))
        .await;
    let gauge = |state: &'static str| {
        let ctl = &ctl;
        async move {
            ctl.metric(&format!("bucketcors_policies{{state=\"{state}\"}}"))
                .await
        }
    };
    assert_eq!(
        (
            gauge("ready").await,
            gauge("drifted").await,
            gauge("stalled").await
        ),
        (1.0, 1.0, 0.0),
        "DriftReported is not Stalled"
    );

    // Out of the selector, without any cleanup pass: no longer counted.
    c.apply(&labelled("ready", &ready_bucket, "b", "")).await;
    let start = std::time::Instant::now();
    while gauge("ready").await != 0.0 {
        assert!(
            start.elapsed() < SECS(10),
            "a policy outside --selector is still counted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(gauge("drifted").await, 1.0);
    assert_eq!(
        c.condition("ready", "Ready").await.unwrap().0,
        "True",
        "the controller left it alone"
    );
}
