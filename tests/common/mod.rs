//! Helpers shared by the tests that run the real `bucketcors` binary.

use assert_cmd::cargo::cargo_bin_cmd;

/// A command running the `bucketcors` binary built for these tests.
///
/// `BUCKETCORS_TEST_BIN` overrides the path: several worktrees sharing one `CARGO_TARGET_DIR`
/// overwrite each other's `target/debug/bucketcors`, so a developer can point the tests at a
/// copy of their own build.
pub fn bucketcors() -> assert_cmd::Command {
    match std::env::var_os("BUCKETCORS_TEST_BIN") {
        Some(path) => assert_cmd::Command::new(path),
        None => cargo_bin_cmd!("bucketcors"),
    }
}
