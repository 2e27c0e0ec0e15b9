//! Deletion of a policy: carry out `deletionPolicy` on the bucket, or say why not, so the
//! finalizer can be released.

use super::{Deps, EventNote, ReconcileError, conflict_owner, endpoint};
use crate::api::{BucketCorsPolicy, DeletionPolicy};
use crate::cors::{self, Plan};
use crate::s3::{BucketRef, Operation, StoreErrorKind};

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
        /// Events to publish.
        events: Vec<EventNote>,
        /// Why.
        error: ReconcileError,
    },
}

/// Carries out `deletionPolicy` for a policy being deleted.
///
/// Only the bucket's owner touches it; a conflict loser, a suspended policy, `Retain`, and
/// `Restore` with nothing captured just let go. An endpoint, Secret or bucket that is gone also
/// lets go (with a Warning): deletion never hangs on something that cannot come back by itself.
/// Access denied and transient failures are retried.
pub async fn cleanup_once(policy: &BucketCorsPolicy, deps: Deps<'_>) -> CleanupOutcome {
    let spec = &policy.spec;
    let done = |warning: bool, reason: &str, note: String| CleanupOutcome::Done {
        events: vec![EventNote::new(warning, reason, "Cleanup", note)],
        wrote: None,
    };
    if spec.deletion_policy == DeletionPolicy::Retain {
        return done(
            false,
            "Retained",
            format!(
                "deletionPolicy Retain: left the CORS configuration of bucket {:?} as it is",
                spec.bucket
            ),
        );
    }
    if spec.suspend {
        return done(
            false,
            "Retained",
            format!(
                "policy is suspended: left the CORS configuration of bucket {:?} as it is",
                spec.bucket
            ),
        );
    }
    if let Some(owner) = conflict_owner(policy, deps) {
        return done(
            false,
            "Retained",
            format!(
                "bucket {:?} is owned by BucketCorsPolicy {owner}; not touched",
                spec.bucket
            ),
        );
    }
    let original = policy.status.as_ref().and_then(|s| s.original.as_ref());
    let target = match spec.deletion_policy {
        DeletionPolicy::Restore => match original {
            Some(o) => o.rules.clone(),
            None => {
                return done(
                    false,
                    "Retained",
                    format!(
                        "the policy never changed bucket {:?}; nothing to restore",
                        spec.bucket
                    ),
                );
            }
        },
        _ => Vec::new(),
    };
    let let_go = |e: &ReconcileError| {
        done(
            true,
            "CleanupSkipped",
            format!("left bucket {:?} as it is: {e}", spec.bucket),
        )
    };
    let endpoint = match endpoint::resolve(policy, deps.view, deps.default_endpoint).await {
        Ok(e) => e,
        Err(e) if e.is_retryable() => {
            return CleanupOutcome::Retry {
                events: Vec::new(),
                error: e,
            };
        }
        Err(e) => return let_go(&e),
    };
    let store = match deps.stores.store(&endpoint).await {
        Ok(s) => s,
        Err(e) if e.is_retryable() => {
            return CleanupOutcome::Retry {
                events: Vec::new(),
                error: e,
            };
        }
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
        Ok(None) => done(
            false,
            reason,
            format!(
                "bucket {:?} already had the configuration to leave behind",
                spec.bucket
            ),
        ),
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
                let events = vec![EventNote::new(
                    true,
                    "CleanupFailed",
                    "Cleanup",
                    error.to_string(),
                )];
                CleanupOutcome::Retry { events, error }
            }
        }
    }
}
