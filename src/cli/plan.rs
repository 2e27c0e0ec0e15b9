//! `bucketcors plan`: read each policy's bucket and print the difference. Writes nothing.
//! Exit 0 when everything is in sync, 2 when a change is pending, 1 on any error.

use std::process::ExitCode;

use serde::Serialize;

use super::remote::{self, PolicyId, Reading};
use super::{OutputFormat, PlanArgs};
use crate::api::CorsRule;

/// One policy in `plan --output json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanEntry {
    #[serde(flatten)]
    id: PolicyId,
    /// `none`, `put` or `delete`.
    action: &'static str,
    /// Short description of the difference; empty when in sync.
    diff: String,
    /// The bucket's rules as read; `null` when not read (suspended, error).
    live_rules: Option<Vec<CorsRule>>,
    /// Why the entry is special: suspended, report-only drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// What went wrong reading the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanOutput {
    policies: Vec<PlanEntry>,
    changes_pending: bool,
}

pub fn run(args: &PlanArgs) -> ExitCode {
    remote::init_tracing();
    let Some(policies) = remote::load_valid("plan", &args.files) else {
        return ExitCode::FAILURE;
    };
    let runtime = match remote::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bucketcors plan: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let store = match remote::connect(&args.s3).await {
            Ok(store) => store,
            Err(err) => {
                eprintln!("bucketcors plan: {err}");
                return ExitCode::FAILURE;
            }
        };
        let mut entries = Vec::new();
        for doc in &policies {
            let id = PolicyId::of(doc);
            let entry = match remote::read(&store, doc).await {
                Reading::Suspended => PlanEntry {
                    id,
                    action: "none",
                    diff: String::new(),
                    live_rules: None,
                    note: Some("suspended: skipped".to_owned()),
                    error: None,
                },
                Reading::Planned { live, plan, diff } => PlanEntry {
                    id,
                    action: remote::action_name(&plan),
                    note: (plan.is_change() && remote::report_only(doc)).then(|| {
                        "driftPolicy Report: apply will report this, not write it".to_owned()
                    }),
                    diff,
                    live_rules: Some(live),
                    error: None,
                },
                Reading::Failed(err) => PlanEntry {
                    id,
                    action: "none",
                    diff: String::new(),
                    live_rules: None,
                    note: None,
                    error: Some(err.to_string()),
                },
            };
            entries.push(entry);
        }
        let failed = entries.iter().any(|e| e.error.is_some());
        let pending = entries.iter().any(|e| e.action != "none");
        match args.output {
            OutputFormat::Json => remote::print_json(&PlanOutput {
                policies: entries,
                changes_pending: pending,
            }),
            OutputFormat::Text => {
                for e in &entries {
                    println!("{}", text_line(e));
                }
            }
        }
        if failed {
            ExitCode::FAILURE
        } else if pending {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn text_line(e: &PlanEntry) -> String {
    let label = e.id.label();
    if let Some(err) = &e.error {
        return format!("{label}: error: {err}");
    }
    let live = e.live_rules.as_ref().map_or(0, Vec::len);
    let mut line = match e.action {
        "none" if e.note.is_some() => format!("{label}: {}", e.note.as_deref().unwrap_or_default()),
        "none" => format!("{label}: in sync ({live} rules)"),
        "delete" => format!(
            "{label}: would delete the CORS configuration ({live} rules): {}",
            e.diff
        ),
        _ => format!("{label}: would put the declared rules: {}", e.diff),
    };
    if e.action != "none"
        && let Some(note) = &e.note
    {
        line.push_str(&format!(" [{note}]"));
    }
    line
}
