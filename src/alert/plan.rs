//! The noise rules: what a run alerts about (`plan`: transition only, K consecutive
//! failures per rule or severity, reminders after `renotify_minutes`, recoveries, no
//! alert for waived rules) and which sink hears of which item (`route`). A pure
//! function of a run, the previous per-rule state and the policy; it never sends.

use super::{AlertItem, AlertsSection, ItemKind};
use crate::store::RunInput;
use attestd_ledger::body::Status;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What the planner knows about a rule (from the policies).
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub title: String,
    pub severity: String,
    pub controls: Vec<String>,
    pub remediation: String,
}

/// Everything `store::outbox` needs to plan alerts for a run.
#[derive(Debug, Clone)]
pub struct AlertPolicy {
    /// Hostname shown in messages and used in PagerDuty dedup keys.
    pub host: String,
    pub section: AlertsSection,
    pub rules: BTreeMap<String, RuleInfo>,
}

impl AlertPolicy {
    /// The policy for an `[alerts]` section, or None when no sink is configured
    /// (nothing to plan).
    /// `rules` is what messages say about each rule (see `pipeline::alert_policy`).
    pub fn new(
        section: &AlertsSection,
        rules: BTreeMap<String, RuleInfo>,
        host: &str,
    ) -> Option<AlertPolicy> {
        if section.sinks.is_empty() {
            return None;
        }
        Some(AlertPolicy {
            host: host.to_string(),
            section: section.clone(),
            rules,
        })
    }

    /// K for a rule: per rule, else per severity, else the default.
    pub fn threshold(&self, rule: &str, severity: &str) -> u32 {
        self.section
            .consecutive_failures_by_rule
            .get(rule)
            .or_else(|| self.section.consecutive_failures_by_severity.get(severity))
            .copied()
            .unwrap_or(self.section.consecutive_failures)
    }
}

/// Per-rule noise state carried from run to run (kept by the store in the
/// `alert_rule_state` cache).
pub use crate::store::outbox::AlertRuleState as RuleState;

/// Decide what a run alerts about. Updates `states` (only rules judged in this run).
pub fn plan(
    run: &RunInput,
    states: &mut BTreeMap<String, RuleState>,
    policy: &AlertPolicy,
    now: DateTime<Utc>,
) -> Vec<AlertItem> {
    let at = crate::clock::rfc3339(now);
    let renotify = policy.section.renotify_minutes;
    let mut items = Vec::new();
    for c in &run.collectors {
        for v in &c.verdicts {
            let info = policy.rules.get(&v.rule);
            let severity = info
                .map(|i| i.severity.clone())
                .or_else(|| run.rule_meta.get(&v.rule).map(|m| m.severity.clone()))
                .unwrap_or_default();
            let failing = v.status == Status::Fail
                || (policy.section.include_errors && v.status == Status::Error);
            let state = states.entry(v.rule.clone()).or_default();
            let item = |kind: ItemKind, state: &RuleState| AlertItem {
                kind,
                rule: v.rule.clone(),
                title: info.map(|i| i.title.clone()).unwrap_or_default(),
                collector: c.collector.clone(),
                status: v.status,
                severity: severity.clone(),
                controls: info
                    .map(|i| i.controls.clone())
                    .or_else(|| run.rule_meta.get(&v.rule).map(|m| m.controls.clone()))
                    .unwrap_or_default(),
                observed: v.observed.clone(),
                expected: v.expected.clone(),
                reason: v.reason.clone(),
                remediation: info.map(|i| i.remediation.clone()).unwrap_or_default(),
                failing_since: state.since.clone(),
                consecutive_failures: state.fails,
            };
            if failing {
                state.fails = state.fails.saturating_add(1);
                if state.since.is_none() {
                    state.since = Some(run.finished_at.clone());
                }
                if !state.open {
                    if state.fails >= policy.threshold(&v.rule, &severity) {
                        state.open = true;
                        state.last_notified_at = Some(at.clone());
                        items.push(item(ItemKind::Failing, state));
                    }
                } else if renotify > 0 {
                    let due = state
                        .last_notified_at
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| {
                            // Checked: a config bound keeps it small, but no value panics.
                            let interval = i64::try_from(renotify)
                                .ok()
                                .and_then(chrono::TimeDelta::try_minutes)
                                .unwrap_or(chrono::TimeDelta::MAX);
                            now.signed_duration_since(t.with_timezone(&Utc)) >= interval
                        })
                        .unwrap_or(true);
                    if due {
                        state.last_notified_at = Some(at.clone());
                        items.push(item(ItemKind::StillFailing, state));
                    }
                }
            } else {
                // pass, not_applicable, waived (and error when errors do not alert).
                if state.open {
                    items.push(item(ItemKind::Resolved, state));
                }
                *state = RuleState::default();
            }
        }
    }
    items
}

/// Which items each sink receives, by its route.
pub fn route(items: &[AlertItem], section: &AlertsSection) -> BTreeMap<String, Vec<usize>> {
    let mut out = BTreeMap::new();
    for (name, sink) in &section.sinks {
        let r = sink.route();
        let idx: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| r.matches(&i.severity, &i.controls))
            .map(|(n, _)| n)
            .collect();
        if !idx.is_empty() {
            out.insert(name.clone(), idx);
        }
    }
    out
}
