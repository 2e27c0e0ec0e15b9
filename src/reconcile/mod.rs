//! One reconcile pass, over traits: resolve the endpoint, read the bucket, plan, act according
//! to `driftPolicy`, and leave the status the pass computed; and, in [`cleanup`], the deletion
//! of a policy.
//!
//! Both sides are traits so the whole pass is unit-tested with fakes: [`ClusterView`] (endpoint
//! objects, Secrets, namespace labels and the other policies, all from caches or cheap reads),
//! [`StatusSink`] (the status subresource) and [`StoreProvider`] (one [`CorsStore`] per endpoint
//! identity). The clock is an argument.

mod backoff;
mod cleanup;
mod conflict;
pub mod endpoint;
mod error;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;

pub use backoff::{BACKOFF_BASE, BACKOFF_MAX, backoff, jitter};
pub use cleanup::{CleanupOutcome, cleanup_once};
pub use conflict::{owner, siblings};
pub use endpoint::{ResolvedEndpoint, location, resolve, selector_admits};
pub use error::ReconcileError;

use crate::api::{
    BucketCorsPolicy, BucketCorsPolicyStatus, ClusterS3Endpoint, CorsRule, DriftPolicy,
    OriginalConfiguration, S3Endpoint, StoreForm,
};
use crate::cors::{self, Plan};
use crate::s3::{BucketRef, CorsStore, EndpointConfig, Operation};
use crate::status::{self, Observation, Reason, Summary};

/// A Kubernetes API failure while reading or writing cluster objects.
#[derive(Debug, thiserror::Error)]
#[error("Kubernetes API: {message}")]
pub struct ViewError {
    /// What failed.
    pub message: String,
    /// The controller's own identity lacks a permission (HTTP 403): retrying will not help
    /// until someone grants it, so the policy is reported `Forbidden`, not `Unavailable`.
    pub forbidden: bool,
}

impl ViewError {
    /// A failure that may pass (retried).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            forbidden: false,
        }
    }
}

impl From<ViewError> for ReconcileError {
    fn from(e: ViewError) -> Self {
        if e.forbidden {
            Self::Forbidden(format!("the controller may not read this: {}", e.message))
        } else {
            Self::Unavailable(e.to_string())
        }
    }
}

/// The data of a Secret and its resource version. `Debug` shows the keys, never the values.
#[derive(Clone, Default)]
pub struct SecretData {
    /// `metadata.resourceVersion`, part of the store cache key.
    pub resource_version: Option<String>,
    /// Decoded `data`.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretData")
            .field("resource_version", &self.resource_version)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a pass may know about the cluster besides the policy itself.
#[async_trait]
pub trait ClusterView: Send + Sync {
    /// The `S3Endpoint` `namespace/name`, if it exists.
    fn s3_endpoint(&self, namespace: &str, name: &str) -> Option<Arc<S3Endpoint>>;
    /// The `ClusterS3Endpoint` `name`, if it exists.
    fn cluster_s3_endpoint(&self, name: &str) -> Option<Arc<ClusterS3Endpoint>>;
    /// Every policy the controller knows, for conflict detection.
    fn policies(&self) -> Vec<Arc<BucketCorsPolicy>>;
    /// The labels of a namespace; `None` when it does not exist.
    async fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ViewError>;
    /// A Secret; `None` when it does not exist.
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<SecretData>, ViewError>;
    /// The policy's status as the API server has it now, bypassing caches. Asked before
    /// capturing the original configuration, so that a cache that has not yet seen an earlier
    /// capture can never make the controller capture its own rules as the "original", and
    /// once when a policy is deleted.
    async fn fresh_status(
        &self,
        policy: &BucketCorsPolicy,
    ) -> Result<Option<BucketCorsPolicyStatus>, ViewError>;
}

/// Where a pass writes the policy's status.
///
/// `status.original` is written apart from everything else and never removed: the rest of the
/// status is recomputed from a cached policy on every pass, and a cache that has not yet seen
/// the capture must not be able to take the original away (the next write would then capture
/// the controller's own rules as the "original").
#[async_trait]
pub trait StatusSink: Send + Sync {
    /// Replaces every status field except `original`, which this write never sets or removes
    /// whatever `status.original` holds (server-side apply of the status subresource).
    async fn write_status(
        &self,
        policy: &BucketCorsPolicy,
        status: &BucketCorsPolicyStatus,
    ) -> Result<(), ViewError>;

    /// Records the original configuration (`status.original`), which no later
    /// [`Self::write_status`] removes.
    async fn write_original(
        &self,
        policy: &BucketCorsPolicy,
        original: &OriginalConfiguration,
    ) -> Result<(), ViewError>;
}

/// Hands out a store client per endpoint, cached by [`ResolvedEndpoint::identity`].
#[async_trait]
pub trait StoreProvider: Send + Sync {
    /// The store for this endpoint. Errors are classified (an unusable CA is `InvalidSpec`,
    /// an unreachable STS is `Unavailable`).
    async fn store(
        &self,
        endpoint: &ResolvedEndpoint,
    ) -> Result<Arc<dyn CorsStore>, ReconcileError>;
}

/// Everything a pass talks to.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    /// Cluster objects.
    pub view: &'a dyn ClusterView,
    /// Stores.
    pub stores: &'a dyn StoreProvider,
    /// Status writes.
    pub sink: &'a dyn StatusSink,
    /// The endpoint for policies without `endpointRef`.
    pub default_endpoint: &'a EndpointConfig,
    /// How long after `metadata.deletionTimestamp` a failing deletion is retried before it is
    /// abandoned (`--cleanup-timeout`).
    pub cleanup_timeout: Duration,
}

/// A Kubernetes Event to publish about the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNote {
    /// Warning (something needs attention) or Normal.
    pub warning: bool,
    /// CamelCase reason, e.g. `Applied`, `DriftRepaired`, `AccessDenied`.
    pub reason: String,
    /// What the controller was doing: `Reconcile` or `Cleanup`.
    pub action: &'static str,
    /// Human-readable detail (never secrets).
    pub note: String,
}

impl EventNote {
    fn new(
        warning: bool,
        reason: impl Into<String>,
        action: &'static str,
        note: impl Into<String>,
    ) -> Self {
        Self {
            warning,
            reason: reason.into(),
            action,
            note: note.into(),
        }
    }
}

/// What one pass concluded.
#[derive(Debug)]
pub struct Outcome {
    /// The summary reason (the `Ready` condition's reason).
    pub reason: Reason,
    /// The status after the pass (written, or equal to what was there).
    pub status: BucketCorsPolicyStatus,
    /// How many status writes the pass made (0 in the steady state).
    pub status_writes: u32,
    /// Events to publish.
    pub events: Vec<EventNote>,
    /// The write the pass made to the bucket, if any.
    pub wrote: Option<Operation>,
    /// True when the bucket was found drifted from a configuration it had been in sync with.
    pub drift_detected: bool,
    /// The failure, if the pass did not reach the declared state.
    pub error: Option<ReconcileError>,
}

impl Outcome {
    /// True when the pass should be retried with backoff rather than after the interval.
    pub fn retry(&self) -> bool {
        self.error
            .as_ref()
            .is_some_and(ReconcileError::is_retryable)
    }
}

/// Accumulates the pieces of an [`Outcome`] while a pass runs.
struct Pass<'a> {
    policy: &'a BucketCorsPolicy,
    deps: Deps<'a>,
    now: Timestamp,
    /// The status as last written (starts as the policy's, moves on with every write).
    current: Option<BucketCorsPolicyStatus>,
    writes: u32,
}

impl Pass<'_> {
    fn generation(&self) -> Option<i64> {
        self.policy.metadata.generation
    }

    async fn write(&mut self, status: BucketCorsPolicyStatus) -> Result<(), ViewError> {
        self.deps.sink.write_status(self.policy, &status).await?;
        self.writes += 1;
        self.current = Some(status);
        Ok(())
    }

    /// Makes sure the bucket's configuration from before the policy's first write is recorded
    /// in `status.original`, given `live`, what the bucket has now (before that write).
    async fn capture_original(&mut self, live: &[CorsRule]) -> Result<(), ViewError> {
        // Asked fresh: a cache that has not seen an earlier capture (and the write after it)
        // would otherwise make this capture the controller's own rules.
        let fresh = self.deps.view.fresh_status(self.policy).await?;
        let current = self.current.get_or_insert_default();
        if let Some(original) = fresh.as_ref().and_then(|s| s.original.clone()) {
            current.original = Some(original);
            return Ok(());
        }
        let wrote_before = current.last_applied_time.is_some()
            || fresh.is_some_and(|s| s.last_applied_time.is_some());
        if wrote_before {
            // Written by a bucketcors that captured only for deletionPolicy Restore: what the
            // bucket has now is not what it had before the policy, and a wrong original is
            // worse than none (Restore then says it has nothing to restore).
            return Ok(());
        }
        let original = OriginalConfiguration {
            captured_time: Some(status::time(self.now)),
            rules: live.to_vec(),
        };
        self.deps
            .sink
            .write_original(self.policy, &original)
            .await?;
        self.writes += 1;
        current.original = Some(original);
        Ok(())
    }

    /// Computes the final status, writes it if it differs, and builds the outcome.
    async fn finish(
        mut self,
        obs: Observation,
        error: Option<ReconcileError>,
        events: Vec<EventNote>,
    ) -> Result<Outcome, ViewError> {
        let interval = self.policy.spec.interval();
        let next = status::compute(
            self.current.as_ref(),
            self.generation(),
            interval,
            &obs,
            self.now,
        );
        if status::needs_write(self.current.as_ref(), &next) {
            self.write(next.clone()).await?;
        }
        Ok(Outcome {
            reason: obs.summary.reason,
            status: next,
            status_writes: self.writes,
            events,
            wrote: None,
            drift_detected: obs.drift_detected,
            error,
        })
    }

    async fn fail(
        self,
        error: ReconcileError,
        endpoint: Option<String>,
    ) -> Result<Outcome, ViewError> {
        let reason = error.reason();
        let previous = status::ready_reason(self.policy.status.as_ref()).map(str::to_owned);
        let events = if previous.as_deref() == Some(reason.as_str()) {
            Vec::new()
        } else {
            vec![EventNote::new(
                true,
                reason.as_str(),
                "Reconcile",
                error.to_string(),
            )]
        };
        let obs = Observation::summary_only(Summary::new(reason, error.to_string()), endpoint);
        self.finish(obs, Some(error), events).await
    }
}

/// One reconcile pass for a policy that is not being deleted.
///
/// Order of business: suspend (no S3 call at all), spec validation, conflict, endpoint, then a
/// `Progressing` status on the first visit (before any S3 call), read, plan, act, status.
/// `Err` only when the Kubernetes API failed; every other failure is in [`Outcome::error`].
pub async fn reconcile_once(
    policy: &BucketCorsPolicy,
    deps: Deps<'_>,
    now: Timestamp,
) -> Result<Outcome, ViewError> {
    let spec = &policy.spec;
    let mut pass = Pass {
        policy,
        deps,
        now,
        current: policy.status.clone(),
        writes: 0,
    };
    let previous_reason = status::ready_reason(policy.status.as_ref()).map(str::to_owned);

    if spec.suspend {
        let events = if previous_reason.as_deref() == Some(Reason::Suspended.as_str()) {
            Vec::new()
        } else {
            vec![EventNote::new(
                false,
                "Suspended",
                "Reconcile",
                "spec.suspend is true; the bucket is left alone",
            )]
        };
        let summary = Summary::new(
            Reason::Suspended,
            "spec.suspend is true; the bucket is left alone",
        );
        return pass
            .finish(Observation::summary_only(summary, None), None, events)
            .await;
    }

    let issues = cors::validate_spec(spec);
    if !issues.is_empty() {
        let message = issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return pass.fail(ReconcileError::InvalidSpec(message), None).await;
    }

    if let Some(owner) = conflict_owner(policy, deps) {
        return pass
            .fail(
                ReconcileError::Conflict {
                    bucket: spec.bucket.clone(),
                    owner,
                },
                None,
            )
            .await;
    }

    let endpoint = match endpoint::resolve(policy, deps.view, deps.default_endpoint).await {
        Ok(e) => e,
        Err(e) => return pass.fail(e, None).await,
    };
    let display = Some(endpoint.display.clone());

    if pass
        .current
        .as_ref()
        .is_none_or(|s| s.conditions.is_empty())
    {
        let first = status::progressing(
            pass.current.as_ref(),
            pass.generation(),
            spec.interval(),
            display.clone(),
            now,
        );
        pass.write(first).await?;
    }

    let store = match deps.stores.store(&endpoint).await {
        Ok(s) => s,
        Err(e) => return pass.fail(e, display).await,
    };
    let bucket = BucketRef {
        name: spec.bucket.clone(),
        expected_owner: spec.expected_bucket_owner.clone(),
    };
    let live = match store.get(&bucket).await {
        Ok(l) => l,
        Err(e) => return pass.fail(e.into(), display).await,
    };

    let desired = &spec.rules;
    let desired_fp = cors::fingerprint(desired);
    // The store's own form of these rules, if an earlier write found it rewrites them.
    let store_form = pass
        .current
        .as_ref()
        .and_then(|s| s.store_form.as_ref())
        .filter(|f| f.declared == desired_fp)
        .map(|f| f.returned.clone());
    let in_store_form = store_form.as_deref() == Some(cors::fingerprint(&live).as_str());
    let last_confirmed = pass.current.as_ref().and_then(|s| s.fingerprint.as_deref());
    let was_in_sync = last_confirmed == Some(desired_fp.as_str())
        || (store_form.is_some() && last_confirmed == store_form.as_deref());
    let plan = if in_store_form {
        Plan::Nothing
    } else {
        cors::plan(desired, &live)
    };
    let drift_detected = plan.is_change() && was_in_sync;
    let mut obs = Observation {
        summary: Summary::new(Reason::InSync, in_sync_message(&spec.bucket, desired.len())),
        endpoint: display.clone(),
        live: Some(live.clone()),
        wrote: false,
        drift_detected,
        original: None,
        store_form: None,
    };
    let mut events = Vec::new();

    if !plan.is_change() {
        // Keep `Applied` until something else happens: switching it to `InSync` on the next read
        // would be a status write that tells nobody anything.
        let keep_applied = previous_reason.as_deref() == Some(Reason::Applied.as_str())
            && pass.current.as_ref().and_then(|s| s.observed_generation) == pass.generation();
        let applied = pass
            .current
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == status::READY));
        if let (true, Some(ready)) = (keep_applied, applied) {
            obs.summary = Summary::new(Reason::Applied, ready.message.clone());
        }
        return pass.finish(obs, None, events).await;
    }

    if spec.drift_policy == DriftPolicy::Report {
        let diff = cors::diff_summary(desired, &live);
        obs.summary = Summary::new(
            Reason::DriftReported,
            format!("bucket differs (driftPolicy Report): {diff}"),
        );
        if previous_reason.as_deref() != Some(Reason::DriftReported.as_str()) || drift_detected {
            events.push(EventNote::new(
                true,
                "DriftReported",
                "Reconcile",
                obs.summary.message.clone(),
            ));
        }
        return pass.finish(obs, None, events).await;
    }

    // Enforce. The original is captured before the first write whatever the deletion policy:
    // a policy switched to Restore later must restore what the bucket had before it, not the
    // policy's own rules. It is stored in a write of its own before the bucket is written, so
    // that a crash between the two cannot lose it.
    if pass.current.as_ref().is_none_or(|s| s.original.is_none()) {
        pass.capture_original(&live).await?;
    }

    let (operation, result) = match &plan {
        Plan::Put(rules) => (Operation::Put, store.put(&bucket, rules).await),
        Plan::Delete => (Operation::Delete, store.delete(&bucket).await),
        Plan::Nothing => unreachable!("handled above"),
    };
    if let Err(e) = result {
        return pass.fail(e.into(), display).await;
    }
    obs.wrote = true;
    obs.live = Some(desired.clone());
    // Read back once. A store that keeps the rules in a form beyond the normal form (say, it
    // drops ids) would otherwise look drifted on every pass and be written again forever.
    // An answer equal to the old configuration is not taken as a rewrite: bucket settings may
    // take a moment to become visible, and the next pass reads again anyway.
    if let Ok(echo) = store.get(&bucket).await
        && !cors::equivalent(desired, &echo)
        && !cors::equivalent(&live, &echo)
    {
        events.push(EventNote::new(
            true,
            "StoreRewroteRules",
            "Reconcile",
            format!(
                "the store keeps the declared rules of bucket {:?} in its own form ({}); \
                 that form now counts as in sync",
                spec.bucket,
                cors::diff_summary(desired, &echo)
            ),
        ));
        obs.store_form = Some(StoreForm {
            declared: desired_fp.clone(),
            returned: cors::fingerprint(&echo),
        });
        obs.live = Some(echo);
    }
    obs.summary = Summary::new(
        Reason::Applied,
        applied_message(&spec.bucket, desired.len()),
    );
    let note = if drift_detected {
        format!(
            "bucket {:?} had drifted ({}); wrote the declared rules back",
            spec.bucket,
            cors::diff_summary(desired, &live)
        )
    } else {
        obs.summary.message.clone()
    };
    events.push(EventNote::new(
        false,
        if drift_detected {
            "DriftRepaired"
        } else {
            "Applied"
        },
        "Reconcile",
        note,
    ));
    let mut outcome = pass.finish(obs, None, events).await?;
    outcome.wrote = Some(operation);
    Ok(outcome)
}

fn in_sync_message(bucket: &str, n: usize) -> String {
    format!("bucket {bucket:?} has the declared {n} rule(s)")
}

fn applied_message(bucket: &str, n: usize) -> String {
    if n == 0 {
        format!("removed the CORS configuration of bucket {bucket:?}")
    } else {
        format!("wrote the declared {n} rule(s) to bucket {bucket:?}")
    }
}

/// The owner of the policy's bucket when it is another policy.
fn conflict_owner(policy: &BucketCorsPolicy, deps: Deps<'_>) -> Option<String> {
    let here = endpoint::location(policy, deps.view, deps.default_endpoint)?;
    let all = deps.view.policies();
    conflict::owner(policy, &here, &all, |p| {
        endpoint::location(p, deps.view, deps.default_endpoint)
    })
}

/// The requeue delay after a pass: the interval (±10%) on success or when a person must act,
/// exponential backoff for retryable failures. `unit` is a random number in `[0, 1)`.
pub fn requeue_after(interval: Duration, retry_attempt: Option<u32>, unit: f64) -> Duration {
    match retry_attempt {
        Some(attempt) => jitter(backoff(attempt), 0.1, unit),
        None => jitter(interval, 0.1, unit),
    }
}

#[cfg(test)]
mod tests;
