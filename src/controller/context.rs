//! The controller's shared state, and the Kubernetes/S3 implementations of the reconcile traits.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};

use super::states::PolicyStates;
use crate::api::{
    BucketCorsPolicy, BucketCorsPolicyStatus, ClusterS3Endpoint, FIELD_MANAGER,
    ORIGINAL_FIELD_MANAGER, OriginalConfiguration, S3Endpoint,
};
use crate::reconcile::{
    ClusterView, Deps, ReconcileError, ResolvedEndpoint, SecretData, StatusSink, StoreProvider,
    ViewError,
};
use crate::s3::{AwsCorsStore, ConnectError, CorsStore, EndpointConfig};
use crate::status::{PolicyState, Reason};
use crate::telemetry::{EventPublisher, MeteredStore, Metrics};

/// A cached client and the endpoint identity it was built for.
type CachedStore = (String, Arc<dyn CorsStore>);

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// All policies the controller watches (reflector).
    pub policies: Store<BucketCorsPolicy>,
    /// All `S3Endpoint`s (reflector).
    pub s3_endpoints: Store<S3Endpoint>,
    /// All `ClusterS3Endpoint`s (reflector).
    pub cluster_endpoints: Store<ClusterS3Endpoint>,
    /// The endpoint of policies without `endpointRef`.
    pub default_endpoint: EndpointConfig,
    /// How long a failing deletion is retried (`--cleanup-timeout`).
    pub cleanup_timeout: Duration,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Events.
    pub events: EventPublisher,
    /// One client per endpoint, keyed by the endpoint object; replaced when its identity
    /// (resource versions of the object and its Secrets) changes.
    stores: Mutex<HashMap<String, CachedStore>>,
    /// Consecutive retryable failures per policy, for backoff.
    attempts: Mutex<HashMap<String, u32>>,
    /// The class of the last failed deletion attempt per policy, so that a repeating failure
    /// is announced once. Kept in memory: after a restart the first failure is announced again.
    cleanup_failures: Mutex<HashMap<String, Reason>>,
    /// Last known state per policy, for the `bucketcors_policies` gauge.
    states: Arc<PolicyStates>,
    /// True once every cache has listed once.
    synced: tokio::sync::watch::Sender<bool>,
}

impl Context {
    /// A context over the given caches.
    pub fn new(
        client: Client,
        policies: Store<BucketCorsPolicy>,
        s3_endpoints: Store<S3Endpoint>,
        cluster_endpoints: Store<ClusterS3Endpoint>,
        default_endpoint: EndpointConfig,
        cleanup_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let states = Arc::new(PolicyStates::default());
        // The gauge is recomputed on every scrape against the policy cache, so a policy that
        // left the watch without a cleanup pass stops being counted. The hook holds the
        // states and the store, not the context, so nothing keeps the context alive.
        {
            let (states, policies) = (states.clone(), policies.clone());
            metrics.on_scrape(move |m| refresh_gauge(m, &states, &policies));
        }
        Self {
            events: EventPublisher::new(client.clone()),
            client,
            policies,
            s3_endpoints,
            cluster_endpoints,
            default_endpoint,
            cleanup_timeout,
            metrics,
            stores: Mutex::default(),
            attempts: Mutex::default(),
            cleanup_failures: Mutex::default(),
            states,
            synced: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The reconcile dependencies backed by this context.
    pub fn deps(&self) -> Deps<'_> {
        Deps {
            view: self,
            stores: self,
            sink: self,
            default_endpoint: &self.default_endpoint,
            cleanup_timeout: self.cleanup_timeout,
        }
    }

    /// The class of the last failed deletion attempt of a policy, if the last one failed.
    pub fn last_cleanup_failure(&self, key: &str) -> Option<Reason> {
        self.cleanup_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    /// Records the class of a failed deletion attempt, or (`None`) forgets it.
    pub fn set_cleanup_failure(&self, key: &str, class: Option<Reason>) {
        let mut failures = self
            .cleanup_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match class {
            Some(c) => failures.insert(key.to_owned(), c),
            None => failures.remove(key),
        };
    }

    /// Records a retryable failure and returns its attempt number (0 for the first).
    pub fn next_attempt(&self, key: &str) -> u32 {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = attempts.entry(key.to_owned()).or_insert(0);
        let attempt = *n;
        *n = n.saturating_add(1);
        attempt
    }

    /// Forgets the failures of a policy after a pass that needs no retry.
    pub fn reset_attempts(&self, key: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Records the state a pass left `policy` in (`None`: cleaned up, forget it). The gauge
    /// shows it at the next scrape.
    pub fn set_state(&self, policy: &BucketCorsPolicy, state: Option<PolicyState>) {
        self.states.set(ObjectRef::from_obj(policy), state);
    }

    /// Waits until the caches have listed once, so that a fresh controller does not report
    /// `EndpointNotFound` for endpoints it simply has not seen yet.
    pub async fn caches_ready(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// Watches the caches until all have listed once, then releases [`Self::caches_ready`].
    ///
    /// Only this one task waits on the stores: a store's readiness signal wakes a single
    /// waiter, so many reconciles waiting on it directly could sleep forever. The periodic
    /// timeout re-polls for the same reason.
    pub async fn watch_caches(&self) {
        loop {
            let all = async {
                let _ = self.s3_endpoints.wait_until_ready().await;
                let _ = self.cluster_endpoints.wait_until_ready().await;
                let _ = self.policies.wait_until_ready().await;
            };
            if tokio::time::timeout(std::time::Duration::from_millis(500), all)
                .await
                .is_ok()
            {
                self.synced.send_replace(true);
                return;
            }
        }
    }
}

/// Sets the `bucketcors_policies` gauge from the states of the policies still in the cache.
fn refresh_gauge(metrics: &Metrics, states: &PolicyStates, policies: &Store<BucketCorsPolicy>) {
    metrics.set_policies(&states.prune_and_count(|policy| policies.get(policy).is_some()));
}

fn api_error(e: kube::Error) -> ViewError {
    let forbidden = matches!(&e, kube::Error::Api(s) if s.code == 403);
    ViewError {
        message: e.to_string(),
        forbidden,
    }
}

#[async_trait]
impl ClusterView for Context {
    fn s3_endpoint(&self, namespace: &str, name: &str) -> Option<Arc<S3Endpoint>> {
        self.s3_endpoints
            .get(&ObjectRef::new(name).within(namespace))
    }

    fn cluster_s3_endpoint(&self, name: &str) -> Option<Arc<ClusterS3Endpoint>> {
        self.cluster_endpoints.get(&ObjectRef::new(name))
    }

    fn policies(&self) -> Vec<Arc<BucketCorsPolicy>> {
        self.policies.state()
    }

    async fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ViewError> {
        let ns = Api::<Namespace>::all(self.client.clone())
            .get_opt(namespace)
            .await
            .map_err(api_error)?;
        Ok(ns.map(|n| n.metadata.labels.unwrap_or_default()))
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<SecretData>, ViewError> {
        let secret = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(api_error)?;
        Ok(secret.map(|s| {
            let mut data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            // stringData is write-only on the server, but a Secret read from a cache may carry it.
            for (k, v) in s.string_data.unwrap_or_default() {
                data.entry(k).or_insert_with(|| v.into_bytes());
            }
            SecretData {
                resource_version: s.metadata.resource_version,
                data,
            }
        }))
    }

    async fn fresh_status(
        &self,
        policy: &BucketCorsPolicy,
    ) -> Result<Option<BucketCorsPolicyStatus>, ViewError> {
        let (Some(ns), Some(name)) = (
            policy.metadata.namespace.as_deref(),
            policy.metadata.name.as_deref(),
        ) else {
            return Ok(policy.status.clone());
        };
        let api = Api::<BucketCorsPolicy>::namespaced(self.client.clone(), ns);
        Ok(api
            .get_opt(name)
            .await
            .map_err(api_error)?
            .and_then(|p| p.status))
    }
}

/// `(api, name)` for the status patches of `policy`.
fn status_api(
    policy: &BucketCorsPolicy,
    client: &Client,
) -> Result<(Api<BucketCorsPolicy>, String), ViewError> {
    let (Some(ns), Some(name)) = (
        policy.metadata.namespace.as_deref(),
        policy.metadata.name.as_deref(),
    ) else {
        return Err(ViewError::new("policy without namespace or name"));
    };
    Ok((
        Api::<BucketCorsPolicy>::namespaced(client.clone(), ns),
        name.to_owned(),
    ))
}

/// True when `meta.managedFields` say, or cannot rule out, that [`FIELD_MANAGER`] owns
/// `status.original`, as it does on policies whose original an older bucketcors recorded with
/// the rest of the status.
fn main_manager_may_own_original(meta: &ObjectMeta) -> bool {
    let Some(entries) = meta.managed_fields.as_ref().filter(|e| !e.is_empty()) else {
        // Unknown (the API server always lists at least the creator): assume the worst.
        return true;
    };
    entries.iter().any(|e| {
        e.manager.as_deref() == Some(FIELD_MANAGER)
            && e.fields_v1
                .as_ref()
                .and_then(|f| f.0.get("f:status"))
                .and_then(|s| s.get("f:original"))
                .is_some()
    })
}

#[async_trait]
impl StatusSink for Context {
    async fn write_status(
        &self,
        policy: &BucketCorsPolicy,
        status: &BucketCorsPolicyStatus,
    ) -> Result<(), ViewError> {
        // `original` is never part of this patch. Server-side apply removes a field that the
        // applying manager owned before and now omits; this status is computed from the cached
        // policy, and a cache that lags behind the capture would omit it. Owned by another
        // manager alone, `original` survives any patch of this one. (The alternative, a fresh
        // read before every status write lacking it, costs a request per write and still races.)
        let mut status = status.clone();
        if let Some(original) = status.original.take()
            && main_manager_may_own_original(&policy.metadata)
        {
            // Recorded by an older bucketcors under this manager: hand it over to the original's
            // manager first, or leaving it out below would delete it. Idempotent.
            self.write_original(policy, &original).await?;
        }
        self.apply_status(policy, FIELD_MANAGER, serde_json::json!(status))
            .await
    }

    async fn write_original(
        &self,
        policy: &BucketCorsPolicy,
        original: &OriginalConfiguration,
    ) -> Result<(), ViewError> {
        let status = serde_json::json!({"original": original});
        self.apply_status(policy, ORIGINAL_FIELD_MANAGER, status)
            .await
    }
}

impl Context {
    /// One forced server-side apply of `status` to the policy's status subresource, as
    /// `manager`; counted in `bucketcors_status_patches_total`.
    async fn apply_status(
        &self,
        policy: &BucketCorsPolicy,
        manager: &str,
        status: serde_json::Value,
    ) -> Result<(), ViewError> {
        let (api, name) = status_api(policy, &self.client)?;
        let patch = serde_json::json!({
            "apiVersion": "bucketcors.dev/v1alpha1",
            "kind": "BucketCorsPolicy",
            "status": status,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(api_error)?;
        self.metrics.status_patches(1);
        Ok(())
    }
}

#[async_trait]
impl StoreProvider for Context {
    async fn store(
        &self,
        endpoint: &ResolvedEndpoint,
    ) -> Result<Arc<dyn CorsStore>, ReconcileError> {
        // The identity starts with the endpoint object (`kind/ns/name@rv`); everything before
        // the `@` names the slot a newer identity replaces.
        let slot = endpoint
            .identity
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        if let Some((identity, store)) = self
            .stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&slot)
            && *identity == endpoint.identity
        {
            return Ok(store.clone());
        }
        let store = AwsCorsStore::connect(&endpoint.config)
            .await
            .map_err(|e| connect_error(&endpoint.display, e))?;
        let store: Arc<dyn CorsStore> =
            Arc::new(MeteredStore::new(Arc::new(store), self.metrics.clone()));
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slot, (endpoint.identity.clone(), store.clone()));
        Ok(store)
    }
}

fn connect_error(display: &str, e: ConnectError) -> ReconcileError {
    match e {
        ConnectError::InvalidUrl { .. }
        | ConnectError::MissingRegion
        | ConnectError::InvalidCaBundle(_) => {
            ReconcileError::InvalidSpec(format!("{display}: {e}"))
        }
        _ => ReconcileError::Unavailable(format!("{display}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    use super::*;

    fn entry(manager: &str, fields: serde_json::Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Apply".into()),
            subresource: Some("status".into()),
            fields_type: Some("FieldsV1".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    fn meta(entries: Option<Vec<ManagedFieldsEntry>>) -> ObjectMeta {
        ObjectMeta {
            managed_fields: entries,
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn an_original_recorded_with_the_rest_of_the_status_is_handed_over() {
        let original = serde_json::json!({"f:status": {"f:original": {".": {}, "f:rules": {}}}});
        let rest = serde_json::json!({"f:status": {"f:conditions": {}, "f:fingerprint": {}}});
        assert!(main_manager_may_own_original(&meta(Some(vec![entry(
            FIELD_MANAGER,
            original.clone()
        )]))));
        assert!(!main_manager_may_own_original(&meta(Some(vec![
            entry(FIELD_MANAGER, rest),
            entry(ORIGINAL_FIELD_MANAGER, original),
        ]))));
        // Without managedFields nobody can tell: hand it over (harmless when it was already).
        assert!(main_manager_may_own_original(&meta(None)));
        assert!(main_manager_may_own_original(&meta(Some(vec![]))));
    }
}
