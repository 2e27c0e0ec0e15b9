//! `bucketcors explain`.

use std::process::ExitCode;

use super::ExplainArgs;

pub fn run(_args: &ExplainArgs) -> ExitCode {
    eprintln!("bucketcors explain: not implemented yet");
    ExitCode::FAILURE
}
