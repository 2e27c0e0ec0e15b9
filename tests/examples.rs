//! Every document under `examples/` is a valid object of its kind: policies pass the Rust
//! validation and their CRD's CEL rules; endpoints pass the checks `lint` runs on them and
//! their CRD's CEL rules.

use std::path::Path;

use bucketcors::api::{BucketCorsPolicy, ClusterS3Endpoint, S3Endpoint};
use bucketcors::cors::validate_spec;
use bucketcors::s3::{validate_cluster_s3_endpoint, validate_s3_endpoint};
use serde::Deserialize as _;

#[test]
fn every_example_document_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut kinds = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = serde_yaml_ng::Value::deserialize(de).unwrap();
            let at = format!("{} document {}", file.display(), i + 1);
            let kind = value["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no kind"))
                .to_owned();
            match kind.as_str() {
                "BucketCorsPolicy" => {
                    let policy: BucketCorsPolicy = serde_yaml_ng::from_value(value).unwrap();
                    assert_eq!(validate_spec(&policy.spec), vec![], "{at}");
                    policy
                        .validate_cel()
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(policy.metadata.namespace.as_deref(), Some("demo"), "{at}");
                    assert!(policy.spec.bucket.starts_with("demo-"), "{at}");
                }
                "ClusterS3Endpoint" => {
                    let endpoint: ClusterS3Endpoint = serde_yaml_ng::from_value(value).unwrap();
                    assert_eq!(validate_cluster_s3_endpoint(&endpoint), vec![], "{at}");
                    endpoint
                        .validate_cel()
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                }
                "S3Endpoint" => {
                    let endpoint: S3Endpoint = serde_yaml_ng::from_value(value).unwrap();
                    assert_eq!(validate_s3_endpoint(&endpoint), vec![], "{at}");
                    endpoint
                        .validate_cel()
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                }
                other => panic!("{at}: unexpected kind {other}"),
            }
            kinds.push(kind);
        }
    }
    assert_eq!(
        kinds.iter().filter(|k| *k == "BucketCorsPolicy").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "ClusterS3Endpoint"), "{kinds:?}");
}
