//! One owner per bucket: among the policies that target the same bucket at the same location,
//! the oldest wins (creation time, then `namespace/name`), so every controller replica and every
//! pass reaches the same answer and nothing flaps.

use std::sync::Arc;

use crate::api::BucketCorsPolicy;

/// The ordering key: older first, ties broken by `namespace/name`.
fn seniority(p: &BucketCorsPolicy) -> (Option<i64>, String) {
    (
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second()),
        p.key(),
    )
}

/// `namespace/name` of the policy that owns `policy`'s bucket, when that is another policy.
///
/// `location_of` gives where a policy's bucket lives (see [`super::endpoint::location`]);
/// policies whose endpoint cannot be resolved (`None`) do not compete.
pub fn owner(
    policy: &BucketCorsPolicy,
    location: &str,
    all: &[Arc<BucketCorsPolicy>],
    location_of: impl Fn(&BucketCorsPolicy) -> Option<String>,
) -> Option<String> {
    let me = seniority(policy);
    all.iter()
        .filter(|o| o.key() != policy.key())
        .filter(|o| o.spec.bucket == policy.spec.bucket)
        .filter(|o| location_of(o).as_deref() == Some(location))
        .map(|o| seniority(o))
        .filter(|s| *s < me)
        .min()
        .map(|(_, key)| key)
}

/// Keys (`namespace`, `name`) of the other policies on the same bucket name, whatever their
/// location: the ones to re-check when this one changes or goes away.
pub fn siblings(policy: &BucketCorsPolicy, all: &[Arc<BucketCorsPolicy>]) -> Vec<(String, String)> {
    all.iter()
        .filter(|o| o.spec.bucket == policy.spec.bucket && o.key() != policy.key())
        .filter_map(|o| Some((o.metadata.namespace.clone()?, o.metadata.name.clone()?)))
        .collect()
}
