//! Leader election on a `coordination.k8s.io/v1` Lease, with resourceVersion-checked updates.
//!
//! One replica holds the Lease and renews it; the others poll. A holder that cannot renew
//! within the lease duration (or finds another holder) has lost: the caller exits the process,
//! so two replicas never reconcile at once for longer than one lease duration.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// Name of the Lease.
pub const LEASE_NAME: &str = "bucketcors-leader";
/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews, and how often the others try.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Competes for and holds the Lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    identity: String,
    /// The Lease record last seen held by someone else, and when we first saw it. The holder's
    /// own clock (renewTime) is not trusted: a record that stays unchanged for a lease duration,
    /// by our clock, has expired.
    observed: Option<(String, Instant)>,
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
#[error("lost the leader lease {LEASE_NAME}: {0}")]
pub struct LeaseLost(String);

impl LeaderElector {
    /// An elector for the Lease in `namespace`, under a unique identity (pod name plus a
    /// random suffix, so that a restarted pod is a new candidate).
    pub fn new(client: Client, namespace: &str) -> Self {
        let base = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "bucketcors".into());
        let identity = format!("{base}-{:08x}", rand::random::<u32>());
        Self {
            api: Api::namespaced(client, namespace),
            identity,
            observed: None,
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(identity = %self.identity, "acquired the leader lease");
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: could not read or update the lease")
                }
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the Lease until it is lost; returns why.
    pub async fn hold(mut self) -> LeaseLost {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => return LeaseLost("another candidate holds it".into()),
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: renewal failed");
                    // Give up before the lease could have expired for the others.
                    if last_renewal.elapsed() + RETRY_PERIOD >= LEASE_DURATION {
                        return LeaseLost(format!(
                            "could not renew for {:?}: {e}",
                            last_renewal.elapsed()
                        ));
                    }
                }
            }
        }
    }

    /// Gives the Lease up (on a clean shutdown), so the next leader need not wait it out.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(LEASE_NAME).await {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                spec.holder_identity = None;
                spec.lease_duration_seconds = Some(1);
                let _ = self
                    .api
                    .replace(LEASE_NAME, &PostParams::default(), &lease)
                    .await;
            }
        }
    }

    /// One round: take the Lease if it is free, expired or ours. `Ok(true)` when we hold it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
        let Some(mut lease) = self.api.get_opt(LEASE_NAME).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.into()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if !ours && holder.is_some() {
            let record = format!(
                "{holder:?}/{:?}/{:?}",
                spec.renew_time.as_ref().map(|t| t.0),
                spec.lease_duration_seconds
            );
            let held_for = spec
                .lease_duration_seconds
                .map_or(LEASE_DURATION, |s| Duration::from_secs(s.max(1) as u64));
            match &self.observed {
                Some((seen, since)) if *seen == record => {
                    if since.elapsed() < held_for {
                        return Ok(false);
                    }
                }
                _ => {
                    self.observed = Some((record, Instant::now()));
                    return Ok(false);
                }
            }
        }
        if !ours {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(duration);
        spec.renew_time = Some(now);
        // `replace` sends the resourceVersion we read: a concurrent update makes it fail (409).
        match self
            .api
            .replace(LEASE_NAME, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                self.observed = None;
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}
