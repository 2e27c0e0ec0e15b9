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
        Some(501) => StoreErrorKind::NotImplemented,
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
        "NotImplemented" => NotImplemented,
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
    }
}
