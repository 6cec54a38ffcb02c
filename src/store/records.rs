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
    /// The parameters the run was judged with; stored as a `policy` row when they
    /// differ from the latest one.
    pub policy: Option<PolicySnapshot>,
}

/// A ledger row of kind `policy`: the parameters in force (the auditor's IPE
/// parameters). Written before the first run that uses them, and again whenever any
/// of them changes. `key` is the SHA-256 of the canonical JSON of the other fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    pub key: String,
    pub rules: Vec<PolicyRule>,
    pub variables: BTreeMap<String, PolicyVariable>,
    pub collectors: BTreeMap<String, PolicyCollector>,
    pub waivers: Vec<PolicyWaiver>,
}

/// One rule as defined, with the hash of its definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRule {
    pub id: String,
    pub title: String,
    pub collector: String,
    pub controls: Vec<String>,
    pub severity: String,
    /// `file:line` where it is defined.
    pub origin: String,
    /// Shared with the loaded rule: rule texts are kept once in memory.
    pub definition: std::sync::Arc<serde_json::Value>,
    pub definition_sha256: String,
}

/// A variable's value in force and where it was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVariable {
    pub value: serde_json::Value,
    pub default: serde_json::Value,
    pub set_in: String,
}

/// A collector's version, schedule and settings (hashed: settings may name secrets'
/// locations, never stored in clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyCollector {
    pub version: String,
    pub enabled: bool,
    /// Five-field Unix cron, evaluated in the host's local time.
    pub schedule: String,
    pub settings_sha256: String,
}

/// A waiver in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyWaiver {
    pub rule: String,
    pub reason: String,
    pub approver: String,
    pub expires: String,
}

impl PolicySnapshot {
    /// The snapshot of a loaded config and policy set.
    pub fn new(
        config: &crate::config::Config,
        policies: &crate::policy::PolicySet,
        collectors: &[std::sync::Arc<dyn attestd_collectors::Collector>],
    ) -> PolicySnapshot {
        let rules = policies
            .rules
            .iter()
            .map(|r| PolicyRule {
                id: r.id.clone(),
                title: r.title.clone(),
                collector: r.collector.clone(),
                controls: r.controls.clone(),
                severity: r.severity.as_str().to_string(),
                origin: r.origin.clone(),
                definition: r.definition.clone(),
                definition_sha256: r.definition_sha256.clone(),
            })
            .collect();
        let variables = policies
            .variables
            .iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    PolicyVariable {
                        value: v.value.clone(),
                        default: v.default.clone(),
                        set_in: v.set_in.clone(),
                    },
                )
            })
            .collect();
        let collectors = collectors
            .iter()
            .filter_map(|c| {
                let cfg = config.collectors.get(c.name())?;
                let settings = serde_json::to_vec(&cfg.settings).expect("JSON");
                Some((
                    c.name().to_string(),
                    PolicyCollector {
                        version: c.version().to_string(),
                        enabled: cfg.enabled,
                        schedule: cfg.schedule.as_str().to_string(),
                        settings_sha256: attestd_collectors::sha256_hex(&settings),
                    },
                ))
            })
            .collect();
        let waivers = config
            .waivers
            .iter()
            .map(|w| PolicyWaiver {
                rule: w.rule.clone(),
                reason: w.reason.clone(),
                approver: w.approver.clone(),
                expires: crate::clock::rfc3339(w.expires),
            })
            .collect();
        let mut snapshot = PolicySnapshot {
            key: String::new(),
            rules,
            variables,
            collectors,
            waivers,
        };
        snapshot.key = snapshot.compute_key();
        snapshot
    }

    /// SHA-256 of the canonical JSON of everything but `key`.
    pub fn compute_key(&self) -> String {
        let mut value = serde_json::to_value(self).expect("JSON");
        if let Some(map) = value.as_object_mut() {
            map.remove("key");
        }
        attestd_collectors::sha256_hex(&serde_json::to_vec(&value).expect("JSON"))
    }
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
