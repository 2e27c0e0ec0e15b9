//! `bucketcors apply`: one reconcile pass without a cluster. Reads each policy's bucket and
//! writes only when the live rules are not equivalent to the declared ones. Exit 0 on success,
//! 1 when anything failed.

use std::process::ExitCode;

use serde::Serialize;

use super::remote::{self, PolicyId, Reading};
use super::{OutputFormat, PlanArgs};
use crate::cors::Plan;
use crate::s3::CorsStore as _;

/// What apply did for one policy.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
enum Outcome {
    /// Already equivalent; nothing written.
    Unchanged,
    /// PutBucketCors sent.
    Put,
    /// DeleteBucketCors sent.
    Deleted,
    /// Differs, but `driftPolicy: Report`: nothing written.
    Reported,
    /// `suspend: true`: the bucket was not read.
    Suspended,
    /// Reading or writing failed.
    Error,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplyEntry {
    #[serde(flatten)]
    id: PolicyId,
    /// `none`, `put` or `delete`: what the plan called for.
    action: &'static str,
    /// What was done.
    result: Outcome,
    /// The difference found before writing; empty when in sync.
    diff: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct ApplyOutput {
    policies: Vec<ApplyEntry>,
}

pub fn run(args: &PlanArgs) -> ExitCode {
    remote::init_tracing();
    let Some(policies) = remote::load_valid("apply", &args.files) else {
        return ExitCode::FAILURE;
    };
    let runtime = match remote::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bucketcors apply: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let store = match remote::connect(&args.s3).await {
            Ok(store) => store,
            Err(err) => {
                eprintln!("bucketcors apply: {err}");
                return ExitCode::FAILURE;
            }
        };
        let mut entries = Vec::new();
        for doc in &policies {
            let id = PolicyId::of(doc);
            let entry = match remote::read(&store, doc).await {
                Reading::Suspended => ApplyEntry {
                    id,
                    action: "none",
                    result: Outcome::Suspended,
                    diff: String::new(),
                    error: None,
                },
                Reading::Failed(err) => ApplyEntry {
                    id,
                    action: "none",
                    result: Outcome::Error,
                    diff: String::new(),
                    error: Some(err.to_string()),
                },
                Reading::Planned { plan, diff, .. } => {
                    let action = remote::action_name(&plan);
                    let bucket = remote::bucket_of(doc);
                    let written = match &plan {
                        Plan::Nothing => Ok(Outcome::Unchanged),
                        _ if remote::report_only(doc) => Ok(Outcome::Reported),
                        Plan::Put(rules) => store.put(&bucket, rules).await.map(|()| Outcome::Put),
                        Plan::Delete => store.delete(&bucket).await.map(|()| Outcome::Deleted),
                    };
                    match written {
                        Ok(result) => ApplyEntry {
                            id,
                            action,
                            result,
                            diff,
                            error: None,
                        },
                        Err(err) => ApplyEntry {
                            id,
                            action,
                            result: Outcome::Error,
                            diff,
                            error: Some(err.to_string()),
                        },
                    }
                }
            };
            entries.push(entry);
        }
        let failed = entries.iter().any(|e| e.result == Outcome::Error);
        match args.output {
            OutputFormat::Json => remote::print_json(&ApplyOutput { policies: entries }),
            OutputFormat::Text => {
                for e in &entries {
                    println!("{}", text_line(e));
                }
            }
        }
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn text_line(e: &ApplyEntry) -> String {
    let label = e.id.label();
    match e.result {
        Outcome::Unchanged => format!("{label}: no change"),
        Outcome::Put => format!("{label}: put the declared rules ({})", e.diff),
        Outcome::Deleted => format!("{label}: deleted the CORS configuration ({})", e.diff),
        Outcome::Reported => format!(
            "{label}: drift reported, not written (driftPolicy: Report): {}",
            e.diff
        ),
        Outcome::Suspended => format!("{label}: suspended, skipped"),
        Outcome::Error => format!("{label}: error: {}", e.error.as_deref().unwrap_or_default()),
    }
}
