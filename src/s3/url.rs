//! Endpoint URLs: what the client accepts, and how a URL is shown without the credentials a
//! user may have written into it.
//!
//! `http://user:password@host` parses as a URL, but the password would then travel into `Debug`
//! output, logs, status messages and errors. Such URLs are refused, and every message about a
//! URL shows it through [`redact_url`].

use std::borrow::Cow;

/// What is wrong with an endpoint URL. The messages never quote the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// The authority holds `user[:password]@`.
    #[error(
        "credentials (user:password@) are not allowed in the URL; use credentials.secretRef or the AWS environment"
    )]
    UserInfo,
    /// Not parseable as a URI at all.
    #[error("{0}")]
    Unparsable(String),
    /// A scheme other than http or https.
    #[error("the scheme must be http or https")]
    Scheme,
    /// No scheme.
    #[error("not an absolute URL (expected http:// or https://)")]
    NotAbsolute,
    /// An empty host.
    #[error("no host")]
    NoHost,
    /// A query string, which the SDK would mix into every request.
    #[error("a query string is not allowed")]
    Query,
}

/// The authority part of `url` (between `scheme://` and the path), found textually so that it
/// also works on strings that do not parse.
fn authority(url: &str) -> (usize, &str) {
    let start = url.find("://").map_or(0, |at| at + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (start, &rest[..end])
}

/// Checks that `url` is an absolute http(s) URL with a host, no credentials and no query.
pub fn check_url(url: &str) -> Result<(), UrlProblem> {
    // First, so that a URL with a password is refused for that reason whatever else is wrong.
    if authority(url).1.contains('@') {
        return Err(UrlProblem::UserInfo);
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| UrlProblem::Unparsable(e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(UrlProblem::Scheme),
        None => return Err(UrlProblem::NotAbsolute),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(UrlProblem::NoHost);
    }
    if uri.query().is_some() {
        return Err(UrlProblem::Query);
    }
    Ok(())
}

/// `url` with any `user:password@` replaced by `***@`, for messages and `Debug` output.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let (start, authority) = authority(url);
    match authority.rfind('@') {
        Some(at) => Cow::Owned(format!("{}***{}", &url[..start], &url[start + at..])),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls_pass() {
        for url in [
            "http://127.0.0.1:9000",
            "https://s3.us-south.cloud-object-storage.appdomain.cloud",
            "https://h/path/with@sign",
            "http://[::1]:9000/",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn bad_urls_say_why() {
        let cases = [
            ("127.0.0.1:9000", UrlProblem::NotAbsolute),
            ("ftp://example.com", UrlProblem::Scheme),
            ("https://h/?x=1", UrlProblem::Query),
            ("http://user:pass@host", UrlProblem::UserInfo),
            ("http://user@host:9000/x", UrlProblem::UserInfo),
            ("https://:pass@host", UrlProblem::UserInfo),
            // Refused for the password even though it would not parse anyway.
            ("http://us er:pa ss@host", UrlProblem::UserInfo),
        ];
        for (url, want) in cases {
            assert_eq!(check_url(url), Err(want), "{url}");
        }
        assert!(matches!(
            check_url("http://"),
            Err(UrlProblem::Unparsable(_) | UrlProblem::NoHost)
        ));
        assert!(matches!(
            check_url("not a url"),
            Err(UrlProblem::Unparsable(_))
        ));
    }

    #[test]
    fn messages_never_quote_the_url() {
        for url in ["http://user:hunter2@host", "http://us er:hunter2@host"] {
            let message = check_url(url).unwrap_err().to_string();
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.contains("credentials"), "{message}");
        }
    }

    #[test]
    fn redaction_hides_only_the_credentials() {
        assert_eq!(
            redact_url("http://user:hunter2@host:9000/b"),
            "http://***@host:9000/b"
        );
        assert_eq!(redact_url("http://a@b@host"), "http://***@host");
        assert_eq!(redact_url("user:hunter2@host"), "***@host");
        assert_eq!(redact_url("https://host/x@y"), "https://host/x@y");
        assert_eq!(redact_url("https://host"), "https://host");
    }
}
