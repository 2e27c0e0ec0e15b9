//! `bucketcors lint`.

use std::process::ExitCode;

use super::LintArgs;

pub fn run(_args: &LintArgs) -> ExitCode {
    eprintln!("bucketcors lint: not implemented yet");
    ExitCode::FAILURE
}
