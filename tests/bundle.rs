//! Evidence bundles as an auditor receives them. A day of real collector runs at
//! controlled times (the clock is injected) against a copied fixture host: every
//! 15 minutes, with PASS_MAX_DAYS weakened from 06:00 to 09:00 (a 3-hour failure) and
//! attestd down from 14:00 to 16:00 (a 2-hour gap). The real binary then writes the
//! bundle and verifies it; sha256sum, openssl, compliance-trestle and headless
//! Chromium check it as outsiders; tampering is caught by each.

mod common;
use attestd::clock::Clock;
use attestd::config::Config;
use attestd::engine::Engine;
use attestd::policy::PolicySet;
use attestd::store::{NoHook, Store};
use attestd_collectors::HostRoot;
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The simulated day: returns (database, config).
fn build_period(dir: &Path) -> (PathBuf, PathBuf) {
    let host = dir.join("host");
    copy_tree(&fixture("hardened"), &host);
    let config_path = plain_config(
        dir,
        "[collectors.password_policy]\nschedule = \"*/15 * * * *\"\n[collectors.availability]\nschedule = \"*/15 * * * *\"\n",
    );
    let config = Config::from_file(&config_path).unwrap();
    let policies = PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap();
    let engine = Engine::new(Arc::new(config), Arc::new(policies), HostRoot::new(&host));
    let db = dir.join("state/attestd.db");
    let mut store = Store::open(&db).unwrap();
    let names = vec!["password_policy".to_string(), "availability".to_string()];
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = TestClock(Mutex::new(start));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let defs = host.join("etc/login.defs");
    let original = std::fs::read_to_string(&defs).unwrap();
    for i in 0..96i64 {
        let now = start + chrono::Duration::minutes(15 * i);
        let hour_min = (i * 15) as f64 / 60.0;
        // attestd is down after the 14:00 run until 16:00.
        if hour_min > 14.0 && hour_min < 16.0 {
            continue;
        }
        *clock.0.lock().unwrap() = now;
        if (6.0..9.0).contains(&hour_min) {
            if std::fs::read_to_string(&defs).unwrap() == original {
                weaken_max_age(&host);
            }
        } else {
            std::fs::write(&defs, &original).unwrap();
        }
        let trigger = if i == 0 || hour_min == 16.0 {
            "start"
        } else {
            "schedule"
        };
        let run = rt.block_on(engine.run(
            &names,
            trigger,
            &|n| store.previous_facts(n).ok().flatten(),
            &clock,
        ));
        store.record_run(&run, &mut NoHook).unwrap();
    }
    (db, config_path)
}

fn bundle(db: &Path, config: &Path, out: &Path, extra: &[&str]) {
    let o = attestd()
        .args([
            "bundle",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-01",
            "--db",
        ])
        .arg(db)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let (so, se) = text(&o);
    assert!(o.status.success(), "bundle failed: {so}\n{se}");
}

fn verify(path: &Path, extra: &[&str]) -> (i32, String) {
    let o = attestd()
        .arg("verify")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap(), format!("{so}{se}"))
}

fn sha256sum_ok(dir: &Path) -> bool {
    Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success()
}

fn openssl_ok(dir: &Path) -> bool {
    let o = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signing-key.pub.pem",
            "-rawin",
            "-in",
            "SHA256SUMS",
            "-sigfile",
            "SHA256SUMS.sig",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    o.status.success()
        && String::from_utf8_lossy(&o.stdout).contains("Signature Verified Successfully")
}

fn minisign_ok(dir: &Path) -> bool {
    Command::new("minisign")
        .args([
            "-V",
            "-q",
            "-p",
            "signing-key.pub.minisign",
            "-m",
            "SHA256SUMS",
        ])
        .current_dir(dir)
        .status()
        .expect("minisign is installed")
        .success()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// One built period shared by the tests of this file (building it takes a while).
fn period() -> &'static (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    static P: std::sync::OnceLock<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> =
        std::sync::OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (db, config) = build_period(dir.path());
        let out = dir.path().join("bundle");
        bundle(&db, &config, &out, &["--sample-dates", "2026-01-01"]);
        (dir, db, config, out)
    })
}

fn copy_bundle(to: &Path) -> PathBuf {
    let b = to.join("b");
    copy_tree(&period().3, &b);
    b
}

#[test]
fn the_bundle_reports_exactly_the_failure_and_the_gap() {
    let (_, _, _, out) = period();
    let s = read_json(&out.join("summary.json"));
    let c = &s["computed"];
    let pp = &c["collectors"]["password_policy"];
    assert_eq!(pp["scheduled_runs"], 96, "{pp}");
    assert_eq!(pp["runs"], 89);
    assert_eq!(pp["covered_runs"], 89);
    assert_eq!(pp["coverage_percent"], 92.71);
    let gaps = pp["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["start"], "2026-01-01T14:00:00Z");
    assert_eq!(gaps[0]["end"], "2026-01-01T16:00:00Z");
    assert_eq!(gaps[0]["duration_seconds"], 7200);
    assert_eq!(gaps[0]["missed_runs"], 7);
    assert_eq!(gaps[0]["cause"], "attestd_down");
    let max_age = &c["rules"]["password.max_age"];
    let ex = max_age["exceptions"].as_array().unwrap();
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0]["status"], "fail");
    assert_eq!(ex[0]["first_seen"], "2026-01-01T06:00:00Z");
    assert_eq!(ex[0]["resolved_at"], "2026-01-01T09:00:00Z");
    assert_eq!(ex[0]["duration_seconds"], 10800);
    assert_eq!(ex[0]["alerts_sent"], 0);
    assert_eq!(ex[0]["evidence"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(max_age["evaluations"]["fail"], 12);
    assert_eq!(max_age["evaluations"]["pass"], 77);
    // No other password rule failed.
    for (id, r) in c["rules"].as_object().unwrap() {
        if id != "password.max_age" && r["collector"] == "password_policy" {
            assert_eq!(r["exceptions"].as_array().unwrap().len(), 0, "{id}");
        }
    }
    let controls = c["controls"].as_array().unwrap();
    let cc61 = controls.iter().find(|x| x["id"] == "soc2:CC6.1").unwrap();
    assert_eq!(cc61["result"], "exceptions_and_gaps");
    assert!(cc61["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "password.max_age"));
    assert!(
        controls
            .iter()
            .all(|x| !x["id"].as_str().unwrap().starts_with("iso27001-2013:")),
        "2013 equivalents only on request"
    );
    // The spreadsheet rows say the same.
    let csv = std::fs::read_to_string(out.join("exceptions.csv")).unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains("password.max_age"))
        .unwrap();
    assert!(
        row.contains("2026-01-01T06:00:00Z,2026-01-01T09:00:00Z,10800"),
        "{row}"
    );
    let gap_row = csv
        .lines()
        .find(|l| l.starts_with("gap,") && l.contains("password_policy"))
        .unwrap();
    assert!(
        gap_row.contains("2026-01-01T14:00:00Z,2026-01-01T16:00:00Z,7200"),
        "{gap_row}"
    );
    let controls_csv = std::fs::read_to_string(out.join("controls.csv")).unwrap();
    assert!(controls_csv
        .lines()
        .any(|l| l.starts_with("soc2:CC6.1,") && l.contains("exceptions_and_gaps")));
}

#[test]
fn the_bundle_holds_evidence_rules_samples_host_and_ledger() {
    let (_, _, _, out) = period();
    // Raw evidence with its hashes: the failing run's evidence is there.
    let s = read_json(&out.join("summary.json"));
    let failing = s["computed"]["rules"]["password.max_age"]["exceptions"][0]["evidence"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = std::fs::read_to_string(out.join("evidence/password_policy.jsonl")).unwrap();
    let line = ev
        .lines()
        .find(|l| l.contains(&failing))
        .expect("failing evidence exported");
    assert!(line.contains("99999"), "the weakened value is in the facts");
    // The sampled day: every run that day with its verdicts.
    let sample = read_json(&out.join("evidence/samples/2026-01-01.json"));
    assert_eq!(sample["runs"].as_array().unwrap().len(), 89);
    let at_seven = sample["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["at"] == "2026-01-01T07:00:00Z")
        .unwrap();
    assert_eq!(
        at_seven["collectors"]["password_policy"]["verdicts"]["password.max_age"],
        "fail"
    );
    // Rules and parameters in force, with hashes.
    let index = read_json(&out.join("rules/index.json"));
    let first = &index.as_array().unwrap()[0];
    assert!(first["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "password.max_age"
            && r["definition_sha256"].as_str().unwrap().len() == 64));
    let policy = read_json(&out.join(first["file"].as_str().unwrap()));
    assert_eq!(
        policy["collectors"]["password_policy"]["schedule"],
        "*/15 * * * *"
    );
    assert!(policy["variables"]["password_max_days"]["value"].is_number());
    // Host identity and the key.
    let host = read_json(&out.join("host.json"));
    assert!(host["attestd_version"].is_string());
    assert!(host["signing_key_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("SHA256:"));
    // The simulated day runs the time_sync collector too; its 2-hour gap shows.
    assert_eq!(host["time_sync"]["status"], "exceptions_or_gaps");
    assert!(
        host["time_sync"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "time.synchronised"),
        "{}",
        host["time_sync"]
    );
    // The ledger rows re-walk to the database's head.
    let ledger = read_json(&out.join("ledger.json"));
    assert_eq!(
        ledger["period_head"],
        ledger["database_head"]["chain_sha256"]
    );
    assert_eq!(
        ledger["rows"].as_array().unwrap().len() as u64,
        ledger["database_head"]["rows"].as_u64().unwrap()
    );
}

#[test]
fn the_key_fingerprint_matches_key_show_and_openssl() {
    let (_, db, _, out) = period();
    let o = attestd()
        .args(["key", "show", "--format", "json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(o.status.success());
    let k: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(k["created"], false, "made by the bundle command already");
    let private = PathBuf::from(k["private_key_file"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(out.join("signing-key.pub.pem")).unwrap(),
        k["public_key_pem"].as_str().unwrap()
    );
    // The fingerprint is reproducible with standard tools.
    let der = Command::new("openssl")
        .args([
            "pkey",
            "-pubin",
            "-in",
            "signing-key.pub.pem",
            "-outform",
            "DER",
        ])
        .current_dir(out)
        .output()
        .unwrap();
    use sha2::Digest;
    let fp = format!("SHA256:{}", hex::encode(sha2::Sha256::digest(&der.stdout)));
    assert_eq!(k["fingerprint"], fp);
    let (code, text) = verify(out, &["--key", &fp]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn verify_and_standard_tools_accept_an_untouched_bundle() {
    let (dir, db, config, out) = period();
    let (code, text) = verify(out, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("bundle intact"));
    assert!(sha256sum_ok(out));
    assert!(openssl_ok(out));
    assert!(minisign_ok(out));
    // The same as a .tar.gz, unpacked with tar.
    let tgz = dir.path().join("b.tar.gz");
    bundle(db, config, &tgz, &["--framework", "soc2"]);
    let (code, text) = verify(&tgz, &[]);
    assert_eq!(code, 0, "{text}");
    let x = tempfile::tempdir().unwrap();
    assert!(Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(x.path())
        .status()
        .unwrap()
        .success());
    let inner = x.path().join("b");
    assert!(sha256sum_ok(&inner));
    assert!(openssl_ok(&inner));
    let s = read_json(&inner.join("summary.json"));
    assert!(s["computed"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"].as_str().unwrap().starts_with("soc2:")));
    // The DB form of verify still works, and the two forms cannot be mixed.
    attestd()
        .args(["verify", "--db"])
        .arg(db)
        .assert()
        .success();
    attestd()
        .arg("verify")
        .arg(out)
        .arg("--db")
        .arg(db)
        .assert()
        .code(2);
}

#[test]
fn a_changed_byte_of_evidence_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let b = copy_bundle(t.path());
    let f = b.join("evidence/password_policy.jsonl");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replacen("99999", "99998", 1)).unwrap();
    let (code, out) = verify(&b, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("evidence/password_policy.jsonl: changed"),
        "{out}"
    );
    assert!(out.contains("differs from the ledger row"), "{out}");
    assert!(!sha256sum_ok(&b));
}

#[test]
fn a_deleted_ledger_row_is_caught_even_with_sums_recomputed() {
    let t = tempfile::tempdir().unwrap();
    let b = copy_bundle(t.path());
    let f = b.join("ledger.json");
    let text = std::fs::read_to_string(&f).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Rows are one per line; drop one from the middle of the period.
    let victim = lines.len() / 2;
    assert!(lines[victim].starts_with("{\"seq\""), "{}", lines[victim]);
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&f, kept.join("\n") + "\n").unwrap();
    assert!(!sha256sum_ok(&b));
    let (code, out) = verify(&b, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ledger.json: changed"), "{out}");
    assert!(out.contains("missing (deleted)"), "{out}");
    // A forger who recomputes SHA256SUMS still fails the signature and the chain.
    let sums = Command::new("sh")
        .args(["-c", "find . -type f ! -name 'SHA256SUMS*' | sed 's|^./||' | sort | xargs sha256sum > SHA256SUMS"])
        .current_dir(&b)
        .status()
        .unwrap();
    assert!(sums.success());
    assert!(sha256sum_ok(&b));
    assert!(!openssl_ok(&b));
    assert!(!minisign_ok(&b), "minisign catches it too");
    let (code, out) = verify(&b, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  signature"), "{out}");
    assert!(out.contains("missing (deleted)"), "{out}");
}

#[test]
fn edited_rule_parameters_are_caught() {
    let t = tempfile::tempdir().unwrap();
    let b = copy_bundle(t.path());
    let index = read_json(&b.join("rules/index.json"));
    let file = b.join(index[0]["file"].as_str().unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("*/15 * * * *", "0 * * * *", 1);
    assert_ne!(text, edited);
    std::fs::write(&file, edited).unwrap();
    let (code, out) = verify(&b, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("differs from ledger row"), "{out}");
    assert!(!sha256sum_ok(&b));
}

#[test]
fn a_bundle_re_signed_with_another_key_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let b = copy_bundle(t.path());
    let other = t.path().join("other.pem");
    assert!(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&other)
        .status()
        .unwrap()
        .success());
    let sign = |dir: &Path| {
        assert!(Command::new("openssl")
            .args([
                "pkeyutl",
                "-sign",
                "-rawin",
                "-in",
                "SHA256SUMS",
                "-out",
                "SHA256SUMS.sig",
                "-inkey"
            ])
            .arg(&other)
            .current_dir(dir)
            .status()
            .unwrap()
            .success());
    };
    // Re-signed, bundled key untouched: the signature does not verify.
    sign(&b);
    assert!(!openssl_ok(&b));
    let (code, out) = verify(&b, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  signature"), "{out}");
    // Re-signed and the bundled public key swapped: SHA256SUMS no longer matches it,
    // and pinning the host's fingerprint names the impostor.
    let original_fp = read_json(&b.join("host.json"))["signing_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(Command::new("openssl")
        .args(["pkey", "-pubout", "-out", "signing-key.pub.pem", "-in"])
        .arg(&other)
        .current_dir(&b)
        .status()
        .unwrap()
        .success());
    assert!(
        openssl_ok(&b),
        "the forger's own key verifies its own signature"
    );
    assert!(!sha256sum_ok(&b));
    let (code, out) = verify(&b, &["--key", &original_fp]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signing-key.pub.pem: changed"), "{out}");
    assert!(out.contains("not the expected"), "{out}");
}

#[test]
fn evidence_at_a_moment_is_rebuilt_from_the_ledger() {
    let (_, db, config, _) = period();
    let at = |t: &str| {
        let o = attestd()
            .args(["evidence", "--format", "json", "--at", t, "--db"])
            .arg(db)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let r = v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "password.max_age")
            .cloned()
            .unwrap();
        (
            r["status"].as_str().unwrap().to_string(),
            r["run_at"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        at("2026-01-01T07:10:00Z"),
        ("fail".into(), "2026-01-01T07:00:00Z".into())
    );
    assert_eq!(
        at("2026-01-01T09:00:00Z"),
        ("pass".into(), "2026-01-01T09:00:00Z".into())
    );
    assert_eq!(
        at("2026-01-01T15:30:00Z"),
        ("pass".into(), "2026-01-01T14:00:00Z".into())
    );
    let o = attestd()
        .args(["evidence", "--at", "2026-01-01T07:10:00Z", "--db"])
        .arg(db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("soc2:CC6.1") && l.contains("fail")),
        "{text}"
    );
}

#[test]
fn random_samples_are_reproducible() {
    let (dir, db, config, _) = period();
    let pick = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        bundle(db, config, &out, &["--samples", "1", "--seed", seed]);
        read_json(&out.join("summary.json"))["parameters"]["sample_dates"].clone()
    };
    let a = pick("s1", "7");
    assert_eq!(a, pick("s2", "7"));
    assert_eq!(
        a,
        serde_json::json!(["2026-01-01"]),
        "a one-day period has one day to pick"
    );
    // Over a half-year: the same seed picks the same days, another seed others.
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
    let days = attestd::bundle::sample_days(from, to, 5, 42);
    assert_eq!(days, attestd::bundle::sample_days(from, to, 5, 42));
    assert_ne!(days, attestd::bundle::sample_days(from, to, 5, 43));
    assert_eq!(days.len(), 5);
    assert!(days.windows(2).all(|w| w[0] < w[1]), "distinct, in order");
    assert!(days
        .iter()
        .all(|d| *d >= from.date_naive() && *d < to.date_naive()));
}

#[test]
fn oscal_catalogs_plan_and_results_are_valid_and_every_reference_resolves() {
    let (_, _, _, out) = period();
    let found = common::oscal::check(out).unwrap_or_else(|e| panic!("{e}"));
    let s = read_json(&out.join("summary.json"));
    // The catalogs of both frameworks, whole: every ISO 27001:2022 Annex A control.
    assert_eq!(
        found.catalogs.keys().collect::<Vec<_>>(),
        ["catalog-iso27001-2022.json", "catalog-soc2.json"]
    );
    for id in ["a.5.17", "a.8.5", "a.8.34", "cc6.1"] {
        assert!(found.controls.contains(id), "{id}");
    }
    assert_eq!(
        found
            .controls
            .iter()
            .filter(|c| c.starts_with("a.") && c.matches('.').count() == 2)
            .count(),
        93
    );
    let plan = &found.plan["assessment-plan"];
    assert_eq!(
        plan["assessment-assets"]["components"][0]["title"],
        "attestd"
    );
    let ar = &found.results["assessment-results"];
    assert_eq!(ar["import-ap"]["href"], "assessment-plan.json");
    let result = &ar["results"][0];
    // Every exception and gap is a risk with start, end and duration.
    let exceptions: Vec<&serde_json::Value> = s["computed"]["rules"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| r["exceptions"].as_array().unwrap())
        .collect();
    let gaps: usize = s["computed"]["collectors"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["gaps"].as_array().unwrap().len())
        .sum();
    let risks = result["risks"].as_array().unwrap();
    assert_eq!(risks.len(), exceptions.len() + gaps);
    assert!(!exceptions.is_empty() && gaps > 0);
    let prop = |v: &serde_json::Value, n: &str| -> Option<String> {
        v["props"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == n)
            .map(|p| p["value"].as_str().unwrap().to_string())
    };
    let exception = risks
        .iter()
        .find(|r| prop(r, "rule").as_deref() == Some("password.max_age"))
        .expect("the max_age exception is a risk");
    assert_eq!(prop(exception, "start").unwrap(), "2026-01-01T06:00:00Z");
    assert_eq!(prop(exception, "end").unwrap(), "2026-01-01T09:00:00Z");
    assert_eq!(prop(exception, "duration-seconds").unwrap(), "10800");
    assert_eq!(exception["status"], "closed");
    let gap = risks
        .iter()
        .find(|r| {
            prop(r, "kind").as_deref() == Some("gap")
                && prop(r, "collector").as_deref() == Some("password_policy")
        })
        .unwrap();
    assert_eq!(prop(gap, "start").unwrap(), "2026-01-01T14:00:00Z");
    assert_eq!(prop(gap, "end").unwrap(), "2026-01-01T16:00:00Z");
    assert_eq!(prop(gap, "duration-seconds").unwrap(), "7200");
    // The failing evidence is marked: exactly the weakened login.defs records carry
    // `failed-rule password.max_age`, and the exception's risk points at one.
    let observations = result["observations"].as_array().unwrap();
    let failing: Vec<&serde_json::Value> = observations
        .iter()
        .filter(|o| {
            o["props"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "failed-rule" && p["value"] == "password.max_age")
        })
        .collect();
    assert!(!failing.is_empty());
    let first = &exception["related-observations"][0]["observation-uuid"];
    assert!(failing.iter().any(|o| &o["uuid"] == first));
    let evidence = std::fs::read_to_string(out.join("evidence/password_policy.jsonl")).unwrap();
    for o in observations {
        if !o["title"].as_str().unwrap().starts_with("password_policy") {
            continue;
        }
        let seq = prop(o, "ledger-seq").unwrap();
        let line = evidence
            .lines()
            .find(|l| l.starts_with(&format!("{{\"seq\":{seq},")))
            .unwrap();
        let weakened =
            line.contains("PASS_MAX_DAYS\\t99999") || line.contains("\"pass_max_days\":99999");
        assert_eq!(
            failing.iter().any(|f| f["uuid"] == o["uuid"]),
            weakened,
            "observation of row {seq} marked failing exactly when its evidence is the weakened file"
        );
    }
    // One observation per evidence record, one finding per control, each targeting
    // its control's objective; made by attestd (origin actor type tool).
    let evidence_lines: usize = std::fs::read_dir(out.join("evidence"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap().lines().count())
        .sum();
    assert_eq!(observations.len(), evidence_lines);
    let findings = result["findings"].as_array().unwrap();
    assert_eq!(
        findings.len(),
        s["computed"]["controls"].as_array().unwrap().len()
    );
    let a517 = findings
        .iter()
        .find(|f| {
            f["title"]
                .as_str()
                .unwrap()
                .starts_with("iso27001-2022:A.5.17 ")
        })
        .unwrap();
    assert_eq!(a517["target"]["target-id"], "a.5.17_obj");
    assert_eq!(a517["origins"][0]["actors"][0]["type"], "tool");
    // And a broken reference is caught, so the checks above mean something.
    for (file, from, to) in [
        (
            "assessment-results.json",
            "\"a.5.17_obj\"",
            "\"a.5.99_obj\"",
        ),
        (
            "assessment-results.json",
            "\"assessment-plan.json\"",
            "\"../summary.json\"",
        ),
        ("assessment-plan.json", "\"a.5.17\"", "\"a.5.99\""),
        (
            "assessment-results.json",
            "\"objective-id\"",
            "\"no-such-type\"",
        ),
    ] {
        let copy = copy_bundle(&tempfile::tempdir().unwrap().keep());
        let path = copy.join("oscal").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        assert!(
            common::oscal::check(&copy).is_err(),
            "{file}: {from} -> {to} was not caught"
        );
    }
}

#[test]
fn index_html_renders_offline_in_headless_chromium() {
    let (_, _, _, out) = period();
    let page = out.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["src=\"http", "href=\"http", "url(http", "@import", "<link"] {
        assert!(!html.contains(external), "no external assets: {external}");
    }
    assert!(!html.contains("<script"), "no scripts");
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is installed (.ci/run installs Debian's chromium)");
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("shot.png");
    let common_args = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut dump = Command::new(chromium);
    common_args(&mut dump);
    let dom = dump
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("Control evidence for"), "{dom:.500}");
    assert!(dom.contains("id=\"soc2:CC6.1\""));
    assert!(
        dom.contains("class=\"band fail\""),
        "a fail band in a timeline"
    );
    assert!(dom.contains("class=\"gap\""), "the gap is shaded");
    assert!(dom.contains("<td class=\"resolved\">✓ resolved</td><td>password.max_age</td><td>fail</td><td>2026-01-01T06:00:00Z</td><td>2026-01-01T09:00:00Z</td><td>3 h 0 min 0 s</td>"), "{dom}");
    assert!(dom.contains("2 h 0 min 0 s"), "the gap's duration");
    assert!(dom.contains("id=\"answer\""), "the auditor's answer first");
    assert!(dom.contains("No exception was open at the end of the period."));
    assert!(
        dom.contains("attestd key show"),
        "the fingerprint comparison"
    );
    assert!(dom.contains("Statement of applicability"));
    assert!(dom.contains("<td>A.8.5</td>"));
    let mut snap = Command::new(chromium);
    common_args(&mut snap);
    let o = snap
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2000")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&o.stderr)));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a real screenshot"
    );
}
