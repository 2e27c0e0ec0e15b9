//! Pure status computation: from what one reconcile pass found to the `BucketCorsPolicyStatus`
//! it should leave behind.
//!
//! The clock is an argument (`now`), so every rule here (when `lastTransitionTime` moves, when
//! `lastSyncTime` is refreshed, when nothing needs writing) is tested without waiting. Writing the
//! status is the caller's job ([`crate::reconcile::StatusSink`]); [`needs_write`] says whether it
//! has to.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::api::{BucketCorsPolicyStatus, CorsRule, OriginalConfiguration, StoreForm};
use crate::cors;

/// Condition type of the summary condition.
pub const READY: &str = "Ready";
/// Condition type that is true while work is in progress or being retried.
pub const RECONCILING: &str = "Reconciling";
/// Condition type that is true when progress needs a change from a person.
pub const STALLED: &str = "Stalled";

/// `lastSyncTime` is refreshed on its own (without any other change) at most this often, or
/// every [`SYNC_HEARTBEAT_INTERVALS`] intervals if that is longer. See the field's doc comment.
pub const SYNC_HEARTBEAT: Duration = Duration::from_secs(3600);
/// See [`SYNC_HEARTBEAT`].
pub const SYNC_HEARTBEAT_INTERVALS: u32 = 12;

/// The stable, CamelCase reasons the conditions carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Ready: the bucket already had the declared rules.
    InSync,
    /// Ready: the controller just wrote the declared rules.
    Applied,
    /// Stalled: the spec (or what the store made of it) is invalid.
    InvalidSpec,
    /// Stalled: the store refused the credentials or the permission.
    AccessDenied,
    /// Stalled: the bucket does not exist.
    NoSuchBucket,
    /// Stalled: an older policy owns the bucket.
    Conflict,
    /// Stalled: the store does not implement bucket CORS.
    CorsNotSupported,
    /// Stalled: the referenced endpoint object does not exist.
    EndpointNotFound,
    /// Stalled: a Secret the endpoint references does not exist or lacks a key.
    SecretNotFound,
    /// Stalled: the endpoint does not admit the policy's namespace, or reads a Secret it may not.
    Forbidden,
    /// Reconciling: the store asked us to slow down.
    Throttled,
    /// Reconciling: the store (or the Kubernetes API) could not be reached; retrying.
    Unavailable,
    /// Reconciling: first visit, work in progress.
    Progressing,
    /// Not ready, by choice: Report mode found a difference.
    DriftReported,
    /// `spec.suspend` is true.
    Suspended,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 15] = [
        Self::InSync,
        Self::Applied,
        Self::InvalidSpec,
        Self::AccessDenied,
        Self::NoSuchBucket,
        Self::Conflict,
        Self::CorsNotSupported,
        Self::EndpointNotFound,
        Self::SecretNotFound,
        Self::Forbidden,
        Self::Throttled,
        Self::Unavailable,
        Self::Progressing,
        Self::DriftReported,
        Self::Suspended,
    ];

    /// The reason as written in conditions and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "InSync",
            Self::Applied => "Applied",
            Self::InvalidSpec => "InvalidSpec",
            Self::AccessDenied => "AccessDenied",
            Self::NoSuchBucket => "NoSuchBucket",
            Self::Conflict => "Conflict",
            Self::CorsNotSupported => "CorsNotSupported",
            Self::EndpointNotFound => "EndpointNotFound",
            Self::SecretNotFound => "SecretNotFound",
            Self::Forbidden => "Forbidden",
            Self::Throttled => "Throttled",
            Self::Unavailable => "Unavailable",
            Self::Progressing => "Progressing",
            Self::DriftReported => "DriftReported",
            Self::Suspended => "Suspended",
        }
    }

    /// True for reasons that need a person (Stalled=True).
    pub fn is_stalled(self) -> bool {
        matches!(
            self,
            Self::InvalidSpec
                | Self::AccessDenied
                | Self::NoSuchBucket
                | Self::Conflict
                | Self::CorsNotSupported
                | Self::EndpointNotFound
                | Self::SecretNotFound
                | Self::Forbidden
        )
    }

    /// True for reasons under which the controller keeps working (Reconciling=True).
    pub fn is_reconciling(self) -> bool {
        matches!(
            self,
            Self::Throttled | Self::Unavailable | Self::Progressing
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The coarse state of a policy, for the `bucketcors_policies{state}` gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyState {
    /// Ready=True.
    Ready,
    /// Reconciling=True (including first visits).
    Reconciling,
    /// Stalled=True.
    Stalled,
    /// Report mode found the bucket different from the policy (`DriftReported`): neither
    /// Reconciling nor Stalled, so counted apart from both.
    Drifted,
    /// `spec.suspend`.
    Suspended,
}

impl PolicyState {
    /// Label value of the gauge.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Reconciling => "reconciling",
            Self::Stalled => "stalled",
            Self::Drifted => "drifted",
            Self::Suspended => "suspended",
        }
    }

    /// All states, so the gauge can report zeros.
    pub const ALL: [PolicyState; 5] = [
        Self::Ready,
        Self::Reconciling,
        Self::Stalled,
        Self::Drifted,
        Self::Suspended,
    ];
}

impl From<Reason> for PolicyState {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::InSync | Reason::Applied => Self::Ready,
            Reason::Suspended => Self::Suspended,
            Reason::DriftReported => Self::Drifted,
            r if r.is_reconciling() => Self::Reconciling,
            _ => Self::Stalled,
        }
    }
}

/// The summary one pass reached: a reason and the message that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Why the policy is in this state.
    pub reason: Reason,
    /// Human-readable detail; stable for an unchanged situation (no timestamps, no counters),
    /// so that repeating a pass does not change the status.
    pub message: String,
}

impl Summary {
    /// A summary with a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What one pass found and did, the input of [`compute`].
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// How the policy ended up.
    pub summary: Summary,
    /// The resolved endpoint (`ClusterS3Endpoint/x`, `S3Endpoint/x`, `default`), when known.
    pub endpoint: Option<String>,
    /// The rules on the bucket after this pass (read, or written), when the bucket was read.
    /// `None` keeps the previous `liveRules`, `fingerprint` and `lastSyncTime`.
    pub live: Option<Vec<CorsRule>>,
    /// True when this pass wrote the bucket.
    pub wrote: bool,
    /// True when this pass found the bucket drifted from a configuration it had been in sync with.
    pub drift_detected: bool,
    /// A newly captured original configuration (only ever set once; later passes keep it).
    pub original: Option<OriginalConfiguration>,
    /// After a write: the store's own form of the declared rules, when it returned them in one
    /// (`None` after a write clears a previous form; without a write the previous form is kept).
    pub store_form: Option<StoreForm>,
}

impl Observation {
    /// An observation that only carries a summary (nothing read, nothing written).
    pub fn summary_only(summary: Summary, endpoint: Option<String>) -> Self {
        Self {
            summary,
            endpoint,
            live: None,
            wrote: false,
            drift_detected: false,
            original: None,
            store_form: None,
        }
    }
}

/// A timestamp as Kubernetes stores it: whole seconds. Truncating here keeps a freshly computed
/// status equal to the same status read back from the API server.
pub fn time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The status a pass should leave behind, given the current status (`prev`), the policy's
/// `metadata.generation`, what the pass observed, and the time.
///
/// Everything the observation does not speak about is carried over from `prev`, so a pass
/// that finds nothing new computes exactly `prev` and [`needs_write`] is false.
pub fn compute(
    prev: Option<&BucketCorsPolicyStatus>,
    generation: Option<i64>,
    interval: Duration,
    obs: &Observation,
    now: Timestamp,
) -> BucketCorsPolicyStatus {
    let empty = BucketCorsPolicyStatus::default();
    let prev = prev.unwrap_or(&empty);
    let mut next = prev.clone();
    next.observed_generation = generation;
    next.conditions = conditions(&prev.conditions, generation, &obs.summary, now);
    if obs.endpoint.is_some() {
        next.endpoint.clone_from(&obs.endpoint);
    }
    if next.original.is_none() {
        next.original.clone_from(&obs.original);
    }
    if obs.wrote {
        next.last_applied_time = Some(time(now));
        next.store_form.clone_from(&obs.store_form);
    }
    if obs.drift_detected {
        next.last_drift_time = Some(time(now));
        next.drift_count = Some(prev.drift_count.unwrap_or(0) + 1);
    }
    if let Some(live) = &obs.live {
        next.live_rules = Some(live.clone());
        next.rule_count = Some(i32::try_from(live.len()).unwrap_or(i32::MAX));
        next.fingerprint = Some(cors::fingerprint(live));
        // lastSyncTime is refreshed only along with another change, or as a rare heartbeat:
        // refreshing it on every read would make every steady-state interval a status write.
        let heartbeat = SYNC_HEARTBEAT.max(interval * SYNC_HEARTBEAT_INTERVALS);
        let stale = match &prev.last_sync_time {
            None => true,
            Some(Time(at)) => {
                now.duration_since(*at).as_secs()
                    >= i64::try_from(heartbeat.as_secs()).unwrap_or(i64::MAX)
            }
        };
        let mut without_sync = next.clone();
        without_sync.last_sync_time.clone_from(&prev.last_sync_time);
        if stale || needs_write(Some(prev), &without_sync) {
            next.last_sync_time = Some(time(now));
        }
    }
    next
}

/// The three conditions for a summary, keeping each condition's `lastTransitionTime` unless its
/// status flips.
pub fn conditions(
    prev: &[Condition],
    generation: Option<i64>,
    summary: &Summary,
    now: Timestamp,
) -> Vec<Condition> {
    let reason = summary.reason;
    let ready = match reason {
        Reason::InSync | Reason::Applied => "True",
        Reason::Suspended | Reason::Progressing => "Unknown",
        _ => "False",
    };
    let flag = |b: bool| if b { "True" } else { "False" };
    [
        (READY, ready),
        (RECONCILING, flag(reason.is_reconciling())),
        (STALLED, flag(reason.is_stalled())),
    ]
    .into_iter()
    .map(|(type_, status)| {
        let old = prev.iter().find(|c| c.type_ == type_);
        let last_transition_time = match old {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => time(now),
        };
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.as_str().to_owned(),
            message: summary.message.clone(),
            observed_generation: generation,
            last_transition_time,
        }
    })
    .collect()
}

/// True when `next` says something `current` does not. Conditions are compared as a set keyed
/// by type (the API server may return them in another order).
pub fn needs_write(
    current: Option<&BucketCorsPolicyStatus>,
    next: &BucketCorsPolicyStatus,
) -> bool {
    let Some(current) = current else { return true };
    let sorted = |s: &BucketCorsPolicyStatus| {
        let mut s = s.clone();
        s.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        s
    };
    sorted(current) != sorted(next)
}

/// The reason of the `Ready` condition, if the status has one.
pub fn ready_reason(status: Option<&BucketCorsPolicyStatus>) -> Option<&str> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| c.reason.as_str())
}

/// The status the first visit writes before talking to S3: `Ready=Unknown`, `Progressing`.
pub fn progressing(
    prev: Option<&BucketCorsPolicyStatus>,
    generation: Option<i64>,
    interval: Duration,
    endpoint: Option<String>,
    now: Timestamp,
) -> BucketCorsPolicyStatus {
    let summary = Summary::new(
        Reason::Progressing,
        "reading the bucket's CORS configuration",
    );
    compute(
        prev,
        generation,
        interval,
        &Observation::summary_only(summary, endpoint),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CorsMethod;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn rule(origin: &str) -> CorsRule {
        CorsRule {
            allowed_origins: vec![origin.into()],
            allowed_methods: vec![CorsMethod::Get],
            ..CorsRule::default()
        }
    }

    fn in_sync(live: Vec<CorsRule>) -> Observation {
        Observation {
            summary: Summary::new(Reason::InSync, "in sync"),
            endpoint: Some("default".into()),
            live: Some(live),
            wrote: false,
            drift_detected: false,
            original: None,
            store_form: None,
        }
    }

    fn cond<'a>(s: &'a BucketCorsPolicyStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    const IV: Duration = Duration::from_secs(30);

    #[test]
    fn first_visit_is_progressing_with_ready_unknown() {
        let s = progressing(None, Some(3), IV, None, at(0));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(cond(&s, READY).status, "Unknown");
        assert_eq!(cond(&s, READY).reason, "Progressing");
        assert_eq!(cond(&s, RECONCILING).status, "True");
        assert_eq!(cond(&s, STALLED).status, "False");
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
    }

    #[test]
    fn last_transition_time_moves_only_on_a_flip() {
        let s0 = progressing(None, Some(1), IV, None, at(0));
        let s1 = compute(Some(&s0), Some(1), IV, &in_sync(vec![rule("a")]), at(10));
        // Ready Unknown -> True and Reconciling True -> False flip; Stalled stays False.
        assert_eq!(cond(&s1, READY).last_transition_time, time(at(10)));
        assert_eq!(cond(&s1, RECONCILING).last_transition_time, time(at(10)));
        assert_eq!(cond(&s1, STALLED).last_transition_time, time(at(0)));
        // A reason change without a status flip (InSync -> Applied) keeps the time.
        let mut applied = in_sync(vec![rule("b")]);
        applied.summary = Summary::new(Reason::Applied, "wrote");
        applied.wrote = true;
        let s2 = compute(Some(&s1), Some(2), IV, &applied, at(20));
        assert_eq!(cond(&s2, READY).reason, "Applied");
        assert_eq!(cond(&s2, READY).last_transition_time, time(at(10)));
        assert_eq!(s2.last_applied_time, Some(time(at(20))));
        // Ready True -> False flips.
        let denied = Observation::summary_only(Summary::new(Reason::AccessDenied, "no"), None);
        let s3 = compute(Some(&s2), Some(2), IV, &denied, at(30));
        assert_eq!(cond(&s3, READY).last_transition_time, time(at(30)));
        assert_eq!(cond(&s3, STALLED).status, "True");
        assert_eq!(cond(&s3, STALLED).last_transition_time, time(at(30)));
        assert_eq!(cond(&s3, RECONCILING).last_transition_time, time(at(10)));
        // What the failed pass did not read is kept.
        assert_eq!(s3.live_rules, Some(vec![rule("b")]));
        assert_eq!(s3.fingerprint, s2.fingerprint);
    }

    #[test]
    fn steady_state_computes_the_same_status_and_needs_no_write() {
        let s0 = progressing(None, Some(1), IV, None, at(0));
        let s1 = compute(Some(&s0), Some(1), IV, &in_sync(vec![rule("a")]), at(10));
        assert!(needs_write(Some(&s0), &s1));
        assert_eq!(s1.last_sync_time, Some(time(at(10))));
        for i in 2..50 {
            let sn = compute(
                Some(&s1),
                Some(1),
                IV,
                &in_sync(vec![rule("a")]),
                at(i * 30),
            );
            assert_eq!(sn, s1, "pass {i} changed the status");
            assert!(!needs_write(Some(&s1), &sn));
        }
    }

    #[test]
    fn last_sync_time_heartbeat_after_an_hour_or_twelve_intervals() {
        let s1 = compute(None, Some(1), IV, &in_sync(vec![]), at(0));
        let s2 = compute(Some(&s1), Some(1), IV, &in_sync(vec![]), at(3599));
        assert!(!needs_write(Some(&s1), &s2));
        let s3 = compute(Some(&s1), Some(1), IV, &in_sync(vec![]), at(3600));
        assert_eq!(s3.last_sync_time, Some(time(at(3600))));
        let long = Duration::from_secs(600);
        let s4 = compute(Some(&s1), Some(1), long, &in_sync(vec![]), at(7199));
        assert!(!needs_write(Some(&s1), &s4), "12 x 10m = 2h heartbeat");
    }

    #[test]
    fn a_changed_read_refreshes_last_sync_time() {
        let s1 = compute(None, Some(1), IV, &in_sync(vec![rule("a")]), at(0));
        let mut drift = in_sync(vec![rule("b")]);
        drift.summary = Summary::new(Reason::DriftReported, "rule 0: differs");
        drift.drift_detected = true;
        let s2 = compute(Some(&s1), Some(1), IV, &drift, at(60));
        assert_eq!(s2.last_sync_time, Some(time(at(60))));
        assert_eq!(s2.drift_count, Some(1));
        assert_eq!(s2.last_drift_time, Some(time(at(60))));
        assert_eq!(s2.rule_count, Some(1));
        assert_eq!(cond(&s2, READY).status, "False");
        assert_eq!(cond(&s2, RECONCILING).status, "False");
        assert_eq!(cond(&s2, STALLED).status, "False");
    }

    #[test]
    fn reconciling_and_stalled_are_never_both_true() {
        for r in Reason::ALL {
            let c = conditions(&[], Some(1), &Summary::new(r, "m"), at(0));
            let t = |ty: &str| c.iter().find(|x| x.type_ == ty).unwrap().status.clone();
            assert!(!(t(RECONCILING) == "True" && t(STALLED) == "True"), "{r}");
            assert!(c.iter().all(|x| x.reason == r.as_str()));
            if r == Reason::Suspended {
                assert_eq!(t(READY), "Unknown");
            }
        }
    }

    #[test]
    fn the_gauge_state_agrees_with_the_conditions() {
        for r in Reason::ALL {
            let c = conditions(&[], Some(1), &Summary::new(r, "m"), at(0));
            let t = |ty: &str| c.iter().find(|x| x.type_ == ty).unwrap().status.clone();
            let expected = match (
                t(READY).as_str(),
                t(RECONCILING).as_str(),
                t(STALLED).as_str(),
            ) {
                ("True", _, _) => PolicyState::Ready,
                (_, "True", _) => PolicyState::Reconciling,
                (_, _, "True") => PolicyState::Stalled,
                _ if r == Reason::Suspended => PolicyState::Suspended,
                // Not ready, but neither progressing nor stuck: Report mode's difference.
                _ => PolicyState::Drifted,
            };
            assert_eq!(PolicyState::from(r), expected, "{r}");
        }
        assert_eq!(
            PolicyState::from(Reason::DriftReported),
            PolicyState::Drifted
        );
    }

    #[test]
    fn original_is_captured_once() {
        let first = OriginalConfiguration {
            captured_time: Some(time(at(0))),
            rules: vec![rule("a")],
        };
        let mut obs = in_sync(vec![]);
        obs.original = Some(first.clone());
        let s1 = compute(None, Some(1), IV, &obs, at(0));
        obs.original = Some(OriginalConfiguration {
            captured_time: None,
            rules: vec![],
        });
        let s2 = compute(Some(&s1), Some(1), IV, &obs, at(5));
        assert_eq!(s2.original, Some(first));
    }

    #[test]
    fn condition_order_does_not_force_a_write() {
        let s1 = compute(None, Some(1), IV, &in_sync(vec![]), at(0));
        let mut reordered = s1.clone();
        reordered.conditions.reverse();
        assert!(!needs_write(Some(&reordered), &s1));
    }

    #[test]
    fn times_are_whole_seconds() {
        let now = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        assert_eq!(time(now).0.subsec_nanosecond(), 0);
    }
}
