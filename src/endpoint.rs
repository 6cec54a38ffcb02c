//! The local status endpoint: `GET /health` (JSON; 200 when the last run was stored,
//! 503 when it was not) and `GET /metrics` (Prometheus/OpenMetrics text) on a unix
//! socket, and optionally on a loopback TCP address. It only reads `Metrics`; it never
//! touches the store or the host, accepts no input but the path, and serves nothing on
//! a non-loopback address.

use crate::metrics::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A running endpoint; dropping it stops serving and removes the socket file.
pub struct Endpoint {
    tasks: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .with_state(metrics)
}

async fn health(State(metrics): State<Arc<Metrics>>) -> Response {
    let h = metrics.health();
    let code = if h.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string_pretty(&h).expect("health is JSON");
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body + "\n",
    )
        .into_response()
}

async fn prometheus(State(metrics): State<Arc<Metrics>>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], metrics.encode()).into_response()
}

/// Start serving. A socket or address that cannot be used is logged and skipped: the
/// endpoint is for watching the daemon, never a reason for it not to collect.
pub async fn start(
    metrics: Arc<Metrics>,
    socket: Option<&Path>,
    listen: Option<SocketAddr>,
) -> Endpoint {
    let mut endpoint = Endpoint {
        tasks: Vec::new(),
        socket: None,
    };
    if let Some(path) = socket {
        match bind_unix(path) {
            Ok(listener) => {
                tracing::info!(socket = %path.display(), "status endpoint listening");
                let app = router(metrics.clone());
                endpoint.tasks.push(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::warn!(error = %e, "status endpoint stopped");
                    }
                }));
                endpoint.socket = Some(path.to_path_buf());
            }
            Err(e) => {
                tracing::warn!(socket = %path.display(), error = %e, "status endpoint unavailable on the unix socket")
            }
        }
    }
    if let Some(addr) = listen.filter(|a| a.ip().is_loopback()) {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(address = %addr, "status endpoint listening");
                let app = router(metrics);
                endpoint.tasks.push(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::warn!(error = %e, "status endpoint stopped");
                    }
                }));
            }
            Err(e) => {
                tracing::warn!(address = %addr, error = %e, "status endpoint unavailable on TCP")
            }
        }
    }
    endpoint
}

/// Bind the unix socket: replace a stale socket file, refuse to steal a live one, and
/// make it readable by the owner and group only (0660).
fn bind_unix(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another process is serving on this socket (is attestd already running?)",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}
