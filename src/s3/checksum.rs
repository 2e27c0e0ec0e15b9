//! The integrity header sent with PutBucketCors.
//!
//! aws-sdk-s3 sends a flexible checksum (`x-amz-checksum-crc32` by default) and no Content-MD5.
//! Stores that insist on Content-MD5 get it from [`use_content_md5`], run per operation through
//! `customize().mutate_request(..)`: that interceptor runs in `modify_before_signing`, after the
//! operation's own checksum interceptor has added its headers (operation-level interceptors run
//! after client-level ones, and customisations after the operation's), and before SigV4 signs
//! the request, so the Content-MD5 header is signed. A client-level interceptor would run
//! before the checksum interceptor and see nothing to replace. The body of PutBucketCors is an
//! in-memory XML document, so it is available there.

use aws_sdk_s3::types::ChecksumAlgorithm;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use base64::Engine as _;
use md5::Digest as _;

use crate::api::ChecksumMode;

/// What one PutBucketCors request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// A flexible checksum computed by the SDK (`x-amz-checksum-<alg>`).
    Checksum(ChecksumAlgorithm),
    /// A signed `Content-MD5` header and no flexible checksum.
    ContentMd5,
}

/// The integrity header a mode starts with. `Auto` starts with CRC32 (it may fall back to
/// Content-MD5 later, see [`demands_content_md5`]).
pub fn initial_integrity(mode: ChecksumMode) -> Integrity {
    match mode {
        ChecksumMode::Auto | ChecksumMode::Crc32 => Integrity::Checksum(ChecksumAlgorithm::Crc32),
        ChecksumMode::Crc32c => Integrity::Checksum(ChecksumAlgorithm::Crc32C),
        ChecksumMode::Sha1 => Integrity::Checksum(ChecksumAlgorithm::Sha1),
        ChecksumMode::Sha256 => Integrity::Checksum(ChecksumAlgorithm::Sha256),
        ChecksumMode::Crc64Nvme => Integrity::Checksum(ChecksumAlgorithm::Crc64Nvme),
        ChecksumMode::ContentMd5 => Integrity::ContentMd5,
    }
}

/// True when a store's error answer says that it needs Content-MD5, e.g. AWS's and Ceph's
/// `InvalidRequest: Missing required header for this request: Content-MD5`.
pub fn demands_content_md5(code: Option<&str>, message: Option<&str>) -> bool {
    let mentions_md5 = message.is_some_and(|m| m.to_ascii_lowercase().contains("content-md5"));
    match code {
        Some("MissingContentMD5") => true,
        Some("InvalidRequest" | "InvalidDigest" | "BadRequest" | "MissingSecurityHeader") => {
            mentions_md5
        }
        _ => false,
    }
}

/// Base64 of the MD5 of `body`, the value of a `Content-MD5` header.
pub fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

/// Replaces the SDK's flexible checksum headers with a `Content-MD5` of the body. Runs before
/// signing (see the module documentation), so the result is signed.
pub fn use_content_md5(request: &mut HttpRequest) {
    let checksum_headers: Vec<String> = request
        .headers()
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| {
            name.starts_with("x-amz-checksum-") || name == "x-amz-sdk-checksum-algorithm"
        })
        .collect();
    for name in checksum_headers {
        request.headers_mut().remove(name);
    }
    match request.body().bytes() {
        Some(body) => {
            let md5 = content_md5(body);
            request.headers_mut().insert("content-md5", md5);
        }
        // PutBucketCors bodies are always in memory; a streaming body would need a trailer.
        None => tracing::warn!("request body is streaming; cannot add Content-MD5"),
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::body::SdkBody;

    use super::*;

    #[test]
    fn modes_map_to_algorithms() {
        assert_eq!(
            initial_integrity(ChecksumMode::Auto),
            Integrity::Checksum(ChecksumAlgorithm::Crc32)
        );
        assert_eq!(
            initial_integrity(ChecksumMode::Crc32c),
            Integrity::Checksum(ChecksumAlgorithm::Crc32C)
        );
        assert_eq!(
            initial_integrity(ChecksumMode::Crc64Nvme),
            Integrity::Checksum(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(
            initial_integrity(ChecksumMode::ContentMd5),
            Integrity::ContentMd5
        );
    }

    #[test]
    fn content_md5_of_known_values() {
        // RFC 1321 test vectors, base64-encoded.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"abc"), "kAFQmDzST7DWlj99KOF/cg==");
    }

    #[test]
    fn replaces_checksum_headers_with_content_md5() {
        let mut request = HttpRequest::new(SdkBody::from("<CORSConfiguration/>"));
        request
            .headers_mut()
            .insert("x-amz-checksum-crc32", "AAAAAA==");
        request
            .headers_mut()
            .insert("x-amz-sdk-checksum-algorithm", "CRC32");
        request
            .headers_mut()
            .insert("content-type", "application/xml");
        use_content_md5(&mut request);
        let headers = request.headers();
        assert_eq!(
            headers.get("content-md5"),
            Some(content_md5(b"<CORSConfiguration/>").as_str())
        );
        assert!(!headers.contains_key("x-amz-checksum-crc32"));
        assert!(!headers.contains_key("x-amz-sdk-checksum-algorithm"));
        assert_eq!(headers.get("content-type"), Some("application/xml"));
    }

    #[test]
    fn recognises_content_md5_demands() {
        assert!(demands_content_md5(
            Some("InvalidRequest"),
            Some("Missing required header for this request: Content-MD5")
        ));
        assert!(demands_content_md5(Some("MissingContentMD5"), None));
        assert!(demands_content_md5(
            Some("InvalidRequest"),
            Some("Content-MD5 OR x-amz-checksum-* required")
        ));
        assert!(!demands_content_md5(
            Some("InvalidRequest"),
            Some("AllowedOrigin can not have more than one wildcard")
        ));
        assert!(!demands_content_md5(
            Some("MalformedXML"),
            Some("Content-MD5")
        ));
        assert!(!demands_content_md5(None, Some("Content-MD5")));
    }
}
