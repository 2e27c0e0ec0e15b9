//! `crds/` must be exactly what the code generates; the chart's copies must match too.

use std::path::Path;

#[test]
fn crds_directory_matches_generated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("BUCKETCORS_UPDATE_CRDS").is_some();
    for (file, crd) in bucketcors::api::crds() {
        let want = bucketcors::api::crd_yaml(&crd);
        let path = root.join("crds").join(file);
        if regenerate {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", path.display()));
        assert!(
            have == want,
            "{} differs from the generated CRD; run `make crds`",
            path.display()
        );
        let chart = root.join("charts/bucketcors/crds").join(file);
        if regenerate && chart.parent().unwrap().exists() {
            std::fs::write(&chart, &want).unwrap();
        }
        if chart.parent().unwrap().exists() {
            let chart_copy = std::fs::read_to_string(&chart)
                .unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", chart.display()));
            assert!(
                chart_copy == want,
                "{} differs from crds/{file}; run `make crds`",
                chart.display()
            );
        }
    }
}

#[test]
fn crd_command_prints_every_crd() {
    let out = bucketcors::api::crds_yaml();
    for kind in ["BucketCorsPolicy", "S3Endpoint", "ClusterS3Endpoint"] {
        assert!(out.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    assert_eq!(out.matches("\n---\n").count(), 2);
}
