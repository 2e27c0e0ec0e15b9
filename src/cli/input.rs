//! Reading policies from files or standard input, with errors that name the file, the document
//! and the field.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;

use crate::api::{BucketCorsPolicy, GROUP};

/// One policy read from a file.
#[derive(Clone, Debug)]
pub struct PolicyDocument {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 0-based position of the document in its file.
    pub document: usize,
    /// The policy.
    pub policy: BucketCorsPolicy,
}

impl PolicyDocument {
    /// `file#document` (1-based document number, as people count).
    pub fn location(&self) -> String {
        format!("{} (document {})", self.file, self.document + 1)
    }
}

/// A file or document that is not a valid policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}", document.map(|d| format!(" (document {})", d + 1)).unwrap_or_default(), if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct InputError {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 0-based document number, when the error is inside one document.
    pub document: Option<usize>,
    /// Field path inside the document (`spec.rules[3].allowedMethods[0]`), empty for the whole
    /// document or file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Reads every `BucketCorsPolicy` from `paths` (`-` is standard input). Documents that are empty
/// are skipped; everything else that is not a valid policy is reported, and reading goes on, so
/// one bad document hides nothing about the others.
pub fn load(paths: &[PathBuf]) -> (Vec<PolicyDocument>, Vec<InputError>) {
    let mut policies = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let file = display_name(path);
        match read_source(path) {
            Ok(text) => parse_documents(&file, &text, &mut policies, &mut errors),
            Err(err) => errors.push(InputError { file, document: None, path: String::new(), message: err.to_string() }),
        }
    }
    (policies, errors)
}

/// Parses every document of one YAML text.
pub fn parse_documents(file: &str, text: &str, policies: &mut Vec<PolicyDocument>, errors: &mut Vec<InputError>) {
    for (document, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let error = |path: String, message: String| InputError { file: file.to_owned(), document: Some(document), path, message };
        let value = match serde_yaml_ng::Value::deserialize(de) {
            Ok(serde_yaml_ng::Value::Null) => continue,
            Ok(value) => value,
            Err(err) => {
                errors.push(error(String::new(), format!("not valid YAML: {err}")));
                // After a syntax error the stream cannot be resynchronised.
                break;
            }
        };
        match parse_policy(value) {
            Ok(policy) => policies.push(PolicyDocument { file: file.to_owned(), document, policy }),
            Err((path, message)) => errors.push(error(path, message)),
        }
    }
}

fn parse_policy(value: serde_yaml_ng::Value) -> Result<BucketCorsPolicy, (String, String)> {
    let serde_yaml_ng::Value::Mapping(map) = &value else {
        return Err((String::new(), "expected a Kubernetes object (a YAML mapping)".to_owned()));
    };
    let field = |name: &str| map.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let kind = field("kind").ok_or_else(|| ("kind".to_owned(), "missing; expected BucketCorsPolicy".to_owned()))?;
    if kind != "BucketCorsPolicy" {
        return Err(("kind".to_owned(), format!("{kind:?} is not a BucketCorsPolicy")));
    }
    let api_version = field("apiVersion").unwrap_or_default();
    let expected = format!("{GROUP}/v1alpha1");
    if api_version != expected {
        return Err(("apiVersion".to_owned(), format!("{api_version:?} is not supported; expected {expected}")));
    }
    serde_path_to_error::deserialize::<_, BucketCorsPolicy>(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        (if path == "." { String::new() } else { path }, message)
    })
}

fn read_source(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") { "<stdin>".to_owned() } else { path.display().to_string() }
}
