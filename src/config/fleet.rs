//! `[fleet]`: where this host pushes its ledger. Owns parsing the section; never reads
//! the CA file or the keys here, only their paths.

use serde::Deserialize;
use std::path::PathBuf;

/// `[fleet]` of attestd.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// The fleet server's base URL, `https://…` (plain `http://` only to a loopback address).
    pub server: String,
    /// PEM file of the CA that signed the server's certificate [default: the system roots].
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds between pushes of the daemon.
    #[serde(default = "default_interval")]
    pub push_interval_secs: u64,
    /// The name this host enrols and pushes under [default: the system's host name].
    #[serde(default)]
    pub host: Option<String>,
    /// Most rows sent in one push.
    #[serde(default = "default_batch")]
    pub batch_rows: usize,
}

fn default_interval() -> u64 {
    300
}
fn default_batch() -> usize {
    1000
}
