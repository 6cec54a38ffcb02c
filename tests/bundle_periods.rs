//! The bundle's arithmetic at its edges, on a real SQLite ledger filled with runs at
//! chosen times: a collector that errors (a gap caused by the collector), a failure
//! already open before the period, a schedule changed mid-period (recorded as a
//! parameter change and used for the scheduled-run count), and an exception still open
//! when the period ends. The real binary writes and verifies the bundle.

mod common;
use attestd::config::Config;
use attestd::policy::{PolicySet, Status};
use attestd::store::{CollectorRun, PolicySnapshot, RunInput, Store};
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use std::collections::BTreeMap;

const RULE: &str = "password.max_age";

/// The shipped rules with the default config.
fn embedded_policies() -> PolicySet {
    let config = Config::parse(
        attestd::config::EMBEDDED_NAME,
        attestd::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap()
}

fn snapshot(config: &Config, schedule: &str) -> PolicySnapshot {
    let policies = PolicySet::load(&attestd::policy::PolicyInputs::from_config(config)).unwrap();
    let collectors: Vec<std::sync::Arc<dyn attestd_collectors::Collector>> =
        attestd_collectors::all_collectors()
            .into_iter()
            .map(std::sync::Arc::from)
            .collect();
    let mut p = attestd::engine::policy_snapshot(config, &policies, &collectors);
    p.collectors.get_mut("password_policy").unwrap().schedule = schedule.into();
    p.key = p.compute_key();
    p
}

fn run(store: &mut Store, at: DateTime<Utc>, status: Option<Status>, policy: &PolicySnapshot) {
    run_alerting(store, at, status, policy, None)
}

/// `run`, with the alerts the run raises planned and queued in its transaction.
fn run_alerting(
    store: &mut Store,
    at: DateTime<Utc>,
    status: Option<Status>,
    policy: &PolicySnapshot,
    alerts: Option<&attestd::alert::AlertPolicy>,
) {
    let t = attestd::clock::rfc3339(at);
    let policies = embedded_policies();
    let (outcome, verdicts) = judged_password(
        &policies,
        match status {
            Some(Status::Fail) => Some(99999),
            Some(_) => Some(365),
            None => None,
        },
        at,
    );
    let input = RunInput {
        run_id: format!("run-{t}"),
        started_at: t.clone(),
        finished_at: t,
        trigger: "schedule".into(),
        collectors: vec![CollectorRun {
            collector: "password_policy".into(),
            version: "1".into(),
            outcome,
            duration_ms: 1,
            verdicts,
        }],
        rule_meta: BTreeMap::new(),
        policy: Some(policy.clone()),
    };
    attestd::pipeline::store(store, &input, alerts, None).unwrap();
}

/// The ledger of 2026-03-01 described in the test below; returns (config, db).
fn build(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let config_path = plain_config(dir, "");
    let config = Config::from_file(&config_path).unwrap();
    let hourly = snapshot(&config, "0 * * * *");
    let half_hourly = snapshot(&config, "*/30 * * * *");
    let db = dir.join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let day = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let h = |hours: f64| day + chrono::Duration::minutes((hours * 60.0) as i64);
    // Failing since the evening before.
    run(&mut store, h(-1.0), Some(Status::Fail), &hourly);
    for hour in 0..12 {
        let status = match hour {
            5..=7 => None, // the collector cannot observe
            0..=9 => Some(Status::Fail),
            _ => Some(Status::Pass),
        };
        run(&mut store, h(hour as f64), status, &hourly);
    }
    for half in 24..48 {
        let at = half as f64 / 2.0;
        let status = if at >= 20.0 {
            Status::Fail
        } else {
            Status::Pass
        };
        run(&mut store, h(at), Some(status), &half_hourly);
    }
    (config_path, db)
}

fn bundle(
    dir: &std::path::Path,
    config: &std::path::Path,
    db: &std::path::Path,
    day: &str,
) -> serde_json::Value {
    let out = dir.join(format!("bundle-{day}"));
    let o = attestd()
        .args([
            "bundle",
            "--from",
            day,
            "--to",
            day,
            "--framework",
            "soc2",
            "--db",
        ])
        .arg(db)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(&out)
        .arg("--allow-empty")
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    attestd().arg("verify").arg(&out).assert().success();
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn periods_before_and_after_the_records_say_there_is_no_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = build(dir.path());
    // Without --allow-empty an empty period is refused with a warning, nothing written.
    let refused = dir.path().join("refused");
    let o = attestd()
        .args([
            "bundle",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-01",
            "--db",
        ])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&refused)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert!(text(&o)
        .1
        .contains("warning: the period holds no ledger rows"));
    assert!(!refused.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().flatten().all(|e| !e
            .file_name()
            .to_string_lossy()
            .starts_with(".attestd-bundle")),
        "no half-written directory is left"
    );
    let before = bundle(dir.path(), &config, &db, "2026-02-01");
    let c = &before["computed"];
    assert_eq!(c["runs"], 0);
    assert!(c["controls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["result"] == "not_tested" && x["not_tested_reason"] == "collector_never_ran"));
    assert!(
        c["policies_in_force"].as_array().unwrap().is_empty(),
        "parameters recorded later are not in force before"
    );
    let after = bundle(dir.path(), &config, &db, "2026-03-05");
    let c = &after["computed"];
    assert_eq!(c["runs"], 0);
    let gaps = c["collectors"]["password_policy"]["gaps"]
        .as_array()
        .unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["start"], "2026-03-05T00:00:00Z");
    assert_eq!(
        gaps[0]["missed_runs"], 48,
        "the half-hourly schedule in force"
    );
    assert_eq!(gaps[0]["cause"], "attestd_down");
    // The failure open at the end of 2026-03-01 is still open, carried by the anchors.
    let ex = c["rules"][RULE]["exceptions"].as_array().unwrap();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0]["began_before_period"], true);
    // First seen where it began (20:00 on 2026-03-01), not at the last run before.
    assert_eq!(ex[0]["first_seen"], "2026-03-01T20:00:00Z");
    assert_eq!(ex[0]["open"], true);
}

#[test]
fn collector_errors_open_failures_and_schedule_changes_are_reported_as_they_happened() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, db) = build(dir.path());
    let out = dir.path().join("bundle");
    let o = attestd()
        .args([
            "bundle",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-01",
            "--framework",
            "soc2",
            "--db",
        ])
        .arg(&db)
        .arg("--config")
        .arg(&config_path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let c = &s["computed"];
    let pp = &c["collectors"]["password_policy"];
    assert_eq!(pp["scheduled_runs"], 12 + 24, "{pp}");
    assert_eq!(pp["runs"], 36);
    assert_eq!(pp["error_runs"], 3);
    assert_eq!(pp["covered_runs"], 33);
    assert_eq!(
        pp["schedules"],
        serde_json::json!(["*/30 * * * *", "0 * * * *"])
    );
    let gaps = pp["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["start"], "2026-03-01T04:00:00Z");
    assert_eq!(gaps[0]["end"], "2026-03-01T08:00:00Z");
    assert_eq!(gaps[0]["missed_runs"], 3);
    assert_eq!(gaps[0]["cause"], "collector_error");
    assert!(gaps[0]["detail"]
        .as_str()
        .unwrap()
        .contains("permission denied"));
    let ex = c["rules"][RULE]["exceptions"].as_array().unwrap();
    assert_eq!(ex.len(), 2, "{ex:?}");
    assert_eq!(ex[0]["began_before_period"], true);
    assert_eq!(ex[0]["first_seen"], "2026-02-28T23:00:00Z");
    assert_eq!(
        ex[0]["resolved_at"], "2026-03-01T10:00:00Z",
        "the collector errors did not end it"
    );
    assert_eq!(ex[1]["first_seen"], "2026-03-01T20:00:00Z");
    assert_eq!(ex[1]["open"], true);
    assert!(ex[1]["resolved_at"].is_null());
    assert_eq!(ex[1]["duration_seconds"], 4 * 3600);
    let changes = c["policy_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["at"], "2026-03-01T12:00:00Z");
    assert!(changes[0]["changes"][0]
        .as_str()
        .unwrap()
        .contains("`0 * * * *` -> `*/30 * * * *`"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("rules/index.json")).unwrap()).unwrap();
    assert_eq!(
        index.as_array().unwrap().len(),
        2,
        "both parameter sets in force"
    );
    assert_eq!(index[0]["in_force_until"], "2026-03-01T12:00:00Z");
    // The timeline: failing from the start, passing from 10:00, failing from 20:00.
    let bands: Vec<(String, String)> = c["rules"][RULE]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["from"].as_str().unwrap().to_string(),
                b["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        bands,
        vec![
            ("2026-03-01T00:00:00Z".to_string(), "fail".to_string()),
            ("2026-03-01T10:00:00Z".to_string(), "pass".to_string()),
            ("2026-03-01T20:00:00Z".to_string(), "fail".to_string()),
        ]
    );
    attestd().arg("verify").arg(&out).assert().success();
}

#[test]
fn a_bundle_of_an_edited_database_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = build(dir.path());
    // Someone with root edits history behind the triggers.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER ledger_no_update; UPDATE ledger SET body = body || ' ' WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let out = dir.path().join("b");
    let o = attestd()
        .args([
            "bundle",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-01",
            "--db",
        ])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (_, stderr) = text(&o);
    assert!(o.status.success());
    assert!(stderr.contains("hash chain is broken"), "{stderr}");
    let v = attestd().arg("verify").arg(&out).output().unwrap();
    let (stdout, _) = text(&v);
    assert_eq!(v.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("already broken when the bundle was made"),
        "{stdout}"
    );
}

#[test]
fn exceptions_list_the_alerts_sent_and_delivered_about_them() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = plain_config(
        dir.path(),
        "[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"/etc/attestd/hook-hmac\"\n",
    );
    let config = Config::from_file(&config_path).unwrap();
    let policies = PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap();
    let hourly = snapshot(&config, "0 * * * *");
    let db = dir.path().join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let alert_policy = attestd::pipeline::alert_policy(&config.alerts, &policies, "web-1");
    let day = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    for hour in 0..6 {
        let status = if (1..=3).contains(&hour) {
            Status::Fail
        } else {
            Status::Pass
        };
        run_alerting(
            &mut store,
            day + chrono::Duration::hours(hour),
            Some(status),
            &hourly,
            alert_policy.as_ref(),
        );
    }
    // The receiver took the failure alert; the resolved notice is still pending.
    let alerts = store.alerts_between(None, None).unwrap();
    assert_eq!(alerts.len(), 2, "a failure alert and a resolved notice");
    store
        .record_attempts(&[attestd::store::outbox::AttemptResult {
            alert_seq: alerts[0].seq,
            record: attestd::alert::AttemptRecord {
                key: alerts[0].id.clone(),
                sink: "hook".into(),
                attempt: 1,
                at: "2026-03-01T01:00:05Z".into(),
                outcome: attestd::alert::AttemptOutcome::Delivered,
                status: Some(200),
                error: None,
                next_attempt_at: None,
            },
        }])
        .unwrap();
    drop(store);
    let s = bundle(dir.path(), &config_path, &db, "2026-03-01");
    let ex = s["computed"]["rules"][RULE]["exceptions"]
        .as_array()
        .unwrap();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0]["first_seen"], "2026-03-01T01:00:00Z");
    assert_eq!(ex[0]["alerts_sent"], 2, "{:?}", ex[0]);
    assert_eq!(ex[0]["alerts_delivered"], 1, "{:?}", ex[0]);
    let sent = ex[0]["alerts"].as_array().unwrap();
    assert_eq!(sent[0]["sink"], "hook");
    assert_eq!(sent[0]["delivered_at"], "2026-03-01T01:00:05Z");
    assert!(sent[1]["delivered_at"].is_null());
}

/// A day on which the password_policy collector ran on schedule every hour and never
/// could observe (login.defs unreadable): the day before it observed. Its controls
/// are `not_tested` with reason `all_runs_in_gaps`, with the exact counts, and every
/// output says so.
#[test]
fn a_control_whose_every_run_failed_to_observe_is_not_tested_all_runs_in_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = plain_config(dir.path(), "");
    let config = Config::from_file(&config_path).unwrap();
    let hourly = snapshot(&config, "0 * * * *");
    let db = dir.path().join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let h = |hours: i64| day + chrono::Duration::hours(hours);
    for hour in -3..0 {
        run(&mut store, h(hour), Some(Status::Pass), &hourly);
    }
    for hour in 0..24 {
        run(&mut store, h(hour), None, &hourly);
    }
    // The next day it observes again at 00:00.
    run(&mut store, h(24), Some(Status::Pass), &hourly);
    drop(store);
    let out = dir.path().join("bundle-2026-03-02");
    let o = attestd()
        .args(["bundle", "--from", "2026-03-02", "--to", "2026-03-02"])
        .args([
            "--control",
            "iso27001-2013:A.9.4.3",
            "--control",
            "soc2:CC6.1",
        ])
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&config_path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let c = &s["computed"];
    assert_eq!(c["runs"], 24);
    let cov = &c["collectors"]["password_policy"];
    assert_eq!(cov["scheduled_runs"], 24);
    assert_eq!(cov["runs"], 24);
    assert_eq!(cov["error_runs"], 24);
    assert_eq!(cov["covered_runs"], 0);
    assert_eq!(cov["coverage_percent"], 0.0);
    let gaps = cov["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["start"], "2026-03-02T00:00:00Z");
    assert_eq!(gaps[0]["end"], "2026-03-03T00:00:00Z");
    assert_eq!(gaps[0]["duration_seconds"], 86400);
    assert_eq!(gaps[0]["missed_runs"], 24);
    assert_eq!(gaps[0]["cause"], "collector_error");
    let controls = c["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 2);
    // A.9.4.3 (2013) rests on password_policy, whose 24 runs all failed to observe,
    // and accounts, which never ran (attestd ran only password_policy).
    let accounts = &c["collectors"]["accounts"];
    assert_eq!(accounts["runs"], 0);
    assert_eq!(accounts["gaps"][0]["cause"], "not_run");
    assert_eq!(accounts["gaps"][0]["duration_seconds"], 86400);
    let a943 = controls
        .iter()
        .find(|x| x["id"] == "iso27001-2013:A.9.4.3")
        .unwrap();
    assert_eq!(
        a943["collectors"],
        serde_json::json!(["accounts", "password_policy"])
    );
    assert_eq!(a943["result"], "not_tested", "{a943}");
    assert_eq!(a943["not_tested_reason"], "all_runs_in_gaps");
    assert_eq!(
        a943["scheduled_runs"].as_u64().unwrap(),
        24 + accounts["scheduled_runs"].as_u64().unwrap()
    );
    assert_eq!(a943["runs"], 24);
    assert_eq!(a943["covered_runs"], 0);
    assert_eq!(a943["coverage_percent"], 0.0);
    // Two collectors' gaps over the same day count once.
    assert_eq!(a943["gaps"].as_array().unwrap().len(), 2);
    assert_eq!(a943["gap_seconds"], 86400);
    for k in ["passes", "failures", "waived", "not_applicable"] {
        assert_eq!(a943[k], 0, "{k}");
    }
    assert!(a943["exceptions"].as_array().unwrap().is_empty());
    // CC6.1 also maps rules of collectors that never ran: its only runs were
    // password_policy's, none observed, so it is untested for the same reason.
    let cc61 = controls.iter().find(|x| x["id"] == "soc2:CC6.1").unwrap();
    assert_eq!(cc61["result"], "not_tested", "{cc61}");
    assert_eq!(cc61["not_tested_reason"], "all_runs_in_gaps");
    assert_eq!(cc61["runs"], 24);
    assert_eq!(cc61["covered_runs"], 0);
    assert_eq!(cc61["passes"], 0);
    let csv = std::fs::read_to_string(out.join("controls.csv")).unwrap();
    let row = csv.lines().find(|l| l.starts_with("soc2:CC6.1,")).unwrap();
    assert!(
        row.contains(",not_tested,") && row.ends_with(",all_runs_in_gaps"),
        "{row}"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("not tested: every run failed to observe"));
    let found = common::oscal::check(&out).unwrap_or_else(|e| panic!("{e}"));
    // The 2013 catalog is written when its controls are named, and resolves.
    assert!(
        found.controls.contains("a.9.4.3"),
        "{:?}",
        found.catalogs.keys()
    );
    assert!(found.catalogs.contains_key("catalog-iso27001-2013.json"));
    let finding = found.results["assessment-results"]["results"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["title"]
                .as_str()
                .unwrap()
                .starts_with("iso27001-2013:A.9.4.3 ")
        })
        .unwrap()
        .clone();
    assert_eq!(finding["target"]["target-id"], "a.9.4.3_obj");
    assert!(finding["target"].get("status").is_none(), "{finding}");
    assert_eq!(
        finding["target"]["remarks"],
        "not assessed: attestd did not test this control in the period (all_runs_in_gaps)"
    );
    let o = attestd().arg("verify").arg(&out).output().unwrap();
    let (so, _) = text(&o);
    let last = so.lines().last().unwrap_or_default();
    assert!(last.contains("not tested"), "{so}");
}

/// A period that ends "now" keeps the rows stored in the current second: a run
/// recorded at second S and bundled during S is in the bundle (the period ends at
/// S + 1 s, which the note says).
#[test]
fn a_period_ending_now_keeps_the_rows_of_the_current_second() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = plain_config(dir.path(), "");
    let config = Config::from_file(&config_path).unwrap();
    let hourly = snapshot(&config, "0 * * * *");
    let db = dir.path().join("state/attestd.db");
    Store::open(&db).unwrap();
    for attempt in 0..5 {
        // Start at the beginning of a second, so that the bundle runs inside it.
        let now = Utc::now();
        let wait = 1_000_000_000 - i64::from(chrono::Timelike::nanosecond(&now).min(999_999_999));
        std::thread::sleep(std::time::Duration::from_nanos(wait as u64 + 1_000_000));
        let second = chrono::Timelike::with_nanosecond(&Utc::now(), 0).unwrap();
        let mut store = Store::open(&db).unwrap();
        run(&mut store, second, Some(Status::Pass), &hourly);
        drop(store);
        let today = second.date_naive().to_string();
        let out = dir.path().join(format!("now-{attempt}"));
        let o = attestd()
            .args(["bundle", "--from", &today, "--to", &today, "--db"])
            .arg(&db)
            .arg("--config")
            .arg(&config_path)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let (_, se) = text(&o);
        assert!(o.status.success(), "{se}");
        let end = attestd::clock::rfc3339(second + chrono::Duration::seconds(1));
        if !se.contains(&format!("cut at now ({end})")) {
            continue; // the bundle ran in a later second: try again
        }
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["parameters"]["to"], end);
        assert_eq!(
            s["computed"]["runs"],
            attempt + 1,
            "every run so far, the one of this second included"
        );
        attestd().arg("verify").arg(&out).assert().success();
        return;
    }
    panic!("the bundle never ran within the second of its run (a very slow machine?)");
}
