//! Finds the `bucketcors` binary built from this checkout.
//!
//! Several checkouts may share one `CARGO_TARGET_DIR`; each then copies its own build to the same
//! `target/debug/bucketcors` (what `CARGO_BIN_EXE_bucketcors` names), and another checkout's
//! build can replace it while these tests run. The hashed original under `deps/` is unique to
//! this checkout: pick the newest `bin` unit whose debug info names this checkout's directory
//! (rustc records it as the compilation directory; dep-info files only hold relative paths).

use std::path::{Path, PathBuf};

/// Path of the `bucketcors` binary of this checkout.
pub fn bucketcors() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let uplifted = PathBuf::from(env!("CARGO_BIN_EXE_bucketcors"));
            find_own(&uplifted).unwrap_or(uplifted)
        })
        .clone()
}

fn find_own(uplifted: &Path) -> Option<PathBuf> {
    let profile_dir = uplifted.parent()?;
    let mut marker = env!("CARGO_MANIFEST_DIR").as_bytes().to_vec();
    marker.push(0);
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(profile_dir.join(".fingerprint"))
        .ok()?
        .flatten()
    {
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let Some(hash) = dir_name.strip_prefix("bucketcors-") else {
            continue;
        };
        if !entry.path().join("bin-bucketcors").exists() {
            continue; // a lib, test or check unit
        }
        let exe = profile_dir.join("deps").join(format!("bucketcors-{hash}"));
        let Ok(modified) = std::fs::metadata(&exe).and_then(|m| m.modified()) else {
            continue;
        };
        if best.as_ref().is_some_and(|(t, _)| modified <= *t) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&exe) else {
            continue;
        };
        if bytes.windows(marker.len()).any(|w| w == marker.as_slice()) {
            best = Some((modified, exe));
        }
    }
    best.map(|(_, exe)| exe)
}
