//! `bucketcors crd`: print the CRDs.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    print!("{}", crate::api::crds_yaml());
    ExitCode::SUCCESS
}
