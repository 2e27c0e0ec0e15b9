//! `bucketcors export`: print a `BucketCorsPolicy` holding a bucket's live configuration, so
//! that applying it changes nothing.

use std::process::ExitCode;

use super::ExportArgs;
use super::remote;
use crate::api::{BucketCorsPolicy, BucketCorsPolicySpec, DeletionPolicy, DriftPolicy};
use crate::cors;
use crate::s3::{BucketRef, CorsStore as _};

pub fn run(args: &ExportArgs) -> ExitCode {
    remote::init_tracing();
    let runtime = match remote::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bucketcors export: {err}");
            return ExitCode::FAILURE;
        }
    };
    let live = runtime.block_on(async {
        let store = remote::connect(&args.s3).await.map_err(|e| e.to_string())?;
        store
            .get(&BucketRef::new(&args.bucket))
            .await
            .map_err(|e| e.to_string())
    });
    let rules = match live {
        Ok(rules) => rules,
        Err(err) => {
            eprintln!("bucketcors export: {err}");
            return ExitCode::FAILURE;
        }
    };
    let spec = BucketCorsPolicySpec {
        bucket: args.bucket.clone(),
        endpoint_ref: None,
        expected_bucket_owner: None,
        rules,
        drift_policy: DriftPolicy::default(),
        deletion_policy: DeletionPolicy::default(),
        interval: None,
        suspend: false,
    };
    // Stores accept some things the API server would not; say so rather than hide it.
    for issue in cors::validate_spec(&spec) {
        eprintln!(
            "bucketcors export: warning: the live configuration would not pass validation: {issue}"
        );
    }
    let mut policy = BucketCorsPolicy::new(args.name.as_deref().unwrap_or(&args.bucket), spec);
    policy.metadata.namespace = args.namespace.clone();
    match serde_yaml_ng::to_string(&policy) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bucketcors export: cannot render YAML: {err}");
            ExitCode::FAILURE
        }
    }
}
