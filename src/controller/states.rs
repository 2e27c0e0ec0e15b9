//! The last known state of every policy, behind the `bucketcors_policies{state}` gauge.
//!
//! Passes record what they found; policies that leave the watch are forgotten by comparing
//! with the reflector store when the gauge is read. A policy can leave without a pass seeing
//! it go (finalizer removed by hand, labels changed out of `--selector`, a deletion missed
//! while the watch re-listed), so forgetting only on cleanup would count it forever.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::runtime::reflector::ObjectRef;

use crate::api::BucketCorsPolicy;
use crate::status::PolicyState;

/// Per-policy states, keyed by the policy's reference.
#[derive(Debug, Default)]
pub struct PolicyStates {
    states: Mutex<HashMap<ObjectRef<BucketCorsPolicy>, PolicyState>>,
}

impl PolicyStates {
    /// Records the state a pass left `policy` in; `None` forgets it (cleanup done).
    pub fn set(&self, policy: ObjectRef<BucketCorsPolicy>, state: Option<PolicyState>) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            Some(s) => states.insert(policy, s),
            None => states.remove(&policy),
        };
    }

    /// Forgets every policy for which `watched` is false, then counts the rest per state
    /// (every state, zeros included, so the gauge never keeps a stale value).
    pub fn prune_and_count(
        &self,
        watched: impl Fn(&ObjectRef<BucketCorsPolicy>) -> bool,
    ) -> Vec<(PolicyState, i64)> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.retain(|policy, _| watched(policy));
        PolicyState::ALL
            .iter()
            .map(|s| (*s, states.values().filter(|v| *v == s).count() as i64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BucketCorsPolicySpec, DeletionPolicy, DriftPolicy};
    use crate::status::Reason;
    use kube::runtime::reflector::{self, Store};
    use kube::runtime::watcher::Event;

    fn policy(ns: &str, name: &str) -> BucketCorsPolicy {
        let mut p = BucketCorsPolicy::new(
            name,
            BucketCorsPolicySpec {
                bucket: "assets".into(),
                endpoint_ref: None,
                expected_bucket_owner: None,
                rules: vec![],
                drift_policy: DriftPolicy::Enforce,
                deletion_policy: DeletionPolicy::Delete,
                interval: None,
                suspend: false,
            },
        );
        p.metadata.namespace = Some(ns.into());
        p
    }

    fn count(counts: &[(PolicyState, i64)], state: PolicyState) -> i64 {
        counts.iter().find(|(s, _)| *s == state).map_or(-1, |c| c.1)
    }

    fn in_store(store: &Store<BucketCorsPolicy>) -> impl Fn(&ObjectRef<BucketCorsPolicy>) -> bool {
        move |r| store.get(r).is_some()
    }

    #[test]
    fn counts_every_state_and_a_policy_once() {
        let states = PolicyStates::default();
        let (a, b) = (policy("ns", "a"), policy("ns", "b"));
        states.set(ObjectRef::from_obj(&a), Some(PolicyState::Stalled));
        // The next pass replaces the state; it does not add a second one.
        states.set(ObjectRef::from_obj(&a), Some(PolicyState::Ready));
        states.set(
            ObjectRef::from_obj(&b),
            Some(PolicyState::from(Reason::DriftReported)),
        );
        let counts = states.prune_and_count(|_| true);
        assert_eq!(counts.len(), PolicyState::ALL.len(), "zeros are reported");
        assert_eq!(count(&counts, PolicyState::Ready), 1);
        assert_eq!(count(&counts, PolicyState::Drifted), 1);
        assert_eq!(count(&counts, PolicyState::Stalled), 0);
        assert_eq!(count(&counts, PolicyState::Reconciling), 0);
        assert_eq!(count(&counts, PolicyState::Suspended), 0);
    }

    #[test]
    fn cleanup_forgets_the_policy() {
        let states = PolicyStates::default();
        let a = policy("ns", "a");
        states.set(ObjectRef::from_obj(&a), Some(PolicyState::Ready));
        states.set(ObjectRef::from_obj(&a), None);
        let counts = states.prune_and_count(|_| true);
        assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    }

    #[test]
    fn policies_that_left_the_reflector_store_are_forgotten() {
        let (store, mut writer) = reflector::store::<BucketCorsPolicy>();
        let (kept, gone, relisted_away) = (
            policy("ns", "kept"),
            policy("ns", "gone"),
            policy("other", "relisted-away"),
        );
        for p in [&kept, &gone, &relisted_away] {
            writer.apply_watcher_event(&Event::Apply(p.clone()));
        }
        let states = PolicyStates::default();
        for p in [&kept, &gone, &relisted_away] {
            states.set(ObjectRef::from_obj(p), Some(PolicyState::Ready));
        }
        assert_eq!(
            count(
                &states.prune_and_count(in_store(&store)),
                PolicyState::Ready
            ),
            3
        );

        // Deleted without a cleanup pass (say, its finalizer removed by hand).
        writer.apply_watcher_event(&Event::Delete(gone.clone()));
        assert_eq!(
            count(
                &states.prune_and_count(in_store(&store)),
                PolicyState::Ready
            ),
            2
        );

        // A re-list (after a watch desync) that no longer contains a policy, with no delete
        // event for it: the store is replaced, and the policy is forgotten too.
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(kept.clone()));
        writer.apply_watcher_event(&Event::InitDone);
        let counts = states.prune_and_count(in_store(&store));
        assert_eq!(count(&counts, PolicyState::Ready), 1);

        // Forgotten for good: reappearing in the store does not bring the old state back.
        writer.apply_watcher_event(&Event::Apply(relisted_away.clone()));
        let counts = states.prune_and_count(in_store(&store));
        assert_eq!(count(&counts, PolicyState::Ready), 1);
    }

    #[test]
    fn the_same_name_in_another_namespace_is_another_policy() {
        let states = PolicyStates::default();
        states.set(
            ObjectRef::from_obj(&policy("a", "web")),
            Some(PolicyState::Ready),
        );
        states.set(
            ObjectRef::from_obj(&policy("b", "web")),
            Some(PolicyState::Stalled),
        );
        let counts = states.prune_and_count(|_| true);
        assert_eq!(count(&counts, PolicyState::Ready), 1);
        assert_eq!(count(&counts, PolicyState::Stalled), 1);
    }
}
