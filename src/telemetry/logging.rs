//! Log setup shared by the controller and the CLI.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global tracing subscriber writing to standard error. The level comes from
/// `RUST_LOG` (unset, empty or unparsable: `default_level`).
///
/// Whatever `RUST_LOG` says, the AWS SDK's request logging is capped: at `trace`, SigV4 logs the
/// canonical request and the orchestrator the whole request, and a session token travels in a
/// header. The caps only ever lower a level; they never turn logging on. Returns quietly when a
/// subscriber is already installed (tests start several controllers in one process).
pub fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let caps = credential_caps();
    let layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer.with_filter(caps))
        .try_init();
}

/// The most verbose level each credential-adjacent target may log at.
fn credential_caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("aws_sigv4", LevelFilter::INFO)
        .with_target("aws_smithy_runtime", LevelFilter::DEBUG)
        .with_target("aws_smithy_runtime_api", LevelFilter::DEBUG)
        .with_target("aws_smithy_http_client", LevelFilter::DEBUG)
        .with_target("aws_config", LevelFilter::DEBUG)
        .with_target("hyper", LevelFilter::INFO)
        .with_target("hyper_util", LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::filter::Targets;

    #[test]
    fn caps_lower_but_never_raise() {
        let caps = super::credential_caps();
        let allows = |caps: &Targets, target: &str, level: Level| caps.would_enable(target, &level);
        assert!(!allows(&caps, "aws_sigv4::sign", Level::DEBUG));
        assert!(allows(&caps, "aws_sigv4::sign", Level::INFO));
        assert!(!allows(
            &caps,
            "aws_smithy_runtime::client::orchestrator",
            Level::TRACE
        ));
        assert!(allows(&caps, "bucketcors::reconcile", Level::TRACE));
    }
}
