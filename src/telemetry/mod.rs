//! What the controller tells the outside world: logs, Prometheus metrics, health endpoints and
//! Kubernetes Events.

mod events;
mod metrics;
mod server;

pub use events::EventPublisher;
pub use metrics::{MeteredStore, Metrics};
pub use server::{Health, serve};

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global tracing subscriber (level from `RUST_LOG`, default `info`). Returns
/// quietly when one is already installed (tests start several controllers in one process).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
