//! The `probe` row: one endpoint probe result. `key` is the probe's name.

use serde::{Deserialize, Serialize};

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe's name from the config (the ledger row's key).
    pub key: String,
    /// What was probed: the URL or `tcp://host:port`.
    pub target: String,
    /// When the probe started, UTC RFC 3339 with milliseconds.
    pub at: String,
    /// True when the endpoint answered as expected within the timeout.
    pub ok: bool,
    /// The HTTP status, for URL probes that got an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Milliseconds until the answer (or the timeout).
    pub latency_ms: u64,
    /// Why it was down (timeout, refused, unexpected status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The probe's interval: how long this result stands for.
    pub interval_seconds: u64,
}
