//! `bucketcors explain`: evaluates a CORS preflight against one policy's rules as S3 would.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use serde::Serialize;

use super::input;
use super::{ExplainArgs, OutputFormat};
use crate::cors::{
    CorsRequest, CorsRule, Evaluation, MatchedRule, RuleVerdict, evaluate, validate_spec,
};

/// The methods a browser upper-cases before sending (Fetch standard, "normalize a method"), so
/// `--method put` means what a browser's `fetch(url, {method: "put"})` sends.
const BROWSER_NORMALISED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// `explain --output json`: exactly these three keys.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonAnswer<'a> {
    allowed: bool,
    matched_rule: Option<&'a MatchedRule>,
    headers: &'a BTreeMap<String, String>,
}

/// Runs `explain`: 0 when the preflight was evaluated (allowed or not), 1 when the input is
/// unusable.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let rules = match load_rules(args) {
        Ok(rules) => rules,
        Err(problems) => {
            for problem in problems {
                eprintln!("bucketcors explain: {problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    let request = request(args);
    let evaluation = evaluate(&rules, &request);
    let out = match args.output {
        OutputFormat::Json => serde_json::to_string_pretty(&JsonAnswer {
            allowed: evaluation.allowed,
            matched_rule: evaluation.matched_rule.as_ref(),
            headers: &evaluation.headers,
        })
        .map(|json| json + "\n")
        .unwrap_or_default(),
        OutputFormat::Text => render_text(&rules, &request, &evaluation),
    };
    if let Err(err) = write!(std::io::stdout(), "{out}") {
        eprintln!("bucketcors explain: cannot write the answer: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The rules of the one valid policy in the file, or every reason there is none.
fn load_rules(args: &ExplainArgs) -> Result<Vec<CorsRule>, Vec<String>> {
    let loaded = input::load_all(std::slice::from_ref(&args.file));
    if !loaded.errors.is_empty() {
        return Err(loaded.errors.iter().map(ToString::to_string).collect());
    }
    let file = args.file.display();
    let [doc] = loaded.policies.as_slice() else {
        let documents: Vec<String> = loaded
            .policies
            .iter()
            .map(|p| (p.document + 1).to_string())
            .collect();
        return Err(vec![if documents.is_empty() {
            format!("{file}: no BucketCorsPolicy found; explain needs a file with exactly one")
        } else {
            format!(
                "{file}: {} BucketCorsPolicy documents (documents {}); explain needs a file with exactly one",
                documents.len(),
                documents.join(", ")
            )
        }]);
    };
    let issues = validate_spec(&doc.policy.spec);
    if !issues.is_empty() {
        return Err(issues
            .iter()
            .map(|issue| format!("{}: {issue}", doc.location()))
            .collect());
    }
    Ok(doc.policy.spec.rules.clone())
}

fn request(args: &ExplainArgs) -> CorsRequest {
    let method = BROWSER_NORMALISED_METHODS
        .into_iter()
        .find(|m| m.eq_ignore_ascii_case(&args.method))
        .map_or_else(|| args.method.clone(), str::to_owned);
    // `--header "a, b"` is the raw `Access-Control-Request-Headers` value; accept both forms.
    let headers = args
        .headers
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    CorsRequest {
        origin: args.origin.clone(),
        method,
        headers,
    }
}

fn rule_label(index: usize, rules: &[CorsRule]) -> String {
    match rules.get(index).and_then(|r| r.id.as_deref()) {
        Some(id) => format!("rule {index} ({id})"),
        None => format!("rule {index}"),
    }
}

/// The answer for people: the verdict, why each rule examined did or did not match, and the
/// response headers.
fn render_text(rules: &[CorsRule], request: &CorsRequest, evaluation: &Evaluation) -> String {
    let mut out = String::new();
    let asked = if request.headers.is_empty() {
        String::new()
    } else {
        format!(" with headers {}", request.headers.join(", "))
    };
    match &evaluation.matched_rule {
        Some(matched) => {
            let _ = writeln!(
                out,
                "allowed: {} answers {} from {}{asked}",
                rule_label(matched.index, rules),
                request.method,
                request.origin
            );
        }
        None => {
            let _ = writeln!(
                out,
                "refused: no rule allows {} from {}{asked}",
                request.method, request.origin
            );
        }
    }
    for (index, verdict) in evaluation.verdicts.iter().enumerate() {
        let why = match verdict {
            RuleVerdict::Matched => "matches".to_owned(),
            RuleVerdict::OriginNotAllowed => "origin not allowed".to_owned(),
            RuleVerdict::MethodNotAllowed => format!("method {} not allowed", request.method),
            RuleVerdict::HeaderNotAllowed(header) => format!("header {header} not allowed"),
        };
        let _ = writeln!(out, "  {}: {why}", rule_label(index, rules));
    }
    if evaluation.verdicts.is_empty() {
        let _ = writeln!(out, "  the policy has no rules");
    }
    if evaluation.allowed {
        for (name, value) in &evaluation.headers {
            let _ = writeln!(out, "{name}: {value}");
        }
    } else {
        let _ = writeln!(
            out,
            "S3 answers the preflight with 403 Forbidden and no CORS headers."
        );
    }
    out
}
