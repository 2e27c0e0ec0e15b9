//! The reconcile pass against fakes of both sides: a fake cluster (endpoints, Secrets, other
//! policies, status writes) and a fake store that records every call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::api::ObjectMeta;

use super::*;
use crate::api::{
    BucketCorsPolicySpec, ClusterS3EndpointSpec, CorsMethod, CorsRule, CredentialSource,
    DeletionPolicy, EndpointCredentials, EndpointKind, EndpointRef, EndpointSettings,
    S3EndpointSpec, SecretReference,
};
use crate::s3::{Credentials, StoreError, StoreErrorKind};

type Log = Arc<Mutex<Vec<String>>>;
/// The statuses the fake API server holds, by `namespace/name`.
type Server = Arc<Mutex<BTreeMap<String, BucketCorsPolicyStatus>>>;

#[derive(Default)]
struct FakeView {
    s3_endpoints: Vec<Arc<S3Endpoint>>,
    cluster_endpoints: Vec<Arc<ClusterS3Endpoint>>,
    policies: Vec<Arc<BucketCorsPolicy>>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    secrets: Mutex<BTreeMap<(String, String), SecretData>>,
    /// What the API server has (shared with [`FakeSink`]); the policy a pass gets may be older.
    server: Server,
    /// Secret reads fail as they do when RBAC does not grant them (403), or transiently.
    secret_error: Mutex<Option<bool>>,
}

#[async_trait]
impl ClusterView for FakeView {
    fn s3_endpoint(&self, namespace: &str, name: &str) -> Option<Arc<S3Endpoint>> {
        self.s3_endpoints
            .iter()
            .find(|e| {
                e.metadata.namespace.as_deref() == Some(namespace)
                    && e.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }
    fn cluster_s3_endpoint(&self, name: &str) -> Option<Arc<ClusterS3Endpoint>> {
        self.cluster_endpoints
            .iter()
            .find(|e| e.metadata.name.as_deref() == Some(name))
            .cloned()
    }
    fn policies(&self) -> Vec<Arc<BucketCorsPolicy>> {
        self.policies.clone()
    }
    async fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ViewError> {
        Ok(self.namespaces.get(namespace).cloned())
    }
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<SecretData>, ViewError> {
        if let Some(forbidden) = *self.secret_error.lock().unwrap() {
            return Err(ViewError {
                message: "secrets is forbidden".into(),
                forbidden,
            });
        }
        Ok(self
            .secrets
            .lock()
            .unwrap()
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned())
    }
    async fn fresh_status(
        &self,
        policy: &BucketCorsPolicy,
    ) -> Result<Option<BucketCorsPolicyStatus>, ViewError> {
        // A policy the fake server has no status for is taken as the test built it.
        Ok(self
            .server
            .lock()
            .unwrap()
            .get(&policy.key())
            .cloned()
            .or_else(|| policy.status.clone()))
    }
}

/// The status subresource as the real sink uses it with server-side apply: `write_status`
/// (field manager `bucketcors`) replaces every field but `original`, which belongs to the
/// manager of `write_original` alone.
struct FakeSink {
    log: Log,
    written: Mutex<Vec<BucketCorsPolicyStatus>>,
    server: Server,
}

impl FakeSink {
    /// The status the API server has for `policy`.
    fn on_server(&self, policy: &BucketCorsPolicy) -> Option<BucketCorsPolicyStatus> {
        self.server.lock().unwrap().get(&policy.key()).cloned()
    }
}

#[async_trait]
impl StatusSink for FakeSink {
    async fn write_status(
        &self,
        policy: &BucketCorsPolicy,
        status: &BucketCorsPolicyStatus,
    ) -> Result<(), ViewError> {
        self.log.lock().unwrap().push("status".into());
        self.written.lock().unwrap().push(status.clone());
        let mut server = self.server.lock().unwrap();
        let kept = server.get(&policy.key()).and_then(|s| s.original.clone());
        let mut next = status.clone();
        next.original = kept;
        server.insert(policy.key(), next);
        Ok(())
    }

    async fn write_original(
        &self,
        policy: &BucketCorsPolicy,
        original: &OriginalConfiguration,
    ) -> Result<(), ViewError> {
        self.log.lock().unwrap().push("original".into());
        let mut server = self.server.lock().unwrap();
        server.entry(policy.key()).or_default().original = Some(original.clone());
        Ok(())
    }
}

/// A bucket in memory. With `normalising`, reads return each rule in another equivalent shape
/// (values reversed, headers upper-cased), as some stores do.
struct FakeStore {
    log: Log,
    rules: Mutex<Option<Vec<CorsRule>>>,
    normalising: bool,
    /// Reads return rules without ids, as a store that does not keep them would.
    drops_ids: bool,
    fail: Mutex<Option<StoreErrorKind>>,
}

impl FakeStore {
    fn op(&self, op: Operation, bucket: &BucketRef) -> Result<(), StoreError> {
        self.log.lock().unwrap().push(op.as_str().into());
        if let Some(kind) = *self.fail.lock().unwrap() {
            return Err(StoreError::new(kind, op, &bucket.name, "injected"));
        }
        if self.rules.lock().unwrap().is_none() {
            return Err(StoreError::new(
                StoreErrorKind::NoSuchBucket,
                op,
                &bucket.name,
                "NoSuchBucket",
            ));
        }
        Ok(())
    }
    fn live(&self) -> Vec<CorsRule> {
        self.rules.lock().unwrap().clone().unwrap_or_default()
    }
}

#[async_trait]
impl CorsStore for FakeStore {
    async fn get(&self, bucket: &BucketRef) -> Result<Vec<CorsRule>, StoreError> {
        self.op(Operation::Get, bucket)?;
        let mut rules = self.live();
        if self.drops_ids {
            rules.iter_mut().for_each(|r| r.id = None);
        }
        if self.normalising {
            for r in &mut rules {
                r.allowed_origins.reverse();
                r.allowed_methods.reverse();
                r.allowed_headers = r
                    .allowed_headers
                    .iter()
                    .rev()
                    .map(|h| h.to_ascii_uppercase())
                    .collect();
                r.expose_headers = r
                    .expose_headers
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect();
            }
        }
        Ok(rules)
    }
    async fn put(&self, bucket: &BucketRef, rules: &[CorsRule]) -> Result<(), StoreError> {
        self.op(Operation::Put, bucket)?;
        *self.rules.lock().unwrap() = Some(rules.to_vec());
        Ok(())
    }
    async fn delete(&self, bucket: &BucketRef) -> Result<(), StoreError> {
        self.op(Operation::Delete, bucket)?;
        *self.rules.lock().unwrap() = Some(Vec::new());
        Ok(())
    }
}

struct FakeProvider {
    store: Arc<FakeStore>,
    seen: Mutex<Vec<ResolvedEndpoint>>,
}

#[async_trait]
impl StoreProvider for FakeProvider {
    async fn store(
        &self,
        endpoint: &ResolvedEndpoint,
    ) -> Result<Arc<dyn CorsStore>, ReconcileError> {
        self.seen.lock().unwrap().push(endpoint.clone());
        Ok(self.store.clone())
    }
}

struct World {
    log: Log,
    view: FakeView,
    sink: FakeSink,
    provider: FakeProvider,
    default: EndpointConfig,
}

impl World {
    fn new(bucket: Option<Vec<CorsRule>>) -> Self {
        Self::with_store(bucket, false)
    }
    fn with_store(bucket: Option<Vec<CorsRule>>, normalising: bool) -> Self {
        let log: Log = Arc::default();
        let store = Arc::new(FakeStore {
            log: log.clone(),
            rules: Mutex::new(bucket),
            normalising,
            drops_ids: false,
            fail: Mutex::new(None),
        });
        let server = Server::default();
        Self {
            view: FakeView {
                server: server.clone(),
                ..FakeView::default()
            },
            sink: FakeSink {
                log: log.clone(),
                written: Mutex::default(),
                server,
            },
            provider: FakeProvider {
                store,
                seen: Mutex::default(),
            },
            default: EndpointConfig {
                url: Some("http://127.0.0.1:1".into()),
                ..EndpointConfig::default()
            },
            log,
        }
    }
    fn deps(&self) -> Deps<'_> {
        Deps {
            view: &self.view,
            stores: &self.provider,
            sink: &self.sink,
            default_endpoint: &self.default,
            cleanup_timeout: CLEANUP_TIMEOUT,
        }
    }
    fn store(&self) -> &FakeStore {
        &self.provider.store
    }
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
    /// One pass; the policy then gets the status the API server has, as a cache would.
    async fn pass(&self, policy: &mut BucketCorsPolicy, secs: i64) -> Outcome {
        let out = reconcile_once(policy, self.deps(), at(secs))
            .await
            .expect("fake API never fails");
        policy.status = self.sink.on_server(policy).or(Some(out.status.clone()));
        out
    }
    /// The deletion pass at `secs`, after a first attempt or one that failed with `last`.
    async fn cleanup_at(
        &self,
        policy: &BucketCorsPolicy,
        secs: i64,
        last: Option<Reason>,
    ) -> CleanupOutcome {
        cleanup_once(policy, self.deps(), at(secs), last).await
    }
    /// The first deletion attempt.
    async fn cleanup(&self, policy: &BucketCorsPolicy) -> CleanupOutcome {
        self.cleanup_at(policy, 0, None).await
    }
}

const CLEANUP_TIMEOUT: Duration = Duration::from_secs(3600);

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn rule(origin: &str, methods: &[CorsMethod]) -> CorsRule {
    CorsRule {
        allowed_origins: vec![origin.into()],
        allowed_methods: methods.to_vec(),
        ..CorsRule::default()
    }
}

fn rich_rule() -> CorsRule {
    CorsRule {
        id: Some("uploads".into()),
        allowed_origins: vec!["https://a.example".into(), "https://b.example".into()],
        allowed_methods: vec![CorsMethod::Get, CorsMethod::Put],
        allowed_headers: vec!["Content-Type".into(), "x-amz-*".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(3000),
    }
}

fn policy(ns: &str, name: &str, created: i64, rules: Vec<CorsRule>) -> BucketCorsPolicy {
    let mut p = BucketCorsPolicy::new(
        name,
        BucketCorsPolicySpec {
            bucket: "assets".into(),
            endpoint_ref: None,
            expected_bucket_owner: None,
            rules,
            drift_policy: DriftPolicy::Enforce,
            deletion_policy: DeletionPolicy::Delete,
            interval: None,
            suspend: false,
        },
    );
    p.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        generation: Some(1),
        uid: Some(format!("uid-{ns}-{name}")),
        creation_timestamp: Some(Time(at(created))),
        ..ObjectMeta::default()
    };
    p
}

fn ready(status: &BucketCorsPolicyStatus) -> (String, String) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    (c.status.clone(), c.reason.clone())
}

fn secret(pairs: &[(&str, &str)], rv: &str) -> SecretData {
    SecretData {
        resource_version: Some(rv.into()),
        data: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
    }
}

#[tokio::test]
async fn first_visit_writes_progressing_before_reading_then_applies() {
    let w = World::new(Some(vec![]));
    let mut p = policy(
        "shop",
        "web",
        0,
        vec![rich_rule(), rule("*", &[CorsMethod::Get])],
    );
    let out = w.pass(&mut p, 0).await;
    assert_eq!(
        w.take_log(),
        ["status", "get", "original", "put", "get", "status"]
    );
    let first = &w.sink.written.lock().unwrap()[0];
    assert_eq!(ready(first), ("Unknown".into(), "Progressing".into()));
    assert_eq!(out.reason, Reason::Applied);
    assert_eq!(out.wrote, Some(Operation::Put));
    assert_eq!(out.status_writes, 3);
    assert_eq!(
        w.store().live(),
        p.spec.rules,
        "exactly the declared rules, in order"
    );
    assert_eq!(ready(&out.status), ("True".into(), "Applied".into()));
    assert_eq!(
        out.status.fingerprint,
        Some(cors::fingerprint(&p.spec.rules))
    );
    assert_eq!(out.status.endpoint.as_deref(), Some("default"));
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].reason, "Applied");
}

#[tokio::test]
async fn steady_state_makes_no_writes_of_any_kind() {
    let w = World::new(Some(vec![]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    w.pass(&mut p, 0).await;
    w.take_log();
    for i in 1..20 {
        let out = w.pass(&mut p, i * 30).await;
        assert_eq!(out.status_writes, 0, "pass {i}");
        assert!(out.events.is_empty());
        assert_eq!(out.wrote, None);
    }
    assert!(w.take_log().iter().all(|op| op == "get"));
}

#[tokio::test]
async fn a_normalising_store_is_in_sync() {
    let w = World::with_store(Some(vec![rich_rule()]), true);
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    let out = w.pass(&mut p, 0).await;
    assert_eq!(out.reason, Reason::InSync);
    assert_eq!(w.take_log(), ["status", "get", "status"]);
    for i in 1..5 {
        assert_eq!(w.pass(&mut p, i * 30).await.status_writes, 0);
    }
    assert_eq!(w.take_log(), ["get", "get", "get", "get"]);
}

#[tokio::test]
async fn enforce_repairs_drift_and_counts_it() {
    let w = World::new(Some(vec![]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    w.pass(&mut p, 0).await;
    *w.store().rules.lock().unwrap() =
        Some(vec![rule("https://evil.example", &[CorsMethod::Delete])]);
    w.take_log();
    let out = w.pass(&mut p, 60).await;
    assert_eq!(w.take_log(), ["get", "put", "get", "status"]);
    assert!(out.drift_detected);
    assert_eq!(out.events[0].reason, "DriftRepaired");
    assert_eq!(out.status.drift_count, Some(1));
    assert_eq!(w.store().live(), vec![rich_rule()]);
}

#[tokio::test]
async fn report_mode_never_writes_and_says_what_differs() {
    let w = World::new(Some(vec![rich_rule()]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.drift_policy = DriftPolicy::Report;
    w.pass(&mut p, 0).await;
    *w.store().rules.lock().unwrap() = Some(vec![rule("https://evil.example", &[CorsMethod::Get])]);
    w.take_log();
    let out = w.pass(&mut p, 60).await;
    assert_eq!(w.take_log(), ["get", "status"]);
    assert_eq!(ready(&out.status), ("False".into(), "DriftReported".into()));
    let msg = &out.status.conditions[0].message;
    assert!(msg.contains("https://evil.example"), "{msg}");
    assert!(
        out.status
            .conditions
            .iter()
            .filter(|c| c.type_ != "Ready")
            .all(|c| c.status == "False")
    );
    assert_eq!(out.events[0].reason, "DriftReported");
    assert_eq!(out.status.drift_count, Some(1));
    // Still drifted: nothing new to say, nothing written.
    let again = w.pass(&mut p, 120).await;
    assert_eq!(again.status_writes, 0);
    assert!(again.events.is_empty());
    assert_eq!(
        w.store().live(),
        vec![rule("https://evil.example", &[CorsMethod::Get])]
    );
}

#[tokio::test]
async fn suspend_makes_no_store_call() {
    let w = World::new(Some(vec![]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.suspend = true;
    let out = w.pass(&mut p, 0).await;
    assert_eq!(w.take_log(), ["status"]);
    assert!(w.provider.seen.lock().unwrap().is_empty());
    assert_eq!(ready(&out.status), ("Unknown".into(), "Suspended".into()));
}

#[tokio::test]
async fn restore_captures_the_original_in_status_before_the_first_write() {
    let before = vec![rule("https://old.example", &[CorsMethod::Get])];
    let w = World::new(Some(before.clone()));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.deletion_policy = DeletionPolicy::Restore;
    let out = w.pass(&mut p, 0).await;
    assert_eq!(
        w.take_log(),
        ["status", "get", "original", "put", "get", "status"],
        "captured before the put"
    );
    let on_server = w.sink.on_server(&p).unwrap().original.unwrap();
    assert_eq!(on_server.rules, before);
    assert_eq!(on_server.captured_time, Some(status::time(at(0))));
    assert_eq!(out.status.original.as_ref().unwrap().rules, before);
    // Later writes never replace it.
    *w.store().rules.lock().unwrap() = Some(vec![]);
    let out = w.pass(&mut p, 60).await;
    assert_eq!(out.status.original.as_ref().unwrap().rules, before);
    // Deletion puts it back.
    match w.cleanup(&p).await {
        CleanupOutcome::Done { wrote, .. } => assert_eq!(wrote, Some(Operation::Put)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.store().live(), before);
}

#[tokio::test]
async fn a_stale_cache_never_recaptures_the_original() {
    let before = vec![rule("https://old.example", &[CorsMethod::Get])];
    let w = World::new(Some(before.clone()));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.deletion_policy = DeletionPolicy::Restore;
    let stale = p.clone();
    w.pass(&mut p, 0).await;
    // Someone changes the bucket; the next pass runs on a cached object from before the capture.
    *w.store().rules.lock().unwrap() =
        Some(vec![rule("https://other.example", &[CorsMethod::Get])]);
    let mut stale = stale;
    let out = w.pass(&mut stale, 5).await;
    assert_eq!(out.wrote, Some(Operation::Put));
    assert_eq!(out.status.original.as_ref().unwrap().rules, before);
}

#[tokio::test]
async fn restore_of_a_bucket_that_had_nothing_deletes() {
    let w = World::new(Some(vec![]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.deletion_policy = DeletionPolicy::Restore;
    w.pass(&mut p, 0).await;
    assert_eq!(
        p.status.as_ref().unwrap().original.as_ref().unwrap().rules,
        vec![]
    );
    assert!(matches!(
        w.cleanup(&p).await,
        CleanupOutcome::Done {
            wrote: Some(Operation::Delete),
            ..
        }
    ));
    assert_eq!(w.store().live(), vec![]);
}

#[tokio::test]
async fn delete_and_retain() {
    let w = World::new(Some(vec![]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    w.pass(&mut p, 0).await;
    p.spec.deletion_policy = DeletionPolicy::Retain;
    assert!(matches!(
        w.cleanup(&p).await,
        CleanupOutcome::Done { wrote: None, .. }
    ));
    assert_eq!(w.store().live(), vec![rich_rule()]);
    p.spec.deletion_policy = DeletionPolicy::Delete;
    assert!(matches!(
        w.cleanup(&p).await,
        CleanupOutcome::Done {
            wrote: Some(Operation::Delete),
            ..
        }
    ));
    assert_eq!(w.store().live(), vec![]);
    // Nothing left to delete: no second write.
    w.take_log();
    assert!(matches!(
        w.cleanup(&p).await,
        CleanupOutcome::Done { wrote: None, .. }
    ));
    assert_eq!(w.take_log(), ["get"]);
}

#[tokio::test]
async fn deletion_lets_go_when_the_bucket_or_endpoint_is_gone_and_retries_transient_failures() {
    let w = World::new(Some(vec![]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    w.pass(&mut p, 0).await;
    *w.store().rules.lock().unwrap() = None;
    match w.cleanup(&p).await {
        CleanupOutcome::Done {
            events,
            wrote: None,
        } => {
            assert!(events[0].warning);
            assert!(
                events[0].note.contains("no such bucket"),
                "{}",
                events[0].note
            );
        }
        other => panic!("{other:?}"),
    }
    let mut gone = p.clone();
    gone.spec.endpoint_ref = Some(EndpointRef {
        kind: EndpointKind::S3Endpoint,
        name: "missing".into(),
    });
    assert!(matches!(
        w.cleanup(&gone).await,
        CleanupOutcome::Done { wrote: None, .. }
    ));
    *w.store().rules.lock().unwrap() = Some(vec![rich_rule()]);
    *w.store().fail.lock().unwrap() = Some(StoreErrorKind::Transient);
    assert!(matches!(w.cleanup(&p).await, CleanupOutcome::Retry { .. }));
    *w.store().fail.lock().unwrap() = Some(StoreErrorKind::AccessDenied);
    assert!(matches!(w.cleanup(&p).await, CleanupOutcome::Retry { .. }));
}

#[tokio::test]
async fn the_oldest_policy_owns_the_bucket() {
    let mut w = World::new(Some(vec![]));
    let old = policy("b-ns", "first", 0, vec![rich_rule()]);
    let mut young = policy("a-ns", "second", 10, vec![rule("*", &[CorsMethod::Get])]);
    w.view.policies = vec![Arc::new(old.clone()), Arc::new(young.clone())];
    let out = w.pass(&mut young, 20).await;
    assert_eq!(out.reason, Reason::Conflict);
    assert!(out.status.conditions[0].message.contains("b-ns/first"));
    assert_eq!(ready(&out.status).0, "False");
    assert!(
        w.provider.seen.lock().unwrap().is_empty(),
        "a loser never talks to the store"
    );
    // No flapping: same answer, no write, no event.
    for i in 0..5 {
        let again = w.pass(&mut young, 30 + i).await;
        assert_eq!(
            (again.reason, again.status_writes, again.events.len()),
            (Reason::Conflict, 0, 0)
        );
    }
    // Deleting the loser leaves the bucket alone.
    assert!(matches!(
        w.cleanup(&young).await,
        CleanupOutcome::Done { wrote: None, .. }
    ));
    // Same creation time: namespace/name decides.
    let mut tie = policy("z-ns", "x", 0, vec![rich_rule()]);
    w.view.policies.push(Arc::new(tie.clone()));
    assert_eq!(w.pass(&mut tie, 40).await.reason, Reason::Conflict);
    // A policy on the same bucket name at another store does not compete.
    let mut elsewhere = policy("c-ns", "other", 20, vec![rich_rule()]);
    w.view.s3_endpoints.push(Arc::new(s3_endpoint(
        "c-ns",
        "minio",
        "http://127.0.0.1:2",
        None,
    )));
    elsewhere.spec.endpoint_ref = Some(EndpointRef {
        kind: EndpointKind::S3Endpoint,
        name: "minio".into(),
    });
    w.view.policies.push(Arc::new(elsewhere.clone()));
    assert_eq!(w.pass(&mut elsewhere, 50).await.reason, Reason::Applied);
    // The owner goes away: the next oldest takes over.
    w.view.policies.retain(|p| p.key() != "b-ns/first");
    assert_eq!(
        w.pass(&mut young, 60).await.reason,
        Reason::Conflict,
        "z-ns/x is older than a-ns/second"
    );
    w.view.policies.retain(|p| p.key() != "z-ns/x");
    let out = w.pass(&mut young, 70).await;
    assert_eq!(out.reason, Reason::Applied);
    assert_eq!(ready(&out.status).0, "True");
}

fn s3_endpoint(ns: &str, name: &str, url: &str, secret: Option<SecretReference>) -> S3Endpoint {
    let mut e = S3Endpoint::new(
        name,
        S3EndpointSpec {
            settings: EndpointSettings {
                url: Some(url.into()),
                region: "us-east-1".into(),
                force_path_style: true,
                credentials: EndpointCredentials {
                    source: if secret.is_some() {
                        CredentialSource::Secret
                    } else {
                        CredentialSource::Default
                    },
                    secret_ref: secret,
                    assume_role: None,
                },
                ..EndpointSettings::default()
            },
        },
    );
    e.metadata.namespace = Some(ns.into());
    e.metadata.resource_version = Some("7".into());
    e
}

#[tokio::test]
async fn secrets_resolve_into_credentials_and_their_version_into_the_identity() {
    let mut w = World::new(Some(vec![]));
    let sref = SecretReference {
        name: "keys".into(),
        namespace: None,
    };
    w.view.s3_endpoints.push(Arc::new(s3_endpoint(
        "shop",
        "gw",
        "http://127.0.0.1:3",
        Some(sref),
    )));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.endpoint_ref = Some(EndpointRef {
        kind: EndpointKind::S3Endpoint,
        name: "gw".into(),
    });

    let out = w.pass(&mut p, 0).await;
    assert_eq!(out.reason, Reason::SecretNotFound);
    assert!(
        out.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );

    let key = ("shop".to_owned(), "keys".to_owned());
    w.view
        .secrets
        .lock()
        .unwrap()
        .insert(key.clone(), secret(&[("accessKeyId", "AK")], "1"));
    let out = w.pass(&mut p, 10).await;
    assert_eq!(out.reason, Reason::SecretNotFound);
    assert!(out.status.conditions[0].message.contains("secretAccessKey"));

    w.view.secrets.lock().unwrap().insert(
        key.clone(),
        secret(&[("accessKeyId", "AK"), ("secretAccessKey", "s3cr3t")], "2"),
    );
    let out = w.pass(&mut p, 20).await;
    assert_eq!(out.reason, Reason::Applied);
    assert_eq!(out.status.endpoint.as_deref(), Some("S3Endpoint/gw"));
    w.view.secrets.lock().unwrap().insert(
        key,
        secret(&[("accessKeyId", "AK"), ("secretAccessKey", "n3w")], "3"),
    );
    w.pass(&mut p, 30).await;
    let seen = w.provider.seen.lock().unwrap().clone();
    let (a, b) = (&seen[0], &seen[1]);
    assert_ne!(
        a.identity, b.identity,
        "a changed Secret means a new client"
    );
    match &b.config.credentials {
        Credentials::Static(c) => {
            assert_eq!(c.access_key_id, "AK");
            assert_eq!(c.secret_access_key.expose(), "n3w");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !format!("{:?} {:?}", b, w.view.secrets.lock().unwrap()).contains("n3w"),
        "secrets never in Debug"
    );
    assert!(!serde_json::to_string(&p.status).unwrap().contains("s3cr3t"));
}

#[tokio::test]
async fn a_namespaced_endpoint_reads_only_its_own_secrets() {
    let mut w = World::new(Some(vec![]));
    let sref = SecretReference {
        name: "keys".into(),
        namespace: Some("kube-system".into()),
    };
    w.view.s3_endpoints.push(Arc::new(s3_endpoint(
        "shop",
        "gw",
        "http://127.0.0.1:3",
        Some(sref),
    )));
    w.view.secrets.lock().unwrap().insert(
        ("kube-system".into(), "keys".into()),
        secret(&[("accessKeyId", "AK"), ("secretAccessKey", "x")], "1"),
    );
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.endpoint_ref = Some(EndpointRef {
        kind: EndpointKind::S3Endpoint,
        name: "gw".into(),
    });
    assert_eq!(w.pass(&mut p, 0).await.reason, Reason::Forbidden);
    assert!(w.provider.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_secret_the_controller_may_not_read_stalls_and_a_passing_failure_retries() {
    let mut w = World::new(Some(vec![]));
    let sref = SecretReference {
        name: "keys".into(),
        namespace: None,
    };
    w.view.s3_endpoints.push(Arc::new(s3_endpoint(
        "shop",
        "gw",
        "http://127.0.0.1:3",
        Some(sref),
    )));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.endpoint_ref = Some(EndpointRef {
        kind: EndpointKind::S3Endpoint,
        name: "gw".into(),
    });

    *w.view.secret_error.lock().unwrap() = Some(true);
    let out = w.pass(&mut p, 0).await;
    assert_eq!(out.reason, Reason::Forbidden);
    assert!(
        !out.retry(),
        "a missing permission is not retried with backoff"
    );

    *w.view.secret_error.lock().unwrap() = Some(false);
    let out = w.pass(&mut p, 10).await;
    assert_eq!(out.reason, Reason::Unavailable);
    assert!(out.retry());
    assert!(
        w.provider.seen.lock().unwrap().is_empty(),
        "no store without credentials"
    );
}

#[tokio::test]
async fn cluster_endpoints_admit_namespaces_by_label() {
    let mut w = World::new(Some(vec![]));
    let mut ep = ClusterS3Endpoint::new(
        "cos",
        ClusterS3EndpointSpec {
            settings: EndpointSettings {
                url: Some("http://127.0.0.1:4".into()),
                region: "us".into(),
                ..Default::default()
            },
            allowed_namespaces: Some(LabelSelector {
                match_labels: Some([("cors".to_owned(), "yes".to_owned())].into()),
                ..Default::default()
            }),
        },
    );
    ep.metadata.resource_version = Some("1".into());
    w.view.cluster_endpoints.push(Arc::new(ep));
    w.view
        .namespaces
        .insert("shop".into(), [("cors".to_owned(), "no".to_owned())].into());
    w.view
        .namespaces
        .insert("web".into(), [("cors".to_owned(), "yes".to_owned())].into());
    let r = Some(EndpointRef {
        kind: EndpointKind::ClusterS3Endpoint,
        name: "cos".into(),
    });
    let mut denied = policy("shop", "a", 0, vec![rich_rule()]);
    denied.spec.endpoint_ref = r.clone();
    assert_eq!(w.pass(&mut denied, 0).await.reason, Reason::Forbidden);
    let mut allowed = policy("web", "a", 0, vec![rich_rule()]);
    allowed.spec.endpoint_ref = r.clone();
    let out = w.pass(&mut allowed, 0).await;
    assert_eq!(out.reason, Reason::Applied);
    assert_eq!(
        out.status.endpoint.as_deref(),
        Some("ClusterS3Endpoint/cos")
    );
    let mut missing = policy("web", "b", 0, vec![rich_rule()]);
    missing.spec.endpoint_ref = Some(EndpointRef {
        kind: EndpointKind::ClusterS3Endpoint,
        name: "nope".into(),
    });
    assert_eq!(
        w.pass(&mut missing, 0).await.reason,
        Reason::EndpointNotFound
    );
}

#[tokio::test]
async fn store_failures_are_classified() {
    for (kind, reason, retry) in [
        (StoreErrorKind::AccessDenied, Reason::AccessDenied, false),
        (
            StoreErrorKind::NotImplemented,
            Reason::CorsNotSupported,
            false,
        ),
        (
            StoreErrorKind::InvalidConfiguration,
            Reason::InvalidSpec,
            false,
        ),
        (StoreErrorKind::Throttled, Reason::Throttled, true),
        (StoreErrorKind::Transient, Reason::Unavailable, true),
    ] {
        let w = World::new(Some(vec![]));
        *w.store().fail.lock().unwrap() = Some(kind);
        let mut p = policy("shop", "web", 0, vec![rich_rule()]);
        let out = w.pass(&mut p, 0).await;
        assert_eq!((out.reason, out.retry()), (reason, retry), "{kind:?}");
        let cond = |t: &str| {
            out.status
                .conditions
                .iter()
                .find(|c| c.type_ == t)
                .unwrap()
                .status
                .clone()
        };
        assert_eq!(cond("Stalled") == "True", !retry);
        assert_eq!(cond("Reconciling") == "True", retry);
        assert_eq!(out.events.len(), 1);
        assert!(out.events[0].warning);
        // Recovery.
        *w.store().fail.lock().unwrap() = None;
        let out = w.pass(&mut p, 10).await;
        assert_eq!(out.reason, Reason::Applied);
    }
    let w = World::new(None);
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    assert_eq!(w.pass(&mut p, 0).await.reason, Reason::NoSuchBucket);
}

#[tokio::test]
async fn an_empty_rule_list_deletes_the_configuration() {
    let w = World::new(Some(vec![rich_rule()]));
    let mut p = policy("shop", "web", 0, vec![]);
    let out = w.pass(&mut p, 0).await;
    assert_eq!(out.wrote, Some(Operation::Delete));
    assert_eq!(w.store().live(), vec![]);
    assert_eq!(out.status.rule_count, Some(0));
}

#[test]
fn requeue_uses_interval_or_backoff() {
    let iv = Duration::from_secs(600);
    assert_eq!(requeue_after(iv, None, 0.5), iv);
    assert_eq!(requeue_after(iv, Some(0), 0.5), Duration::from_secs(5));
    assert_eq!(requeue_after(iv, Some(2), 0.5), Duration::from_secs(20));
    assert!(requeue_after(iv, None, 0.0) >= Duration::from_secs(540));
}

#[tokio::test]
async fn a_store_that_rewrites_rules_is_written_once_not_every_pass() {
    let mut w = World::new(Some(vec![]));
    Arc::get_mut(&mut w.provider.store).unwrap().drops_ids = true;
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);

    let first = w.pass(&mut p, 0).await;
    assert_eq!(first.wrote, Some(Operation::Put));
    assert!(
        first
            .events
            .iter()
            .any(|e| e.warning && e.reason == "StoreRewroteRules"),
        "{:?}",
        first.events
    );
    let form = first
        .status
        .store_form
        .clone()
        .expect("store form recorded");
    assert_eq!(form.declared, cors::fingerprint(&p.spec.rules));
    let live = first.status.live_rules.clone().unwrap();
    assert_eq!(live[0].id, None, "liveRules show what the store returned");
    assert_eq!(ready(&first.status), ("True".into(), "Applied".into()));
    w.take_log();

    for pass in 1..=5 {
        let out = w.pass(&mut p, pass * 600).await;
        assert_eq!(out.wrote, None, "pass {pass} wrote again");
        assert!(!out.drift_detected);
        assert_eq!(out.status_writes, 0, "pass {pass} patched status");
    }
    assert_eq!(w.take_log(), ["get"; 5]);

    // A real change on the bucket is still drift, and is repaired.
    *w.store().rules.lock().unwrap() = Some(vec![rule("*", &[CorsMethod::Delete])]);
    let out = w.pass(&mut p, 4000).await;
    assert!(out.drift_detected);
    assert_eq!(out.wrote, Some(Operation::Put));

    // New declared rules are compared afresh, not against the old store form.
    p.spec.rules = vec![rule("https://c.example", &[CorsMethod::Get])];
    p.metadata.generation = Some(2);
    let out = w.pass(&mut p, 5000).await;
    assert_eq!(out.wrote, Some(Operation::Put));
    assert_eq!(
        out.status.store_form, None,
        "rules without ids round-trip, so no store form"
    );
}

#[tokio::test]
async fn an_answer_still_showing_the_old_rules_is_not_taken_as_the_store_form() {
    // Eventually consistent stores may answer the read-back with the old configuration.
    struct Lagging(FakeStore, Mutex<Vec<CorsRule>>);
    #[async_trait]
    impl CorsStore for Lagging {
        async fn get(&self, bucket: &BucketRef) -> Result<Vec<CorsRule>, StoreError> {
            self.0.get(bucket).await?;
            Ok(self.1.lock().unwrap().clone())
        }
        async fn put(&self, bucket: &BucketRef, rules: &[CorsRule]) -> Result<(), StoreError> {
            self.0.put(bucket, rules).await
        }
        async fn delete(&self, bucket: &BucketRef) -> Result<(), StoreError> {
            self.0.delete(bucket).await
        }
    }
    let old = vec![rule("*", &[CorsMethod::Get])];
    let store = Lagging(
        FakeStore {
            log: Log::default(),
            rules: Mutex::new(Some(old.clone())),
            normalising: false,
            drops_ids: false,
            fail: Mutex::new(None),
        },
        Mutex::new(old),
    );
    let p = policy("shop", "web", 0, vec![rich_rule()]);
    let w = World::new(Some(vec![]));
    let provider = FakeProviderOf(Arc::new(store));
    let deps = Deps {
        stores: &provider,
        ..w.deps()
    };
    let out = reconcile_once(&p, deps, at(0)).await.unwrap();
    assert_eq!(out.wrote, Some(Operation::Put));
    assert_eq!(out.status.store_form, None);
    assert_eq!(
        out.status.live_rules.as_deref(),
        Some(p.spec.rules.as_slice())
    );
}

struct FakeProviderOf(Arc<dyn CorsStore>);

#[async_trait]
impl StoreProvider for FakeProviderOf {
    async fn store(&self, _: &ResolvedEndpoint) -> Result<Arc<dyn CorsStore>, ReconcileError> {
        Ok(self.0.clone())
    }
}

/// The store calls that write.
fn writes(log: &[String]) -> Vec<&str> {
    log.iter()
        .map(String::as_str)
        .filter(|op| *op == "put" || *op == "delete")
        .collect()
}

#[tokio::test]
async fn deleting_a_report_policy_never_writes_whatever_its_deletion_policy() {
    let theirs = vec![rule("https://theirs.example", &[CorsMethod::Get])];
    for deletion in [DeletionPolicy::Delete, DeletionPolicy::Restore] {
        let w = World::new(Some(theirs.clone()));
        let mut p = policy("shop", "web", 0, vec![rich_rule()]);
        p.spec.drift_policy = DriftPolicy::Report;
        p.spec.deletion_policy = deletion;
        assert_eq!(w.pass(&mut p, 0).await.reason, Reason::DriftReported);
        match w.cleanup(&p).await {
            CleanupOutcome::Done {
                events,
                wrote: None,
            } => {
                assert_eq!(events.len(), 1);
                assert!(!events[0].warning, "{deletion:?}: a Normal Event");
                assert_eq!(events[0].reason, "Retained");
                assert!(
                    events[0].note.contains("driftPolicy Report"),
                    "{}",
                    events[0].note
                );
            }
            other => panic!("{deletion:?}: {other:?}"),
        }
        assert_eq!(writes(&w.take_log()), Vec::<&str>::new(), "{deletion:?}");
        assert_eq!(w.store().live(), theirs);
    }

    // A policy that enforced once (and captured the original) and now only reports.
    let w = World::new(Some(theirs.clone()));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.deletion_policy = DeletionPolicy::Restore;
    w.pass(&mut p, 0).await;
    p.spec.drift_policy = DriftPolicy::Report;
    *w.store().rules.lock().unwrap() = Some(vec![rule("*", &[CorsMethod::Head])]);
    w.pass(&mut p, 60).await;
    w.take_log();
    assert!(matches!(
        w.cleanup(&p).await,
        CleanupOutcome::Done { wrote: None, .. }
    ));
    assert_eq!(writes(&w.take_log()), Vec::<&str>::new());
}

#[tokio::test]
async fn a_policy_that_never_owned_the_bucket_never_writes_on_deletion() {
    // The owner goes first and keeps its rules; the loser, now alone, must not remove them.
    let mut w = World::new(Some(vec![]));
    let mut owner = policy("a", "owner", 0, vec![rich_rule()]);
    owner.spec.deletion_policy = DeletionPolicy::Retain;
    let mut loser = policy("b", "loser", 10, vec![rule("*", &[CorsMethod::Get])]);
    w.view.policies = vec![Arc::new(owner.clone()), Arc::new(loser.clone())];
    assert_eq!(w.pass(&mut owner, 0).await.reason, Reason::Applied);
    assert_eq!(w.pass(&mut loser, 20).await.reason, Reason::Conflict);
    assert!(matches!(
        w.cleanup(&owner).await,
        CleanupOutcome::Done { wrote: None, .. }
    ));
    w.view.policies.retain(|p| p.key() != owner.key());
    w.take_log();
    match w.cleanup(&loser).await {
        CleanupOutcome::Done {
            events,
            wrote: None,
        } => assert!(events[0].note.contains("never owned"), "{events:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(writes(&w.take_log()), Vec::<&str>::new());
    assert_eq!(
        w.store().live(),
        vec![rich_rule()],
        "the owner's rules stay"
    );

    // A spec that was never valid never reached the bucket either.
    let theirs = vec![rule("https://theirs.example", &[CorsMethod::Get])];
    for deletion in [DeletionPolicy::Delete, DeletionPolicy::Restore] {
        let w = World::new(Some(theirs.clone()));
        let mut invalid = policy("shop", "bad", 0, vec![rule("https://*.*.example", &[])]);
        invalid.spec.deletion_policy = deletion;
        assert_eq!(w.pass(&mut invalid, 0).await.reason, Reason::InvalidSpec);
        assert!(matches!(
            w.cleanup(&invalid).await,
            CleanupOutcome::Done { wrote: None, .. }
        ));
        assert_eq!(writes(&w.take_log()), Vec::<&str>::new(), "{deletion:?}");
        assert_eq!(w.store().live(), theirs);
    }
}

#[tokio::test]
async fn ownership_on_deletion_is_judged_by_the_api_server_not_a_stale_cache() {
    let w = World::new(Some(vec![rule("https://old.example", &[CorsMethod::Get])]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    let stale = p.clone();
    w.pass(&mut p, 0).await;
    // The cached copy has no status yet, but the policy did write the bucket: Delete removes it.
    match w.cleanup(&stale).await {
        CleanupOutcome::Done { wrote, .. } => assert_eq!(wrote, Some(Operation::Delete)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.store().live(), vec![]);
}

#[tokio::test]
async fn the_original_is_captured_whatever_the_deletion_policy_so_a_later_restore_restores_it() {
    let before = vec![rule("https://old.example", &[CorsMethod::Get])];
    let w = World::new(Some(before.clone()));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    assert_eq!(p.spec.deletion_policy, DeletionPolicy::Delete);
    assert_eq!(w.pass(&mut p, 0).await.wrote, Some(Operation::Put));
    assert_eq!(
        p.status.as_ref().unwrap().original.as_ref().unwrap().rules,
        before
    );
    // Switched to Restore later; the bucket drifts and is repaired in between.
    p.spec.deletion_policy = DeletionPolicy::Restore;
    p.metadata.generation = Some(2);
    w.pass(&mut p, 60).await;
    *w.store().rules.lock().unwrap() = Some(vec![rule("*", &[CorsMethod::Delete])]);
    assert!(w.pass(&mut p, 120).await.drift_detected);
    assert_eq!(
        p.status.as_ref().unwrap().original.as_ref().unwrap().rules,
        before,
        "a repair does not capture again"
    );
    match w.cleanup(&p).await {
        CleanupOutcome::Done { wrote, .. } => assert_eq!(wrote, Some(Operation::Put)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.store().live(), before, "the true original, not our rules");
}

#[tokio::test]
async fn a_policy_that_wrote_before_originals_were_kept_captures_nothing_later() {
    // Left by a bucketcors that captured only for Restore: written, nothing captured.
    let w = World::new(Some(vec![rule(
        "https://drifted.example",
        &[CorsMethod::Get],
    )]));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    let mut legacy = status::progressing(None, Some(1), p.spec.interval(), None, at(0));
    legacy.last_applied_time = Some(status::time(at(0)));
    legacy.live_rules = Some(vec![rich_rule()]);
    p.status = Some(legacy);
    let out = w.pass(&mut p, 60).await;
    assert_eq!(out.wrote, Some(Operation::Put));
    assert!(!w.take_log().contains(&"original".to_owned()));
    assert_eq!(
        out.status.original, None,
        "the drifted rules are no original"
    );
    p.spec.deletion_policy = DeletionPolicy::Restore;
    match w.cleanup(&p).await {
        CleanupOutcome::Done {
            events,
            wrote: None,
        } => assert!(events[0].note.contains("never recorded"), "{events:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn status_written_from_a_stale_cache_never_removes_the_original() {
    let before = vec![rule("https://old.example", &[CorsMethod::Get])];
    let w = World::new(Some(before.clone()));
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    p.spec.deletion_policy = DeletionPolicy::Restore;
    let mut stale = p.clone();
    w.pass(&mut p, 0).await;
    let progressing = w.sink.written.lock().unwrap()[0].clone();
    assert_eq!(progressing.original, None);

    // A pass on a cached copy from before the first pass: its status writes lack `original`.
    let out = w.pass_without_catching_up(&mut stale, 30).await;
    assert!(out.status_writes > 0);
    assert_eq!(
        w.sink.on_server(&p).unwrap().original.unwrap().rules,
        before,
        "still on the server"
    );

    // Then drift, seen through a cache that shows only the status from before the capture.
    *w.store().rules.lock().unwrap() = Some(vec![rule("*", &[CorsMethod::Delete])]);
    let mut lagging = p.clone();
    lagging.status = Some(progressing);
    w.take_log();
    let out = w.pass(&mut lagging, 60).await;
    assert_eq!(out.wrote, Some(Operation::Put));
    assert!(
        !w.take_log().contains(&"original".to_owned()),
        "not captured again"
    );
    assert_eq!(
        w.sink.on_server(&p).unwrap().original.unwrap().rules,
        before
    );
    match w.cleanup(&lagging).await {
        CleanupOutcome::Done { wrote, .. } => assert_eq!(wrote, Some(Operation::Put)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.store().live(), before);
}

impl World {
    /// One pass whose policy keeps the status it had (a cache that has not caught up).
    async fn pass_without_catching_up(&self, policy: &mut BucketCorsPolicy, secs: i64) -> Outcome {
        reconcile_once(policy, self.deps(), at(secs))
            .await
            .expect("fake API never fails")
    }
}

/// A policy that owns the bucket and whose deletion was requested at `at(deleted)`.
async fn deleted_policy(w: &World, deleted: i64) -> BucketCorsPolicy {
    let mut p = policy("shop", "web", 0, vec![rich_rule()]);
    w.pass(&mut p, 0).await;
    p.metadata.deletion_timestamp = Some(Time(at(deleted)));
    p
}

#[tokio::test]
async fn a_deletion_that_keeps_failing_is_abandoned_after_the_timeout() {
    let w = World::new(Some(vec![]));
    let p = deleted_policy(&w, 100).await;
    w.take_log();
    for kind in [StoreErrorKind::Transient, StoreErrorKind::AccessDenied] {
        *w.store().fail.lock().unwrap() = Some(kind);
        let limit = 100 + i64::try_from(CLEANUP_TIMEOUT.as_secs()).unwrap();
        let class = ReconcileError::from(StoreError::new(kind, Operation::Get, "b", "x")).reason();
        assert!(matches!(
            w.cleanup_at(&p, limit - 1, Some(class)).await,
            CleanupOutcome::Retry { .. }
        ));
        match w.cleanup_at(&p, limit, Some(class)).await {
            CleanupOutcome::Abandoned { events, error } => {
                assert_eq!(error.reason(), class);
                assert_eq!(events.len(), 1);
                assert!(events[0].warning);
                assert_eq!(events[0].reason, "CleanupAbandoned");
                assert!(
                    events[0].note.contains(class.as_str()) && events[0].note.contains("1h"),
                    "{}",
                    events[0].note
                );
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert_eq!(writes(&w.take_log()), Vec::<&str>::new());
        assert_eq!(w.store().live(), vec![rich_rule()], "left as it is");
    }
    // A deletion that succeeds is never abandoned, however late.
    *w.store().fail.lock().unwrap() = None;
    assert!(matches!(
        w.cleanup_at(&p, 1_000_000, Some(Reason::Unavailable)).await,
        CleanupOutcome::Done {
            wrote: Some(Operation::Delete),
            ..
        }
    ));
}

#[tokio::test]
async fn cleanup_failures_are_announced_when_they_start_or_change_not_on_every_retry() {
    let w = World::new(Some(vec![]));
    let p = deleted_policy(&w, 0).await;
    let mut last = None;
    let mut announced = Vec::new();
    for (secs, kind) in [
        (10, StoreErrorKind::Transient),
        (20, StoreErrorKind::Transient),
        (30, StoreErrorKind::Other),
        (40, StoreErrorKind::AccessDenied),
        (50, StoreErrorKind::AccessDenied),
        (60, StoreErrorKind::Throttled),
        (70, StoreErrorKind::Throttled),
    ] {
        *w.store().fail.lock().unwrap() = Some(kind);
        match w.cleanup_at(&p, secs, last).await {
            CleanupOutcome::Retry { events, error } => {
                last = Some(error.reason());
                for e in events {
                    assert!(e.warning);
                    assert_eq!(e.reason, "CleanupFailed");
                    announced.push((secs, error.reason()));
                }
            }
            other => panic!("{other:?}"),
        }
    }
    // Transient and Other are both Unavailable: the same class, announced once.
    assert_eq!(
        announced,
        [
            (10, Reason::Unavailable),
            (40, Reason::AccessDenied),
            (60, Reason::Throttled)
        ]
    );
}
