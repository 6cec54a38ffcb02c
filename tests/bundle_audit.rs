//! What an auditor relies on, on real SQLite ledgers filled with runs at chosen times
//! and judged by the real rules on real evidence (the `hardened` fixture's, with
//! PASS_MAX_DAYS changed): schedules evaluated in the host time zone recorded in the
//! ledger (and the same verdict under any TZ), resolved exceptions closed, first
//! verdicts as baselines, periods that start after a run of only some collectors,
//! numbers that no config changes, and `verify` catching a stored verdict its evidence
//! contradicts and derived files edited and re-signed with the host key.

mod common;
use attestd::config::Config;
use attestd::policy::PolicySet;
use attestd::store::{CollectorRun, PolicySnapshot, RunInput, Store};
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const RULE: &str = "password.max_age";

fn policies() -> PolicySet {
    let config = Config::parse(
        attestd::config::EMBEDDED_NAME,
        attestd::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap()
}

/// The parameters in force: the shipped rules, `schedule` for password_policy, the
/// host in `zone`.
fn snapshot(schedule: &str, zone: &str) -> PolicySnapshot {
    let config = Config::parse(
        attestd::config::EMBEDDED_NAME,
        attestd::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    let policies = PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap();
    let collectors: Vec<std::sync::Arc<dyn attestd_collectors::Collector>> =
        attestd_collectors::all_collectors()
            .into_iter()
            .map(std::sync::Arc::from)
            .collect();
    let mut p = attestd::engine::policy_snapshot(&config, &policies, &collectors);
    for (name, c) in p.collectors.iter_mut() {
        c.enabled = name == "password_policy" || name == "session_timeout";
        c.schedule = schedule.into();
    }
    p.with_time_zone(Some(zone.into()))
}

/// A run at `at`: password_policy with PASS_MAX_DAYS `max_days` (None: it failed to
/// observe), and session_timeout when `with_session`.
fn run(
    store: &mut Store,
    at: DateTime<Utc>,
    max_days: Option<i64>,
    with_session: bool,
    policy: &PolicySnapshot,
) -> attestd::pipeline::Stored {
    let t = attestd::clock::rfc3339(at);
    let policies = policies();
    let (outcome, verdicts) = judged_password(&policies, max_days, at);
    let mut collectors = vec![CollectorRun {
        collector: "password_policy".into(),
        version: "1".into(),
        outcome,
        duration_ms: 1,
        verdicts,
    }];
    if with_session {
        let c = attestd_collectors::collector_by_name("session_timeout").unwrap();
        let ev = c
            .collect(&attestd_collectors::CollectContext::new(
                attestd_collectors::HostRoot::new(fixture("hardened")),
                serde_json::Value::Null,
                at,
            ))
            .unwrap();
        let verdicts =
            attestd::policy::evaluate_collector(&policies, "session_timeout", Ok(&ev), &[], at);
        collectors.push(CollectorRun {
            collector: "session_timeout".into(),
            version: "1".into(),
            outcome: Ok(ev),
            duration_ms: 1,
            verdicts,
        });
    }
    let input = RunInput {
        run_id: format!("run-{t}"),
        started_at: t.clone(),
        finished_at: t,
        trigger: "schedule".into(),
        collectors,
        rule_meta: BTreeMap::new(),
        policy: Some(policy.clone()),
    };
    attestd::pipeline::store(store, &input, None, None).unwrap()
}

fn bundle_with(db: &Path, out: &Path, from: &str, to: &str, tz: &str, config: Option<&Path>) {
    let mut cmd = attestd();
    cmd.args(["bundle", "--from", from, "--to", to, "--db"])
        .arg(db)
        .arg("--out")
        .arg(out)
        .env("TZ", tz);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
}

fn verify(dir: &Path, tz: &str) -> (i32, String) {
    let o = attestd()
        .arg("verify")
        .arg(dir)
        .env("TZ", tz)
        .output()
        .unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap(), format!("{so}{se}"))
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn control<'a>(s: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    s["computed"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id}"))
}

/// Three days on a host in Kathmandu (UTC+05:45): password_policy and
/// session_timeout daily at 09:00 local time, that is 03:15 UTC. PASS_MAX_DAYS is
/// 99999 on day 2 (an exception, resolved on day 3).
fn kathmandu(dir: &Path) -> PathBuf {
    let db = dir.join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let policy = snapshot("0 9 * * *", "Asia/Kathmandu");
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 3, 15, 0).unwrap();
    let first = run(&mut store, day(1), Some(365), true, &policy);
    assert!(
        first.outcome.drift.is_empty(),
        "a rule's first verdict is its baseline, not drift: {:?}",
        first
            .outcome
            .drift
            .iter()
            .map(|d| &d.rule)
            .collect::<Vec<_>>()
    );
    let second = run(&mut store, day(2), Some(99999), true, &policy);
    assert_eq!(
        second
            .outcome
            .drift
            .iter()
            .map(|d| d.rule.as_str())
            .collect::<Vec<_>>(),
        [RULE],
        "only the change is drift"
    );
    run(&mut store, day(3), Some(365), true, &policy);
    db
}

#[test]
fn schedules_are_evaluated_in_the_recorded_zone_and_verify_agrees_under_any_tz() {
    let dir = tempfile::tempdir().unwrap();
    let db = kathmandu(dir.path());
    let mut computed = Vec::new();
    for (i, tz) in ["UTC", "Asia/Kathmandu", "America/St_Johns"]
        .iter()
        .enumerate()
    {
        let out = dir.path().join(format!("bundle-{i}"));
        bundle_with(&db, &out, "2026-03-01", "2026-03-03", tz, None);
        let s = summary(&out);
        let cov = &s["computed"]["collectors"]["password_policy"];
        assert_eq!(cov["scheduled_runs"], 3, "{tz}: {cov}");
        assert_eq!(cov["covered_runs"], 3, "{tz}: {cov}");
        assert_eq!(cov["coverage_percent"], 100.0, "{tz}");
        assert_eq!(cov["gaps"], serde_json::json!([]), "{tz}: {cov}");
        assert_eq!(
            s["computed"]["time_zones"],
            serde_json::json!(["Asia/Kathmandu"])
        );
        for vtz in ["UTC", "Asia/Kathmandu", "America/St_Johns"] {
            let (code, v) = verify(&out, vtz);
            assert_eq!(code, 0, "bundled under {tz}, verified under {vtz}:\n{v}");
            assert!(v.contains("re-judged"), "{v}");
        }
        computed.push(s["computed"].clone());
    }
    assert_eq!(computed[0], computed[1]);
    assert_eq!(computed[0], computed[2]);
    // The exception of day 2 was resolved on day 3: not open.
    let ex = &computed[0]["rules"][RULE]["exceptions"];
    assert_eq!(ex.as_array().unwrap().len(), 1, "{ex}");
    assert_eq!(ex[0]["first_seen"], "2026-03-02T03:15:00Z");
    assert_eq!(ex[0]["resolved_at"], "2026-03-03T03:15:00Z");
    assert_eq!(ex[0]["duration_seconds"], 86400);
    assert_eq!(ex[0]["open"], false);
    let s0 = summary(&dir.path().join("bundle-0"));
    let cc61 = control(&s0, "soc2:CC6.1");
    assert_eq!(cc61["result"], "exceptions", "{cc61}");
    assert_eq!(cc61["gap_seconds"], 0);
    let csv = std::fs::read_to_string(dir.path().join("bundle-0/exceptions.csv")).unwrap();
    let row = csv.lines().find(|l| l.contains(RULE)).unwrap();
    assert!(row.contains(",false,"), "exceptions.csv says open: {row}");
}

#[test]
fn the_numbers_come_from_the_ledger_whatever_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let db = kathmandu(dir.path());
    let hourly = plain_config(
        dir.path(),
        "[collectors.password_policy]\nschedule = \"*/5 * * * *\"\n",
    );
    let a = dir.path().join("with-config");
    let b = dir.path().join("without");
    bundle_with(&db, &a, "2026-02-28", "2026-03-03", "UTC", Some(&hourly));
    bundle_with(&db, &b, "2026-02-28", "2026-03-03", "UTC", None);
    let (sa, sb) = (summary(&a), summary(&b));
    assert_eq!(sa["computed"], sb["computed"]);
    // Nothing was scheduled before the first parameters were recorded (2026-03-01).
    let cov = &sa["computed"]["collectors"]["password_policy"];
    assert_eq!(cov["scheduled_runs"], 3, "{cov}");
    assert_eq!(cov["schedules"], serde_json::json!(["0 9 * * *"]));
}

#[test]
fn a_period_after_a_run_of_only_some_collectors_bundles_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let policy = snapshot("0 * * * *", "UTC");
    let t = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 4, 1, h, m, 0).unwrap();
    // Both collectors, password failing; then password alone (a restart's or a
    // watch's run), passing: the first run's password verdicts are superseded.
    run(&mut store, t(9, 0), Some(99999), true, &policy);
    run(&mut store, t(9, 40), Some(365), false, &policy);
    run(&mut store, t(10, 0), Some(365), true, &policy);
    run(&mut store, t(11, 0), Some(365), true, &policy);
    drop(store);
    let out = dir.path().join("bundle");
    bundle_with(
        &db,
        &out,
        "2026-04-01T09:50:00Z",
        "2026-04-01T11:30:00Z",
        "UTC",
        None,
    );
    let (code, v) = verify(&out, "UTC");
    assert_eq!(code, 0, "{v}");
    let s = summary(&out);
    assert_eq!(s["computed"]["runs"], 2);
    assert_eq!(
        s["computed"]["rules"][RULE]["exceptions"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// Rewrite SHA256SUMS and both signatures with the host's own key, as someone holding
/// the host key would after editing a file.
fn resign(bundle: &Path, db: &Path) {
    let key = attestd::bundle::signing::HostKey::load_or_create(db).unwrap();
    let mut sums = String::new();
    for rel in attestd::bundle::list_files(bundle).unwrap() {
        let digest = attestd::bundle::sha256_file(&bundle.join(&rel)).unwrap();
        sums.push_str(&format!("{digest}  {rel}\n"));
    }
    std::fs::write(bundle.join("SHA256SUMS"), &sums).unwrap();
    std::fs::write(bundle.join("SHA256SUMS.sig"), key.sign(sums.as_bytes())).unwrap();
    std::fs::write(
        bundle.join("SHA256SUMS.minisig"),
        key.minisign_signature(sums.as_bytes(), "re-signed"),
    )
    .unwrap();
}

#[test]
fn derived_files_edited_and_re_signed_with_the_host_key_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = kathmandu(dir.path());
    let genuine = dir.path().join("genuine");
    bundle_with(&db, &genuine, "2026-03-01", "2026-03-03", "UTC", None);
    assert_eq!(verify(&genuine, "UTC").0, 0);
    // The key made for this database is PKCS#8 v1: OpenSSL 3.0 reads it.
    let o = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(db.with_file_name("signing-key.pem"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let edits: [(&str, &str, &str); 7] = [
        ("index.html", "exceptions_and_gaps", "effective"),
        (
            "oscal/assessment-results.json",
            "not-satisfied",
            "satisfied",
        ),
        ("host.json", "exceptions_or_gaps", "synchronised_throughout"),
        (
            "rules/changes.json",
            "first parameters recorded",
            "nothing changed",
        ),
        // The OSCAL plan and catalogs are recomputed too.
        (
            "oscal/assessment-plan.json",
            "\"this-system\"",
            "\"system\"",
        ),
        (
            "oscal/catalog-soc2.json",
            "\"cc6.1_obj\"",
            "\"cc6.1_objective\"",
        ),
        (
            "oscal/catalog-iso27001-2022.json",
            "\"a.8.5\"",
            "\"a.8.50\"",
        ),
    ];
    for (i, (file, from, to)) in edits.iter().enumerate() {
        let copy = dir.path().join(format!("tampered-{i}"));
        copy_tree(&genuine, &copy);
        let path = copy.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = if text.contains(from) {
            text.replacen(from, to, 1)
        } else {
            assert!(!file.starts_with("oscal/"), "{file} holds {from}");
            format!("{text} ")
        };
        assert_ne!(edited, text);
        std::fs::write(&path, edited).unwrap();
        resign(&copy, &db);
        let (code, v) = verify(&copy, "UTC");
        assert_eq!(code, 1, "{file} edited and re-signed passed:\n{v}");
        assert!(
            v.contains(&format!("{file}: does not match")),
            "{file}: {v}"
        );
    }
    // A planted OSCAL document, re-signed, is caught too.
    let copy = dir.path().join("planted");
    copy_tree(&genuine, &copy);
    std::fs::copy(
        copy.join("oscal/catalog-soc2.json"),
        copy.join("oscal/catalog-soc2-2.json"),
    )
    .unwrap();
    resign(&copy, &db);
    let (code, v) = verify(&copy, "UTC");
    assert_eq!(code, 1, "{v}");
    assert!(
        v.contains("oscal/catalog-soc2-2.json: not a file the ledger rows give"),
        "{v}"
    );
}

#[test]
fn a_stored_verdict_its_evidence_contradicts_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let policy = snapshot("0 * * * *", "UTC");
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
    run(&mut store, at, Some(365), false, &policy);
    // A verdict `pass` beside evidence that says PASS_MAX_DAYS 99999, stored with
    // a genuine chain (as a forger with the database would).
    let at2 = at + chrono::Duration::hours(1);
    let t = attestd::clock::rfc3339(at2);
    let policies = policies();
    let (outcome, mut verdicts) = judged_password(&policies, Some(99999), at2);
    for v in verdicts.iter_mut().filter(|v| v.rule == RULE) {
        assert_eq!(v.status, attestd::policy::Status::Fail);
        v.status = attestd::policy::Status::Pass;
    }
    let input = RunInput {
        run_id: "forged".into(),
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
    attestd::pipeline::store(&mut store, &input, None, None).unwrap();
    drop(store);
    let out = dir.path().join("bundle");
    bundle_with(&db, &out, "2026-05-01", "2026-05-01", "UTC", None);
    let (code, v) = verify(&out, "UTC");
    assert_eq!(code, 1, "{v}");
    assert!(
        v.contains("run forged")
            && v.contains(&format!("rule {RULE}: stored pass, re-judged fail")),
        "{v}"
    );
}

/// index.html of a period as headless Chromium parses it.
fn dom_of(bundle: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", bundle.join("index.html").display()))
        .output()
        .expect("chromium is installed");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tick_labels(dom: &str) -> Vec<String> {
    dom.split("class=\"tick-label\"")
        .skip(1)
        .filter_map(|s| {
            let start = s.find('>')? + 1;
            let end = s.find("</text>")?;
            Some(s[start..end].to_string())
        })
        .collect()
}

#[test]
fn index_html_has_a_time_axis_exact_durations_and_marks_for_any_period() {
    let dir = tempfile::tempdir().unwrap();
    let db = kathmandu(dir.path());
    let periods = [
        (
            "20min",
            "2026-03-02T03:05:00Z",
            "2026-03-02T03:25:00Z",
            "03:10",
        ),
        ("1day", "2026-03-02", "2026-03-02", "12:00"),
        ("30days", "2026-02-10", "2026-03-11", "02-19"),
    ];
    for (name, from, to, tick) in periods {
        let out = dir.path().join(name);
        bundle_with(&db, &out, from, to, "UTC", None);
        let dom = dom_of(&out);
        let ticks = tick_labels(&dom);
        assert!(
            ticks.len() >= 3 && ticks.iter().any(|t| t == tick),
            "{name}: ticks {ticks:?}"
        );
        assert!(dom.contains("id=\"answer\""), "{name}");
        // Controls in natural order (the unit test of html::natural_key has A.8.2
        // before A.8.18).
        let pos = |id: &str| {
            dom.find(&format!("<a href=\"#{id}\">"))
                .unwrap_or(usize::MAX)
        };
        assert!(
            pos("iso27001-2022:A.5.17") < pos("iso27001-2022:A.8.5"),
            "{name}: controls in natural order"
        );
    }
    // The day-2 exception, still open at the end of that day's period, is marked so.
    let one_day = dom_of(&dir.path().join("1day"));
    assert!(
        one_day.contains("<td class=\"open\">⚠ open</td><td>password.max_age</td>"),
        "{one_day}"
    );
    assert!(one_day.contains("Open at the end of the period: <code>password.max_age</code>"));
    // 30 days: the exception lasted exactly one day, shown to the second.
    let month = dom_of(&dir.path().join("30days"));
    assert!(
        month.contains("<td class=\"resolved\">✓ resolved</td>"),
        "resolved mark"
    );
    assert!(
        month.contains("<td>1 d 0 h 0 min 0 s</td>"),
        "exact duration"
    );
}

#[test]
fn evidence_at_a_moment_says_how_old_the_evidence_was_and_whether_it_was_in_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let db = kathmandu(dir.path());
    let at = |t: &str| -> serde_json::Value {
        let o = attestd()
            .args(["evidence", "--at", t, "--format", "json", "--db"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(o.status.success(), "{:?}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // Two days after the last run (2026-03-03T03:15Z), with a daily schedule: the slot
    // of 2026-03-04 passed without a run.
    let late = at("2026-03-05T12:00:00Z");
    let p = &late["collectors"]["password_policy"];
    assert_eq!(p["last_run_at"], "2026-03-03T03:15:00Z");
    assert_eq!(p["age_seconds"], 2 * 86400 + 8 * 3600 + 45 * 60);
    assert_eq!(p["missed_scheduled_runs"], 1);
    assert_eq!(p["in_gap"], true);
    // Between two daily runs: fresh enough, no gap.
    let fresh = at("2026-03-02T20:00:00Z");
    let p = &fresh["collectors"]["password_policy"];
    assert_eq!(p["age_seconds"], 16 * 3600 + 45 * 60);
    assert_eq!(p["in_gap"], false);
    // Before the first run.
    let before = at("2026-02-01T00:00:00Z");
    assert!(before["evidence"].as_str().unwrap().starts_with("none yet"));
    assert_eq!(before["rules"], serde_json::json!([]));
}

/// A rule that reads `now` is judged again at every run even when evidence and
/// verdicts stay the same: a certificate that expires mid-period while the stored
/// verdict set (pass) is carried on, as a forger reusing the old set would, fails
/// verification at the first run after expiry, and only there.
#[test]
fn a_pass_carried_past_a_certificates_expiry_fails_verification_at_that_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let mut policy = snapshot("0 * * * *", "UTC");
    for (name, c) in policy.collectors.iter_mut() {
        c.enabled = name == "certificates";
    }
    let policies = policies();
    let c = attestd_collectors::collector_by_name("certificates").unwrap();
    let observe = |at: DateTime<Utc>| {
        c.collect(&attestd_collectors::CollectContext::new(
            attestd_collectors::HostRoot::new(fixture("tls-bad-certificates")),
            serde_json::Value::Null,
            at,
        ))
        .unwrap()
    };
    let facts = observe(Utc::now()).facts;
    let not_after = facts["certificates"]
        .as_array()
        .and_then(|c| c.iter().filter_map(|c| c["not_after"].as_str()).min())
        .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
        .expect("the fixture has a certificate that expired on 2021-01-01");
    let before = not_after - chrono::Duration::hours(2);
    let genuine = attestd::policy::evaluate_collector(
        &policies,
        "certificates",
        Ok(&observe(before)),
        &[],
        before,
    );
    assert!(
        genuine
            .iter()
            .any(|v| v.rule == "certificates.not_expired"
                && v.status == attestd::policy::Status::Pass)
    );
    // Four hourly runs on the same evidence, all storing the verdicts of the first:
    // true for the first two, false once the certificate has expired.
    for (i, at) in (0..4)
        .map(|h| before + chrono::Duration::hours(h))
        .enumerate()
    {
        let t = attestd::clock::rfc3339(at);
        let input = RunInput {
            run_id: format!("run-{i}"),
            started_at: t.clone(),
            finished_at: t,
            trigger: "schedule".into(),
            collectors: vec![CollectorRun {
                collector: "certificates".into(),
                version: "1".into(),
                outcome: Ok(observe(at)),
                duration_ms: 1,
                verdicts: genuine.clone(),
            }],
            rule_meta: BTreeMap::new(),
            policy: Some(policy.clone()),
        };
        attestd::pipeline::store(&mut store, &input, None, None).unwrap();
    }
    drop(store);
    let out = dir.path().join("bundle");
    let day = |t: DateTime<Utc>| t.date_naive().to_string();
    bundle_with(
        &db,
        &out,
        &day(before),
        &day(before + chrono::Duration::hours(3)),
        "UTC",
        None,
    );
    let (code, v) = verify(&out, "UTC");
    assert_eq!(code, 1, "{v}");
    let forged: Vec<&str> = v
        .lines()
        .filter(|l| l.contains("rule certificates.not_expired: stored pass, re-judged fail"))
        .collect();
    assert_eq!(forged.len(), 2, "{v}");
    assert!(
        forged[0].contains("run run-2") && forged[1].contains("run run-3"),
        "{v}"
    );
}
