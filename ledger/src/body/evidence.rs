//! The `evidence` row: what one collector observed, content-addressed by the SHA-256
//! of its facts and artifacts (`key`), so an unchanged observation is stored once.

use serde::{Deserialize, Serialize};

/// A ledger row of kind `evidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// SHA-256 of the canonical JSON of `{facts, artifacts}`.
    pub key: String,
    pub collector: String,
    pub collector_version: String,
    pub collected_at: String,
    pub facts: serde_json::Value,
    pub artifacts: Vec<ArtifactRecord>,
}

/// One source the facts came from (the collectors' `Artifact`, as stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The path on the host, or the command line that was run.
    pub source: String,
    /// `file`, `directory`, `command` or `api`.
    pub kind: String,
    /// SHA-256 of what was read; none when the source was absent.
    pub sha256: Option<String>,
    /// A short excerpt, or none when the source must not be quoted.
    pub excerpt: Option<String>,
    pub present: bool,
    /// For a command: its exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
}
