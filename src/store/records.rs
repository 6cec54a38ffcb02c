//! The shapes of what a run hands to the store and what the store hands back. These
//! are the JSON bodies of ledger rows, so changing a field changes stored evidence:
//! add fields, never rename them.

use crate::policy::{Status, Verdict};
use attestd_collectors::Evidence;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One collector's part of a run, as the engine produced it.
#[derive(Debug, Clone)]
pub struct CollectorRun {
    pub collector: String,
    pub version: String,
    /// What it observed, or why it could not.
    pub outcome: Result<Evidence, String>,
    pub duration_ms: u64,
    pub verdicts: Vec<Verdict>,
}

/// A finished run, ready to be stored.
#[derive(Debug, Clone)]
pub struct RunInput {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    /// `schedule`, `watch`, `start`, `reload` or `manual`.
    pub trigger: String,
    pub collectors: Vec<CollectorRun>,
    /// Controls and severity of each rule, copied into drift events.
    pub rule_meta: BTreeMap<String, RuleMeta>,
}

/// What drift events record about the rule that moved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleMeta {
    pub controls: Vec<String>,
    pub severity: String,
}

/// A change of a rule's verdict between two runs (or its first verdict, `from: null`).
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

/// A ledger row of kind `verdicts`: one collector's verdicts, stored again only when
/// they differ from the collector's previous set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictSet {
    pub key: String,
    pub collector: String,
    pub evidence: Option<i64>,
    pub error: Option<String>,
    pub results: Vec<Verdict>,
}

/// A ledger row of kind `run`. Kept small (it is written every run); counts per
/// status are derived from the verdict sets it points at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub key: String,
    pub started_at: String,
    pub finished_at: String,
    pub trigger: String,
    pub collectors: BTreeMap<String, RunCollectorEntry>,
}

/// One collector's entry in a run row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunCollectorEntry {
    pub evidence: Option<i64>,
    pub verdicts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What storing a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_seq: i64,
    pub drift: Vec<DriftEvent>,
    /// Evidence rows newly written (the rest were references to earlier rows).
    pub new_evidence: usize,
    /// The alert this run raised (written in the same transaction), if any.
    pub alert: Option<crate::alert::AlertRecord>,
}

/// The current state of one collector, for `status` and `controls`.
#[derive(Debug, Clone)]
pub struct CollectorState {
    pub collector: String,
    pub last_run: String,
    pub last_run_at: String,
    pub verdicts: VerdictSet,
}
