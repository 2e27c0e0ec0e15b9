//! `bucketcors lint`: validates policies offline with S3's rules and warns about rules that can
//! never match. Endpoint objects in the same files are checked too, with the rules the API
//! server and the controller apply to them.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::input::{self, EndpointDocument, Loaded, PolicyDocument};
use super::{LintArgs, OutputFormat};
use crate::cors::{configuration_xml_size, shadowed_rules, validate_spec};

/// The outcome of linting a set of files; `--output json` prints it as is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LintReport {
    /// True when no errors were found (warnings do not count).
    pub valid: bool,
    /// Problems that make a policy unusable: S3 or the API server would refuse it.
    pub errors: Vec<Finding>,
    /// Problems worth a look that do not make the policy invalid, such as shadowed rules.
    pub warnings: Vec<Finding>,
    /// Every policy read, valid or not.
    pub policies: Vec<PolicySummary>,
    /// Every endpoint object read, valid or not.
    pub endpoints: Vec<EndpointSummary>,
    /// Documents of other known kinds that were skipped.
    pub skipped: Vec<SkippedSummary>,
    /// The files in command-line order, so the text output can follow it.
    #[serde(skip)]
    pub files: Vec<String>,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 1-based document number within the file; absent for problems with the whole file.
    pub document: Option<usize>,
    /// Field path within the document, e.g. `spec.rules[2].allowedOrigins[0]`; empty for the
    /// whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// What lint found about one policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 1-based document number within the file.
    pub document: usize,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// `spec.bucket`.
    pub bucket: String,
    /// Number of rules.
    pub rules: usize,
    /// Size of the configuration as the XML document S3 receives (at most 65536).
    pub xml_bytes: usize,
    /// True when the policy has no errors.
    pub valid: bool,
}

/// What lint found about one `S3Endpoint` or `ClusterS3Endpoint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointSummary {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 1-based document number within the file.
    pub document: usize,
    /// `S3Endpoint` or `ClusterS3Endpoint`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// True when the endpoint has no errors.
    pub valid: bool,
}

/// A document that was skipped because it is another known kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedSummary {
    /// File name, or `<stdin>`.
    pub file: String,
    /// 1-based document number within the file.
    pub document: usize,
    /// Its kind.
    pub kind: String,
    /// Its name, when it has one.
    pub name: Option<String>,
}

/// Runs `lint` and returns the exit code: 0 when every policy is valid, 1 otherwise.
pub fn run(args: &LintArgs) -> ExitCode {
    let report = lint_files(&args.files);
    let printed = match args.output {
        OutputFormat::Json => serde_json::to_string_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| writeln!(std::io::stdout(), "{json}")),
        OutputFormat::Text => write!(std::io::stdout(), "{}", render_text(&report)),
    };
    if let Err(err) = printed {
        eprintln!("bucketcors lint: cannot write the report: {err}");
        return ExitCode::FAILURE;
    }
    if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reads and lints `files` in order (`-` is standard input).
pub fn lint_files(files: &[PathBuf]) -> LintReport {
    let mut report = LintReport::default();
    // One file at a time, so the report follows the order of the command line.
    for file in files {
        let name = if file.as_os_str() == "-" {
            "<stdin>".to_owned()
        } else {
            file.display().to_string()
        };
        lint_loaded(
            &name,
            input::load_all(std::slice::from_ref(file)),
            &mut report,
        );
    }
    report.valid = report.errors.is_empty();
    report
}

/// Adds what one file held to `report`.
fn lint_loaded(file: &str, loaded: Loaded, report: &mut LintReport) {
    report.files.push(file.to_owned());
    if loaded.policies.is_empty()
        && loaded.endpoints.is_empty()
        && loaded.skipped.is_empty()
        && loaded.errors.is_empty()
    {
        report.warnings.push(Finding {
            file: file.to_owned(),
            document: None,
            path: String::new(),
            message: "holds no Kubernetes objects".to_owned(),
        });
    }
    for error in loaded.errors {
        report.errors.push(Finding {
            file: error.file,
            document: error.document.map(|d| d + 1),
            path: error.path,
            message: error.message,
        });
    }
    for skipped in loaded.skipped {
        report.skipped.push(SkippedSummary {
            file: skipped.file,
            document: skipped.document + 1,
            kind: skipped.kind,
            name: skipped.name,
        });
    }
    for doc in &loaded.policies {
        lint_policy(doc, report);
    }
    for doc in &loaded.endpoints {
        lint_endpoint(doc, report);
    }
    lint_bucket_owners(&loaded.policies, report);
}

fn lint_policy(doc: &PolicyDocument, report: &mut LintReport) {
    let finding = |path: String, message: String| Finding {
        file: doc.file.clone(),
        document: Some(doc.document + 1),
        path,
        message,
    };
    let errors_before = report.errors.len();
    let meta = &doc.policy.metadata;
    if meta.name.as_deref().unwrap_or_default().is_empty() {
        report.errors.push(finding(
            "metadata.name".into(),
            "missing; every Kubernetes object needs a name".into(),
        ));
    }
    let spec = &doc.policy.spec;
    for issue in validate_spec(spec) {
        report.errors.push(finding(issue.path, issue.message));
    }
    for shadow in shadowed_rules(&spec.rules) {
        let by = &spec.rules[shadow.shadowed_by];
        report.warnings.push(finding(
            format!("spec.rules[{}]", shadow.index),
            format!(
                "this rule never answers a request: rule {} matches every origin, method and header it allows, and S3 uses the first rule that matches",
                rule_label(shadow.shadowed_by, by.id.as_deref())
            ),
        ));
    }
    report.policies.push(PolicySummary {
        file: doc.file.clone(),
        document: doc.document + 1,
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone(),
        bucket: spec.bucket.clone(),
        rules: spec.rules.len(),
        xml_bytes: configuration_xml_size(&spec.rules),
        valid: report.errors.len() == errors_before,
    });
}

fn lint_endpoint(doc: &EndpointDocument, report: &mut LintReport) {
    let finding = |path: String, message: String| Finding {
        file: doc.file.clone(),
        document: Some(doc.document + 1),
        path,
        message,
    };
    let errors_before = report.errors.len();
    let meta = doc.endpoint.metadata();
    if meta.name.as_deref().unwrap_or_default().is_empty() {
        report.errors.push(finding(
            "metadata.name".into(),
            "missing; every Kubernetes object needs a name".into(),
        ));
    }
    for issue in doc.endpoint.validate() {
        report.errors.push(finding(issue.path, issue.message));
    }
    report.endpoints.push(EndpointSummary {
        file: doc.file.clone(),
        document: doc.document + 1,
        kind: doc.endpoint.kind().to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone(),
        valid: report.errors.len() == errors_before,
    });
}

/// Two policies for one bucket on one endpoint fight over it; the controller lets the oldest
/// win, which lint cannot know, so it warns about every later one in the file.
fn lint_bucket_owners(policies: &[PolicyDocument], report: &mut LintReport) {
    for (i, later) in policies.iter().enumerate() {
        let first = policies[..i].iter().find(|earlier| {
            earlier.policy.spec.bucket == later.policy.spec.bucket
                && earlier.policy.spec.endpoint_ref == later.policy.spec.endpoint_ref
        });
        if let Some(first) = first {
            report.warnings.push(Finding {
                file: later.file.clone(),
                document: Some(later.document + 1),
                path: "spec.bucket".into(),
                message: format!(
                    "document {} ({}) already manages bucket {:?} on the same endpoint; only the older policy takes effect",
                    first.document + 1,
                    first.policy.metadata.name.as_deref().unwrap_or("unnamed"),
                    later.policy.spec.bucket
                ),
            });
        }
    }
}

fn rule_label(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{index} ({id})"),
        None => index.to_string(),
    }
}

fn location(file: &str, document: Option<usize>) -> String {
    match document {
        Some(document) => format!("{file} (document {document})"),
        None => file.to_owned(),
    }
}

/// The report as lines for people: one `ok` line per valid policy, one line per finding, and a
/// summary.
pub fn render_text(report: &LintReport) -> String {
    // Lines are keyed by (file order, document, kind of line) so a file's documents read top to
    // bottom whatever produced them.
    let file_order = |file: &str| {
        report
            .files
            .iter()
            .position(|f| f == file)
            .unwrap_or(usize::MAX)
    };
    let mut lines: Vec<((usize, usize, u8), String)> = Vec::new();
    let finding_line = |label: &str, f: &Finding| {
        let path = if f.path.is_empty() {
            String::new()
        } else {
            format!(" {}:", f.path)
        };
        format!(
            "{label}  {}{path} {}",
            location(&f.file, f.document),
            f.message
        )
    };
    for error in &report.errors {
        let key = (file_order(&error.file), error.document.unwrap_or(0), 1);
        lines.push((key, finding_line("error", error)));
    }
    for warning in &report.warnings {
        let key = (file_order(&warning.file), warning.document.unwrap_or(0), 2);
        lines.push((key, finding_line("warning", warning)));
    }
    for policy in report.policies.iter().filter(|p| p.valid) {
        let key = (file_order(&policy.file), policy.document, 0);
        lines.push((
            key,
            format!(
                "ok  {} {}: {} rule{}, {} bytes of XML",
                location(&policy.file, Some(policy.document)),
                policy.name,
                policy.rules,
                if policy.rules == 1 { "" } else { "s" },
                policy.xml_bytes
            ),
        ));
    }
    for endpoint in report.endpoints.iter().filter(|e| e.valid) {
        let key = (file_order(&endpoint.file), endpoint.document, 0);
        lines.push((
            key,
            format!(
                "ok  {} {} {}",
                location(&endpoint.file, Some(endpoint.document)),
                endpoint.kind,
                endpoint.name
            ),
        ));
    }
    for skipped in &report.skipped {
        let key = (file_order(&skipped.file), skipped.document, 0);
        lines.push((
            key,
            format!(
                "skip  {} {} {}: not a policy",
                location(&skipped.file, Some(skipped.document)),
                skipped.kind,
                skipped.name.as_deref().unwrap_or("(unnamed)")
            ),
        ));
    }
    lines.sort_by_key(|(key, _)| *key);
    let mut out: String = lines.into_iter().map(|(_, line)| line + "\n").collect();
    let invalid = report.policies.iter().filter(|p| !p.valid).count()
        + report.endpoints.iter().filter(|e| !e.valid).count();
    let endpoints = match report.endpoints.len() {
        0 => String::new(),
        1 => " and 1 endpoint".to_owned(),
        n => format!(" and {n} endpoints"),
    };
    out.push_str(&format!(
        "{} polic{}{endpoints} checked, {} invalid; {} error{}, {} warning{}\n",
        report.policies.len(),
        if report.policies.len() == 1 {
            "y"
        } else {
            "ies"
        },
        invalid,
        report.errors.len(),
        if report.errors.len() == 1 { "" } else { "s" },
        report.warnings.len(),
        if report.warnings.len() == 1 { "" } else { "s" },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint_text(text: &str) -> LintReport {
        let mut loaded = Loaded::default();
        input::parse_into("p.yaml", text, &mut loaded);
        let mut report = LintReport::default();
        lint_loaded("p.yaml", loaded, &mut report);
        report.valid = report.errors.is_empty();
        report
    }

    const TWO_RULES: &str = "apiVersion: bucketcors.dev/v1alpha1
kind: BucketCorsPolicy
metadata: {name: web, namespace: demo}
spec:
  bucket: demo-web
  rules:
    - id: any
      allowedOrigins: ['https://*.example.com']
      allowedMethods: [GET, HEAD]
    - id: app
      allowedOrigins: ['https://app.example.com']
      allowedMethods: [GET]
";

    #[test]
    fn shadowed_rules_are_warnings_and_the_policy_stays_valid() {
        let report = lint_text(TWO_RULES);
        assert!(report.valid);
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].path, "spec.rules[1]");
        assert!(report.warnings[0].message.contains("rule 0 (any)"));
        assert_eq!(report.policies[0].xml_bytes, 362);
        let text = render_text(&report);
        assert!(text.starts_with("ok  p.yaml (document 1) web: 2 rules, 362 bytes of XML\nwarning  p.yaml (document 1) spec.rules[1]: "), "{text}");
        assert!(
            text.ends_with("1 policy checked, 0 invalid; 0 errors, 1 warning\n"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_file_is_a_warning() {
        let report = lint_text("---\n# nothing\n");
        assert!(report.valid);
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].document, None);
        assert_eq!(
            render_text(&report).lines().next(),
            Some("warning  p.yaml holds no Kubernetes objects")
        );
    }

    #[test]
    fn a_missing_name_is_an_error() {
        let report = lint_text(&TWO_RULES.replace("name: web, ", ""));
        assert!(!report.valid);
        assert_eq!(report.errors[0].path, "metadata.name");
        assert_eq!(report.errors[0].document, Some(1));
    }

    #[test]
    fn two_policies_for_one_bucket_warn() {
        let text = format!(
            "{TWO_RULES}---\n{}",
            TWO_RULES.replace("name: web", "name: web2")
        );
        let report = lint_text(&text);
        let owners: Vec<_> = report
            .warnings
            .iter()
            .filter(|w| w.path == "spec.bucket")
            .collect();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].document, Some(2));
    }
}
