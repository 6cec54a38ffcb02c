//! The period's arithmetic: from a stream of ledger rows (anchors, then the period in
//! order) compute, per collector, the scheduled runs, the runs that happened, coverage
//! and gaps; per rule, its status timeline, exceptions (fail or error, first seen,
//! resolved, duration) and waivers; per control, the roll-up. The same code runs when
//! a bundle is built (rows from SQLite) and when it is verified (rows from
//! `ledger.json`), so the summary is proven to recompute from the evidence. It holds
//! a few counters per collector and rule, never the period's rows.

use super::alerts::{AlertRecord, AlertSource};
use crate::policy::Status;
use crate::schedule::UnixCron;
use crate::store::{PolicySnapshot, RunRecord, VerdictSet};
use attestd_ledger::{Row, RowKind};
use chrono::{DateTime, Local, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    /// Rules and schedules used for runs recorded before any `policy` row (databases
    /// written before attestd recorded its parameters).
    pub fallback_policy: PolicySnapshot,
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
    pub first_seen: String,
    /// First run that no longer showed it; none while it lasts.
    pub resolved_at: Option<String>,
    /// Until `resolved_at`, or until the period end while open.
    pub duration_seconds: i64,
    pub open: bool,
    /// Already failing when the period began (first_seen is the last run before it).
    pub began_before_period: bool,
    pub observed: serde_json::Value,
    pub expected: String,
    pub reason: Option<String>,
    pub evidence: Option<EvidenceRef>,
    pub resolved_evidence: Option<EvidenceRef>,
    pub alerts: Vec<AlertRecord>,
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
    pub waivers: Vec<WaiverInForce>,
    pub exceptions: Vec<Exception>,
    /// `effective`, `exceptions`, `gaps`, `exceptions_and_gaps` or `no_evidence`.
    pub result: String,
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
    pub samples: Vec<Sample>,
    /// Evidence rows the period's verdicts rest on, ascending.
    pub evidence_rows: u64,
    pub runs: u64,
}

struct CollectorTrack {
    schedule: Option<UnixCron>,
    schedules: BTreeSet<String>,
    slot: Option<DateTime<Utc>>,
    covered: bool,
    next_fire: Option<DateTime<Utc>>,
    scheduled: u64,
    covered_count: u64,
    runs: u64,
    error_runs: u64,
    last_evidence: Option<DateTime<Utc>>,
    slot_errors: Vec<String>,
    gap: Option<OpenGap>,
    gaps: Vec<Gap>,
}

struct OpenGap {
    start: DateTime<Utc>,
    missed: u64,
    errors: u64,
    first_error: Option<String>,
}

struct RuleTrack {
    collector: String,
    status: Option<Status>,
    band_start: DateTime<Utc>,
    timeline: Vec<Band>,
    evaluations: BTreeMap<String, u64>,
    open: Option<Exception>,
    exceptions: Vec<Exception>,
    waivers: BTreeMap<(String, String, String), (String, String)>,
}

/// Streams rows in, hands the summary out.
pub struct Analyzer<'a> {
    params: Parameters,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    catalog_name: &'a dyn Fn(&str) -> Option<String>,
    alerts: &'a dyn AlertSource,
    policy: PolicySnapshot,
    policy_seen: bool,
    fallback_rules_used: bool,
    policies_in_force: BTreeSet<String>,
    policy_changes: Vec<PolicyChange>,
    /// Every rule → controls mapping in force during the period.
    rule_controls: BTreeMap<String, (String, String, BTreeSet<String>)>,
    collectors: BTreeMap<String, CollectorTrack>,
    rules: BTreeMap<String, RuleTrack>,
    verdict_sets: HashMap<i64, VerdictSet>,
    evidence_keys: HashMap<i64, String>,
    evidence_used: BTreeSet<i64>,
    last_any_run: Option<DateTime<Utc>>,
    samples: BTreeMap<NaiveDate, Sample>,
    runs: u64,
    last_seq: i64,
}

/// Parse a stored timestamp.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad timestamp `{s}`: {e}"))
}

fn ts(t: DateTime<Utc>) -> String {
    crate::clock::rfc3339(t)
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    ((part as f64) * 10000.0 / (whole as f64)).round() / 100.0
}

fn next_fire(cron: &UnixCron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.next_after(&after.with_timezone(&Local))
        .map(|t| t.with_timezone(&Utc))
}

impl CollectorTrack {
    fn new() -> CollectorTrack {
        CollectorTrack {
            schedule: None,
            schedules: BTreeSet::new(),
            slot: None,
            covered: false,
            next_fire: None,
            scheduled: 0,
            covered_count: 0,
            runs: 0,
            error_runs: 0,
            last_evidence: None,
            slot_errors: Vec::new(),
            gap: None,
            gaps: Vec::new(),
        }
    }

    fn set_schedule(&mut self, cron: Option<UnixCron>, at: DateTime<Utc>) {
        let same = match (&self.schedule, &cron) {
            (Some(a), Some(b)) => a.as_str() == b.as_str(),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        // The new schedule's first fire time at or after `at`.
        let base = at - chrono::Duration::seconds(1);
        self.next_fire = cron.as_ref().and_then(|c| next_fire(c, base));
        self.schedule = cron;
    }

    /// Close every slot whose successor starts at or before `t` (and before `to`).
    fn advance(&mut self, t: DateTime<Utc>, to: DateTime<Utc>, from: DateTime<Utc>) {
        self.advance_while(to, from, |nf| nf <= t);
    }

    /// Open the slots of fire times strictly before `t`: a schedule that changes at
    /// `t` owns a fire time at `t`.
    fn advance_before(&mut self, t: DateTime<Utc>, to: DateTime<Utc>, from: DateTime<Utc>) {
        self.advance_while(to, from, |nf| nf < t);
    }

    fn advance_while(
        &mut self,
        to: DateTime<Utc>,
        from: DateTime<Utc>,
        more: impl Fn(DateTime<Utc>) -> bool,
    ) {
        while let Some(nf) = self.next_fire {
            if !more(nf) || nf >= to {
                break;
            }
            self.close_slot(from);
            if let Some(c) = &self.schedule {
                if !self.schedules.contains(c.as_str()) {
                    self.schedules.insert(c.as_str().to_string());
                }
            }
            self.slot = Some(nf);
            self.covered = false;
            self.scheduled += 1;
            self.next_fire = self.schedule.as_ref().and_then(|c| next_fire(c, nf));
        }
    }

    fn close_slot(&mut self, from: DateTime<Utc>) {
        if self.slot.is_none() {
            return;
        }
        if self.covered {
            self.covered_count += 1;
        } else {
            let start = self.last_evidence.unwrap_or(from).max(from);
            let gap = self.gap.get_or_insert(OpenGap {
                start,
                missed: 0,
                errors: 0,
                first_error: None,
            });
            gap.missed += 1;
        }
        let errors = std::mem::take(&mut self.slot_errors);
        if let Some(gap) = &mut self.gap {
            gap.errors += errors.len() as u64;
            if gap.first_error.is_none() {
                gap.first_error = errors.into_iter().next();
            }
        }
        self.slot = None;
    }

    fn finish_gap(
        &mut self,
        name: &str,
        end: DateTime<Utc>,
        ongoing: bool,
        closing_trigger: Option<&str>,
        others_ran: bool,
    ) {
        let Some(g) = self.gap.take() else { return };
        let (cause, detail) = if g.errors > 0 {
            (
                "collector_error",
                format!(
                    "{} run(s) could not observe: {}",
                    g.errors,
                    g.first_error.unwrap_or_default()
                ),
            )
        } else if closing_trigger == Some("start") {
            (
                "attestd_down",
                format!("attestd was not running; it started again at {}", ts(end)),
            )
        } else if !others_ran {
            (
                "attestd_down",
                if ongoing {
                    "no collector ran until the end of the period".to_string()
                } else {
                    "no collector ran in this span".to_string()
                },
            )
        } else {
            (
                "not_run",
                "attestd ran other collectors but not this one".to_string(),
            )
        };
        self.gaps.push(Gap {
            collector: name.to_string(),
            start: ts(g.start),
            end: ts(end),
            duration_seconds: (end - g.start).num_seconds(),
            missed_runs: g.missed,
            cause: cause.to_string(),
            detail,
            ongoing,
        });
    }
}

impl<'a> Analyzer<'a> {
    pub fn new(
        params: Parameters,
        catalog_name: &'a dyn Fn(&str) -> Option<String>,
        alerts: &'a dyn AlertSource,
    ) -> Result<Analyzer<'a>, String> {
        let from = parse_time(&params.from)?;
        let to = parse_time(&params.to)?;
        if to <= from {
            return Err(format!(
                "the period ends ({}) before it starts ({})",
                params.to, params.from
            ));
        }
        let mut samples = BTreeMap::new();
        for d in &params.sample_dates {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| format!("sample date `{d}` is not YYYY-MM-DD"))?;
            samples.insert(
                date,
                Sample {
                    date: d.clone(),
                    state_at_start: BTreeMap::new(),
                    runs: Vec::new(),
                    state_at_end: BTreeMap::new(),
                },
            );
        }
        let policy = params.fallback_policy.clone();
        let mut a = Analyzer {
            params,
            from,
            to,
            catalog_name,
            alerts,
            policy: policy.clone(),
            policy_seen: false,
            fallback_rules_used: false,
            policies_in_force: BTreeSet::new(),
            policy_changes: Vec::new(),
            rule_controls: BTreeMap::new(),
            collectors: BTreeMap::new(),
            rules: BTreeMap::new(),
            verdict_sets: HashMap::new(),
            evidence_keys: HashMap::new(),
            evidence_used: BTreeSet::new(),
            last_any_run: None,
            samples,
            runs: 0,
            last_seq: 0,
        };
        a.apply_schedules(&policy, from);
        Ok(a)
    }

    /// Without any `policy` row before the runs, the fallback's rules say which
    /// controls they test.
    fn use_fallback_rules_if_needed(&mut self) {
        if self.policy_seen || self.fallback_rules_used {
            return;
        }
        self.fallback_rules_used = true;
        for r in &self.params.fallback_policy.rules {
            let entry = self
                .rule_controls
                .entry(r.id.clone())
                .or_insert_with(|| (r.collector.clone(), r.title.clone(), BTreeSet::new()));
            entry.2.extend(r.controls.iter().cloned());
        }
    }

    fn apply_schedules(&mut self, p: &PolicySnapshot, at: DateTime<Utc>) {
        let at = at.max(self.from);
        for (name, c) in &p.collectors {
            let cron = if c.enabled {
                UnixCron::parse(&c.schedule).ok()
            } else {
                None
            };
            let (to, from) = (self.to, self.from);
            let track = self
                .collectors
                .entry(name.clone())
                .or_insert_with(CollectorTrack::new);
            track.advance_before(at, to, from);
            track.set_schedule(cron, at);
        }
        // Collectors the new parameters no longer know are no longer scheduled.
        let (to, from) = (self.to, self.from);
        for (name, track) in self.collectors.iter_mut() {
            if !p.collectors.contains_key(name) {
                track.advance_before(at, to, from);
                track.set_schedule(None, at);
            }
        }
    }

    fn apply_policy(&mut self, p: &PolicySnapshot, at: DateTime<Utc>) {
        self.apply_schedules(p, at);
        for r in &p.rules {
            let entry = self
                .rule_controls
                .entry(r.id.clone())
                .or_insert_with(|| (r.collector.clone(), r.title.clone(), BTreeSet::new()));
            entry.2.extend(r.controls.iter().cloned());
        }
    }

    fn in_period(&self, t: DateTime<Utc>) -> bool {
        t >= self.from && t < self.to
    }

    /// Feed the next row (anchors first, then the period in sequence order).
    pub fn row(&mut self, row: &Row) -> Result<(), String> {
        let at = parse_time(&row.recorded_at)?;
        if at >= self.to {
            return Ok(());
        }
        self.last_seq = row.seq;
        let bad = |e: serde_json::Error| format!("ledger row {} ({}): {e}", row.seq, row.kind);
        match row.kind {
            RowKind::Policy => {
                let p: PolicySnapshot = serde_json::from_str(&row.body).map_err(bad)?;
                if self.in_period(at) {
                    let changes = diff_policies(&self.policy, &p);
                    if !changes.is_empty() || !self.policy_seen {
                        self.policy_changes.push(PolicyChange {
                            at: ts(at),
                            seq: row.seq,
                            policy_sha256: p.key.clone(),
                            changes: if self.policy_seen {
                                changes
                            } else {
                                vec!["first parameters recorded".into()]
                            },
                        });
                    }
                }
                self.policy_seen = true;
                self.policies_in_force.insert(p.key.clone());
                self.apply_policy(&p, at);
                self.policy = p;
            }
            RowKind::Verdicts => {
                let set: VerdictSet = serde_json::from_str(&row.body).map_err(bad)?;
                // Only the latest set per collector can be referenced by later runs.
                self.verdict_sets
                    .retain(|_, s| s.collector != set.collector);
                self.verdict_sets.insert(row.seq, set);
            }
            RowKind::Evidence => {
                #[derive(Deserialize)]
                struct KeyOnly {
                    key: String,
                }
                let k: KeyOnly = serde_json::from_str(&row.body).map_err(bad)?;
                self.evidence_keys.insert(row.seq, k.key);
            }
            RowKind::Run => {
                let run: RunRecord = serde_json::from_str(&row.body).map_err(bad)?;
                self.run(row.seq, at, &run)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn evidence_ref(&self, seq: Option<i64>) -> Option<EvidenceRef> {
        let seq = seq?;
        Some(EvidenceRef {
            seq,
            sha256: self.evidence_keys.get(&seq).cloned().unwrap_or_default(),
        })
    }

    fn state_map(&self) -> BTreeMap<String, String> {
        self.rules
            .iter()
            .map(|(id, r)| {
                (
                    id.clone(),
                    r.status
                        .map(|s| s.as_str())
                        .unwrap_or("no_data")
                        .to_string(),
                )
            })
            .collect()
    }

    fn run(&mut self, seq: i64, at: DateTime<Utc>, run: &RunRecord) -> Result<(), String> {
        self.use_fallback_rules_if_needed();
        let in_period = self.in_period(at);
        let (from, to) = (self.from, self.to);
        let date = at.date_naive();
        if in_period {
            self.runs += 1;
            // Close the previous sampled days and open this one.
            let state = self.state_map();
            for (d, s) in self.samples.iter_mut() {
                if *d <= date && s.runs.is_empty() && s.state_at_start.is_empty() {
                    s.state_at_start = state.clone();
                }
                if *d < date && s.state_at_end.is_empty() {
                    s.state_at_end = state.clone();
                }
            }
        }
        let others_ran_before = self.last_any_run;
        let mut sample_run = SampleRun {
            run: run.key.clone(),
            seq,
            at: ts(at),
            trigger: run.trigger.clone(),
            collectors: BTreeMap::new(),
        };
        for (name, entry) in &run.collectors {
            let set = self.verdict_sets.get(&entry.verdicts).cloned().ok_or_else(|| {
                format!(
                    "run row {seq} refers to verdicts row {} which is not among the rows (deleted or out of order)",
                    entry.verdicts
                )
            })?;
            if let Some(e) = entry.evidence {
                if !self.evidence_keys.contains_key(&e) {
                    return Err(format!(
                        "run row {seq} refers to evidence row {e} which is not among the rows"
                    ));
                }
                if in_period {
                    self.evidence_used.insert(e);
                }
            }
            let evidence = self.evidence_ref(entry.evidence);
            if in_period {
                let track = self
                    .collectors
                    .entry(name.clone())
                    .or_insert_with(CollectorTrack::new);
                track.advance(at, to, from);
                track.runs += 1;
                match &entry.error {
                    None => {
                        if track.slot.is_some_and(|s| at >= s) {
                            track.covered = true;
                        }
                        let others = match (others_ran_before, track.gap.as_ref()) {
                            (Some(o), Some(g)) => o > g.start,
                            _ => false,
                        };
                        track.finish_gap(name, at, false, Some(run.trigger.as_str()), others);
                        track.last_evidence = Some(at);
                    }
                    Some(reason) => {
                        track.error_runs += 1;
                        track.slot_errors.push(reason.clone());
                    }
                }
            }
            let mut verdicts = BTreeMap::new();
            for v in &set.results {
                verdicts.insert(v.rule.clone(), v.status.as_str().to_string());
                let collector_ok = entry.error.is_none();
                let track = self
                    .rules
                    .entry(v.rule.clone())
                    .or_insert_with(|| RuleTrack {
                        collector: name.clone(),
                        status: None,
                        band_start: from,
                        timeline: Vec::new(),
                        evaluations: BTreeMap::new(),
                        open: None,
                        exceptions: Vec::new(),
                        waivers: BTreeMap::new(),
                    });
                if in_period {
                    *track
                        .evaluations
                        .entry(v.status.as_str().to_string())
                        .or_default() += 1;
                    if let Some(w) = &v.waiver {
                        let e = track
                            .waivers
                            .entry((w.reason.clone(), w.approver.clone(), w.expires.clone()))
                            .or_insert_with(|| (ts(at), ts(at)));
                        e.1 = ts(at);
                    }
                }
                if !collector_ok {
                    // The collector could not observe: a gap, not a verdict change.
                    continue;
                }
                if track.status == Some(v.status) {
                    continue;
                }
                let t = at.max(from);
                if let Some(prev) = track.status {
                    if t > track.band_start {
                        track.timeline.push(Band {
                            from: ts(track.band_start),
                            to: ts(t),
                            status: prev.as_str().into(),
                        });
                    }
                } else if t > from {
                    track.timeline.push(Band {
                        from: ts(from),
                        to: ts(t),
                        status: "no_data".into(),
                    });
                }
                track.band_start = t;
                if let Some(mut open) = track.open.take() {
                    open.resolved_at = Some(ts(at));
                    open.duration_seconds =
                        (at - parse_time(&open.first_seen).expect("own timestamp")).num_seconds();
                    open.resolved_evidence = evidence.clone();
                    track.exceptions.push(open);
                }
                if matches!(v.status, Status::Fail | Status::Error) {
                    track.open = Some(Exception {
                        rule: v.rule.clone(),
                        collector: name.clone(),
                        status: v.status.as_str().into(),
                        first_seen: ts(at),
                        resolved_at: None,
                        duration_seconds: 0,
                        open: true,
                        began_before_period: !in_period,
                        observed: v.observed.clone(),
                        expected: v.expected.clone(),
                        reason: v.reason.clone(),
                        evidence: evidence.clone(),
                        resolved_evidence: None,
                        alerts: Vec::new(),
                        alerts_sent: 0,
                        alerts_delivered: 0,
                    });
                }
                track.status = Some(v.status);
            }
            sample_run.collectors.insert(
                name.clone(),
                SampleCollector {
                    evidence,
                    error: entry.error.clone(),
                    verdicts,
                },
            );
        }
        if in_period {
            if let Some(s) = self.samples.get_mut(&date) {
                s.runs.push(sample_run);
            }
        }
        self.last_any_run = Some(at);
        Ok(())
    }

    /// Close every open span at the period end and roll up per control.
    pub fn finish(mut self) -> Computed {
        self.use_fallback_rules_if_needed();
        let (from, to) = (self.from, self.to);
        let end_state = self.state_map();
        for s in self.samples.values_mut() {
            if s.state_at_start.is_empty() && s.runs.is_empty() {
                s.state_at_start = end_state.clone();
            }
            if s.state_at_end.is_empty() {
                s.state_at_end = end_state.clone();
            }
        }
        let mut collectors = BTreeMap::new();
        let last_any = self.last_any_run;
        for (name, mut t) in std::mem::take(&mut self.collectors) {
            t.advance(to, to, from);
            t.close_slot(from);
            let others = match (last_any, t.gap.as_ref()) {
                (Some(o), Some(g)) => o > g.start,
                _ => false,
            };
            t.finish_gap(&name, to, true, None, others);
            if t.scheduled == 0 && t.runs == 0 {
                continue;
            }
            collectors.insert(
                name,
                CollectorCoverage {
                    schedules: t.schedules.into_iter().collect(),
                    scheduled_runs: t.scheduled,
                    runs: t.runs,
                    error_runs: t.error_runs,
                    covered_runs: t.covered_count,
                    coverage_percent: percent(t.covered_count, t.scheduled),
                    gaps: t.gaps,
                },
            );
        }
        let mut rules = BTreeMap::new();
        for (id, mut t) in std::mem::take(&mut self.rules) {
            let status = t.status.map(|s| s.as_str()).unwrap_or("no_data");
            if to > t.band_start {
                t.timeline.push(Band {
                    from: ts(t.band_start),
                    to: ts(to),
                    status: status.into(),
                });
            }
            if let Some(mut open) = t.open.take() {
                open.duration_seconds =
                    (to - parse_time(&open.first_seen).expect("own timestamp")).num_seconds();
                t.exceptions.push(open);
            }
            for e in &mut t.exceptions {
                let until = e.resolved_at.clone().unwrap_or_else(|| ts(to));
                e.alerts = self.alerts.alerts_for(&id, &e.first_seen, &until);
                e.alerts_sent = e.alerts.len();
                e.alerts_delivered = e.alerts.iter().filter(|a| a.delivered_at.is_some()).count();
            }
            let (collector, title, controls) = self
                .rule_controls
                .get(&id)
                .cloned()
                .unwrap_or_else(|| (t.collector.clone(), String::new(), BTreeSet::new()));
            rules.insert(
                id.clone(),
                RuleSummary {
                    collector,
                    title,
                    controls: controls.into_iter().collect(),
                    evaluations: t.evaluations,
                    timeline: t.timeline,
                    exceptions: t.exceptions,
                    waivers: t
                        .waivers
                        .into_iter()
                        .map(
                            |((reason, approver, expires), (first, last))| WaiverInForce {
                                rule: id.clone(),
                                reason,
                                approver,
                                expires,
                                first_seen: first,
                                last_seen: last,
                            },
                        )
                        .collect(),
                },
            );
        }
        // Rules in force that never produced a verdict still test their controls.
        for (id, (collector, title, controls)) in &self.rule_controls {
            rules.entry(id.clone()).or_insert_with(|| RuleSummary {
                collector: collector.clone(),
                title: title.clone(),
                controls: controls.iter().cloned().collect(),
                evaluations: BTreeMap::new(),
                timeline: vec![Band {
                    from: ts(from),
                    to: ts(to),
                    status: "no_data".into(),
                }],
                exceptions: Vec::new(),
                waivers: Vec::new(),
            });
        }
        let controls = self.roll_up(&rules, &collectors);
        Computed {
            collectors,
            rules,
            controls,
            policy_changes: self.policy_changes,
            policies_in_force: self.policies_in_force.into_iter().collect(),
            samples: self.samples.into_values().collect(),
            evidence_rows: self.evidence_used.len() as u64,
            runs: self.runs,
        }
    }

    fn wanted(&self, control: &str) -> bool {
        if !self.params.controls.is_empty() {
            return self.params.controls.iter().any(|c| c == control);
        }
        match &self.params.framework {
            Some(f) => control.starts_with(&format!("{f}:")),
            // ISO 27001:2013 equivalents only when asked for by --control.
            None => !control.starts_with(crate::policy::catalog::ISO2013),
        }
    }

    fn roll_up(
        &self,
        rules: &BTreeMap<String, RuleSummary>,
        collectors: &BTreeMap<String, CollectorCoverage>,
    ) -> Vec<ControlSummary> {
        let mut by_control: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for (id, r) in rules {
            for c in &r.controls {
                if self.wanted(c) {
                    by_control.entry(c.clone()).or_default().push(id);
                }
            }
        }
        for c in &self.params.controls {
            by_control.entry(c.clone()).or_default();
        }
        let mut out = Vec::new();
        for (control, rule_ids) in by_control {
            let mut s = ControlSummary {
                id: control.clone(),
                name: (self.catalog_name)(&control).unwrap_or_default(),
                rules: rule_ids.iter().map(|r| r.to_string()).collect(),
                collectors: Vec::new(),
                scheduled_runs: 0,
                runs: 0,
                covered_runs: 0,
                coverage_percent: 0.0,
                passes: 0,
                failures: 0,
                errors: 0,
                waived: 0,
                not_applicable: 0,
                gaps: Vec::new(),
                waivers: Vec::new(),
                exceptions: Vec::new(),
                result: String::new(),
            };
            let cols: BTreeSet<&String> = rule_ids.iter().map(|r| &rules[*r].collector).collect();
            for c in cols {
                s.collectors.push(c.clone());
                if let Some(cov) = collectors.get(c) {
                    s.scheduled_runs += cov.scheduled_runs;
                    s.runs += cov.runs;
                    s.covered_runs += cov.covered_runs;
                    s.gaps.extend(cov.gaps.iter().cloned());
                }
            }
            for r in &rule_ids {
                let rs = &rules[*r];
                let n = |k: &str| rs.evaluations.get(k).copied().unwrap_or(0);
                s.passes += n("pass");
                s.failures += n("fail");
                s.errors += n("error");
                s.waived += n("waived");
                s.not_applicable += n("not_applicable");
                s.waivers.extend(rs.waivers.iter().cloned());
                s.exceptions.extend(rs.exceptions.iter().cloned());
            }
            s.gaps
                .sort_by(|a, b| a.start.cmp(&b.start).then(a.collector.cmp(&b.collector)));
            s.exceptions
                .sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.rule.cmp(&b.rule)));
            s.coverage_percent = percent(s.covered_runs, s.scheduled_runs);
            s.result = if s.runs == 0 {
                "no_evidence"
            } else {
                match (!s.exceptions.is_empty(), !s.gaps.is_empty()) {
                    (false, false) => "effective",
                    (true, false) => "exceptions",
                    (false, true) => "gaps",
                    (true, true) => "exceptions_and_gaps",
                }
            }
            .into();
            out.push(s);
        }
        out
    }
}

/// What changed between two sets of parameters, in words.
pub fn diff_policies(old: &PolicySnapshot, new: &PolicySnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let old_rules: BTreeMap<&str, &str> = old
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.definition_sha256.as_str()))
        .collect();
    let new_rules: BTreeMap<&str, &str> = new
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.definition_sha256.as_str()))
        .collect();
    for (id, h) in &new_rules {
        match old_rules.get(id) {
            None => out.push(format!("rule {id} added ({h})")),
            Some(o) if o != h => out.push(format!("rule {id} redefined ({o} -> {h})")),
            _ => {}
        }
    }
    for id in old_rules.keys().filter(|id| !new_rules.contains_key(*id)) {
        out.push(format!("rule {id} removed"));
    }
    for (name, v) in &new.variables {
        match old.variables.get(name) {
            Some(o) if o.value == v.value => {}
            Some(o) => out.push(format!("variable {name}: {} -> {}", o.value, v.value)),
            None => out.push(format!("variable {name} = {}", v.value)),
        }
    }
    for (name, c) in &new.collectors {
        match old.collectors.get(name) {
            Some(o) if o == c => {}
            Some(o) => {
                if o.version != c.version {
                    out.push(format!(
                        "collector {name} version {} -> {}",
                        o.version, c.version
                    ));
                }
                if o.schedule != c.schedule || o.enabled != c.enabled {
                    out.push(format!(
                        "collector {name} schedule `{}`{} -> `{}`{}",
                        o.schedule,
                        if o.enabled { "" } else { " (disabled)" },
                        c.schedule,
                        if c.enabled { "" } else { " (disabled)" }
                    ));
                }
                if o.settings_sha256 != c.settings_sha256 {
                    out.push(format!("collector {name} settings changed"));
                }
            }
            None => out.push(format!("collector {name} added")),
        }
    }
    if old.waivers != new.waivers {
        out.push("waivers changed".into());
    }
    out
}
