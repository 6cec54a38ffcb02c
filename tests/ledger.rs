//! The store as an auditor relies on it: runs kept, unchanged evidence stored once,
//! drift recorded with both values, and any edit or deletion caught by `verify`.

mod common;
use common::*;
use predicates::prelude::*;
use std::path::Path;

fn collect_into(root: &Path, config: &Path, db: &Path) -> i32 {
    attestd()
        .args(["collect", "--format", "json", "--root"])
        .arg(root)
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

fn status_json(db: &Path, config: &Path) -> serde_json::Value {
    let out = attestd()
        .args(["status", "--format", "json", "--db"])
        .arg(db)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn unchanged_evidence_is_stored_once_and_runs_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    // The hardened host as its fixture file prepares it (recent apt and AIDE times).
    let host = prepare_host("hardened");
    let config = host.config.clone();
    let db = dir.path().join("a.db");
    for _ in 0..3 {
        assert_eq!(collect_into(&host.root, &config, &db), 0);
    }
    let status = status_json(&db, &config);
    assert_eq!(status["ledger_rows"]["run"], 3);
    // Every collector's unchanged evidence is stored once and referenced by later runs,
    // except availability: its facts carry the endpoint probes' rolling 30-day
    // measurements, which grow with every probe taken, so each run is new evidence; and
    // backup, whose first run also ran the repository's integrity check (its command is
    // an artifact of that run only; the later runs carry the check over unchanged).
    let per_collector = evidence_rows_per_collector(&db);
    for name in attestd_collectors::known_collector_names() {
        let want = match name {
            "availability" => 3,
            "backup" => 2,
            _ => 1,
        };
        assert_eq!(
            per_collector.get(name).copied().unwrap_or(0),
            want,
            "{name}: evidence rows; stored: {}",
            evidence_dump(&db)
        );
    }
    let collectors = attestd_collectors::known_collector_names().len();
    // Verdict sets likewise: availability's observed uptime moves with its probes, and
    // backup's second run refers to its new evidence.
    assert_eq!(status["ledger_rows"]["verdicts"], collectors + 3);
    assert_eq!(status["failing_rules"].as_array().unwrap().len(), 0);
    attestd()
        .args(["verify", "--db"])
        .arg(&db)
        .assert()
        .success()
        .stdout(predicate::str::contains("ledger intact"));
}

#[test]
fn a_weakened_setting_is_drift_with_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let db = dir.path().join("a.db");
    assert_eq!(collect_into(&host, &config, &db), 0);
    weaken_max_age(&host);
    assert_eq!(collect_into(&host, &config, &db), 1);
    let out = attestd()
        .args([
            "history",
            "--rule",
            "password.max_age",
            "--format",
            "json",
            "--db",
        ])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(
        events.len(),
        2,
        "first verdict, then the change: {events:?}"
    );
    assert_eq!(events[0]["from"], serde_json::Value::Null);
    let drift = &events[1];
    assert_eq!(
        (drift["from"].as_str(), drift["to"].as_str()),
        (Some("pass"), Some("fail"))
    );
    assert_eq!(
        (
            drift["observed_before"].as_i64(),
            drift["observed_after"].as_i64()
        ),
        (Some(365), Some(99999))
    );
    assert_ne!(drift["evidence_before"], drift["evidence_after"]);
    assert!(drift["controls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "soc2:CC6.1"));
    // By control, and in text.
    attestd()
        .args(["history", "--control", "soc2:CC6.1", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("password.max_age")
                .and(predicate::str::contains("pass -> fail")),
        );
    // And the failing control shows in status.
    let status = status_json(&db, &config);
    assert!(status["failing_controls"]["soc2:CC6.1"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "password.max_age"));
}

#[test]
fn editing_or_deleting_a_stored_row_is_caught_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let db = dir.path().join("a.db");
    collect_into(&fixture("debian12-stock"), &config, &db);
    collect_into(&fixture("hardened"), &config, &db);
    // The ledger refuses edits through SQL...
    let conn = rusqlite::Connection::open(&db).unwrap();
    let refused = conn
        .execute("UPDATE ledger SET body = body WHERE seq = 2", [])
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    // ...and someone who drops the guard is caught by verify, which names the row.
    // Fold the WAL into the main file so that a copy of it holds every row.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let tampered = dir.path().join("tampered.db");
    std::fs::copy(&db, &tampered).unwrap();
    let t = rusqlite::Connection::open(&tampered).unwrap();
    // Turn the stock host's failures into passes in its first verdict set.
    let target: i64 = t
        .query_row("SELECT seq FROM ledger WHERE kind = 'verdicts' AND key = 'password_policy' ORDER BY seq LIMIT 1", [], |r| r.get(0))
        .unwrap();
    t.execute_batch("DROP TRIGGER ledger_no_update;").unwrap();
    let changed = t
        .execute(
            "UPDATE ledger SET body = replace(body, '\"fail\"', '\"pass\"') WHERE seq = ?1",
            [target],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(t);
    attestd()
        .args(["verify", "--db"])
        .arg(&tampered)
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains(format!("LEDGER BROKEN at row {target}"))
                .and(predicate::str::contains("edited")),
        );
    let deleted = dir.path().join("deleted.db");
    std::fs::copy(&db, &deleted).unwrap();
    let d = rusqlite::Connection::open(&deleted).unwrap();
    d.execute_batch("DROP TRIGGER ledger_no_delete; DELETE FROM ledger WHERE seq = 4;")
        .unwrap();
    drop(d);
    attestd()
        .args(["verify", "--db"])
        .arg(&deleted)
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("LEDGER BROKEN at row 5")
                .and(predicate::str::contains("missing")),
        );
    // The original is untouched.
    attestd()
        .args(["verify", "--db"])
        .arg(&db)
        .assert()
        .success();
}

#[test]
fn reading_commands_on_a_missing_database_explain_what_to_do() {
    attestd()
        .args(["status", "--db", "/tmp/attestd-no-such.db"])
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("no such database")
                .and(predicate::str::contains("attestd run")),
        );
}

/// How many evidence rows each collector has.
fn evidence_rows_per_collector(db: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(body, '$.collector'), COUNT(*) FROM ledger \
             WHERE kind = 'evidence' GROUP BY 1",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// The evidence rows of a database, for failure messages.
fn evidence_dump(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT body FROM ledger WHERE kind = 'evidence' ORDER BY seq")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    rows.join("\n")
}
