//! `bucketcors plan`.

use std::process::ExitCode;

use super::PlanArgs;

pub fn run(_args: &PlanArgs) -> ExitCode {
    eprintln!("bucketcors plan: not implemented yet");
    ExitCode::FAILURE
}
