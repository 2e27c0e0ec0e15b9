//! `bucketcors apply`.

use std::process::ExitCode;

use super::PlanArgs;

pub fn run(_args: &PlanArgs) -> ExitCode {
    eprintln!("bucketcors apply: not implemented yet");
    ExitCode::FAILURE
}
