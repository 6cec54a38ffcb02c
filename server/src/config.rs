//! The server's configuration file (`attestd-server run --config FILE`; the admin
//! commands read the same file for the database URL). Owns parsing and checking it;
//! never reads the witness key or the TLS key here, only their paths.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `attestd-server.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL URL, e.g. `postgresql://attestd_server@127.0.0.1:5432/attestd`.
    pub database: String,
    /// Address the HTTPS listener binds.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM). Required unless `listen` is a loopback address.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM). Required with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The witness key (Ed25519 PKCS#8 PEM, mode 0600): created on first `run` when
    /// missing. Every instance serving one database must use the same key.
    pub witness_key: PathBuf,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Most rows accepted in one push.
    #[serde(default = "default_max_rows")]
    pub max_rows_per_push: usize,
    /// Database connections per instance.
    #[serde(default = "default_pool")]
    pub pool_size: usize,
    /// Pushes handled at once by this instance (their bodies read, parsed and stored);
    /// a push beyond them waits, unread, for a free slot. Bounds the memory that
    /// concurrent pushes hold (each body is buffered and parsed whole).
    #[serde(default = "default_max_pushes")]
    pub max_concurrent_pushes: usize,
    /// How long a push waits for a free slot before it is answered 503 with
    /// `Retry-After`, in milliseconds.
    #[serde(default = "default_push_wait")]
    pub push_wait_ms: u64,
    /// The `Retry-After` of an overloaded (503) answer, in seconds.
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
    /// A host whose last push is older than this many seconds is `late`.
    #[serde(default = "default_late")]
    pub late_after_secs: i64,
    /// A host whose last push is older than this many seconds is `not_reporting`.
    #[serde(default = "default_not_reporting")]
    pub not_reporting_after_secs: i64,
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:8443".parse().expect("address")
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}
fn default_max_rows() -> usize {
    5000
}
fn default_pool() -> usize {
    8
}
fn default_max_pushes() -> usize {
    8
}
fn default_push_wait() -> u64 {
    30_000
}
fn default_retry_after() -> u64 {
    2
}
fn default_late() -> i64 {
    1800
}
fn default_not_reporting() -> i64 {
    7200
}

impl Config {
    /// Read and check a configuration file; errors name the file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let c: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if c.tls_cert.is_some() != c.tls_key.is_some() {
            anyhow::bail!(
                "{}: tls_cert and tls_key go together: set both or neither",
                path.display()
            );
        }
        if c.tls_cert.is_none() && !c.listen.ip().is_loopback() {
            anyhow::bail!(
                "{}: listen = {} is not a loopback address, so tls_cert and tls_key are required",
                path.display(),
                c.listen
            );
        }
        if c.max_rows_per_push == 0 || c.pool_size == 0 || c.max_concurrent_pushes == 0 {
            anyhow::bail!(
                "{}: max_rows_per_push, pool_size and max_concurrent_pushes must be at least 1",
                path.display()
            );
        }
        if c.push_wait_ms > 600_000 || !(1..=3600).contains(&c.retry_after_secs) {
            anyhow::bail!(
                "{}: push_wait_ms is 0 to 600000 and retry_after_secs 1 to 3600",
                path.display()
            );
        }
        if c.late_after_secs <= 0 || c.not_reporting_after_secs < c.late_after_secs {
            anyhow::bail!(
                "{}: late_after_secs must be positive and not_reporting_after_secs at least as large",
                path.display()
            );
        }
        Ok(c)
    }
}
