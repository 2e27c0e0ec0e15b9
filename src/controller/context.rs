//! The controller's shared state, and the Kubernetes/S3 implementations of the reconcile traits.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};

use super::states::PolicyStates;
use crate::api::{
    BucketCorsPolicy, BucketCorsPolicyStatus, ClusterS3Endpoint, FIELD_MANAGER, S3Endpoint,
};
use crate::reconcile::{
    ClusterView, Deps, ReconcileError, ResolvedEndpoint, SecretData, StatusSink, StoreProvider,
    ViewError,
};
use crate::s3::{AwsCorsStore, ConnectError, CorsStore, EndpointConfig};
use crate::status::PolicyState;
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
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Events.
    pub events: EventPublisher,
    /// One client per endpoint, keyed by the endpoint object; replaced when its identity
    /// (resource versions of the object and its Secrets) changes.
    stores: Mutex<HashMap<String, CachedStore>>,
    /// Consecutive retryable failures per policy, for backoff.
    attempts: Mutex<HashMap<String, u32>>,
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
            metrics,
            stores: Mutex::default(),
            attempts: Mutex::default(),
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
        }
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

#[async_trait]
impl StatusSink for Context {
    async fn write_status(
        &self,
        policy: &BucketCorsPolicy,
        status: &BucketCorsPolicyStatus,
    ) -> Result<(), ViewError> {
        let (Some(ns), Some(name)) = (
            policy.metadata.namespace.as_deref(),
            policy.metadata.name.as_deref(),
        ) else {
            return Err(ViewError::new("policy without namespace or name"));
        };
        let api = Api::<BucketCorsPolicy>::namespaced(self.client.clone(), ns);
        let patch = serde_json::json!({
            "apiVersion": "bucketcors.dev/v1alpha1",
            "kind": "BucketCorsPolicy",
            "status": status,
        });
        api.patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
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
