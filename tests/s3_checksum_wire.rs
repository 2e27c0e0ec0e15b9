//! What PutBucketCors puts on the wire in each checksum mode, captured by a recording proxy in
//! front of the real servers. versitygw verifies SigV4 signatures, Content-MD5 and flexible
//! checksums (it answers SignatureDoesNotMatch / BadDigest otherwise), so a request it accepts
//! through the proxy had a valid signature over the headers we see here.

mod support;

use bucketcors::api::{ChecksumMode, CorsMethod, CorsRule};
use bucketcors::s3::{AwsCorsStore, BucketRef, CorsStore, StoreErrorKind, content_md5};
use support::proxy::{Recorded, RecordingProxy};
use support::s3::{S3Server, servers};

fn rules() -> Vec<CorsRule> {
    vec![CorsRule {
        id: Some("wire".into()),
        allowed_origins: vec!["https://wire.example".into()],
        allowed_methods: vec![CorsMethod::Get, CorsMethod::Put],
        allowed_headers: vec!["*".into()],
        expose_headers: vec!["ETag".into()],
        max_age_seconds: Some(60),
    }]
}

async fn through_proxy(s: &S3Server, proxy: &RecordingProxy, mode: ChecksumMode) -> AwsCorsStore {
    AwsCorsStore::connect(&s.endpoint_with(&proxy.url, &s.access_key, &s.secret_key, mode))
        .await
        .expect("connect")
}

/// Puts through the proxy and returns the one PutBucketCors request it saw.
async fn put_and_capture(s: &S3Server, mode: ChecksumMode) -> Recorded {
    let proxy = RecordingProxy::start(&s.url).await;
    let store = through_proxy(s, &proxy, mode).await;
    let bucket = BucketRef::new(s.new_bucket("wire").await);
    store
        .put(&bucket, &rules())
        .await
        .unwrap_or_else(|e| panic!("{:?} {mode:?}: put through the proxy: {e}", s.server));
    // The server stored what was sent.
    assert_eq!(
        store.get(&bucket).await.unwrap(),
        rules(),
        "{:?} {mode:?}",
        s.server
    );
    let puts = proxy.put_cors_requests();
    assert_eq!(
        puts.len(),
        1,
        "{:?} {mode:?}: one PutBucketCors: {puts:?}",
        s.server
    );
    let put = puts.into_iter().next().expect("one put");
    assert_eq!(put.status, 200, "{:?} {mode:?}", s.server);
    assert!(
        put.header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")),
        "signed"
    );
    put
}

fn signed_headers(put: &Recorded) -> Vec<String> {
    let auth = put.header("authorization").expect("authorization");
    let list = auth
        .split("SignedHeaders=")
        .nth(1)
        .expect("SignedHeaders")
        .split(',')
        .next()
        .expect("list");
    list.split(';').map(str::to_owned).collect()
}

#[tokio::test]
async fn default_mode_sends_crc32_and_no_content_md5() {
    let Some(servers) = servers("default_mode_sends_crc32_and_no_content_md5") else {
        return;
    };
    for s in &servers {
        for mode in [ChecksumMode::Auto, ChecksumMode::Crc32] {
            let put = put_and_capture(s, mode).await;
            assert_eq!(
                put.checksum_headers(),
                vec!["x-amz-checksum-crc32"],
                "{:?} {mode:?}: {:?}",
                s.server,
                put.headers
            );
            assert!(
                put.header("content-md5").is_none(),
                "{:?} {mode:?}: no Content-MD5",
                s.server
            );
        }
    }
}

#[tokio::test]
async fn content_md5_mode_sends_a_correct_signed_content_md5_and_no_checksum() {
    let Some(servers) =
        servers("content_md5_mode_sends_a_correct_signed_content_md5_and_no_checksum")
    else {
        return;
    };
    for s in &servers {
        let put = put_and_capture(s, ChecksumMode::ContentMd5).await;
        assert_eq!(
            put.header("content-md5"),
            Some(content_md5(&put.body).as_str()),
            "{:?}: MD5 of the body as sent",
            s.server
        );
        assert!(
            put.checksum_headers().is_empty(),
            "{:?}: {:?}",
            s.server,
            put.headers
        );
        assert!(
            put.header("x-amz-sdk-checksum-algorithm").is_none(),
            "{:?}",
            s.server
        );
        assert!(
            signed_headers(&put).iter().any(|h| h == "content-md5"),
            "{:?}: Content-MD5 is signed: {:?}",
            s.server,
            signed_headers(&put)
        );
        assert!(
            !put.body.is_empty()
                && String::from_utf8_lossy(&put.body).contains("https://wire.example")
        );
    }
}

#[tokio::test]
async fn each_checksum_algorithm_sends_its_header_and_is_accepted() {
    let Some(servers) = servers("each_checksum_algorithm_sends_its_header_and_is_accepted") else {
        return;
    };
    let modes = [
        (ChecksumMode::Crc32, "x-amz-checksum-crc32"),
        (ChecksumMode::Crc32c, "x-amz-checksum-crc32c"),
        (ChecksumMode::Sha1, "x-amz-checksum-sha1"),
        (ChecksumMode::Sha256, "x-amz-checksum-sha256"),
        (ChecksumMode::Crc64Nvme, "x-amz-checksum-crc64nvme"),
    ];
    for s in &servers {
        for (mode, header) in modes {
            let put = put_and_capture(s, mode).await;
            assert_eq!(
                put.checksum_headers(),
                vec![header],
                "{:?} {mode:?}",
                s.server
            );
            assert!(
                put.header("content-md5").is_none(),
                "{:?} {mode:?}",
                s.server
            );
            assert!(
                signed_headers(&put).iter().any(|h| h == header),
                "{:?} {mode:?}: checksum header signed",
                s.server
            );
        }
    }
}

#[tokio::test]
async fn auto_falls_back_to_content_md5_once_and_remembers_it() {
    let Some(servers) = servers("auto_falls_back_to_content_md5_once_and_remembers_it") else {
        return;
    };
    for s in &servers {
        let proxy = RecordingProxy::start(&s.url).await;
        proxy.demand_content_md5(true);
        let store = through_proxy(s, &proxy, ChecksumMode::Auto).await;
        let bucket = BucketRef::new(s.new_bucket("auto").await);
        assert!(!store.uses_content_md5());

        store
            .put(&bucket, &rules())
            .await
            .unwrap_or_else(|e| panic!("{:?}: put with fallback: {e}", s.server));
        let puts = proxy.put_cors_requests();
        assert_eq!(
            puts.len(),
            2,
            "{:?}: refused, then retried: {puts:?}",
            s.server
        );
        assert_eq!(puts[0].status, 400);
        assert_eq!(puts[0].checksum_headers(), vec!["x-amz-checksum-crc32"]);
        assert_eq!(
            puts[1].status, 200,
            "{:?}: the real server accepted the retry",
            s.server
        );
        assert_eq!(
            puts[1].header("content-md5"),
            Some(content_md5(&puts[1].body).as_str())
        );
        assert!(puts[1].checksum_headers().is_empty());
        assert!(store.uses_content_md5());

        // The next put goes straight to Content-MD5.
        proxy.clear();
        let mut changed = rules();
        changed[0].max_age_seconds = Some(120);
        store.put(&bucket, &changed).await.unwrap();
        let puts = proxy.put_cors_requests();
        assert_eq!(puts.len(), 1, "{:?}: {puts:?}", s.server);
        assert_eq!(puts[0].status, 200);
        assert!(puts[0].header("content-md5").is_some() && puts[0].checksum_headers().is_empty());
        assert_eq!(store.get(&bucket).await.unwrap(), changed);
    }
}

#[tokio::test]
async fn explicit_checksum_mode_does_not_fall_back() {
    let Some(servers) = servers("explicit_checksum_mode_does_not_fall_back") else {
        return;
    };
    let s = &servers[0];
    let proxy = RecordingProxy::start(&s.url).await;
    proxy.demand_content_md5(true);
    let store = through_proxy(s, &proxy, ChecksumMode::Crc32).await;
    let bucket = BucketRef::new(s.new_bucket("nofallback").await);
    let err = store
        .put(&bucket, &rules())
        .await
        .expect_err("CRC32 only, and the store wants Content-MD5");
    assert_eq!(
        err.kind,
        bucketcors::s3::StoreErrorKind::InvalidConfiguration
    );
    assert!(err.message.contains("Content-MD5"), "{}", err.message);
    assert_eq!(proxy.put_cors_requests().len(), 1, "a 400 is not retried");
}

fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
}

/// Answers the real servers never give, played by the proxy: how they are classified and which
/// of them the SDK retries (standard mode, 3 attempts, only for throttling and transient errors).
#[tokio::test]
async fn answers_the_servers_never_give_are_classified_and_retried_only_when_transient() {
    let Some(servers) =
        servers("answers_the_servers_never_give_are_classified_and_retried_only_when_transient")
    else {
        return;
    };
    let s = &servers[0];
    let proxy = RecordingProxy::start(&s.url).await;
    let store = through_proxy(s, &proxy, ChecksumMode::Auto).await;
    let bucket = BucketRef::new(s.new_bucket("canned").await);

    let empty = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></CORSConfiguration>";
    proxy.answer_get_cors(Some((200, empty)));
    assert_eq!(
        store.get(&bucket).await.unwrap(),
        vec![],
        "an empty 200 means no rules"
    );

    let cases = [
        (
            501,
            error_xml(
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            ),
            StoreErrorKind::NotImplemented,
            1,
        ),
        (
            503,
            error_xml("SlowDown", "Please reduce your request rate."),
            StoreErrorKind::Throttled,
            3,
        ),
        (
            500,
            error_xml(
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
            StoreErrorKind::Transient,
            3,
        ),
        (
            400,
            error_xml("InvalidArgument", "nope"),
            StoreErrorKind::InvalidConfiguration,
            1,
        ),
        // What some stores without bucket CORS answer.
        (
            405,
            error_xml(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            ),
            StoreErrorKind::NotImplemented,
            1,
        ),
        // AWS, for a bucket in another region than the one signed for.
        (
            301,
            error_xml(
                "PermanentRedirect",
                "The bucket you are attempting to access must be addressed using the specified endpoint.",
            ),
            StoreErrorKind::WrongRegion,
            1,
        ),
    ];
    for (status, body, kind, attempts) in cases {
        proxy.clear();
        proxy.answer_get_cors(Some((status, &body)));
        let err = store.get(&bucket).await.expect_err("canned error");
        assert_eq!(err.kind, kind, "{status}: {err}");
        assert!(
            err.message.starts_with(&status.to_string()),
            "{}",
            err.message
        );
        assert_eq!(proxy.requests().len(), attempts, "{status}: attempts");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            cause.is_some(),
            "{status}: the SDK error is kept as the source"
        );
        if kind == StoreErrorKind::WrongRegion {
            assert!(
                err.message.contains("set the endpoint's region"),
                "{}",
                err.message
            );
        }
    }

    // A store that reports a method outside the five S3 knows.
    let odd = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>";
    proxy.answer_get_cors(Some((200, odd)));
    let err = store.get(&bucket).await.expect_err("unknown method");
    assert_eq!(err.kind, StoreErrorKind::Other);
    assert!(err.message.contains("PATCH"), "{}", err.message);
}
