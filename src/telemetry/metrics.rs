//! Prometheus metrics under the names DESIGN section 4 fixes, and a [`CorsStore`] wrapper that
//! counts every S3 request.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::CorsRule;
use crate::s3::{BucketRef, CorsStore, Operation, StoreError, StoreErrorKind};
use crate::status::PolicyState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// Refreshes metrics computed from state outside the registry, just before a render.
type ScrapeHook = Box<dyn Fn(&Metrics) + Send + Sync>;

/// The controller's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    s3_requests: Family<RequestLabels, Counter>,
    cors_writes: Family<OperationLabel, Counter>,
    drift_detected: Counter,
    status_patches: Counter,
    reconcile_duration: Histogram,
    policies: Family<StateLabel, Gauge>,
    scrape_hooks: std::sync::Mutex<Vec<ScrapeHook>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ResultLabel, Counter>::default();
        let s3_requests = Family::<RequestLabels, Counter>::default();
        let cors_writes = Family::<OperationLabel, Counter>::default();
        let drift_detected = Counter::default();
        let status_patches = Counter::default();
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let policies = Family::<StateLabel, Gauge>::default();
        registry.register(
            "bucketcors_reconciles",
            "Reconcile passes by result",
            reconciles.clone(),
        );
        registry.register(
            "bucketcors_s3_requests",
            "S3 requests by operation and outcome",
            s3_requests.clone(),
        );
        registry.register(
            "bucketcors_cors_writes",
            "Successful CORS writes to buckets",
            cors_writes.clone(),
        );
        registry.register(
            "bucketcors_drift_detected",
            "Times a bucket was found changed after having been in sync",
            drift_detected.clone(),
        );
        registry.register(
            "bucketcors_status_patches",
            "Status writes sent to the API server",
            status_patches.clone(),
        );
        registry.register_with_unit(
            "bucketcors_reconcile_duration",
            "Duration of one reconcile pass",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register(
            "bucketcors_policies",
            "Policies by the state of their last pass: ready, reconciling (in progress or \
             being retried), stalled (needs a person), drifted (Report mode found a \
             difference), suspended",
            policies.clone(),
        );
        for state in PolicyState::ALL {
            policies
                .get_or_create(&StateLabel {
                    state: state.as_str().to_owned(),
                })
                .set(0);
        }
        Self {
            registry,
            reconciles,
            s3_requests,
            cors_writes,
            drift_detected,
            status_patches,
            reconcile_duration,
            policies,
            scrape_hooks: std::sync::Mutex::default(),
        }
    }

    /// The `Content-Type` of what [`Self::render`] produces: prometheus-client's text encoder
    /// writes the OpenMetrics 1.0.0 text format (`# EOF` terminated), which Prometheus scrapes
    /// natively. Kept next to `render` so that the header and the body cannot disagree.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// Runs `hook` before every [`Self::render`], for values that are cheaper to compute on
    /// demand than to keep up to date (the per-state policy counts).
    pub fn on_scrape(&self, hook: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.scrape_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(hook));
    }

    /// Counts a finished pass (`result` is a reason, `error`, or a cleanup result) and its duration.
    pub fn reconciled(&self, result: &str, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Counts one S3 request.
    pub fn s3_request(&self, operation: Operation, outcome: &str) {
        let labels = RequestLabels {
            operation: operation.as_str().to_owned(),
            outcome: outcome.to_owned(),
        };
        self.s3_requests.get_or_create(&labels).inc();
    }

    /// Counts one successful write.
    pub fn cors_write(&self, operation: Operation) {
        self.cors_writes
            .get_or_create(&OperationLabel {
                operation: operation.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts a detected drift.
    pub fn drift(&self) {
        self.drift_detected.inc();
    }

    /// Counts status writes.
    pub fn status_patches(&self, n: u32) {
        self.status_patches.inc_by(u64::from(n));
    }

    /// Sets the per-state policy counts.
    pub fn set_policies(&self, counts: &[(PolicyState, i64)]) {
        for (state, n) in counts {
            self.policies
                .get_or_create(&StateLabel {
                    state: state.as_str().to_owned(),
                })
                .set(*n);
        }
    }

    /// The metrics in the OpenMetrics text format (see [`Self::CONTENT_TYPE`]), after running
    /// the scrape hooks.
    pub fn render(&self) -> String {
        for hook in self
            .scrape_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            hook(self);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn outcome<T>(r: &Result<T, StoreError>) -> &'static str {
    match r {
        Ok(_) => "success",
        Err(e) => match e.kind {
            StoreErrorKind::NoSuchBucket => "no_such_bucket",
            StoreErrorKind::AccessDenied => "access_denied",
            StoreErrorKind::InvalidConfiguration => "invalid_configuration",
            StoreErrorKind::NotImplemented => "not_implemented",
            StoreErrorKind::WrongRegion => "wrong_region",
            StoreErrorKind::Throttled => "throttled",
            StoreErrorKind::Transient => "transient",
            StoreErrorKind::Other => "other",
        },
    }
}

/// A [`CorsStore`] that counts every request and every successful write.
pub struct MeteredStore {
    inner: Arc<dyn CorsStore>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn CorsStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl CorsStore for MeteredStore {
    async fn get(&self, bucket: &BucketRef) -> Result<Vec<CorsRule>, StoreError> {
        let r = self.inner.get(bucket).await;
        self.metrics.s3_request(Operation::Get, outcome(&r));
        r
    }

    async fn put(&self, bucket: &BucketRef, rules: &[CorsRule]) -> Result<(), StoreError> {
        let r = self.inner.put(bucket, rules).await;
        self.metrics.s3_request(Operation::Put, outcome(&r));
        if r.is_ok() {
            self.metrics.cors_write(Operation::Put);
        }
        r
    }

    async fn delete(&self, bucket: &BucketRef) -> Result<(), StoreError> {
        let r = self.inner.delete(bucket).await;
        self.metrics.s3_request(Operation::Delete, outcome(&r));
        if r.is_ok() {
            self.metrics.cors_write(Operation::Delete);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_fixed_ones() {
        let m = Metrics::new();
        m.reconciled("InSync", Duration::from_millis(20));
        m.s3_request(Operation::Get, "success");
        m.cors_write(Operation::Put);
        m.drift();
        m.status_patches(2);
        let text = m.render();
        for needle in [
            "bucketcors_reconciles_total{result=\"InSync\"} 1",
            "bucketcors_s3_requests_total{operation=\"get\",outcome=\"success\"} 1",
            "bucketcors_cors_writes_total{operation=\"put\"} 1",
            "bucketcors_drift_detected_total 1",
            "bucketcors_status_patches_total 2",
            "bucketcors_reconcile_duration_seconds_count 1",
            "bucketcors_policies{state=\"ready\"} 0",
            "bucketcors_policies{state=\"drifted\"} 0",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn the_body_is_the_format_the_content_type_names() {
        let text = Metrics::new().render();
        assert!(Metrics::CONTENT_TYPE.starts_with("application/openmetrics-text"));
        // OpenMetrics, not the 0.0.4 text format: terminated by `# EOF`, counters' metadata
        // under the family name without `_total`.
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains(
                "# TYPE bucketcors_drift_detected counter\nbucketcors_drift_detected_total 0\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn scrape_hooks_run_before_each_render() {
        let m = Metrics::new();
        let scrapes = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let seen = scrapes.clone();
        m.on_scrape(move |m| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            m.set_policies(&[(PolicyState::Drifted, n)]);
        });
        assert!(
            m.render()
                .contains("bucketcors_policies{state=\"drifted\"} 1")
        );
        assert!(
            m.render()
                .contains("bucketcors_policies{state=\"drifted\"} 2")
        );
    }
}
