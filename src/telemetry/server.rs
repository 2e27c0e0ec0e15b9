//! `/metrics`, `/healthz` and `/readyz` on the metrics address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Metrics;

/// Readiness facts, set by the controller as it starts.
#[derive(Debug, Default)]
pub struct Health {
    /// Every watch has listed its objects once.
    pub synced: AtomicBool,
    /// Leader election (when on) is leading or standing by; false once the lease is lost.
    pub elector_ok: AtomicBool,
    /// Waiting for the Lease: ready (a healthy standby) although no watch runs yet.
    pub standing_by: AtomicBool,
}

impl Health {
    fn ready(&self) -> bool {
        self.elector_ok.load(Ordering::Relaxed)
            && (self.standing_by.load(Ordering::Relaxed) || self.synced.load(Ordering::Relaxed))
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, Metrics::CONTENT_TYPE)],
        s.metrics.render(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.health.ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Binds the address and serves until `shutdown` resolves. Returns the bound address (useful
/// with port 0) and the serving future.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A raw HTTP/1.1 GET, so the test sees the headers exactly as a scraper does.
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn metrics_are_served_with_the_content_type_of_their_format() {
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let (addr, server) = serve(
            "127.0.0.1:0".parse().unwrap(),
            metrics,
            health,
            std::future::pending(),
        )
        .await
        .expect("bind");
        let server = tokio::spawn(server);
        let response = get(addr, "/metrics").await;
        server.abort();
        let (head, body) = response.split_once("\r\n\r\n").expect("a response");
        let content_type = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-type")
                    .then_some(value.trim())
            })
            .expect("a Content-Type header");
        assert_eq!(content_type, Metrics::CONTENT_TYPE, "{head}");
        assert!(body.contains("bucketcors_policies"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
