//! The shape of a period's summary: what `summary.json` holds under `computed` and
//! the parameters it was computed with. Changing a field changes every bundle: add
//! fields, never rename them.

use super::alerts::SentAlert;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the bundle was asked for. Recorded in summary.json so `verify` recomputes
/// with exactly the same inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// Start of the period (inclusive), RFC 3339.
    pub from: String,
    /// End of the period (exclusive), RFC 3339.
    pub to: String,
    /// `soc2` or `iso27001-2022`; none = both (2013 equivalents only via `controls`).
    pub framework: Option<String>,
    /// Only these controls (`framework:ID`); empty = all.
    pub controls: Vec<String>,
    /// Days sampled for point-in-time snapshots (UTC dates).
    pub sample_dates: Vec<String>,
    /// How the sample dates were chosen: `given`, `random(n=N, seed=S)` or `none`.
    pub sampling: String,
}

/// A span in which a collector's scheduled runs left no evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub collector: String,
    /// Time of the last evidence before the gap (or the period start).
    pub start: String,
    /// Time of the next evidence (or the period end when `ongoing`).
    pub end: String,
    pub duration_seconds: i64,
    /// Scheduled runs that produced no evidence.
    pub missed_runs: u64,
    /// Why, where known: `attestd_down`, `collector_error`, `not_run`.
    pub cause: String,
    pub detail: String,
    pub ongoing: bool,
}

/// Coverage of one collector over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorCoverage {
    /// Schedules in force during the period.
    pub schedules: Vec<String>,
    pub scheduled_runs: u64,
    /// Runs that included this collector (scheduled or not).
    pub runs: u64,
    /// Runs in which it could not observe.
    pub error_runs: u64,
    /// Scheduled slots with at least one successful run.
    pub covered_runs: u64,
    pub coverage_percent: f64,
    pub gaps: Vec<Gap>,
}

/// A stretch of one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub from: String,
    pub to: String,
    /// A `Status`, or `no_data` before the first verdict.
    pub status: String,
}

/// Evidence a verdict was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// Ledger row of the evidence.
    pub seq: i64,
    pub sha256: String,
}

/// A time in which a rule did not pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    pub rule: String,
    pub collector: String,
    /// `fail` or `error`.
    pub status: String,
    /// When it began: the run whose verdict first changed to a failure (its `drift`
    /// row), also when that was before the period.
    pub first_seen: String,
    /// First run that no longer showed it; none while it lasts.
    pub resolved_at: Option<String>,
    /// Until `resolved_at`, or until the period end while open.
    pub duration_seconds: i64,
    pub open: bool,
    /// Already failing when the period began (first_seen is before the period).
    pub began_before_period: bool,
    pub observed: serde_json::Value,
    pub expected: String,
    pub reason: Option<String>,
    pub evidence: Option<EvidenceRef>,
    pub resolved_evidence: Option<EvidenceRef>,
    pub alerts: Vec<SentAlert>,
    pub alerts_sent: usize,
    pub alerts_delivered: usize,
}

/// A waiver seen in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaiverInForce {
    pub rule: String,
    pub reason: String,
    pub approver: String,
    pub expires: String,
    pub first_seen: String,
    pub last_seen: String,
}

/// One rule over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    pub collector: String,
    pub title: String,
    pub controls: Vec<String>,
    /// Evaluations in the period by status.
    pub evaluations: BTreeMap<String, u64>,
    pub timeline: Vec<Band>,
    pub exceptions: Vec<Exception>,
    pub waivers: Vec<WaiverInForce>,
}

/// One control over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlSummary {
    pub id: String,
    pub name: String,
    pub rules: Vec<String>,
    pub collectors: Vec<String>,
    pub scheduled_runs: u64,
    pub runs: u64,
    pub covered_runs: u64,
    pub coverage_percent: f64,
    pub passes: u64,
    pub failures: u64,
    pub errors: u64,
    pub waived: u64,
    pub not_applicable: u64,
    pub gaps: Vec<Gap>,
    /// Seconds of the period in which at least one of the control's collectors was in
    /// a gap (the union of its gaps, not their sum).
    pub gap_seconds: i64,
    pub waivers: Vec<WaiverInForce>,
    pub exceptions: Vec<Exception>,
    /// `effective`, `exceptions`, `gaps`, `exceptions_and_gaps` or `not_tested`.
    pub result: String,
    /// Why nothing tested it, when `not_tested`: `no_rule_applicable`,
    /// `collector_never_ran` or `all_runs_in_gaps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_tested_reason: Option<String>,
}

/// A change of the parameters in force during the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyChange {
    pub at: String,
    pub seq: i64,
    pub policy_sha256: String,
    /// Rules added, removed or redefined; variables, schedules, versions changed.
    pub changes: Vec<String>,
}

/// A run on a sampled day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRun {
    pub run: String,
    pub seq: i64,
    pub at: String,
    pub trigger: String,
    pub collectors: BTreeMap<String, SampleCollector>,
}

/// One collector's part of a sampled run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleCollector {
    pub evidence: Option<EvidenceRef>,
    pub error: Option<String>,
    pub verdicts: BTreeMap<String, String>,
}

/// A point-in-time snapshot for a sampled day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub date: String,
    /// Each rule's status at 00:00 UTC that day.
    pub state_at_start: BTreeMap<String, String>,
    /// Every run that day.
    pub runs: Vec<SampleRun>,
    /// Each rule's status at the end of the day (or of the period).
    pub state_at_end: BTreeMap<String, String>,
}

/// What is recomputed from the ledger: everything in summary.json but its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Computed {
    pub collectors: BTreeMap<String, CollectorCoverage>,
    pub rules: BTreeMap<String, RuleSummary>,
    pub controls: Vec<ControlSummary>,
    pub policy_changes: Vec<PolicyChange>,
    pub policies_in_force: Vec<String>,
    /// The host time zones the schedules were evaluated in during the period (`UTC`
    /// for parameters recorded without one).
    #[serde(default)]
    pub time_zones: Vec<String>,
    pub samples: Vec<Sample>,
    /// Evidence rows the period's verdicts rest on, ascending.
    pub evidence_rows: u64,
    pub runs: u64,
    /// Attestations, recurring controls and the statement of applicability; only for
    /// periods whose rows hold attestations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestations: Option<super::attest::AttestationSummary>,
}
