//! The `bucketcors` binary: parse the command line and dispatch.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    bucketcors::cli::run(bucketcors::cli::Cli::parse())
}
