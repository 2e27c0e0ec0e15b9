//! kube-runtime wiring: watches, concurrency, requeues, leader election, shutdown.
//!
//! The policy watch feeds a reflector (the cache every pass reads other policies from) and,
//! filtered to changes that matter (generation, finalizers, annotations), the controller's
//! queue; our own status writes therefore do not trigger passes. Endpoint and Secret changes
//! are mapped to the policies that use them. A policy's change or deletion also re-queues the
//! other policies on the same bucket, so a conflict loser takes over when the owner goes.
//!
//! Kubernetes API access (the Helm chart's RBAC grants exactly this, tests/chart_rbac.rs proves
//! it): policies get (fresh status before capturing the original and on deletion), list, watch, patch (finalizer) and
//! status patch; S3Endpoints and ClusterS3Endpoints list, watch; Secrets list, watch (metadata,
//! in the secret namespaces) and get (those an endpoint names); Namespaces get (allowedNamespaces);
//! `events.k8s.io` Events create, patch (a repeated event); with `--leader-elect` the Lease
//! `bucketcors-leader` get, create, update.
//!
//! To force a pass before the interval (tests, impatient people), change any annotation,
//! e.g. `kubectl annotate bcp NAME bucketcors.dev/reconcile-at="$(date +%s)" --overwrite`.

mod context;
mod leader;
mod states;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{Controller, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tracing::Instrument;

pub use context::Context;
pub use leader::{LEASE_NAME, LeaderElector};

use crate::api::{
    BucketCorsPolicy, ChecksumMode, ClusterS3Endpoint, EndpointKind, FINALIZER, S3Endpoint,
};
use crate::reconcile::{self, CleanupOutcome, ReconcileError, ViewError};
use crate::s3::EndpointConfig;
use crate::status::PolicyState;
use crate::telemetry::{self, Health, LogFormat, Metrics};

/// Flags of `bucketcors controller`.
#[derive(Clone, Debug, Args)]
pub struct ControllerArgs {
    /// Kubeconfig file. Without it, the client configuration is inferred as kubectl does:
    /// the `KUBECONFIG` list of files (merged), else `~/.kube/config`, else in-cluster.
    // Deliberately not `env = "KUBECONFIG"`: that variable is a list of paths, which only
    // the inference merges correctly; one explicit path is what the flag means.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Watch Secrets (metadata only) only in these namespaces: a change to a Secret there
    /// re-runs the policies whose endpoint reads it. Repeatable or comma-separated. Default: the
    /// `--namespace`, else all namespaces. Secrets elsewhere are still read when a pass needs
    /// them; only their changes wait for the next interval.
    #[arg(
        long = "secret-namespace",
        value_name = "NAMESPACE",
        value_delimiter = ','
    )]
    pub secret_namespaces: Vec<String>,
    /// Reconcile only policies matching this label selector (for sharding across deployments).
    #[arg(long)]
    pub selector: Option<String>,
    /// How many policies are reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Address serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Run only while holding the coordination.k8s.io Lease; exit when it is lost.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_elect_namespace: Option<String>,
    /// Base URL of the default endpoint, used by policies without `endpointRef` (default: AWS).
    #[arg(long)]
    pub default_endpoint_url: Option<String>,
    /// Signing region of the default endpoint (default: from the AWS environment).
    #[arg(long)]
    pub default_region: Option<String>,
    /// Path-style addressing for the default endpoint.
    #[arg(long)]
    pub default_path_style: bool,
    /// Integrity header mode for the default endpoint.
    #[arg(long, default_value = "Auto")]
    pub default_checksum: ChecksumMode,
    /// How long after a policy's deletion was requested (`metadata.deletionTimestamp`) a
    /// failing cleanup (store unreachable, throttled, access denied) is retried. After that the
    /// finalizer is released with a `CleanupAbandoned` Warning Event and the bucket is left as
    /// it is. A duration such as `30m`, `1h`, `2h 30m`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub cleanup_timeout: Duration,
    /// Log line format.
    #[arg(long, env = "BUCKETCORS_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// Why the controller stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The Kubernetes client could not be configured.
    #[error("kubernetes client: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The metrics address could not be bound.
    #[error("metrics server on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// Leadership was lost; the process must exit so another replica takes over cleanly.
    #[error(transparent)]
    LeaseLost(#[from] leader::LeaseLost),
}

/// Errors a pass hands to kube-runtime's error policy (which retries with backoff).
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The Kubernetes API failed.
    #[error(transparent)]
    Api(#[from] ViewError),
    /// Cleanup must be retried.
    #[error("cleanup: {0}")]
    Cleanup(#[source] ReconcileError),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

/// Runs the operator until SIGTERM/SIGINT or loss of leadership.
pub fn main(args: ControllerArgs) -> ExitCode {
    telemetry::init_tracing(args.log_format, "info");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bucketcors controller: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args, shutdown_signal()));
    // Reconcilers still finishing after a forced stop must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "controller stopped");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing running passes");
}

/// Chooses the process-wide TLS crypto provider. kube (ring) and the S3 client (aws-lc-rs) each
/// bring one; with both compiled in, rustls refuses to guess, so the choice is made here once.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The Kubernetes client: from `--kubeconfig` when given, else kube's inference.
async fn client(args: &ControllerArgs) -> Result<Client, ControllerError> {
    let boxed = |e: Box<dyn std::error::Error + Send + Sync>| ControllerError::Client(e);
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig =
                kube::config::Kubeconfig::read_from(path).map_err(|e| boxed(e.into()))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| boxed(e.into()))?
        }
        None => kube::Config::infer().await.map_err(|e| boxed(e.into()))?,
    };
    Client::try_from(config).map_err(|e| boxed(e.into()))
}

/// Runs the operator until `shutdown` resolves (graceful: running passes finish) or the
/// leader lease is lost (error).
pub async fn run(
    args: ControllerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    install_crypto_provider();
    let shutdown = shutdown.boxed().shared();
    let client = client(&args).await?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let (addr, server) = telemetry::serve(
        args.metrics_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(|source| ControllerError::Metrics {
        addr: args.metrics_addr,
        source,
    })?;
    tokio::spawn(server);
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");

    // Leader election: stand by (ready) until the Lease is ours.
    health.elector_ok.store(true, Ordering::Relaxed);
    let elector = if args.leader_elect {
        let ns = args
            .leader_elect_namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let mut elector = LeaderElector::new(client.clone(), &ns);
        tracing::info!(identity = elector.identity(), namespace = %ns, "waiting for the leader lease");
        health.standing_by.store(true, Ordering::Relaxed);
        tokio::select! {
            () = elector.acquire() => {},
            () = shutdown.clone() => return Ok(()),
        }
        health.standing_by.store(false, Ordering::Relaxed);
        Some(elector)
    } else {
        None
    };

    let controller = controller(&args, client, metrics, health.clone(), shutdown.clone());
    match elector {
        None => {
            controller.await;
            Ok(())
        }
        Some(elector) => {
            // Keep a handle for release; `hold` consumes the elector.
            let releaser = elector.clone();
            tokio::select! {
                () = controller => {
                    releaser.release().await;
                    Ok(())
                }
                lost = elector.hold() => {
                    health.elector_ok.store(false, Ordering::Relaxed);
                    Err(lost.into())
                }
            }
        }
    }
}

fn policy_api(client: &Client, namespace: Option<&str>) -> Api<BucketCorsPolicy> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn refs(
    policies: impl IntoIterator<Item = Arc<BucketCorsPolicy>>,
) -> Vec<ObjectRef<BucketCorsPolicy>> {
    policies
        .into_iter()
        .map(|p| ObjectRef::from_obj(&*p))
        .collect()
}

/// Where Secrets are watched: `--secret-namespace`, else `--namespace`, else everywhere. A
/// namespaced install (RBAC through Roles) must not need cluster-wide Secret list/watch.
fn secret_apis(args: &ControllerArgs, client: &Client) -> Vec<Api<PartialObjectMeta<Secret>>> {
    let mut namespaces: Vec<&str> = args
        .secret_namespaces
        .iter()
        .map(String::as_str)
        .filter(|ns| !ns.is_empty())
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    if namespaces.is_empty()
        && let Some(ns) = &args.namespace
    {
        namespaces.push(ns);
    }
    if namespaces.is_empty() {
        return vec![Api::all(client.clone())];
    }
    namespaces
        .into_iter()
        .map(|ns| Api::namespaced(client.clone(), ns))
        .collect()
}

/// Policies whose endpoint reads the Secret `ns/name`.
fn policies_reading_secret(
    ns: &str,
    name: &str,
    policies: &Store<BucketCorsPolicy>,
    s3: &Store<S3Endpoint>,
    cluster: &Store<ClusterS3Endpoint>,
) -> Vec<ObjectRef<BucketCorsPolicy>> {
    let reads = |settings: &crate::api::EndpointSettings, own_ns: Option<&str>| {
        let credential = settings
            .credentials
            .secret_ref
            .as_ref()
            .map(|r| (r.namespace.as_deref().or(own_ns), r.name.as_str()));
        let ca = settings
            .tls
            .as_ref()
            .and_then(|t| t.ca_secret_ref.as_ref())
            .map(|r| (r.namespace.as_deref().or(own_ns), r.name.as_str()));
        [credential, ca]
            .into_iter()
            .flatten()
            .any(|(n, m)| n == Some(ns) && m == name)
    };
    refs(policies.state().into_iter().filter(|p| {
        let Some(r) = &p.spec.endpoint_ref else {
            return false;
        };
        let policy_ns = p.namespace().unwrap_or_default();
        match r.kind {
            EndpointKind::S3Endpoint => s3
                .get(&ObjectRef::new(&r.name).within(&policy_ns))
                .is_some_and(|e| reads(&e.spec.settings, Some(&policy_ns))),
            EndpointKind::ClusterS3Endpoint => cluster
                .get(&ObjectRef::new(&r.name))
                .is_some_and(|e| reads(&e.spec.settings, None)),
        }
    }))
}

/// What of a policy, when it changes, deserves a pass: not its status (our own writes), but
/// its spec (generation), finalizers and annotations (the documented way to force a pass).
fn worth_a_pass(p: &BucketCorsPolicy) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        p.metadata.generation,
        p.finalizers(),
        p.annotations(),
        p.metadata.deletion_timestamp.is_some(),
    )
        .hash(&mut h);
    Some(h.finish())
}

/// Builds and runs the controller until shutdown.
async fn controller(
    args: &ControllerArgs,
    client: Client,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: futures::future::Shared<futures::future::BoxFuture<'static, ()>>,
) {
    let mut policy_config = watcher::Config::default();
    if let Some(selector) = &args.selector {
        policy_config = policy_config.labels(selector);
    }
    let (policies, policy_writer) = reflector::store::<BucketCorsPolicy>();
    let (s3_endpoints, s3_writer) = reflector::store::<S3Endpoint>();
    let (cluster_endpoints, cluster_writer) = reflector::store::<ClusterS3Endpoint>();

    // Other policies on the same bucket are re-queued when one changes or goes away.
    let (siblings_tx, siblings_rx) =
        futures::channel::mpsc::unbounded::<ObjectRef<BucketCorsPolicy>>();
    let trigger_siblings = {
        let policies = policies.clone();
        move |p: &BucketCorsPolicy| {
            for (ns, name) in reconcile::siblings(p, &policies.state()) {
                let _ = siblings_tx.unbounded_send(ObjectRef::new(&name).within(&ns));
            }
        }
    };
    let on_delete = trigger_siblings.clone();
    let policy_stream = watcher(
        policy_api(&client, args.namespace.as_deref()),
        policy_config,
    )
    .default_backoff()
    .reflect(policy_writer)
    .inspect(move |event| {
        if let Ok(watcher::Event::Delete(p)) = event {
            on_delete(p);
        }
    })
    .touched_objects()
    .predicate_filter(worth_a_pass, Default::default())
    .inspect(move |p| {
        if let Ok(p) = p {
            trigger_siblings(p);
        }
    });

    let s3_api: Api<S3Endpoint> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let s3_stream = watcher(s3_api, watcher::Config::default())
        .default_backoff()
        .reflect(s3_writer)
        .touched_objects();
    let cluster_stream = watcher(
        Api::<ClusterS3Endpoint>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(cluster_writer)
    .touched_objects();
    let secret_stream =
        futures::stream::select_all(secret_apis(args, &client).into_iter().map(|api| {
            watcher(api, watcher::Config::default())
                .default_backoff()
                .touched_objects()
                .boxed()
        }));

    let default_endpoint = EndpointConfig {
        url: args.default_endpoint_url.clone(),
        region: args.default_region.clone(),
        force_path_style: args.default_path_style,
        checksum: args.default_checksum,
        ..EndpointConfig::default()
    };
    let ctx = Arc::new(Context::new(
        client,
        policies.clone(),
        s3_endpoints.clone(),
        cluster_endpoints.clone(),
        default_endpoint,
        args.cleanup_timeout,
        metrics,
    ));
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            ctx.watch_caches().await;
            health.synced.store(true, Ordering::Relaxed);
            tracing::info!("caches synced");
        });
    }

    let (map_policies, map_s3, map_cluster) = (
        policies.clone(),
        s3_endpoints.clone(),
        cluster_endpoints.clone(),
    );
    let s3_mapper = {
        let policies = policies.clone();
        move |e: S3Endpoint| {
            let (ns, name) = (e.namespace().unwrap_or_default(), e.name_any());
            refs(policies.state().into_iter().filter(|p| {
                p.namespace().as_deref() == Some(ns.as_str())
                    && p.spec
                        .endpoint_ref
                        .as_ref()
                        .is_some_and(|r| r.kind == EndpointKind::S3Endpoint && r.name == name)
            }))
        }
    };
    let cluster_mapper = {
        let policies = policies.clone();
        move |e: ClusterS3Endpoint| {
            let name = e.name_any();
            refs(policies.state().into_iter().filter(|p| {
                p.spec
                    .endpoint_ref
                    .as_ref()
                    .is_some_and(|r| r.kind == EndpointKind::ClusterS3Endpoint && r.name == name)
            }))
        }
    };
    let secret_mapper = move |s: PartialObjectMeta<Secret>| {
        let (ns, name) = (s.namespace().unwrap_or_default(), s.name_any());
        policies_reading_secret(&ns, &name, &map_policies, &map_s3, &map_cluster)
    };

    Controller::for_stream(policy_stream, policies)
        .with_config(ControllerConfig::default().concurrency(args.concurrency))
        .watches_stream(s3_stream, s3_mapper)
        .watches_stream(cluster_stream, cluster_mapper)
        .watches_stream(secret_stream, secret_mapper)
        .reconcile_on(siblings_rx)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_policy, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                // Already logged by `error_policy`, inside the pass's span.
                Ok(_) | Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                Err(e) => tracing::debug!(error = %e, "controller stream"),
            }
        })
        .await;
}

/// The span every log line about one policy's pass runs in, so that each line carries the
/// policy's namespace, name and bucket (DESIGN section 5: JSON logs with them on every line).
fn pass_span(policy: &BucketCorsPolicy) -> tracing::Span {
    tracing::info_span!(
        "reconcile",
        namespace = %policy.namespace().unwrap_or_default(),
        policy = %policy.name_any(),
        bucket = %policy.spec.bucket,
    )
}

/// One pass for one policy: finalizer bookkeeping, then apply or cleanup.
async fn reconcile_policy(
    policy: Arc<BucketCorsPolicy>,
    ctx: Arc<Context>,
) -> Result<Action, PassError> {
    let span = pass_span(&policy);
    async move {
        ctx.caches_ready().await;
        let api = Api::<BucketCorsPolicy>::namespaced(
            ctx.client.clone(),
            &policy.namespace().unwrap_or_default(),
        );
        let result = finalizer(&api, FINALIZER, policy, |event| async {
            match event {
                FinalizerEvent::Apply(p) => apply(&p, &ctx).await,
                FinalizerEvent::Cleanup(p) => cleanup(&p, &ctx).await,
            }
        })
        .await;
        use kube::runtime::finalizer::Error as FinalizerError;
        match result {
            Ok(action) => Ok(action),
            Err(FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e)) => Err(e),
            // The finalizer patch carries a test of the finalizers we saw; it fails when our
            // cached copy is older than a finalizer change (typically our own, moments ago).
            // The watch brings the newer copy: look again shortly, without counting a failure.
            Err(
                FinalizerError::AddFinalizer(kube::Error::Api(s))
                | FinalizerError::RemoveFinalizer(kube::Error::Api(s)),
            ) if s.code == 422 || s.code == 409 => {
                tracing::debug!(
                    "finalizer patch raced a newer version of the policy; looking again"
                );
                Ok(Action::requeue(Duration::from_secs(1)))
            }
            Err(other) => Err(PassError::Finalizer(other.to_string())),
        }
    }
    .instrument(span)
    .await
}

async fn apply(policy: &BucketCorsPolicy, ctx: &Context) -> Result<Action, PassError> {
    let started = Instant::now();
    let key = policy.key();
    let outcome = match reconcile::reconcile_once(policy, ctx.deps(), Timestamp::now()).await {
        Ok(o) => o,
        Err(e) => {
            ctx.metrics.reconciled("error", started.elapsed());
            return Err(e.into());
        }
    };
    // `Applied` stays the Ready reason until something changes; the metric says what this pass
    // did, so a pass that found the bucket as declared counts as `InSync`.
    let result = match outcome.reason {
        crate::status::Reason::Applied if outcome.wrote.is_none() => crate::status::Reason::InSync,
        reason => reason,
    };
    ctx.metrics.reconciled(result.as_str(), started.elapsed());
    if outcome.drift_detected {
        ctx.metrics.drift();
    }
    ctx.set_state(policy, Some(PolicyState::from(outcome.reason)));
    ctx.events.publish(policy, &outcome.events).await;
    let attempt = if outcome.retry() {
        Some(ctx.next_attempt(&key))
    } else {
        ctx.reset_attempts(&key);
        None
    };
    let after = reconcile::requeue_after(policy.spec.interval(), attempt, rand::random::<f64>());
    match &outcome.error {
        Some(e) if outcome.retry() => {
            tracing::warn!(reason = %outcome.reason, error = %e, retry_in = ?after, "pass failed; retrying")
        }
        Some(e) => tracing::warn!(reason = %outcome.reason, error = %e, "pass stalled"),
        None => tracing::info!(
            reason = %outcome.reason,
            wrote = outcome.wrote.map(|o| o.as_str()),
            status_writes = outcome.status_writes,
            requeue_in = ?after,
            "reconciled"
        ),
    }
    Ok(Action::requeue(after))
}

async fn cleanup(policy: &BucketCorsPolicy, ctx: &Context) -> Result<Action, PassError> {
    let started = Instant::now();
    let key = policy.key();
    let last_failure = ctx.last_cleanup_failure(&key);
    let outcome = reconcile::cleanup_once(policy, ctx.deps(), Timestamp::now(), last_failure).await;
    let (events, result) = match outcome {
        CleanupOutcome::Done { events, wrote } => {
            ctx.metrics.reconciled("Cleanup", started.elapsed());
            tracing::info!(wrote = wrote.map(|o| o.as_str()), deletion_policy = ?policy.spec.deletion_policy, "cleaned up; releasing the finalizer");
            (events, Ok(Action::await_change()))
        }
        CleanupOutcome::Abandoned { events, error } => {
            ctx.metrics
                .reconciled("CleanupAbandoned", started.elapsed());
            tracing::warn!(reason = %error.reason(), error = %error, timeout = ?ctx.cleanup_timeout, "cleanup kept failing; releasing the finalizer without it");
            (events, Ok(Action::await_change()))
        }
        CleanupOutcome::Retry { events, error } => {
            ctx.metrics.reconciled("CleanupRetry", started.elapsed());
            ctx.set_cleanup_failure(&key, Some(error.reason()));
            ctx.events.publish(policy, &events).await;
            return Err(PassError::Cleanup(error));
        }
    };
    ctx.events.publish(policy, &events).await;
    ctx.reset_attempts(&key);
    ctx.set_cleanup_failure(&key, None);
    ctx.set_state(policy, None);
    result
}

/// Retries failed passes with exponential backoff per policy.
fn error_policy(policy: Arc<BucketCorsPolicy>, error: &PassError, ctx: Arc<Context>) -> Action {
    // kube-runtime calls this after the pass's future (and its span) has ended; entering the
    // same span again gives this line the same fields as the pass's own lines.
    let _span = pass_span(&policy).entered();
    let attempt = ctx.next_attempt(&policy.key());
    let after =
        reconcile::requeue_after(policy.spec.interval(), Some(attempt), rand::random::<f64>());
    // Every failed pass is retried: the policy is being reconciled, whatever the gauge said
    // after its last successful pass.
    ctx.set_state(&policy, Some(PolicyState::Reconciling));
    tracing::warn!(error = %error, retry_in = ?after, "pass failed");
    Action::requeue(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_comes_from_the_flag_only() {
        // `KUBECONFIG` is a list of files that kube's inference merges; reading it as one
        // path (clap's `env`) breaks every list of two or more.
        let cmd = <ControllerArgs as Args>::augment_args(clap::Command::new("controller"));
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == "kubeconfig")
            .expect("--kubeconfig");
        assert_eq!(arg.get_env(), None);
    }
}
