//! Conversion between the SDK's CORS rule type and ours. Pure.

use aws_sdk_s3::types::CorsRule as SdkCorsRule;

use crate::api::{CorsMethod, CorsRule};

/// A live rule a store returned that our types cannot hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A method outside GET, PUT, HEAD, POST, DELETE.
    #[error(
        "the store returned rule {index} with the unsupported method {method:?} (expected GET, PUT, HEAD, POST or DELETE)"
    )]
    UnknownMethod {
        /// 0-based position of the rule.
        index: usize,
        /// The method as the store reported it.
        method: String,
    },
    /// The SDK refused to build a rule (only if a required field were missing).
    #[error("cannot build rule {index} for the SDK: {message}")]
    Build {
        /// 0-based position of the rule.
        index: usize,
        /// The SDK's message.
        message: String,
    },
}

/// The store's rules as ours, in the store's order. Methods are read case-insensitively.
pub fn from_sdk(rules: &[SdkCorsRule]) -> Result<Vec<CorsRule>, ConvertError> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let allowed_methods = rule
                .allowed_methods()
                .iter()
                .map(|m| {
                    CorsMethod::parse(m.trim()).ok_or_else(|| ConvertError::UnknownMethod {
                        index,
                        method: m.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CorsRule {
                id: rule.id().map(str::to_owned),
                allowed_origins: rule.allowed_origins().to_vec(),
                allowed_methods,
                allowed_headers: rule.allowed_headers().to_vec(),
                expose_headers: rule.expose_headers().to_vec(),
                max_age_seconds: rule.max_age_seconds(),
            })
        })
        .collect()
}

/// Our rules as the SDK's, exactly as given (no normalisation, no validation: the store decides,
/// and what it says comes back as an error).
pub fn to_sdk(rules: &[CorsRule]) -> Result<Vec<SdkCorsRule>, ConvertError> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            SdkCorsRule::builder()
                .set_id(rule.id.clone())
                .set_allowed_origins(Some(rule.allowed_origins.clone()))
                .set_allowed_methods(Some(
                    rule.allowed_methods
                        .iter()
                        .map(|m| m.as_str().to_owned())
                        .collect(),
                ))
                .set_allowed_headers(non_empty(&rule.allowed_headers))
                .set_expose_headers(non_empty(&rule.expose_headers))
                .set_max_age_seconds(rule.max_age_seconds)
                .build()
                .map_err(|err| ConvertError::Build {
                    index,
                    message: err.to_string(),
                })
        })
        .collect()
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> CorsRule {
        CorsRule {
            id: Some("uploads".into()),
            allowed_origins: vec!["https://shop.example.com".into()],
            allowed_methods: vec![CorsMethod::Get, CorsMethod::Put],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(3000),
        }
    }

    #[test]
    fn round_trips_in_order() {
        let rules = vec![
            rule(),
            CorsRule {
                allowed_origins: vec!["*".into()],
                allowed_methods: vec![CorsMethod::Head],
                ..Default::default()
            },
        ];
        assert_eq!(from_sdk(&to_sdk(&rules).unwrap()).unwrap(), rules);
    }

    #[test]
    fn methods_are_read_case_insensitively() {
        let sdk = SdkCorsRule::builder()
            .allowed_origins("*")
            .allowed_methods("get")
            .allowed_methods("Put")
            .build()
            .unwrap();
        assert_eq!(
            from_sdk(&[sdk]).unwrap()[0].allowed_methods,
            vec![CorsMethod::Get, CorsMethod::Put]
        );
    }

    #[test]
    fn unknown_method_is_an_error_naming_it() {
        let ok = SdkCorsRule::builder()
            .allowed_origins("*")
            .allowed_methods("GET")
            .build()
            .unwrap();
        let bad = SdkCorsRule::builder()
            .allowed_origins("*")
            .allowed_methods("PATCH")
            .build()
            .unwrap();
        let err = from_sdk(&[ok, bad]).unwrap_err();
        assert_eq!(
            err,
            ConvertError::UnknownMethod {
                index: 1,
                method: "PATCH".into()
            }
        );
        assert!(err.to_string().contains("PATCH"));
    }

    #[test]
    fn empty_lists_are_sent_as_absent() {
        let sdk = to_sdk(&[CorsRule {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec![CorsMethod::Get],
            ..Default::default()
        }])
        .unwrap();
        assert!(sdk[0].allowed_headers.is_none());
        assert!(sdk[0].expose_headers.is_none());
    }
}
