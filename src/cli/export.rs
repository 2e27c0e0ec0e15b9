//! `bucketcors export`.

use std::process::ExitCode;

use super::ExportArgs;

pub fn run(_args: &ExportArgs) -> ExitCode {
    eprintln!("bucketcors export: not implemented yet");
    ExitCode::FAILURE
}
