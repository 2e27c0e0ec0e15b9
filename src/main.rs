//! The `bucketcors` binary: parse the command line and dispatch.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    match bucketcors::cli::Cli::try_parse() {
        Ok(cli) => bucketcors::cli::run(cli),
        Err(err) => {
            // clap exits 2 on usage errors, but 2 means "changes pending" for `plan`: a bad
            // command line is an error like any other bad input.
            let _ = err.print();
            if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
