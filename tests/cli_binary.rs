//! The binary itself, for what no library test can see: what `bucketcors crd` prints, and the
//! exit codes `main` chooses for command lines clap refuses.

use std::path::Path;

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize as _;
use support::bin::command as bucketcors;

fn crd_file(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crds")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn crd_prints_exactly_the_files_in_crds() {
    let out = bucketcors().arg("crd").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();

    // Byte for byte: the files under crds/, as one multi-document stream.
    let files = [
        "bucketcorspolicies.yaml",
        "s3endpoints.yaml",
        "clusters3endpoints.yaml",
    ];
    let want = files.map(crd_file).join("---\n");
    assert!(
        stdout == want,
        "`bucketcors crd` differs from crds/*.yaml; run `make crds`"
    );

    // And as objects: exactly the three CRDs, each equal to its file.
    let printed: Vec<CustomResourceDefinition> = serde_yaml_ng::Deserializer::from_str(&stdout)
        .map(|doc| CustomResourceDefinition::deserialize(doc).unwrap())
        .collect();
    let names: Vec<&str> = printed
        .iter()
        .map(|crd| crd.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bucketcorspolicies.bucketcors.dev",
            "s3endpoints.bucketcors.dev",
            "clusters3endpoints.bucketcors.dev"
        ]
    );
    for (crd, file) in printed.iter().zip(files) {
        let on_disk: CustomResourceDefinition = serde_yaml_ng::from_str(&crd_file(file)).unwrap();
        assert_eq!(crd, &on_disk, "{file}");
    }
}

#[test]
fn usage_errors_exit_1_not_2() {
    // 2 means "changes pending" for `plan`; clap's own exit code for usage errors is 2.
    for args in [
        &["--no-such-flag"][..],
        &["no-such-command"],
        &["plan"],
        &["plan", "p.yaml", "--checksum", "MD4"],
        &["lint"],
        &["explain", "p.yaml"],
        &["export"],
    ] {
        let out = bucketcors().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_and_version_exit_0() {
    for args in [&["--help"][..], &["--version"], &["plan", "--help"]] {
        let out = bucketcors().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_does_not_show_the_endpoint_url_from_the_environment() {
    let out = bucketcors()
        .args(["plan", "--help"])
        .env("AWS_ENDPOINT_URL_S3", "http://key:hunter2@s3.example")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("AWS_ENDPOINT_URL_S3"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}
