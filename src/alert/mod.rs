//! Alerts: deciding what the security team hears about, and when.
//!
//! Owns the noise rules (alert on the transition, not every run; flap damping by K
//! consecutive failing runs per rule or severity; one message per run grouping every
//! new failure, reminder and recovery; re-notification of a still-failing rule at an
//! interval; no alert for waived rules) and routing (which sink gets which items).
//! The plan is a pure function of a run, the previous per-rule state and the policy;
//! `store::outbox` writes its result in the run's own transaction, and `outbox` (the
//! delivery worker) sends it through the sinks in `sink/`. This module never sends
//! anything and never reads a secret.

mod enqueue;
pub mod outbox;
pub mod sink;

pub use enqueue::AlertHook;

use crate::store::RunInput;
use attestd_ledger::body::Status;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[alerts]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Consecutive failing runs before a rule alerts (flap damping); default 1.
    #[serde(default = "one")]
    pub consecutive_failures: u32,
    /// The same, per severity (`low`, `medium`, `high`, `critical`); overrides the default.
    #[serde(default)]
    pub consecutive_failures_by_severity: BTreeMap<String, u32>,
    /// The same, per rule id; overrides severity and default.
    #[serde(default)]
    pub consecutive_failures_by_rule: BTreeMap<String, u32>,
    /// Remind about a rule that is still failing after this many minutes; 0 = never.
    /// Default 1440 (daily).
    #[serde(default = "daily")]
    pub renotify_minutes: u64,
    /// Also alert when a rule cannot be judged (`error`), not only on `fail`; default true.
    #[serde(default = "yes")]
    pub include_errors: bool,
    /// Seconds before the first retry of a failed delivery; doubles each attempt, with
    /// jitter; default 5.
    #[serde(default = "five")]
    pub retry_initial_seconds: u64,
    /// Longest wait between retries; default 600. Deliveries are retried until they
    /// succeed, unless the receiver answers with a 4xx that cannot succeed.
    #[serde(default = "ten_minutes")]
    pub retry_max_seconds: u64,
    /// Seconds one delivery may take before it counts as failed (and is retried); default 10.
    #[serde(default = "ten")]
    pub timeout_seconds: u64,
    /// The sinks, by name: `[alerts.sinks.NAME]` with `type = "webhook" | "slack" |
    /// "teams" | "pagerduty" | "email"`.
    #[serde(default)]
    pub sinks: BTreeMap<String, sink::SinkConfig>,
}

fn one() -> u32 {
    1
}
fn daily() -> u64 {
    1440
}
fn yes() -> bool {
    true
}
fn five() -> u64 {
    5
}
fn ten() -> u64 {
    10
}
fn ten_minutes() -> u64 {
    600
}

impl Default for AlertsSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl AlertsSection {
    /// Check what can be checked without the policies; returns `(field, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.consecutive_failures == 0 {
            return Err((
                "alerts.consecutive_failures".into(),
                "must be at least 1".into(),
            ));
        }
        for (sev, k) in &self.consecutive_failures_by_severity {
            if !["low", "medium", "high", "critical"].contains(&sev.as_str()) {
                return Err((
                    format!("alerts.consecutive_failures_by_severity.{sev}"),
                    "unknown severity; use low, medium, high or critical".into(),
                ));
            }
            if *k == 0 {
                return Err((
                    format!("alerts.consecutive_failures_by_severity.{sev}"),
                    "must be at least 1".into(),
                ));
            }
        }
        for (rule, k) in &self.consecutive_failures_by_rule {
            if *k == 0 {
                return Err((
                    format!("alerts.consecutive_failures_by_rule.{rule}"),
                    "must be at least 1".into(),
                ));
            }
        }
        if self.retry_initial_seconds == 0 || self.retry_max_seconds < self.retry_initial_seconds {
            return Err((
                "alerts.retry_initial_seconds".into(),
                "must be at least 1 and no more than retry_max_seconds".into(),
            ));
        }
        if self.timeout_seconds == 0 {
            return Err(("alerts.timeout_seconds".into(), "must be at least 1".into()));
        }
        for (name, s) in &self.sinks {
            s.validate()
                .map_err(|(field, m)| (format!("alerts.sinks.{name}.{field}"), m))?;
        }
        Ok(())
    }
}

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

pub use attestd_ledger::body::{AlertItem, AlertRecord, AttemptOutcome, AttemptRecord, ItemKind};

/// The message one sink receives: the alert with only the items routed to it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub host: String,
    pub run: String,
    pub created_at: String,
    pub items: Vec<AlertItem>,
    pub test: bool,
}

impl Message {
    /// The items `sink` receives from `alert`.
    pub fn for_sink(alert: &AlertRecord, sink: &str) -> Message {
        let items = alert
            .routes
            .get(sink)
            .map(|idx| {
                idx.iter()
                    .filter_map(|i| alert.items.get(*i).cloned())
                    .collect()
            })
            .unwrap_or_default();
        Message {
            id: alert.key.clone(),
            host: alert.host.clone(),
            run: alert.run.clone(),
            created_at: alert.created_at.clone(),
            items,
            test: alert.test,
        }
    }

    pub fn count(&self, kind: ItemKind) -> usize {
        self.items.iter().filter(|i| i.kind == kind).count()
    }

    /// One line: "web-1: 2 controls failing, 1 resolved".
    pub fn summary(&self) -> String {
        if self.test {
            return format!("{}: attestd test alert (no action needed)", self.host);
        }
        let mut parts = Vec::new();
        let failing = self.count(ItemKind::Failing);
        let still = self.count(ItemKind::StillFailing);
        let resolved = self.count(ItemKind::Resolved);
        if failing > 0 {
            parts.push(format!("{failing} rule(s) now failing"));
        }
        if still > 0 {
            parts.push(format!("{still} still failing"));
        }
        if resolved > 0 {
            parts.push(format!("{resolved} resolved"));
        }
        let rules: Vec<&str> = self.items.iter().map(|i| i.rule.as_str()).take(3).collect();
        let more = if self.items.len() > 3 { ", ..." } else { "" };
        format!(
            "{}: {} ({}{more})",
            self.host,
            parts.join(", "),
            rules.join(", ")
        )
    }

    /// The JSON body the generic webhook sends (also the `details` of other sinks).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "idempotency_key": self.id,
            "host": self.host,
            "run": self.run,
            "created_at": self.created_at,
            "test": self.test,
            "summary": self.summary(),
            "items": self.items,
        })
    }

    /// Plain text, for e-mail.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n\n", self.summary());
        for i in &self.items {
            out.push_str(&item_text(i));
            out.push('\n');
        }
        out.push_str(&format!(
            "Host: {}\nRun: {}\nCreated: {}\nAlert id (idempotency key): {}\n",
            self.host, self.run, self.created_at, self.id
        ));
        out
    }
}

/// A few lines about one item.
pub fn item_text(i: &AlertItem) -> String {
    let head = match i.kind {
        ItemKind::Failing => "FAILING",
        ItemKind::StillFailing => "STILL FAILING",
        ItemKind::Resolved => "RESOLVED",
    };
    let mut out = format!(
        "[{head}] {} ({}, severity {}): {}\n  controls: {}\n  observed: {}  expected: {}\n",
        i.rule,
        i.status.as_str(),
        i.severity,
        i.title,
        i.controls.join(", "),
        i.observed,
        i.expected
    );
    if let Some(r) = &i.reason {
        out.push_str(&format!("  reason: {r}\n"));
    }
    if i.kind != ItemKind::Resolved && !i.remediation.is_empty() {
        out.push_str(&format!("  fix: {}\n", i.remediation));
    }
    out
}

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

/// Where systemd credentials are (`$CREDENTIALS_DIRECTORY`), if set.
pub fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CollectorRun, RunInput};
    use attestd_ledger::body::Verdict;

    fn policy(extra: &str) -> AlertPolicy {
        let section: AlertsSection = toml::from_str(&format!(
            "{extra}\n[sinks.all]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"/nonexistent\"\n\
             [sinks.crit]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"/nonexistent\"\nroute = {{ severities = [\"critical\"] }}\n"
        ))
        .unwrap();
        let mut rules = BTreeMap::new();
        for (id, sev) in [("a.one", "high"), ("a.two", "low"), ("a.three", "critical")] {
            rules.insert(
                id.to_string(),
                RuleInfo {
                    title: format!("title {id}"),
                    severity: sev.into(),
                    controls: vec!["soc2:CC6.1".into()],
                    remediation: "fix it".into(),
                },
            );
        }
        AlertPolicy {
            host: "web-1".into(),
            section,
            rules,
        }
    }

    fn run(statuses: &[(&str, Status)]) -> RunInput {
        RunInput {
            run_id: "r".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:00Z".into(),
            trigger: "manual".into(),
            collectors: vec![CollectorRun {
                collector: "c".into(),
                version: "1".into(),
                outcome: Err("x".into()),
                duration_ms: 0,
                verdicts: statuses
                    .iter()
                    .map(|(r, s)| Verdict {
                        rule: r.to_string(),
                        status: *s,
                        observed: serde_json::json!(1),
                        expected: "2".into(),
                        reason: None,
                        waiver: None,
                    })
                    .collect(),
            }],
            rule_meta: BTreeMap::new(),
            policy: None,
        }
    }

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(min)
    }

    fn kinds(items: &[AlertItem]) -> Vec<(String, ItemKind)> {
        items.iter().map(|i| (i.rule.clone(), i.kind)).collect()
    }

    #[test]
    fn transition_only_grouped_and_resolved() {
        let p = policy("renotify_minutes = 0");
        let mut s = BTreeMap::new();
        let first = plan(
            &run(&[("a.one", Status::Fail), ("a.three", Status::Fail)]),
            &mut s,
            &p,
            t(0),
        );
        assert_eq!(first.len(), 2, "one plan holds every new failure");
        assert!(plan(&run(&[("a.one", Status::Fail)]), &mut s, &p, t(5)).is_empty());
        let rec = plan(&run(&[("a.one", Status::Pass)]), &mut s, &p, t(10));
        assert_eq!(kinds(&rec), vec![("a.one".to_string(), ItemKind::Resolved)]);
        assert!(plan(&run(&[("a.one", Status::Pass)]), &mut s, &p, t(15)).is_empty());
    }

    #[test]
    fn flap_damping_per_severity_and_rule() {
        let p = policy(
            "consecutive_failures = 2\nconsecutive_failures_by_severity = { low = 3 }\nconsecutive_failures_by_rule = { \"a.three\" = 1 }",
        );
        let mut s = BTreeMap::new();
        let all = [
            ("a.one", Status::Fail),
            ("a.two", Status::Fail),
            ("a.three", Status::Fail),
        ];
        assert_eq!(
            kinds(&plan(&run(&all), &mut s, &p, t(0))),
            vec![("a.three".into(), ItemKind::Failing)]
        );
        assert_eq!(
            kinds(&plan(&run(&all), &mut s, &p, t(1))),
            vec![("a.one".into(), ItemKind::Failing)]
        );
        assert_eq!(
            kinds(&plan(&run(&all), &mut s, &p, t(2))),
            vec![("a.two".into(), ItemKind::Failing)]
        );
        // A flap (fail, pass, fail) never reaches K = 2 and never alerts.
        let mut s = BTreeMap::new();
        for (n, st) in [Status::Fail, Status::Pass, Status::Fail, Status::Pass]
            .into_iter()
            .enumerate()
        {
            assert!(plan(&run(&[("a.one", st)]), &mut s, &p, t(n as i64)).is_empty());
        }
    }

    #[test]
    fn reminders_waivers_and_routing() {
        let p = policy("renotify_minutes = 60");
        let mut s = BTreeMap::new();
        let items = plan(
            &run(&[("a.one", Status::Fail), ("a.three", Status::Fail)]),
            &mut s,
            &p,
            t(0),
        );
        let routes = route(&items, &p.section);
        assert_eq!(routes["all"], vec![0, 1]);
        assert_eq!(
            routes["crit"],
            vec![1],
            "only the critical rule goes to `crit`"
        );
        assert!(plan(&run(&[("a.one", Status::Fail)]), &mut s, &p, t(59)).is_empty());
        let again = plan(&run(&[("a.one", Status::Fail)]), &mut s, &p, t(61));
        assert_eq!(
            kinds(&again),
            vec![("a.one".into(), ItemKind::StillFailing)]
        );
        // A waived rule does not alert; an open alert on it is resolved.
        let w = plan(&run(&[("a.one", Status::Waived)]), &mut s, &p, t(62));
        assert_eq!(kinds(&w), vec![("a.one".into(), ItemKind::Resolved)]);
        let mut fresh = BTreeMap::new();
        assert!(plan(&run(&[("a.two", Status::Waived)]), &mut fresh, &p, t(0)).is_empty());
        // Errors alert unless include_errors = false.
        assert_eq!(
            plan(&run(&[("a.two", Status::Error)]), &mut fresh, &p, t(0)).len(),
            1
        );
        let quiet = policy("include_errors = false");
        assert!(plan(
            &run(&[("a.two", Status::Error)]),
            &mut BTreeMap::new(),
            &quiet,
            t(0)
        )
        .is_empty());
    }
}
