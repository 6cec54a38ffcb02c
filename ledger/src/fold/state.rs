//! The state at an instant: every rule's latest verdict as of a moment, with the run
//! that judged it, its evidence and the controls it maps to under the parameters in
//! force then. Fed the rows in force at that moment (the latest policy row, each
//! collector's latest run and the verdict set and evidence it points at), in sequence
//! order; rows it does not need are ignored.

use super::Decoded;
use crate::body::{PolicySnapshot, RunCollectorEntry, RunRecord, Status, VerdictSet};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One rule's state at a moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleAt {
    pub rule: String,
    pub collector: String,
    pub status: Status,
    pub controls: Vec<String>,
    pub observed: serde_json::Value,
    pub expected: String,
    /// The run that last judged it, and when.
    pub run: String,
    pub run_at: String,
    pub evidence_sha256: Option<String>,
    pub collector_error: Option<String>,
}

/// The fold.
#[derive(Debug, Default)]
pub struct StateAt {
    policy: Option<PolicySnapshot>,
    verdict_sets: HashMap<i64, VerdictSet>,
    evidence_keys: HashMap<i64, String>,
    /// Collector -> (run id, finished at, its entry) of its latest run.
    last_runs: BTreeMap<String, (String, String, RunCollectorEntry)>,
}

impl StateAt {
    /// Feed one row (sequence order).
    pub fn row(&mut self, seq: i64, row: Decoded) {
        match row {
            Decoded::Policy(p) => self.policy = Some(p),
            Decoded::Verdicts(v) => {
                self.verdict_sets.insert(seq, v);
            }
            Decoded::Evidence { key, .. } => {
                self.evidence_keys.insert(seq, key);
            }
            Decoded::Run(run) => self.run(run),
            _ => {}
        }
    }

    fn run(&mut self, run: RunRecord) {
        for (collector, entry) in run.collectors {
            self.last_runs
                .insert(collector, (run.key.clone(), run.finished_at.clone(), entry));
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Option<&PolicySnapshot> {
        self.policy.as_ref()
    }

    /// Every rule's state, by collector name then rule order within its set. A
    /// collector whose verdict set is not among the rows is left out.
    pub fn rules(&self) -> Vec<RuleAt> {
        let controls_of = |rule: &str| {
            self.policy
                .as_ref()
                .and_then(|p| p.rules.iter().find(|r| r.id == rule))
                .map(|r| r.controls.clone())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for (collector, (run, run_at, entry)) in &self.last_runs {
            let Some(set) = self.verdict_sets.get(&entry.verdicts) else {
                continue;
            };
            let evidence_sha256 = entry
                .evidence
                .and_then(|seq| self.evidence_keys.get(&seq).cloned());
            for v in &set.results {
                out.push(RuleAt {
                    controls: controls_of(&v.rule),
                    rule: v.rule.clone(),
                    collector: collector.clone(),
                    status: v.status,
                    observed: v.observed.clone(),
                    expected: v.expected.clone(),
                    run: run.clone(),
                    run_at: run_at.clone(),
                    evidence_sha256: evidence_sha256.clone(),
                    collector_error: entry.error.clone(),
                });
            }
        }
        out
    }
}
