//! The analyzer: a period's rows in (anchors, then the period in sequence order),
//! per collector coverage, per rule timelines, exceptions and waivers out. Holds a few
//! counters per collector and rule, never the period's rows.

use super::alerts::AlertSource;
use super::coverage::{percent, CollectorTrack};
use super::model::*;
use super::{diff_policies, parse_time, ts};
use crate::body::{DriftEvent, PolicySnapshot, RunRecord, Status, VerdictSet};
use crate::cron::UnixCron;
use crate::{Row, RowKind};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(super) struct RuleTrack {
    pub(super) collector: String,
    pub(super) status: Option<Status>,
    pub(super) band_start: DateTime<Utc>,
    pub(super) timeline: Vec<Band>,
    pub(super) evaluations: BTreeMap<String, u64>,
    pub(super) open: Option<Exception>,
    pub(super) exceptions: Vec<Exception>,
    pub(super) waivers: BTreeMap<(String, String, String), (String, String)>,
}

/// Streams rows in, hands the summary out.
pub struct Analyzer<'a> {
    pub(super) params: Parameters,
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    pub(super) catalog_name: &'a dyn Fn(&str) -> Option<String>,
    pub(super) alerts: &'a dyn AlertSource,
    pub(super) policy: PolicySnapshot,
    pub(super) policy_seen: bool,
    /// Zones the schedules were evaluated in during the period.
    pub(super) time_zones: BTreeSet<String>,
    /// When each rule's current failure began, from the anchored `drift` rows.
    pub(super) onsets: HashMap<String, DateTime<Utc>>,
    pub(super) policies_in_force: BTreeSet<String>,
    pub(super) policy_changes: Vec<PolicyChange>,
    /// Every rule → controls mapping in force during the period.
    pub(super) rule_controls: BTreeMap<String, (String, String, BTreeSet<String>)>,
    pub(super) collectors: BTreeMap<String, CollectorTrack>,
    pub(super) rules: BTreeMap<String, RuleTrack>,
    pub(super) verdict_sets: HashMap<i64, VerdictSet>,
    pub(super) evidence_keys: HashMap<i64, String>,
    pub(super) evidence_used: BTreeSet<i64>,
    pub(super) last_any_run: Option<DateTime<Utc>>,
    pub(super) samples: BTreeMap<NaiveDate, Sample>,
    pub(super) runs: u64,
    pub(super) last_seq: i64,
    /// The attestation rows (all recorded before the period end).
    pub(super) attest: super::attest::AttestTrack,
    /// The controls of the statement of applicability, with their names.
    pub(super) applicability: Vec<(String, String)>,
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
        // Before the first `policy` row nothing is known to be scheduled: the config
        // of whoever bundles never changes the numbers.
        let policy = PolicySnapshot::new(Vec::new(), BTreeMap::new(), BTreeMap::new(), Vec::new());
        let mut a = Analyzer {
            params,
            from,
            to,
            catalog_name,
            alerts,
            policy: policy.clone(),
            policy_seen: false,
            time_zones: BTreeSet::new(),
            onsets: HashMap::new(),
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
            attest: Default::default(),
            applicability: Vec::new(),
        };
        a.apply_schedules(&policy, from);
        Ok(a)
    }

    /// The controls (`framework:ID`, name) the statement of applicability lists when
    /// the period holds attestations; those the parameters do not ask for are left out.
    pub fn with_applicability(mut self, controls: Vec<(String, String)>) -> Self {
        self.applicability = controls;
        self
    }

    fn apply_schedules(&mut self, p: &PolicySnapshot, at: DateTime<Utc>) {
        let at = at.max(self.from);
        let zone = p.zone();
        if at < self.to && !p.collectors.is_empty() {
            self.time_zones.insert(zone.name().to_string());
        }
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
            track.set_schedule(cron, zone, at);
        }
        // Collectors the new parameters no longer know are no longer scheduled.
        let (to, from) = (self.to, self.from);
        for (name, track) in self.collectors.iter_mut() {
            if !p.collectors.contains_key(name) {
                track.advance_before(at, to, from);
                track.set_schedule(None, zone, at);
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
            RowKind::Attestation | RowKind::AttestationReview => self.attest.row(row)?,
            RowKind::Drift if !self.in_period(at) => {
                // Anchored: the change that began a failure still open at the start.
                let d: DriftEvent = serde_json::from_str(&row.body).map_err(bad)?;
                if matches!(d.to, Status::Fail | Status::Error) {
                    self.onsets.entry(d.rule).or_insert(at);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One run row. The verdict sets are lent to [`Analyzer::run_with`] (taken and put
    /// back, never cloned per run).
    fn run(&mut self, seq: i64, at: DateTime<Utc>, run: &RunRecord) -> Result<(), String> {
        let sets = std::mem::take(&mut self.verdict_sets);
        let result = self.run_with(&sets, seq, at, run);
        self.verdict_sets = sets;
        result
    }

    // `entry()` would need an owned key on every run; the key is cloned only to insert.
    #[allow(clippy::map_entry)]
    fn run_with(
        &mut self,
        sets: &HashMap<i64, VerdictSet>,
        seq: i64,
        at: DateTime<Utc>,
        run: &RunRecord,
    ) -> Result<(), String> {
        let in_period = self.in_period(at);
        let (from, to) = (self.from, self.to);
        let date = at.date_naive();
        if in_period {
            self.runs += 1;
            // Close the previous sampled days and open this one (the state map is built
            // only when a sampled day needs it).
            let mut state: Option<BTreeMap<String, String>> = None;
            let rules = &self.rules;
            for (d, s) in self.samples.iter_mut() {
                let start = *d <= date && s.runs.is_empty() && s.state_at_start.is_empty();
                let end = *d < date && s.state_at_end.is_empty();
                if !start && !end {
                    continue;
                }
                let st = state.get_or_insert_with(|| state_map(rules));
                if start {
                    s.state_at_start = st.clone();
                }
                if end {
                    s.state_at_end = st.clone();
                }
            }
        }
        let others_ran_before = self.last_any_run;
        // Only a run on a sampled day is kept whole.
        let mut sample_run = (in_period && self.samples.contains_key(&date)).then(|| SampleRun {
            run: run.key.clone(),
            seq,
            at: ts(at),
            trigger: run.trigger.clone(),
            collectors: BTreeMap::new(),
        });
        for (name, entry) in &run.collectors {
            // A run before the period is anchored for some of its collectors only; the
            // others ran again later and their state comes from that later run.
            if !in_period
                && (!sets.contains_key(&entry.verdicts)
                    || entry
                        .evidence
                        .is_some_and(|e| !self.evidence_keys.contains_key(&e)))
            {
                continue;
            }
            let set = sets.get(&entry.verdicts).ok_or_else(|| {
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
            if in_period {
                if !self.collectors.contains_key(name) {
                    self.collectors.insert(name.clone(), CollectorTrack::new());
                }
                let track = self.collectors.get_mut(name).expect("just inserted");
                track.advance(at, to, from);
                match &entry.error {
                    None => track.evidence(name, at, &run.trigger, others_ran_before),
                    Some(reason) => track.error(reason),
                }
            }
            let collector_ok = entry.error.is_none();
            let mut verdicts = BTreeMap::new();
            for v in &set.results {
                if sample_run.is_some() {
                    verdicts.insert(v.rule.clone(), v.status.as_str().to_string());
                }
                if !self.rules.contains_key(&v.rule) {
                    self.rules.insert(
                        v.rule.clone(),
                        RuleTrack {
                            collector: name.clone(),
                            status: None,
                            band_start: from,
                            timeline: Vec::new(),
                            evaluations: BTreeMap::new(),
                            open: None,
                            exceptions: Vec::new(),
                            waivers: BTreeMap::new(),
                        },
                    );
                }
                let track = self.rules.get_mut(&v.rule).expect("just inserted");
                if in_period {
                    let status = v.status.as_str();
                    match track.evaluations.get_mut(status) {
                        Some(n) => *n += 1,
                        None => {
                            track.evaluations.insert(status.to_string(), 1);
                        }
                    }
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
                    open.open = false;
                    open.duration_seconds =
                        (at - parse_time(&open.first_seen).expect("own timestamp")).num_seconds();
                    open.resolved_evidence = evidence_ref(&self.evidence_keys, entry.evidence);
                    track.exceptions.push(open);
                }
                if matches!(v.status, Status::Fail | Status::Error) {
                    // Already failing before the period: it began at the change the
                    // anchored drift row records (or, without one, this run).
                    let onset = if in_period {
                        at
                    } else {
                        self.onsets.get(&v.rule).copied().unwrap_or(at).min(at)
                    };
                    track.open = Some(Exception {
                        rule: v.rule.clone(),
                        collector: name.clone(),
                        status: v.status.as_str().into(),
                        first_seen: ts(onset),
                        resolved_at: None,
                        duration_seconds: 0,
                        open: true,
                        began_before_period: !in_period,
                        observed: v.observed.clone(),
                        expected: v.expected.clone(),
                        reason: v.reason.clone(),
                        evidence: evidence_ref(&self.evidence_keys, entry.evidence),
                        resolved_evidence: None,
                        alerts: Vec::new(),
                        alerts_sent: 0,
                        alerts_delivered: 0,
                    });
                }
                track.status = Some(v.status);
            }
            if let Some(sample_run) = &mut sample_run {
                sample_run.collectors.insert(
                    name.clone(),
                    SampleCollector {
                        evidence: evidence_ref(&self.evidence_keys, entry.evidence),
                        error: entry.error.clone(),
                        verdicts,
                    },
                );
            }
        }
        if let Some(sample_run) = sample_run {
            if let Some(s) = self.samples.get_mut(&date) {
                s.runs.push(sample_run);
            }
        }
        self.last_any_run = Some(at);
        Ok(())
    }

    /// Close every open span at the period end and roll up per control.
    pub fn finish(mut self) -> Computed {
        let (from, to) = (self.from, self.to);
        let end_state = state_map(&self.rules);
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
            t.close(&name, from, to, last_any);
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
        // Only ledgers that hold attestations gain the section (older bundles stay
        // byte for byte what they were).
        let attestations = (!self.attest.is_empty()).then(|| {
            let tested = controls
                .iter()
                .map(|c| (c.id.clone(), c.result.clone()))
                .collect();
            let wanted: Vec<(String, String)> = self
                .applicability
                .iter()
                .filter(|(c, _)| self.wanted(c))
                .cloned()
                .collect();
            self.attest.finish(from, to, &wanted, &tested)
        });
        Computed {
            collectors,
            rules,
            controls,
            policy_changes: self.policy_changes,
            policies_in_force: self.policies_in_force.into_iter().collect(),
            time_zones: self.time_zones.into_iter().collect(),
            samples: self.samples.into_values().collect(),
            evidence_rows: self.evidence_used.len() as u64,
            runs: self.runs,
            attestations,
        }
    }
}

/// The evidence row a run names, with its key (computed only where a summary keeps it).
fn evidence_ref(keys: &HashMap<i64, String>, seq: Option<i64>) -> Option<EvidenceRef> {
    let seq = seq?;
    Some(EvidenceRef {
        seq,
        sha256: keys.get(&seq).cloned().unwrap_or_default(),
    })
}

/// Each rule's current status (`no_data` before its first verdict).
fn state_map(rules: &BTreeMap<String, RuleTrack>) -> BTreeMap<String, String> {
    rules
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
