//! Helpers for the alert tests: a real HTTP receiver on 127.0.0.1 (axum) that records
//! every request and can be stopped and started again on the same port, and the daemon
//! driven as a child process.
#![allow(dead_code)]

pub mod smtp;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Req {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Clone, Default)]
struct Shared {
    log: Arc<Mutex<Vec<Req>>>,
    flaky_left: Arc<Mutex<u32>>,
}

/// A receiver: `/gone` answers 404, `/flaky` 503 twice then 200, `/pd` and `/teams`
/// 202, anything else 200.
pub struct Receiver {
    pub port: u16,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn handle(
    axum::extract::State(s): axum::extract::State<Shared>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let path = uri.path().to_string();
    s.log.lock().unwrap().push(Req {
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    });
    let code = if path == "/gone" {
        404
    } else if path == "/flaky" {
        let mut left = s.flaky_left.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            503
        } else {
            200
        }
    } else if path == "/pd" || path == "/teams" {
        202
    } else {
        200
    };
    axum::http::StatusCode::from_u16(code).unwrap()
}

impl Receiver {
    pub fn start() -> Receiver {
        let shared = Shared::default();
        *shared.flaky_left.lock().unwrap() = 2;
        let (port, stop, thread) = Receiver::serve(0, shared.clone());
        Receiver {
            port,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    #[allow(clippy::type_complexity)]
    fn serve(
        port: u16,
        shared: Shared,
    ) -> (
        u16,
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.set_reuseaddr(true).unwrap();
                sock.bind(([127, 0, 0, 1], port).into()).unwrap();
                let listener = sock.listen(128).unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(s);
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stop_rx => {}
                }
            });
            // Dropping the runtime closes every open connection.
            drop(rt);
        });
        let port = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        (port, stop_tx, thread)
    }

    /// Stop listening (connections are refused until `restart`).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Listen again on the same port, keeping the request log.
    pub fn restart(&mut self) {
        self.stop();
        let (_, stop, thread) = Receiver::serve(self.port, self.shared.clone());
        self.stop = Some(stop);
        self.thread = Some(thread);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self, path: &str) -> Vec<Req> {
        self.shared
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                r.path == path
                    || (path.ends_with('*') && r.path.starts_with(&path[..path.len() - 1]))
            })
            .cloned()
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The HMAC-SHA256 signature header a receiver expects for `body`.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `attestd alerts --format json` parsed.
pub fn alerts_json(db: &Path, config: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args(["alerts", "--format", "json", "--limit", "1000", "--db"])
        .arg(db)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "alerts printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The delivery of `sink` in one alert of `alerts_json`.
pub fn delivery<'a>(alert: &'a serde_json::Value, sink: &str) -> &'a serde_json::Value {
    alert["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["sink"] == sink)
        .unwrap_or_else(|| panic!("no delivery to {sink} in {alert}"))
}
