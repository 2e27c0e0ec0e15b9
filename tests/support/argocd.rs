//! The Argo CD health check (`deploy/argocd/health.lua`) run by a real Lua 5.1 interpreter, and
//! the status fixtures (real objects written by the controller, see tests/status_fixtures.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every fixture in tests/fixtures/status and the health Argo CD must report for it.
pub const EXPECTED: &[(&str, &str)] = &[
    ("no-status", "Progressing"),
    ("first-visit", "Progressing"),
    ("ready-insync", "Healthy"),
    ("ready-applied", "Healthy"),
    ("reconciling-unavailable", "Progressing"),
    ("stalled-accessdenied", "Degraded"),
    ("stalled-nosuchbucket", "Degraded"),
    ("suspended", "Suspended"),
    ("drift-reported", "Degraded"),
    ("stale-generation", "Progressing"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// tests/fixtures/status.
pub fn fixtures_dir() -> PathBuf {
    root().join("tests/fixtures/status")
}

/// `None` when the interpreter is missing and skipping was asked for.
pub fn lua() -> Option<&'static str> {
    let ok = Command::new("lua5.1")
        .args(["-e", "require('cjson')"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some("lua5.1");
    }
    if std::env::var("BUCKETCORS_SKIP_LUA_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: lua5.1 with cjson not found and BUCKETCORS_SKIP_LUA_TESTS=1");
        return None;
    }
    panic!(
        "lua5.1 with lua-cjson is needed: run hack/install-lua.sh (or set BUCKETCORS_SKIP_LUA_TESTS=1)"
    );
}

/// Runs the health script on one object file; returns (status, message).
pub fn health(lua: &str, object: &Path) -> (String, String) {
    let out = Command::new(lua)
        .arg(root().join("tests/argocd/harness.lua"))
        .arg(root().join("deploy/argocd/health.lua"))
        .arg(object)
        .output()
        .expect("run lua5.1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "health.lua failed on {}: {}{}",
        object.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.trim_end_matches('\n');
    let (status, message) = line.split_once('\t').unwrap_or((line, ""));
    (status.to_owned(), message.to_owned())
}

/// [`health`] of an object in memory.
pub fn health_of(lua: &str, object: &serde_json::Value) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("object.json");
    std::fs::write(&path, serde_json::to_vec(object).expect("JSON")).expect("write object");
    health(lua, &path)
}
