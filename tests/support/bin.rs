//! The `bucketcors` binary built for these tests.

use std::path::PathBuf;

/// Path of the `bucketcors` binary.
pub fn bucketcors() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bucketcors"))
}

/// An `assert_cmd` command running the binary.
pub fn command() -> assert_cmd::Command {
    assert_cmd::Command::new(bucketcors())
}
