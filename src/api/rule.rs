//! One CORS rule, as written in a policy and as reported back in status.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// S3 accepts at most this many rules in one CORS configuration.
pub const MAX_RULES: usize = 100;
/// S3 limits a rule's `ID` to this many characters.
pub const MAX_RULE_ID_LEN: usize = 255;
/// Upper bound on the entries of one list inside a rule. S3 itself only bounds the whole
/// document (64 KB); a fixed bound lets the API server estimate the cost of the CEL rules.
pub const MAX_LIST_ITEMS: usize = 100;
/// Upper bound on the length of one origin or header value, for the same reason: the
/// wildcard rules' estimated cost grows with it, and at 1024 the newline-safe regex exceeds
/// the API server's per-rule budget. 512 is well above any real origin (a DNS name is at most
/// 253 characters) or header name. The schema attributes repeat this number.
pub const MAX_VALUE_LEN: usize = 512;

/// An HTTP method a CORS rule can allow. S3 accepts exactly these five.
#[derive(
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum CorsMethod {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
}

impl CorsMethod {
    /// All methods, in the order S3's documentation lists them.
    pub const ALL: [CorsMethod; 5] = [Self::Get, Self::Put, Self::Head, Self::Post, Self::Delete];

    /// The method as it appears on the wire (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }

    /// Parses a method name case-insensitively, as stores may report it in any case.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for CorsMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One CORS rule. S3 evaluates rules in order and uses the first one that matches a request,
/// so the position of a rule in the list is part of its meaning.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsRule {
    /// Optional name of the rule (S3 `ID`), at most 255 characters and unique within the policy.
    /// It has no effect on matching; it names the rule in status, lint and explain output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub id: Option<String>,

    /// Origins allowed to make cross-origin requests, e.g. `https://shop.example.com`.
    /// Each entry may contain at most one `*` wildcard, which matches any run of characters
    /// (`https://*.example.com`, or `*` for every origin). Matching is case-sensitive.
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 512)))]
    // `[^*]*` rather than `.*`: RE2's `.` does not match a newline, so `.*` would let
    // "a*\n*b" through although it holds two wildcards.
    #[x_kube(validation = kube::core::Rule::new("self.all(o, !o.matches('[*][^*]*[*]'))")
        .message("each allowed origin may contain at most one '*' wildcard"))]
    pub allowed_origins: Vec<String>,

    /// HTTP methods allowed for those origins: GET, PUT, HEAD, POST or DELETE (upper case).
    #[schemars(length(min = 1, max = 5))]
    pub allowed_methods: Vec<CorsMethod>,

    /// Request headers a preflight may ask for (`Access-Control-Request-Headers`), compared
    /// case-insensitively. Each entry may contain at most one `*` wildcard; `*` allows any header.
    /// When empty, a preflight that requests any header is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 512)))]
    // Newline-safe for the same reason as `allowedOrigins`.
    #[x_kube(validation = kube::core::Rule::new("self.all(h, !h.matches('[*][^*]*[*]'))")
        .message("each allowed header may contain at most one '*' wildcard"))]
    pub allowed_headers: Vec<String>,

    /// Response headers the browser lets scripts read (`Access-Control-Expose-Headers`),
    /// such as `ETag`. Wildcards are not allowed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 512)))]
    #[x_kube(validation = kube::core::Rule::new("self.all(h, !h.contains('*'))")
        .message("expose headers may not contain '*'"))]
    pub expose_headers: Vec<String>,

    /// How long, in seconds, a browser may cache the preflight response
    /// (`Access-Control-Max-Age`). 0 to 2147483647; absent lets the browser decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub max_age_seconds: Option<i32>,
}
