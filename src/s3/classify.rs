//! Error classification: from what a store answered (error code, HTTP status) to what a caller
//! can act on ([`StoreErrorKind`]). Pure, so every pair is unit-tested without a store.

use super::StoreErrorKind;

/// The error code S3 answers GetBucketCors with when a bucket has no CORS configuration. It is
/// not an error for us: it means "no rules".
pub const NO_SUCH_CORS_CONFIGURATION: &str = "NoSuchCORSConfiguration";

/// Classifies a store's answer by its error `code` (when the body had one) and HTTP `status`
/// (when there was a response at all). The code wins over the status: stores agree more on codes
/// than on statuses (a 400 `RequestTimeout` is transient, a 503 `SlowDown` is throttling).
pub fn classify(code: Option<&str>, status: Option<u16>) -> StoreErrorKind {
    if let Some(kind) = code.and_then(classify_code) {
        return kind;
    }
    match status {
        // 405: stores without bucket CORS that route `?cors` to a handler refusing the method.
        Some(405 | 501) => StoreErrorKind::NotImplemented,
        Some(301) => StoreErrorKind::WrongRegion,
        Some(429 | 503) => StoreErrorKind::Throttled,
        Some(500..=599) => StoreErrorKind::Transient,
        // A 403 without a (known) code is still a refusal, e.g. a HEAD-style answer with no body.
        Some(401 | 403) => StoreErrorKind::AccessDenied,
        Some(408) => StoreErrorKind::Transient,
        _ => StoreErrorKind::Other,
    }
}

fn classify_code(code: &str) -> Option<StoreErrorKind> {
    use StoreErrorKind::*;
    Some(match code {
        "NoSuchBucket" => NoSuchBucket,
        // Identity rejected, permission missing, or ExpectedBucketOwner not the owner
        // (S3 answers that with a plain AccessDenied).
        "AccessDenied"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "AccountProblem"
        | "AllAccessDisabled"
        | "InvalidToken"
        | "ExpiredToken"
        | "TokenRefreshRequired"
        | "InvalidSecurity"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "AuthorizationHeaderMalformed"
        | "RequestTimeTooSkewed" => AccessDenied,
        // The store rejected the configuration we sent.
        "MalformedXML"
        | "InvalidRequest"
        | "InvalidArgument"
        | "InvalidDigest"
        | "MissingContentMD5"
        | "EntityTooLarge"
        | "MaxMessageLengthExceeded"
        | "MissingRequestBodyError" => InvalidConfiguration,
        "NotImplemented" | "MethodNotAllowed" => NotImplemented,
        "PermanentRedirect" => WrongRegion,
        "SlowDown"
        | "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "TooManyRequests"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "ProvisionedThroughputExceededException"
        | "BandwidthLimitExceeded"
        | "ServiceUnavailable" => Throttled,
        "InternalError" | "RequestTimeout" | "RequestTimeoutException" | "OperationAborted" => {
            Transient
        }
        _ => return None,
    })
}

/// Advice added to the store's own words where they do not say what to do. `bucket_region` is
/// the `x-amz-bucket-region` header of the answer, when it had one.
pub fn advice(kind: StoreErrorKind, bucket_region: Option<&str>) -> Option<String> {
    match kind {
        StoreErrorKind::WrongRegion => Some(format!(
            "the bucket is in another region{}; set the endpoint's region to the bucket's (--region for the CLI, spec.region of the S3Endpoint or ClusterS3Endpoint, or the controller's --default-region)",
            bucket_region
                .filter(|r| !r.is_empty())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StoreErrorKind::*;

    #[test]
    fn codes_win_over_statuses() {
        let cases: &[(Option<&str>, Option<u16>, StoreErrorKind)] = &[
            (Some("NoSuchBucket"), Some(404), NoSuchBucket),
            (Some("AccessDenied"), Some(403), AccessDenied),
            (Some("InvalidAccessKeyId"), Some(403), AccessDenied),
            (Some("SignatureDoesNotMatch"), Some(403), AccessDenied),
            (Some("ExpiredToken"), Some(400), AccessDenied),
            (Some("MalformedXML"), Some(400), InvalidConfiguration),
            (Some("InvalidRequest"), Some(400), InvalidConfiguration),
            (Some("InvalidArgument"), Some(400), InvalidConfiguration),
            (Some("NotImplemented"), Some(501), NotImplemented),
            (Some("NotImplemented"), Some(400), NotImplemented),
            (Some("MethodNotAllowed"), Some(405), NotImplemented),
            (Some("PermanentRedirect"), Some(301), WrongRegion),
            (Some("SlowDown"), Some(503), Throttled),
            (Some("SlowDown"), Some(400), Throttled),
            (Some("ServiceUnavailable"), Some(503), Throttled),
            (Some("InternalError"), Some(500), Transient),
            (Some("RequestTimeout"), Some(400), Transient),
            (Some("SomethingNew"), Some(400), Other),
            (Some("SomethingNew"), Some(500), Transient),
            (Some("SomethingNew"), Some(503), Throttled),
        ];
        for (code, status, want) in cases {
            assert_eq!(classify(*code, *status), *want, "{code:?} {status:?}");
        }
    }

    #[test]
    fn statuses_alone() {
        let cases: &[(Option<u16>, StoreErrorKind)] = &[
            (Some(501), NotImplemented),
            (Some(405), NotImplemented),
            (Some(301), WrongRegion),
            (Some(503), Throttled),
            (Some(429), Throttled),
            (Some(500), Transient),
            (Some(502), Transient),
            (Some(504), Transient),
            (Some(403), AccessDenied),
            (Some(401), AccessDenied),
            (Some(408), Transient),
            (Some(400), Other),
            (Some(404), Other),
            (Some(409), Other),
            (None, Other),
        ];
        for (status, want) in cases {
            assert_eq!(classify(None, *status), *want, "{status:?}");
        }
    }

    #[test]
    fn retryable_kinds_are_exactly_throttled_and_transient() {
        assert!(classify(Some("SlowDown"), Some(503)).is_retryable());
        assert!(classify(None, Some(500)).is_retryable());
        assert!(!classify(Some("MalformedXML"), Some(400)).is_retryable());
        assert!(!classify(Some("AccessDenied"), Some(403)).is_retryable());
        assert!(!classify(Some("NoSuchBucket"), Some(404)).is_retryable());
        assert!(!classify(Some("PermanentRedirect"), Some(301)).is_retryable());
        assert!(!classify(None, Some(405)).is_retryable());
    }

    #[test]
    fn a_redirect_tells_the_user_to_set_the_region() {
        let with = advice(WrongRegion, Some("eu-west-1")).unwrap();
        assert!(with.contains("(eu-west-1)"), "{with}");
        assert!(with.contains("--region"), "{with}");
        let without = advice(WrongRegion, None).unwrap();
        assert!(
            without.starts_with("the bucket is in another region;"),
            "{without}"
        );
        assert_eq!(advice(AccessDenied, Some("eu-west-1")), None);
    }
}
