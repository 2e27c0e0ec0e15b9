//! `bucketcors export`: print a `BucketCorsPolicy` holding a bucket's live configuration, so
//! that applying it changes nothing.

use std::process::ExitCode;

use super::ExportArgs;
use super::remote;
use crate::api::{BucketCorsPolicy, BucketCorsPolicySpec, CorsRule, DeletionPolicy, DriftPolicy};
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
    let bucket = BucketRef {
        name: args.bucket.clone(),
        expected_owner: args.expected_bucket_owner.clone(),
    };
    let live = runtime.block_on(async {
        let store = remote::connect(&args.s3).await.map_err(|e| e.to_string())?;
        store.get(&bucket).await.map_err(|e| e.to_string())
    });
    let rules = match live {
        Ok(rules) => rules,
        Err(err) => {
            eprintln!("bucketcors export: {err}");
            return ExitCode::FAILURE;
        }
    };
    let spec = exported_spec(&bucket, rules);
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

/// The spec of the exported policy: the live rules, and the owner the bucket was read with, so
/// the policy keeps refusing a bucket that changed hands.
fn exported_spec(bucket: &BucketRef, rules: Vec<CorsRule>) -> BucketCorsPolicySpec {
    BucketCorsPolicySpec {
        bucket: bucket.name.clone(),
        endpoint_ref: None,
        expected_bucket_owner: bucket.expected_owner.clone(),
        rules,
        drift_policy: DriftPolicy::default(),
        deletion_policy: DeletionPolicy::default(),
        interval: None,
        suspend: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_owner_is_kept_in_the_spec() {
        let bucket = BucketRef {
            name: "b".into(),
            expected_owner: Some("123456789012".into()),
        };
        let spec = exported_spec(&bucket, vec![]);
        assert_eq!(spec.expected_bucket_owner.as_deref(), Some("123456789012"));
        let yaml = serde_yaml_ng::to_string(&spec).unwrap();
        assert!(
            yaml.contains("expectedBucketOwner: '123456789012'"),
            "{yaml}"
        );
        assert_eq!(
            exported_spec(&BucketRef::new("b"), vec![]).expected_bucket_owner,
            None
        );
    }
}
