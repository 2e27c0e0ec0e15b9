//! The CORS configuration as the XML document S3 receives with PutBucketCors.
//!
//! S3 rejects a configuration larger than 64 KB. The API server cannot measure that (CEL has no
//! notion of the XML), so validation and `lint` measure the document built here.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::CorsRule;

/// The largest CORS configuration S3 accepts, in bytes of XML.
pub const MAX_CONFIGURATION_BYTES: usize = 64 * 1024;

/// The XML namespace of the S3 API.
pub const S3_XML_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The `<CORSConfiguration>` document for `rules`, without an XML declaration and without
/// whitespace between elements, with elements in the order of the S3 API reference.
pub fn configuration_xml(rules: &[CorsRule]) -> String {
    let mut out = format!(r#"<CORSConfiguration xmlns="{S3_XML_NAMESPACE}">"#);
    for rule in rules {
        out.push_str("<CORSRule>");
        if let Some(id) = &rule.id {
            element(&mut out, "ID", id);
        }
        for header in &rule.allowed_headers {
            element(&mut out, "AllowedHeader", header);
        }
        for method in &rule.allowed_methods {
            element(&mut out, "AllowedMethod", method.as_str());
        }
        for origin in &rule.allowed_origins {
            element(&mut out, "AllowedOrigin", origin);
        }
        for header in &rule.expose_headers {
            element(&mut out, "ExposeHeader", header);
        }
        if let Some(seconds) = rule.max_age_seconds {
            element(&mut out, "MaxAgeSeconds", &seconds.to_string());
        }
        out.push_str("</CORSRule>");
    }
    out.push_str("</CORSConfiguration>");
    out
}

/// The size in bytes of [`configuration_xml`], which S3 limits to [`MAX_CONFIGURATION_BYTES`].
pub fn configuration_xml_size(rules: &[CorsRule]) -> usize {
    configuration_xml(rules).len()
}

fn element(out: &mut String, name: &str, text: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}>{}</{name}>", escape(text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CorsMethod;

    #[test]
    fn empty_configuration_is_just_the_root_element() {
        assert_eq!(
            configuration_xml(&[]),
            r#"<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CORSConfiguration>"#
        );
    }

    #[test]
    fn elements_follow_the_s3_order_and_values_are_escaped() {
        let rule = CorsRule {
            id: Some("a<b>&\"c\"".into()),
            allowed_origins: vec!["https://x.example".into(), "https://*.y.example".into()],
            allowed_methods: vec![CorsMethod::Put, CorsMethod::Get],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(3000),
        };
        let xml = configuration_xml(&[rule]);
        assert_eq!(
            xml,
            concat!(
                r#"<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule>"#,
                "<ID>a&lt;b&gt;&amp;&quot;c&quot;</ID>",
                "<AllowedHeader>*</AllowedHeader>",
                "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>",
                "<AllowedOrigin>https://x.example</AllowedOrigin><AllowedOrigin>https://*.y.example</AllowedOrigin>",
                "<ExposeHeader>ETag</ExposeHeader>",
                "<MaxAgeSeconds>3000</MaxAgeSeconds>",
                "</CORSRule></CORSConfiguration>"
            )
        );
        assert_eq!(configuration_xml_size(&[]), 87);
    }

    #[test]
    fn size_counts_bytes_not_characters() {
        let rule = |origin: &str| CorsRule {
            allowed_origins: vec![origin.into()],
            allowed_methods: vec![CorsMethod::Get],
            ..CorsRule::default()
        };
        let ascii = configuration_xml_size(&[rule("https://e.example")]);
        let accented = configuration_xml_size(&[rule("https://é.example")]);
        assert_eq!(accented, ascii + 1);
        // Escaping grows the document: `&` becomes `&amp;`.
        assert_eq!(
            configuration_xml_size(&[rule("https://&.example")]),
            ascii + 4
        );
    }
}
