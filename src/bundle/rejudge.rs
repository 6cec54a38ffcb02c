//! Re-judging a bundle's verdicts: for every run in the period and every collector
//! that observed in it, the rules in force (the `policy` row before the run, with
//! its variables and waivers) are compiled from their recorded definitions and
//! evaluated again on the stored evidence; a status that differs from the stored
//! verdict is a problem naming run, rule and both results. Fed the rows of
//! ledger.json in order, like the summary analyzer; keeps the facts of the evidence
//! rows (runs may refer to evidence stored long before) and one compiled program per
//! rule definition. Never trusts a stored verdict and never writes.

use crate::policy::rule::{Definition, Expr};
use crate::policy::{json_to_cel, status_of, unavailable_map, Rule, Severity, Status};
use attestd_ledger::body::{PolicySnapshot, RunRecord, VerdictSet};
use attestd_ledger::{Row, RowKind};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The rules of one `policy` row, compiled.
struct InForce {
    /// The `policy` row's sequence number: a context is bound per evidence and policy.
    seq: i64,
    /// Each collector's rules, with whether the rule's status can change from run to
    /// run on the same evidence (it reads `now`, or a waiver names it), so it is judged
    /// at every run.
    by_collector: HashMap<String, Vec<(Arc<Rule>, bool)>>,
    vars: cel::Value,
    waivers: Vec<(String, DateTime<Utc>)>,
}

/// A context ready to judge one evidence row under one policy.
struct Bound {
    context: cel::Context<'static, 'static>,
    unavailable: serde_json::Map<String, serde_json::Value>,
}

/// How many bound contexts are kept (a host-year has a few hundred evidence rows).
const CONTEXTS: usize = 64;

/// Streams rows in, hands the disagreements out.
pub struct Rejudge {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    in_force: Option<InForce>,
    compiled: HashMap<String, Arc<Rule>>,
    /// Facts of every evidence row seen, as JSON text (parsed when judged).
    facts: HashMap<i64, Box<str>>,
    sets: HashMap<i64, VerdictSet>,
    /// (evidence, verdicts, policy) already judged: the rules that do not read `now`
    /// give the same verdicts on the same inputs, so only the others are judged again.
    done: HashSet<(i64, i64, i64)>,
    /// Contexts with `facts` and `vars` bound, per (evidence, policy), for collectors
    /// with rules that read `now`: binding converts every fact, so it is done once per
    /// evidence row, not once per run. Bounded: emptied when it reaches `CONTEXTS`.
    contexts: HashMap<(i64, i64), Bound>,
    pub problems: Vec<String>,
    pub judged: u64,
    pub without_parameters: u64,
}

/// `check`, `observed` and `applies` of a recorded rule definition.
fn compile(p: &attestd_ledger::body::PolicyRule) -> Result<Rule, String> {
    let d = &*p.definition;
    let text = |k: &str| d.get(k).and_then(|v| v.as_str());
    let prog = |k: &str| -> Result<Option<Expr>, String> {
        text(k)
            .map(|t| Expr::compiled(t, format!("rule {} (`{k}`)", p.id)))
            .transpose()
    };
    let check = prog("check")?.ok_or_else(|| format!("rule {}: no `check`", p.id))?;
    Ok(Rule {
        id: p.id.clone(),
        title: p.title.clone(),
        collector: p.collector.clone(),
        severity: Severity::parse(&p.severity).unwrap_or(Severity::Medium),
        controls: p.controls.clone(),
        check,
        observed: prog("observed")?,
        applies: prog("applies")?,
        expected_template: text("expected").unwrap_or_default().to_string(),
        applies_reason: text("applies_reason").map(str::to_string),
        rationale: String::new(),
        sources: Vec::new(),
        remediation: String::new(),
        origin: p.origin.clone(),
        definition: Definition::recorded(p.definition.clone(), p.definition_sha256.clone()),
    })
}

impl Rejudge {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Rejudge {
        Rejudge {
            from,
            to,
            in_force: None,
            compiled: HashMap::new(),
            facts: HashMap::new(),
            sets: HashMap::new(),
            done: HashSet::new(),
            contexts: HashMap::new(),
            problems: Vec::new(),
            judged: 0,
            without_parameters: 0,
        }
    }

    fn policy(&mut self, seq: i64, p: &PolicySnapshot) {
        let mut by_collector: HashMap<String, Vec<(Arc<Rule>, bool)>> = HashMap::new();
        for r in &p.rules {
            let rule = match self.compiled.get(&r.definition_sha256) {
                Some(c) => c.clone(),
                None => match compile(r) {
                    Ok(c) => {
                        let c = Arc::new(c);
                        self.compiled.insert(r.definition_sha256.clone(), c.clone());
                        c
                    }
                    Err(e) => {
                        self.problems
                            .push(format!("ledger row {seq} (policy): {e}"));
                        continue;
                    }
                },
            };
            // A waiver's expiry turns `waived` into `fail` with time alone, like `now`.
            let varies = p.waivers.iter().any(|w| w.rule == r.id)
                || ["check", "observed", "applies"].iter().any(|k| {
                    r.definition
                        .get(*k)
                        .and_then(|v| v.as_str())
                        .is_some_and(|t| t.contains("now"))
                });
            by_collector
                .entry(r.collector.clone())
                .or_default()
                .push((rule, varies));
        }
        let vars: BTreeMap<String, serde_json::Value> = p
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let vars = json_to_cel(&serde_json::to_value(vars).expect("JSON"));
        let waivers = p
            .waivers
            .iter()
            .filter_map(|w| {
                Some((
                    w.rule.clone(),
                    attestd_ledger::summary::parse_time(&w.expires).ok()?,
                ))
            })
            .collect();
        self.in_force = Some(InForce {
            seq,
            by_collector,
            vars,
            waivers,
        });
    }

    /// Feed the next row of ledger.json (anchors first, then the period).
    pub fn row(&mut self, row: &Row) {
        match row.kind {
            RowKind::Policy => {
                if let Ok(p) = serde_json::from_str::<PolicySnapshot>(&row.body) {
                    self.policy(row.seq, &p);
                }
            }
            RowKind::Evidence => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&row.body) {
                    let facts = v.get("facts").cloned().unwrap_or_default();
                    self.facts
                        .insert(row.seq, serde_json::to_string(&facts).expect("JSON").into());
                }
            }
            RowKind::Verdicts => {
                if let Ok(set) = serde_json::from_str::<VerdictSet>(&row.body) {
                    let at = attestd_ledger::summary::parse_time(&row.recorded_at).ok();
                    // Sets before the period are anchors; in the period only the
                    // latest of each collector can be referenced again.
                    if at.is_some_and(|t| t >= self.from) {
                        self.sets.retain(|_, s| s.collector != set.collector);
                    }
                    self.sets.insert(row.seq, set);
                }
            }
            RowKind::Run => {
                let at = attestd_ledger::summary::parse_time(&row.recorded_at).ok();
                if at.is_some_and(|t| t >= self.from && t < self.to) {
                    if let Ok(run) = serde_json::from_str::<RunRecord>(&row.body) {
                        self.run(row.seq, &run);
                    }
                }
            }
            _ => {}
        }
    }

    fn run(&mut self, seq: i64, run: &RunRecord) {
        let Some(pf) = &self.in_force else {
            self.without_parameters += run.collectors.len() as u64;
            return;
        };
        let times: Vec<DateTime<Utc>> = [&run.started_at, &run.finished_at]
            .into_iter()
            .filter_map(|t| attestd_ledger::summary::parse_time(t).ok())
            .collect();
        for (name, entry) in &run.collectors {
            let Some(set) = self.sets.get(&entry.verdicts) else {
                continue; // the summary check names a missing verdict set
            };
            let rules = pf.by_collector.get(name).map(Vec::as_slice).unwrap_or(&[]);
            let stored: HashMap<&str, Status> = set
                .results
                .iter()
                .map(|v| (v.rule.as_str(), v.status))
                .collect();
            for (r, _) in rules {
                if !stored.contains_key(r.id.as_str()) {
                    self.problems.push(format!(
                        "run {} (ledger row {seq}), rule {}: in force but has no stored verdict",
                        run.key, r.id
                    ));
                }
            }
            for v in &set.results {
                if !rules.iter().any(|(r, _)| r.id == v.rule) {
                    self.problems.push(format!(
                        "run {} (ledger row {seq}), rule {}: a stored verdict for a rule not in force",
                        run.key, v.rule
                    ));
                }
            }
            let Some(evidence) = entry.evidence else {
                // The collector could not observe: every verdict must be `error`.
                for v in set.results.iter().filter(|v| v.status != Status::Error) {
                    self.problems.push(format!(
                        "run {} (ledger row {seq}), rule {}: stored {}, re-judged error (the collector recorded no evidence)",
                        run.key, v.rule, v.status.as_str()
                    ));
                }
                self.judged += set.results.len() as u64;
                continue;
            };
            // On inputs judged before, only the rules whose status varies with time can
            // differ.
            let first = self.done.insert((evidence, entry.verdicts, pf.seq));
            let due: Vec<&Arc<Rule>> = rules
                .iter()
                .filter(|(_, varies)| first || *varies)
                .map(|(r, _)| r)
                .collect();
            self.judged += (set.results.len() - due.len().min(set.results.len())) as u64;
            if due.is_empty() {
                continue;
            }
            if !self.contexts.contains_key(&(evidence, pf.seq)) {
                let Some(text) = self.facts.get(&evidence) else {
                    continue; // the summary check names missing evidence
                };
                let facts: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                let mut context = crate::policy::cel_context();
                context.add_variable_from_value("facts", json_to_cel(&facts));
                context.add_variable_from_value("vars", pf.vars.clone());
                if self.contexts.len() >= CONTEXTS {
                    self.contexts.clear();
                }
                let bound = Bound {
                    context,
                    unavailable: unavailable_map(&facts),
                };
                self.contexts.insert((evidence, pf.seq), bound);
            }
            let bound = self
                .contexts
                .get_mut(&(evidence, pf.seq))
                .expect("inserted above");
            for r in due {
                let Some(&want) = stored.get(r.id.as_str()) else {
                    continue;
                };
                self.judged += 1;
                // The engine judges between the run's start and end: either instant
                // that gives the stored status agrees (the end is tried only when the
                // start disagrees).
                let mut first_got = None;
                let mut agrees = false;
                for now in &times {
                    bound
                        .context
                        .add_variable_from_value("now", cel::Value::Timestamp(now.fixed_offset()));
                    let mut status = status_of(r, &bound.context, &bound.unavailable);
                    if status == Status::Fail
                        && pf
                            .waivers
                            .iter()
                            .any(|(rule, expires)| *rule == r.id && expires > now)
                    {
                        status = Status::Waived;
                    }
                    first_got.get_or_insert(status);
                    if status == want {
                        agrees = true;
                        break;
                    }
                }
                if !agrees {
                    self.problems.push(format!(
                        "run {} (ledger row {seq}), rule {}: stored {}, re-judged {} on evidence row {evidence}",
                        run.key,
                        r.id,
                        want.as_str(),
                        first_got.map(|s| s.as_str()).unwrap_or("-")
                    ));
                }
            }
        }
    }
}
