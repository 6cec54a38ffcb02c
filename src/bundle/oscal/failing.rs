//! Which evidence records a rule failed on in the period: fed the rows in order (as
//! the summary analyzer is, by `build` and by `verify`), it pairs each run of the
//! period with the verdict sets its collectors pointed at and keeps, per evidence
//! row, the rules whose verdict on it was `fail` or `error`. The OSCAL observations
//! mark that evidence. Keeps only verdict sets that hold a failure; never judges.

use attestd_ledger::body::{RunRecord, Status, VerdictSet};
use attestd_ledger::{Row, RowKind};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A rule that failed, with its status (`fail` or `error`).
pub type Failure = (String, &'static str);

/// The failing evidence of a period.
pub struct Failing {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Verdict set row → (evidence judged, the failing rules with their status);
    /// sets without a failure are not kept.
    sets: HashMap<i64, (i64, Vec<Failure>)>,
    /// Evidence row → the (rule, status) pairs that failed on it in a period run.
    pub by_evidence: BTreeMap<i64, BTreeSet<Failure>>,
}

impl Failing {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Failing {
        Failing {
            from,
            to,
            sets: HashMap::new(),
            by_evidence: BTreeMap::new(),
        }
    }

    /// Feed the next row (anchors first, then the period).
    pub fn row(&mut self, row: &Row) {
        match row.kind {
            RowKind::Verdicts => {
                let Ok(set) = serde_json::from_str::<VerdictSet>(&row.body) else {
                    return;
                };
                let Some(evidence) = set.evidence else {
                    return;
                };
                let failed: Vec<Failure> = set
                    .results
                    .into_iter()
                    .filter_map(|v| match v.status {
                        Status::Fail => Some((v.rule, "fail")),
                        Status::Error => Some((v.rule, "error")),
                        _ => None,
                    })
                    .collect();
                if !failed.is_empty() {
                    self.sets.insert(row.seq, (evidence, failed));
                }
            }
            RowKind::Run => {
                let at = attestd_ledger::summary::parse_time(&row.recorded_at).ok();
                if !at.is_some_and(|t| t >= self.from && t < self.to) {
                    return;
                }
                let Ok(run) = serde_json::from_str::<RunRecord>(&row.body) else {
                    return;
                };
                for entry in run.collectors.values() {
                    let Some((evidence, failed)) = self.sets.get(&entry.verdicts) else {
                        continue;
                    };
                    if entry.evidence != Some(*evidence) {
                        continue; // the collector failed in this run: no verdict on evidence
                    }
                    self.by_evidence
                        .entry(*evidence)
                        .or_default()
                        .extend(failed.iter().cloned());
                }
            }
            _ => {}
        }
    }
}
