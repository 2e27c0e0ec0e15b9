//! The command line: argument types and one module per subcommand.
//!
//! Every subcommand is a thin layer over the library code the controller uses; nothing here
//! decides anything about CORS.

mod apply;
mod crd;
mod explain;
mod export;
pub mod input;
mod lint;
mod plan;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::api::ChecksumMode;

/// Keeps the CORS configuration of S3 buckets exactly as declared.
#[derive(Debug, Parser)]
#[command(name = "bucketcors", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator.
    Controller(Box<crate::controller::ControllerArgs>),
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Crd,
    /// Validate policies offline with S3's rules and warn about rules that can never match.
    Lint(LintArgs),
    /// Evaluate a CORS preflight against a policy's rules, as S3 would.
    Explain(ExplainArgs),
    /// Read the live configuration and print the difference (exit 2 when a change is pending).
    ///
    /// The S3 connection comes from the flags and the AWS environment; `spec.endpointRef` is ignored.
    Plan(PlanArgs),
    /// One reconcile pass without a cluster: write only what differs.
    ///
    /// The S3 connection comes from the flags and the AWS environment; `spec.endpointRef` is ignored.
    /// Policies with `driftPolicy: Report` are only reported; `suspend: true` policies are skipped.
    Apply(PlanArgs),
    /// Print a BucketCorsPolicy for a bucket's live configuration.
    Export(ExportArgs),
}

/// Output format of a subcommand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Policy files (multi-document YAML); `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Policy file holding exactly one BucketCorsPolicy; `-` reads standard input.
    pub file: PathBuf,
    /// Request origin, e.g. `https://shop.example.com`.
    #[arg(long)]
    pub origin: String,
    /// Request method (or the preflight's `Access-Control-Request-Method`).
    #[arg(long)]
    pub method: String,
    /// A header named in `Access-Control-Request-Headers`; repeat for several.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// How the CLI reaches S3. Credentials come from the standard AWS environment and profiles.
#[derive(Clone, Debug, Args)]
pub struct S3Args {
    /// Base URL of an S3-compatible store (default: AWS).
    // The environment's value stays out of `--help`, in case someone put credentials in it.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3", hide_env_values = true)]
    pub endpoint_url: Option<String>,
    /// Signing region (default: from the AWS environment or profile).
    #[arg(long)]
    pub region: Option<String>,
    /// Use path-style addressing (`URL/bucket`).
    #[arg(long)]
    pub path_style: bool,
    /// Integrity header sent with PutBucketCors.
    #[arg(long, default_value = "Auto")]
    pub checksum: ChecksumMode,
}

/// Arguments of `plan` and `apply`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Policy files (multi-document YAML); `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// How to reach S3.
    #[command(flatten)]
    pub s3: S3Args,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The bucket to read.
    #[arg(long)]
    pub bucket: String,
    /// Name of the generated policy (default: the bucket name).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of the generated policy.
    #[arg(long)]
    pub namespace: Option<String>,
    /// AWS account ID the bucket must belong to: sent as ExpectedBucketOwner with the read, and
    /// written into the policy's spec so the controller sends it too.
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub expected_bucket_owner: Option<String>,
    /// How to reach S3.
    #[command(flatten)]
    pub s3: S3Args,
}

/// Runs one parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Controller(args) => crate::controller::main(*args),
        Command::Crd => crd::run(),
        Command::Lint(args) => lint::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Export(args) => export::run(&args),
    }
}
