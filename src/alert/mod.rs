//! Alerts: deciding what the security team hears about, and when.
//!
//! Owns the noise rules (alert on the transition, not every run; flap damping by K
//! consecutive failing runs per rule or severity; one message per run grouping every
//! new failure, reminder and recovery; re-notification of a still-failing rule at an
//! interval; no alert for waived rules) and routing (which sink gets which items).
//! The plan is a pure function of a run, the previous per-rule state and the policy;
//! `enqueue` writes its result in the run's own transaction (the store's run hook), and
//! `worker` (the delivery worker) sends it through the sinks in `sink/`.
//!
//! - `plan`: `AlertPolicy`, `plan`, `route`.
//! - `message`: what one sink receives, as text and JSON.
//! - `enqueue`: the run hook. `worker`: delivery, retries, `alerts deliver`/`test`.
//!
//! Planning never sends anything and never reads a secret.

mod enqueue;
mod message;
mod plan;
pub mod sink;
pub mod worker;

pub use crate::config::alerts::AlertsSection;
pub use enqueue::AlertHook;
pub use message::{item_text, Message};
pub use plan::{plan, route, AlertPolicy, RuleInfo, RuleState};

pub use attestd_ledger::body::{AlertItem, AlertRecord, AttemptOutcome, AttemptRecord, ItemKind};

use std::path::PathBuf;

/// Where systemd credentials are (`$CREDENTIALS_DIRECTORY`), if set.
pub fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CollectorRun, RunInput};
    use attestd_ledger::body::Status;
    use attestd_ledger::body::Verdict;
    use chrono::{DateTime, Utc};
    use std::collections::BTreeMap;

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
