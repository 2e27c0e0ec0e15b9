//! The same CORS store conformance tests against every real S3 server (moto, versitygw).
//!
//! Run under `bash hack/s3/with-s3.sh cargo test --test s3_conformance`. Where a server behaves
//! differently from AWS, the difference is listed in [`DEVIATIONS`] and the test asserts that the
//! server still behaves that way, so a fixed (or newly broken) server shows up as a failure.

mod support;

use bucketcors::api::{ChecksumMode, CorsMethod, CorsRule};
use bucketcors::s3::{AwsCorsStore, BucketRef, CorsStore, StoreError, StoreErrorKind};
use support::s3::{S3Server, Server, servers, unique_bucket, versitygw_user};

/// Known ways a server differs from AWS S3 in what these tests check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deviation {
    /// Accepts any access key and any secret (moto does not verify signatures).
    AcceptsAnyCredentials,
    /// Ignores `ExpectedBucketOwner`.
    IgnoresExpectedBucketOwner,
    /// Accepts an AllowedOrigin with two `*` (AWS: 400 InvalidRequest).
    AcceptsTwoWildcardsInOrigin,
}

const DEVIATIONS: &[(Server, Deviation)] = &[
    (Server::Moto, Deviation::AcceptsAnyCredentials),
    (Server::Moto, Deviation::IgnoresExpectedBucketOwner),
    (Server::Moto, Deviation::AcceptsTwoWildcardsInOrigin),
];

fn deviates(server: Server, deviation: Deviation) -> bool {
    DEVIATIONS.contains(&(server, deviation))
}

fn rule(id: Option<&str>, origin: &str, methods: &[CorsMethod]) -> CorsRule {
    CorsRule {
        id: id.map(str::to_owned),
        allowed_origins: vec![origin.to_owned()],
        allowed_methods: methods.to_vec(),
        ..Default::default()
    }
}

fn three_rules() -> Vec<CorsRule> {
    vec![
        CorsRule {
            id: Some("uploads".into()),
            allowed_origins: vec![
                "https://shop.example.com".into(),
                "https://*.shop.example.com".into(),
            ],
            allowed_methods: vec![CorsMethod::Put, CorsMethod::Post],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into(), "x-amz-request-id".into()],
            max_age_seconds: Some(3000),
        },
        rule(
            None,
            "https://admin.example.com",
            &[CorsMethod::Delete, CorsMethod::Get],
        ),
        CorsRule {
            max_age_seconds: Some(0),
            ..rule(Some("any"), "*", &[CorsMethod::Get, CorsMethod::Head])
        },
    ]
}

fn expect_err(
    server: Server,
    what: &str,
    result: Result<impl std::fmt::Debug, StoreError>,
) -> StoreError {
    match result {
        Ok(v) => panic!("{server:?}: {what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn put_then_get_round_trips_rules_in_order() {
    let Some(servers) = servers("put_then_get_round_trips_rules_in_order") else {
        return;
    };
    for s in &servers {
        let store = s.store(ChecksumMode::Auto).await;
        let bucket = BucketRef::new(s.new_bucket("roundtrip").await);
        assert_eq!(
            store.get(&bucket).await.unwrap(),
            vec![],
            "{:?}: new bucket has no rules",
            s.server
        );

        let rules = three_rules();
        store
            .put(&bucket, &rules)
            .await
            .unwrap_or_else(|e| panic!("{:?}: put: {e}", s.server));
        assert_eq!(
            store.get(&bucket).await.unwrap(),
            rules,
            "{:?}: exactly what was put, in order",
            s.server
        );

        // Same rules, another order: the store keeps the new order.
        let reversed: Vec<CorsRule> = rules.iter().rev().cloned().collect();
        store.put(&bucket, &reversed).await.unwrap();
        assert_eq!(
            store.get(&bucket).await.unwrap(),
            reversed,
            "{:?}: reversed order kept",
            s.server
        );
    }
}

#[tokio::test]
async fn delete_leaves_no_configuration() {
    let Some(servers) = servers("delete_leaves_no_configuration") else {
        return;
    };
    for s in &servers {
        let store = s.store(ChecksumMode::Auto).await;
        let bucket = BucketRef::new(s.new_bucket("delete").await);
        store.put(&bucket, &three_rules()).await.unwrap();
        assert_eq!(store.get(&bucket).await.unwrap().len(), 3);
        store
            .delete(&bucket)
            .await
            .unwrap_or_else(|e| panic!("{:?}: delete: {e}", s.server));
        assert_eq!(
            store.get(&bucket).await.unwrap(),
            vec![],
            "{:?}: no rules after delete",
            s.server
        );
        // The SDK client agrees that there is no configuration at all (not an empty one).
        let err = s
            .sdk()
            .get_bucket_cors()
            .bucket(&bucket.name)
            .send()
            .await
            .expect_err("no configuration");
        assert_eq!(
            aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
            Some("NoSuchCORSConfiguration")
        );
    }
}

#[tokio::test]
async fn delete_on_a_bucket_without_cors_succeeds() {
    let Some(servers) = servers("delete_on_a_bucket_without_cors_succeeds") else {
        return;
    };
    for s in &servers {
        let store = s.store(ChecksumMode::Auto).await;
        let bucket = BucketRef::new(s.new_bucket("delnone").await);
        store
            .delete(&bucket)
            .await
            .unwrap_or_else(|e| panic!("{:?}: delete: {e}", s.server));
        store
            .delete(&bucket)
            .await
            .unwrap_or_else(|e| panic!("{:?}: second delete: {e}", s.server));
        assert_eq!(store.get(&bucket).await.unwrap(), vec![]);
    }
}

#[tokio::test]
async fn missing_bucket_is_no_such_bucket() {
    let Some(servers) = servers("missing_bucket_is_no_such_bucket") else {
        return;
    };
    for s in &servers {
        let store = s.store(ChecksumMode::Auto).await;
        let bucket = BucketRef::new(unique_bucket("missing"));
        let errors = [
            expect_err(s.server, "get", store.get(&bucket).await),
            expect_err(s.server, "put", store.put(&bucket, &three_rules()).await),
            expect_err(s.server, "delete", store.delete(&bucket).await),
        ];
        for err in errors {
            assert_eq!(
                err.kind,
                StoreErrorKind::NoSuchBucket,
                "{:?}: {err}",
                s.server
            );
            assert!(
                err.message.contains("NoSuchBucket"),
                "{:?}: server's code kept: {}",
                s.server,
                err.message
            );
            assert_eq!(err.bucket, bucket.name);
        }
    }
}

/// Classifies one call made with wrong credentials.
async fn with_keys(
    s: &S3Server,
    access: &str,
    secret: &str,
    bucket: &BucketRef,
) -> Vec<Result<(), StoreError>> {
    let store = AwsCorsStore::connect(&s.endpoint_with(&s.url, access, secret, ChecksumMode::Auto))
        .await
        .unwrap();
    vec![
        store.get(bucket).await.map(|_| ()),
        store.put(bucket, &three_rules()).await,
        store.delete(bucket).await,
    ]
}

#[tokio::test]
async fn wrong_credentials_are_access_denied() {
    let Some(servers) = servers("wrong_credentials_are_access_denied") else {
        return;
    };
    for s in &servers {
        let bucket = BucketRef::new(s.new_bucket("creds").await);
        let wrong_secret = format!("{}-wrong", s.secret_key);
        let cases = [
            ("wrong secret", s.access_key.as_str(), wrong_secret.as_str()),
            (
                "unknown key",
                "AKIAUNKNOWNKEY000000",
                "unknown-secret-RECOGNISABLE-4711",
            ),
        ];
        for (what, access, secret) in cases {
            for result in with_keys(s, access, secret, &bucket).await {
                if deviates(s.server, Deviation::AcceptsAnyCredentials) {
                    // Still true? If this fails, the server started checking keys: update DEVIATIONS.
                    assert!(
                        result.is_ok(),
                        "{:?} ({what}): listed as accepting any credentials, but: {result:?}",
                        s.server
                    );
                } else {
                    let err = result.expect_err(what);
                    assert_eq!(
                        err.kind,
                        StoreErrorKind::AccessDenied,
                        "{:?} ({what}): {err}",
                        s.server
                    );
                    assert!(
                        !err.message.contains(secret) && !format!("{err:?}").contains(secret),
                        "secret in error"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn another_account_is_access_denied_on_versitygw() {
    let Some(servers) = servers("another_account_is_access_denied_on_versitygw") else {
        return;
    };
    let s = servers
        .iter()
        .find(|s| s.server == Server::Versitygw)
        .expect("versitygw");
    let (access, secret) = versitygw_user()
        .expect("hack/s3/start.sh exports BUCKETCORS_VERSITYGW_USER_ACCESS_KEY/_SECRET_KEY");
    let bucket = BucketRef::new(s.new_bucket("otheracct").await);
    for result in with_keys(s, &access, &secret, &bucket).await {
        let err = result.expect_err("an account without rights on the bucket");
        assert_eq!(err.kind, StoreErrorKind::AccessDenied, "{err}");
        assert!(err.message.contains("AccessDenied"), "{}", err.message);
    }
}

#[tokio::test]
async fn wrong_expected_bucket_owner_is_access_denied() {
    let Some(servers) = servers("wrong_expected_bucket_owner_is_access_denied") else {
        return;
    };
    for s in &servers {
        let store = s.store(ChecksumMode::Auto).await;
        let name = s.new_bucket("owner").await;
        let bucket = BucketRef {
            name,
            expected_owner: Some("999999999999".into()),
        };
        let result = store.get(&bucket).await;
        if deviates(s.server, Deviation::IgnoresExpectedBucketOwner) {
            assert!(
                result.is_ok(),
                "{:?}: listed as ignoring ExpectedBucketOwner, but: {result:?}",
                s.server
            );
        } else {
            let err = expect_err(s.server, "get with a wrong owner", result);
            assert_eq!(
                err.kind,
                StoreErrorKind::AccessDenied,
                "{:?}: {err}",
                s.server
            );
        }
    }
}

#[tokio::test]
async fn invalid_configurations_are_classified_with_the_servers_message() {
    let Some(servers) = servers("invalid_configurations_are_classified_with_the_servers_message")
    else {
        return;
    };
    // Sent as they are: the store does not validate, so these reach the server.
    let no_origin = CorsRule {
        allowed_origins: vec![],
        ..rule(None, "", &[CorsMethod::Get])
    };
    let no_method = rule(None, "https://a.example", &[]);
    let two_wildcards = rule(None, "https://*.*.example", &[CorsMethod::Get]);
    for s in &servers {
        let store = s.store(ChecksumMode::Auto).await;
        let bucket = BucketRef::new(s.new_bucket("invalid").await);
        for (what, rules) in [
            ("empty origin list", &no_origin),
            ("empty method list", &no_method),
        ] {
            let err = expect_err(
                s.server,
                what,
                store.put(&bucket, std::slice::from_ref(rules)).await,
            );
            assert_eq!(
                err.kind,
                StoreErrorKind::InvalidConfiguration,
                "{:?} {what}: {err}",
                s.server
            );
            assert!(
                err.message
                    .starts_with("400 MalformedXML: The XML you provided was not well-formed"),
                "{:?} {what}: {}",
                s.server,
                err.message
            );
        }
        let result = store
            .put(&bucket, std::slice::from_ref(&two_wildcards))
            .await;
        if deviates(s.server, Deviation::AcceptsTwoWildcardsInOrigin) {
            assert!(
                result.is_ok(),
                "{:?}: listed as accepting two wildcards, but: {result:?}",
                s.server
            );
        } else {
            let err = expect_err(s.server, "two wildcards", result);
            assert_eq!(
                err.kind,
                StoreErrorKind::InvalidConfiguration,
                "{:?}: {err}",
                s.server
            );
            assert!(
                err.message.contains("InvalidRequest") && err.message.contains("wildcard"),
                "{:?}: {}",
                s.server,
                err.message
            );
        }
    }
}
