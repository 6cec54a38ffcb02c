//! The shapes of what a run hands to the store and what the store hands back. The
//! rows themselves are the ledger crate's typed bodies (re-exported here for callers).

use attestd_collectors::Evidence;
use attestd_ledger::body::Verdict;
pub use attestd_ledger::body::{
    DriftEvent, PolicyCollector, PolicyRule, PolicySnapshot, PolicyVariable, PolicyWaiver,
    RunCollectorEntry, RunRecord, VerdictSet,
};
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
    /// The parameters the run was judged with; stored as a `policy` row when they
    /// differ from the latest one.
    pub policy: Option<PolicySnapshot>,
}

/// What drift events record about the rule that moved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleMeta {
    pub controls: Vec<String>,
    pub severity: String,
}

/// What storing a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_seq: i64,
    pub drift: Vec<DriftEvent>,
    /// Evidence rows newly written (the rest were references to earlier rows).
    pub new_evidence: usize,
}

/// The current state of one collector, for `status` and `controls`.
#[derive(Debug, Clone)]
pub struct CollectorState {
    pub collector: String,
    pub last_run: String,
    pub last_run_at: String,
    pub verdicts: VerdictSet,
}
