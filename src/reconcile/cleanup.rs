//! Deletion of a policy: carry out `deletionPolicy` on the bucket, or say why not, so the
//! finalizer can be released.
//!
//! Deletion writes to a bucket only when every one of these holds: the policy may write at all
//! (`driftPolicy: Enforce`, not suspended), it owns the bucket now (no older policy on it), and
//! it owned it before (its status shows that it read the bucket as owner). Failures that may pass
//! are retried, but only for [`Deps::cleanup_timeout`] after the deletion was requested: a store
//! that is gone for good must not keep a policy, and the namespace holding it, from going away.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::{Deps, EventNote, ReconcileError, conflict_owner, endpoint};
use crate::api::{BucketCorsPolicy, BucketCorsPolicyStatus, DeletionPolicy, DriftPolicy};
use crate::cors::{self, Plan};
use crate::s3::{BucketRef, Operation, StoreErrorKind};
use crate::status::Reason;

/// What the deletion of a policy concluded.
#[derive(Debug)]
pub enum CleanupOutcome {
    /// The deletion policy has been carried out (or cannot ever be): remove the finalizer.
    Done {
        /// Events to publish (a Warning says why the bucket was left as it was).
        events: Vec<EventNote>,
        /// The write made, if any.
        wrote: Option<Operation>,
    },
    /// Try again later; keep the finalizer.
    Retry {
        /// Events to publish: a `CleanupFailed` Warning on the first failure and whenever the
        /// failure's class changes, nothing while the same failure repeats.
        events: Vec<EventNote>,
        /// Why. Its [`ReconcileError::reason`] is the class to pass back as `last_failure`.
        error: ReconcileError,
    },
    /// Failures went on for longer than [`Deps::cleanup_timeout`]: give up, remove the
    /// finalizer, and leave the bucket as it is.
    Abandoned {
        /// The `CleanupAbandoned` Warning.
        events: Vec<EventNote>,
        /// The last failure.
        error: ReconcileError,
    },
}

/// Carries out `deletionPolicy` for a policy being deleted, at time `now`.
///
/// Lets go without writing: `Retain`; `driftPolicy: Report` (it promises never to write, on
/// deletion too); a suspended policy; a conflict loser; a policy that never owned the bucket
/// (invalid spec, conflict or an endpoint that never worked from the start); and `Restore`
/// with nothing captured. An endpoint, Secret or bucket that is gone also lets go (with a
/// Warning): deletion never hangs on something that cannot come back by itself. Access denied
/// and transient failures are retried until `deps.cleanup_timeout` after
/// `metadata.deletionTimestamp`, then abandoned.
///
/// `last_failure` is the class of the previous attempt's failure, if it failed, so a failure
/// that repeats is not announced again.
pub async fn cleanup_once(
    policy: &BucketCorsPolicy,
    deps: Deps<'_>,
    now: Timestamp,
    last_failure: Option<Reason>,
) -> CleanupOutcome {
    let spec = &policy.spec;
    let retained = |note: String| CleanupOutcome::Done {
        events: vec![EventNote::new(false, "Retained", "Cleanup", note)],
        wrote: None,
    };
    if spec.deletion_policy == DeletionPolicy::Retain {
        return retained(format!(
            "deletionPolicy Retain: left the CORS configuration of bucket {:?} as it is",
            spec.bucket
        ));
    }
    if spec.drift_policy == DriftPolicy::Report {
        return retained(format!(
            "driftPolicy Report never writes to the bucket, not even on deletion: left the CORS \
             configuration of bucket {:?} as it is (deletionPolicy {:?} treated as Retain)",
            spec.bucket, spec.deletion_policy
        ));
    }
    if spec.suspend {
        return retained(format!(
            "policy is suspended: left the CORS configuration of bucket {:?} as it is",
            spec.bucket
        ));
    }
    if let Some(owner) = conflict_owner(policy, deps) {
        return retained(format!(
            "bucket {:?} is owned by BucketCorsPolicy {owner}; not touched",
            spec.bucket
        ));
    }
    let attempt = Attempt {
        policy,
        timeout: deps.cleanup_timeout,
        now,
        last_failure,
    };

    // What the policy did to the bucket decides what deletion may do, so it is read from the
    // API server: a cache that has not seen the latest status yet could only make deletion
    // skip a write it owes (a restore, say), and one read per deletion is cheap.
    let status = match deps.view.fresh_status(policy).await {
        Ok(fresh) => fresh.or_else(|| policy.status.clone()).unwrap_or_default(),
        Err(e) => return attempt.failed(e.into()),
    };
    if !has_owned(&status) {
        // No older policy is left now, but this one never got as far as reading the bucket as
        // its owner (invalid spec, a conflict it lost, an endpoint that never worked): what is
        // on the bucket is someone else's, possibly another policy's left behind on purpose.
        return retained(format!(
            "this policy never owned bucket {:?} (it never read it); left its CORS \
             configuration as it is",
            spec.bucket
        ));
    }
    let target = match spec.deletion_policy {
        DeletionPolicy::Restore => match status.original {
            Some(o) => o.rules,
            None if status.last_applied_time.is_some() => {
                return retained(format!(
                    "the configuration bucket {:?} had before this policy first changed it was \
                     never recorded (the policy wrote it before bucketcors recorded originals \
                     for every deletionPolicy); left it as it is",
                    spec.bucket
                ));
            }
            None => {
                return retained(format!(
                    "the policy never changed bucket {:?}; nothing to restore",
                    spec.bucket
                ));
            }
        },
        _ => Vec::new(),
    };
    let let_go = |e: &ReconcileError| CleanupOutcome::Done {
        events: vec![EventNote::new(
            true,
            "CleanupSkipped",
            "Cleanup",
            format!("left bucket {:?} as it is: {e}", spec.bucket),
        )],
        wrote: None,
    };
    let endpoint = match endpoint::resolve(policy, deps.view, deps.default_endpoint).await {
        Ok(e) => e,
        Err(e) if e.is_retryable() => return attempt.failed(e),
        Err(e) => return let_go(&e),
    };
    let store = match deps.stores.store(&endpoint).await {
        Ok(s) => s,
        Err(e) if e.is_retryable() => return attempt.failed(e),
        Err(e) => return let_go(&e),
    };
    let bucket = BucketRef {
        name: spec.bucket.clone(),
        expected_owner: spec.expected_bucket_owner.clone(),
    };
    let step = async {
        let live = store.get(&bucket).await?;
        Ok::<_, crate::s3::StoreError>(match cors::plan(&target, &live) {
            Plan::Nothing => None,
            Plan::Put(rules) => Some((Operation::Put, store.put(&bucket, &rules).await)),
            Plan::Delete => Some((Operation::Delete, store.delete(&bucket).await)),
        })
    };
    let (verb, reason) = match spec.deletion_policy {
        DeletionPolicy::Restore => ("restored the original CORS configuration of", "Restored"),
        _ => ("removed the CORS configuration of", "Deleted"),
    };
    match step.await {
        Ok(None) => CleanupOutcome::Done {
            events: vec![EventNote::new(
                false,
                reason,
                "Cleanup",
                format!(
                    "bucket {:?} already had the configuration to leave behind",
                    spec.bucket
                ),
            )],
            wrote: None,
        },
        Ok(Some((op, Ok(())))) => CleanupOutcome::Done {
            events: vec![EventNote::new(
                false,
                reason,
                "Cleanup",
                format!("{verb} bucket {:?}", spec.bucket),
            )],
            wrote: Some(op),
        },
        Ok(Some((_, Err(e)))) | Err(e) => {
            let gone = matches!(
                e.kind,
                StoreErrorKind::NoSuchBucket
                    | StoreErrorKind::NotImplemented
                    | StoreErrorKind::InvalidConfiguration
            );
            let error = ReconcileError::from(e);
            if gone {
                let_go(&error)
            } else {
                // Access denied is retried here, unlike in a reconcile: giving up would release
                // the finalizer with the deletion policy not carried out, and a permission is
                // often fixed soon after someone notices. The timeout bounds it.
                attempt.failed(error)
            }
        }
    }
}

/// True when the status shows that the policy read the bucket as its owner at least once: only
/// an owner's pass reads the bucket (and records `liveRules`), writes it, or captures its
/// original configuration.
fn has_owned(status: &BucketCorsPolicyStatus) -> bool {
    status.live_rules.is_some() || status.last_applied_time.is_some() || status.original.is_some()
}

/// One deletion attempt, for deciding what a failure means.
struct Attempt<'a> {
    policy: &'a BucketCorsPolicy,
    timeout: Duration,
    now: Timestamp,
    last_failure: Option<Reason>,
}

impl Attempt<'_> {
    /// Retry, or give up once the timeout has passed since the deletion was requested. A policy
    /// without a deletion timestamp (never the case for one being deleted) is always retried.
    fn failed(self, error: ReconcileError) -> CleanupOutcome {
        let bucket = &self.policy.spec.bucket;
        let class = error.reason();
        let waited = self
            .policy
            .metadata
            .deletion_timestamp
            .as_ref()
            .map(|t| self.now.duration_since(t.0));
        let limit = SignedDuration::try_from(self.timeout).unwrap_or(SignedDuration::MAX);
        if waited.is_some_and(|w| w >= limit) {
            let note = format!(
                "gave up cleaning up bucket {bucket:?}: deletion was requested more than {} ago \
                 (--cleanup-timeout) and the last attempt failed ({class}): {error}; left its CORS \
                 configuration as it is (deletionPolicy {:?} not carried out)",
                humantime::format_duration(self.timeout),
                self.policy.spec.deletion_policy,
            );
            return CleanupOutcome::Abandoned {
                events: vec![EventNote::new(true, "CleanupAbandoned", "Cleanup", note)],
                error,
            };
        }
        // Events mark transitions: the first failure, or a failure of another kind. A store
        // that stays down says so once, not on every retry.
        let events = if self.last_failure == Some(class) {
            Vec::new()
        } else {
            vec![EventNote::new(
                true,
                "CleanupFailed",
                "Cleanup",
                format!("cannot clean up bucket {bucket:?} yet ({class}; retrying): {error}"),
            )]
        };
        CleanupOutcome::Retry { events, error }
    }
}
