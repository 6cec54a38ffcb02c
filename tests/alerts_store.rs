//! The outbox in the store, through the library API and a real SQLite file: an alert
//! is written with its run, attempts are ledger rows, `alerts_between` reads delivery
//! state back from the ledger for a time range, and the queue cache is rebuilt from the
//! ledger with the same counts.

use attestd::alert::{AlertPolicy, AttemptOutcome, AttemptRecord};
use attestd::pipeline;
use attestd::policy::{Status, Verdict};
use attestd::store::outbox::AttemptResult;
use attestd::store::{CollectorRun, RuleMeta, RunInput, Store};
use std::collections::BTreeMap;

fn run(i: usize, at: &str, status: Status) -> RunInput {
    let mut meta = BTreeMap::new();
    meta.insert(
        "x.rule".to_string(),
        RuleMeta {
            controls: vec!["soc2:CC7.2".into()],
            severity: "high".into(),
        },
    );
    RunInput {
        run_id: format!("run-{i}"),
        started_at: at.into(),
        finished_at: at.into(),
        trigger: "manual".into(),
        collectors: vec![CollectorRun {
            collector: "x".into(),
            version: "1".into(),
            outcome: Err("synthetic".into()),
            duration_ms: 0,
            verdicts: vec![Verdict {
                rule: "x.rule".into(),
                status,
                observed: serde_json::json!(i),
                expected: "pass".into(),
                reason: None,
                waiver: None,
            }],
        }],
        rule_meta: meta,
        policy: None,
    }
}

#[test]
fn alerts_are_ledger_rows_and_the_queue_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let mut store = Store::open(&db).unwrap();
    let section = toml::from_str(
        "[sinks.a]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"/x\"\n\
         [sinks.b]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"/x\"\n",
    )
    .unwrap();
    let policy = AlertPolicy {
        host: "h".into(),
        section,
        rules: BTreeMap::new(),
    };
    let record_run =
        |store: &mut Store, run: &RunInput| pipeline::store(store, run, Some(&policy), None);
    let a1 = record_run(&mut store, &run(1, "2026-03-01T00:00:00Z", Status::Fail))
        .unwrap()
        .alert
        .expect("a failure alerts");
    assert!(
        // Half a day after the first failure: no reminder yet (renotify_minutes is
        // 1440, counted in the runs' own time).
        record_run(&mut store, &run(2, "2026-03-01T12:00:00Z", Status::Fail))
            .unwrap()
            .alert
            .is_none()
    );
    let a2 = record_run(&mut store, &run(3, "2026-04-01T00:00:00Z", Status::Pass))
        .unwrap()
        .alert
        .expect("a recovery alerts");
    let due = store
        .due_deliveries("a", "2026-12-31T00:00:00Z", 10)
        .unwrap();
    assert_eq!(
        due.iter().map(|q| q.alert.key.clone()).collect::<Vec<_>>(),
        vec![a1.key.clone(), a2.key.clone()],
        "in order of creation"
    );
    let attempt = |q: &attestd::store::outbox::QueuedDelivery, outcome| AttemptResult {
        alert_seq: q.alert_seq,
        record: AttemptRecord {
            key: q.alert.key.clone(),
            sink: "a".into(),
            attempt: 1,
            at: "2026-04-01T00:00:01Z".into(),
            outcome,
            status: Some(if outcome == AttemptOutcome::Delivered {
                200
            } else {
                404
            }),
            error: None,
            next_attempt_at: None,
        },
    };
    store
        .record_attempts(&[
            attempt(&due[0], AttemptOutcome::Delivered),
            attempt(&due[1], AttemptOutcome::Failed),
        ])
        .unwrap();
    let counts = store.alert_counts().unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.failed), (2, 1, 1));

    // The bundle API: a period, rule ids, per-sink state from the ledger.
    let march = store
        .alerts_between(Some("2026-03-01T00:00:00Z"), Some("2026-04-01T00:00:00Z"))
        .unwrap();
    assert_eq!(march.len(), 1);
    assert_eq!(
        march[0].rules,
        vec![("x.rule".to_string(), "failing".to_string())]
    );
    let a = march[0].deliveries.iter().find(|d| d.sink == "a").unwrap();
    assert_eq!(a.state, "delivered");
    assert_eq!(a.delivered_at.as_deref(), Some("2026-04-01T00:00:01Z"));
    let b = march[0].deliveries.iter().find(|d| d.sink == "b").unwrap();
    assert_eq!((b.state.as_str(), b.attempts), ("pending", 0));

    // The queue is a cache: rebuilt from the ledger, the counts are the same.
    assert_eq!(store.rebuild_alert_queue().unwrap(), 4);
    assert_eq!(store.alert_counts().unwrap(), counts);
    assert!(store.verify_chain().unwrap().first_break.is_none());
    let kinds = store.counts().unwrap();
    assert_eq!((kinds["alert"], kinds["alert_attempt"]), (2, 2));
}
