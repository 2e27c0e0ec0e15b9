//! What the controller tells the outside world: logs, Prometheus metrics, health endpoints and
//! Kubernetes Events.

mod events;
mod metrics;
mod server;

pub use events::EventPublisher;
pub use metrics::{MeteredStore, Metrics};
pub use server::{Health, serve};

mod logging;

pub use logging::{LogFormat, init_tracing};
