//! The `run` row (one run: which collectors ran, where their evidence and verdicts
//! are) and the `drift` row (a rule's verdict changed between runs).

use super::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A ledger row of kind `run`. Kept small (it is written every run); counts per
/// status are derived from the verdict sets it points at. `key` is the run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub key: String,
    pub started_at: String,
    pub finished_at: String,
    pub trigger: String,
    pub collectors: BTreeMap<String, RunCollectorEntry>,
}

/// One collector's entry in a run row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCollectorEntry {
    /// The evidence row (new or referenced again), or none when the collector failed.
    pub evidence: Option<i64>,
    /// The verdict set row in force after this run.
    pub verdicts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A ledger row of kind `drift`: a change of a rule's verdict between two runs (or,
/// in ledgers written before baselines were told apart, its first verdict with
/// `from: null`). `key` is the rule id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftEvent {
    pub key: String,
    pub rule: String,
    pub collector: String,
    pub from: Option<Status>,
    pub to: Status,
    pub at: String,
    pub run: String,
    pub previous_run: Option<String>,
    pub previous_at: Option<String>,
    pub evidence_before: Option<i64>,
    pub evidence_after: Option<i64>,
    pub observed_before: serde_json::Value,
    pub observed_after: serde_json::Value,
    pub expected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub controls: Vec<String>,
    pub severity: String,
}
