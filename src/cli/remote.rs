//! What `plan`, `apply` and `export` share: logging, the S3 connection from flags, loading and
//! validating policies, and reading a policy's bucket into a plan.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kube::ResourceExt as _;
use serde::Serialize;

use super::S3Args;
use super::input::{self, PolicyDocument};
use crate::api::{CorsRule, DriftPolicy};
use crate::cors::{self, Plan};
use crate::s3::{AwsCorsStore, BucketRef, ConnectError, CorsStore, EndpointConfig, StoreError};

/// Logs go to standard error as text, filtered by `RUST_LOG` (default `warn`); see
/// [`crate::telemetry::init_tracing`] for the caps that keep credentials out of them.
pub fn init_tracing() {
    crate::telemetry::init_tracing(crate::telemetry::LogFormat::Text, "warn");
}

/// A runtime for one command.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The endpoint the flags describe; credentials come from the standard AWS environment.
pub fn endpoint_config(args: &S3Args) -> EndpointConfig {
    EndpointConfig {
        url: args.endpoint_url.clone(),
        region: args.region.clone(),
        force_path_style: args.path_style,
        checksum: args.checksum,
        ..Default::default()
    }
}

/// Connects to the endpoint the flags describe.
pub async fn connect(args: &S3Args) -> Result<AwsCorsStore, ConnectError> {
    AwsCorsStore::connect(&endpoint_config(args)).await
}

/// Loads policies and checks them offline. Prints every problem to standard error and returns
/// `None` if there was any, so no S3 call is made for a set of files with a mistake in it.
pub fn load_valid(command: &str, files: &[PathBuf]) -> Option<Vec<PolicyDocument>> {
    let (policies, errors) = input::load(files);
    let mut ok = errors.is_empty();
    for error in &errors {
        eprintln!("bucketcors {command}: {error}");
    }
    let mut owners: BTreeMap<&str, &PolicyDocument> = BTreeMap::new();
    for doc in &policies {
        for issue in cors::validate_spec(&doc.policy.spec) {
            eprintln!(
                "bucketcors {command}: {}: {}: {issue}",
                doc.location(),
                doc.policy.key()
            );
            ok = false;
        }
        // Two policies writing one bucket would undo each other on every run.
        if !doc.policy.spec.suspend
            && let Some(first) = owners.insert(&doc.policy.spec.bucket, doc)
        {
            eprintln!(
                "bucketcors {command}: {}: {}: bucket {:?} is also managed by {} in {}",
                doc.location(),
                doc.policy.key(),
                doc.policy.spec.bucket,
                first.policy.key(),
                first.location()
            );
            ok = false;
        }
    }
    if policies.is_empty() && errors.is_empty() {
        eprintln!("bucketcors {command}: no BucketCorsPolicy found in the input");
        ok = false;
    }
    ok.then_some(policies)
}

/// The bucket a policy manages.
pub fn bucket_of(doc: &PolicyDocument) -> BucketRef {
    BucketRef {
        name: doc.policy.spec.bucket.clone(),
        expected_owner: doc.policy.spec.expected_bucket_owner.clone(),
    }
}

/// What reading one policy's bucket found.
pub enum Reading {
    /// `suspend: true`: the bucket was not read.
    Suspended,
    /// The live rules and the plan that would bring the bucket to the declared rules.
    Planned {
        /// Rules on the bucket, in order.
        live: Vec<CorsRule>,
        /// What to do.
        plan: Plan,
        /// Short description of the difference; empty when in sync.
        diff: String,
    },
    /// The store refused or failed.
    Failed(StoreError),
}

/// Reads a policy's bucket and plans the change (no write).
pub async fn read(store: &dyn CorsStore, doc: &PolicyDocument) -> Reading {
    if doc.policy.spec.suspend {
        return Reading::Suspended;
    }
    match store.get(&bucket_of(doc)).await {
        Ok(live) => {
            let desired = &doc.policy.spec.rules;
            Reading::Planned {
                plan: cors::plan(desired, &live),
                diff: cors::diff_summary(desired, &live),
                live,
            }
        }
        Err(err) => Reading::Failed(err),
    }
}

/// `put`, `delete` or `none`, as the JSON output names actions.
pub fn action_name(plan: &Plan) -> &'static str {
    match plan {
        Plan::Nothing => "none",
        Plan::Put(_) => "put",
        Plan::Delete => "delete",
    }
}

/// True for policies that only report drift.
pub fn report_only(doc: &PolicyDocument) -> bool {
    doc.policy.spec.drift_policy == DriftPolicy::Report
}

/// The identifying part of every per-policy JSON entry.
#[derive(Serialize)]
pub struct PolicyId {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set in the file.
    pub namespace: Option<String>,
    /// `spec.bucket`.
    pub bucket: String,
}

impl PolicyId {
    /// The identity of `doc`'s policy.
    pub fn of(doc: &PolicyDocument) -> Self {
        Self {
            name: doc.policy.name_any(),
            namespace: doc.policy.namespace(),
            bucket: doc.policy.spec.bucket.clone(),
        }
    }

    /// `namespace/name (bucket b)` for text output.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{} (bucket {})", self.name, self.bucket),
            None => format!("{} (bucket {})", self.name, self.bucket),
        }
    }
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("cannot render JSON: {err}"),
    }
}
