//! A stable digest of a configuration's normal form.

use sha2::{Digest, Sha256};

use super::{CorsRule, normalise};

/// `sha256:<hex>` of the normalised rules. Two configurations that [`super::equivalent`] calls
/// equal have the same fingerprint, whatever shape a store returned them in.
pub fn fingerprint(rules: &[CorsRule]) -> String {
    // serde_json writes struct fields in declaration order and the normal form fixes the order
    // of every list, so the bytes are canonical.
    let canonical = serde_json::to_vec(&normalise(rules)).expect("rules always serialise to JSON");
    format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
}
