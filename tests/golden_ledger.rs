//! A ledger written by an earlier release (`main` at 6848c7a, before the ledger crate):
//! a day of password_policy, availability and accounts runs against the hardened host,
//! PASS_MAX_DAYS weakened from 06:00 to 09:00, a reload changing a variable at 12:00,
//! attestd down from 14:00 to 16:00, an alert sink, and an HTTP probe down from 10:00
//! to 10:30. `expected/` holds what that release printed for it. Today's binary must
//! open the old database (migrating it if the schema moved on), keep its chain intact,
//! and print the same answers; bundle files must be identical apart from the time they
//! were generated and the machine that generated them.
//!
//! When a later change alters an answer on purpose, regenerate the affected file under
//! `expected/` and say so in the commit message.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledgers/main-6848c7a")
}

/// A private copy of the old state directory and config (the database is opened
/// read-write). Commands run inside it with the relative paths `expected/` was made
/// with, since paths appear in some answers.
fn copy_state(dir: &Path) {
    copy_tree(&golden().join("state"), &dir.join("state"));
    std::fs::copy(golden().join("config.toml"), dir.join("config.toml")).unwrap();
    // git keeps no modes: the key is private to its owner, as attestd requires.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("state/signing-key.pem");
    if key.exists() {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = attestd()
        .args(args)
        .args(["--db", "state/attestd.db"])
        .current_dir(dir)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap(), format!("{so}{se}"))
}

/// Replace what depends on when and where a bundle was generated.
fn normalise(text: &str) -> String {
    let mut out = text.to_string();
    let generated = regex_free_find(&out, "\"generated_at\": \"")
        .or_else(|| regex_free_find(&out, "\"bundle_generated_at\": \""));
    if let Some(g) = generated {
        out = out.replace(&g, "GENERATED_AT");
    }
    out
}

/// The value of the first `"KEY": "VALUE"` after `prefix`.
fn regex_free_find(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_string())
}

/// The files of a bundle directory, relative path -> content, with generation time
/// and host identity (read from the machine that builds the bundle) taken out.
fn bundle_files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            // Signatures and their input cover the generation time.
            if rel.starts_with("SHA256SUMS") {
                continue;
            }
            files.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
    // `parameters.fallback_policy` is the config in use when bundling, not the ledger's
    // (rules and collector versions of the binary that bundles): it follows the
    // shipped policies, not the ledger, so it is left out of the comparison.
    let mut doc: serde_json::Value = serde_json::from_str(&files["summary.json"]).unwrap();
    doc["parameters"]
        .as_object_mut()
        .unwrap()
        .remove("fallback_policy");
    files.insert(
        "summary.json".into(),
        serde_json::to_string_pretty(&doc).unwrap(),
    );
    let summary = files["summary.json"].clone();
    let generated = regex_free_find(&summary, "\"generated_at\": \"").expect("generated_at");
    let host: serde_json::Value = serde_json::from_str(&files["host.json"]).unwrap();
    let mut identity: Vec<String> = ["hostname", "kernel", "machine_id", "os"]
        .iter()
        .filter_map(|k| host["host"][k].as_str().map(str::to_string))
        .filter(|v| v.len() > 2)
        .collect();
    identity.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for text in files.values_mut() {
        *text = text.replace(&generated, "GENERATED_AT");
        for (i, v) in identity.iter().enumerate() {
            *text = text.replace(&format!("\"{v}\""), &format!("\"HOST_{i}\""));
            *text = text.replace(&format!(">{v}<"), &format!(">HOST_{i}<"));
        }
    }
    files
}

#[test]
fn an_old_ledger_still_verifies_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    copy_state(dir.path());
    let (code, out) = run(dir.path(), &["verify"]);
    assert_eq!(code, 0, "{out}");
    let expected = std::fs::read_to_string(golden().join("expected/verify-db.txt")).unwrap();
    assert_eq!(out, expected);
    for (file, args) in [
        ("status.json", vec!["status", "--format", "json"]),
        ("controls.json", vec!["controls", "--format", "json"]),
        (
            "history.json",
            vec!["history", "--rule", "password.max_age", "--format", "json"],
        ),
        ("alerts.json", vec!["alerts", "--format", "json"]),
        (
            "availability.json",
            vec![
                "availability",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-02",
                "--format",
                "json",
            ],
        ),
        (
            "evidence.json",
            vec![
                "evidence",
                "--at",
                "2026-01-01T07:00:00Z",
                "--format",
                "json",
            ],
        ),
    ] {
        let mut args = args.clone();
        args.extend(["--config", "config.toml"]);
        let (code, out) = run(dir.path(), &args);
        assert_eq!(code, 0, "{file}: {out}");
        let expected = std::fs::read_to_string(golden().join("expected").join(file)).unwrap();
        assert_eq!(
            normalise(&out),
            normalise(&expected),
            "`attestd {}` differs from {file}",
            args.join(" ")
        );
    }
}

#[test]
fn an_old_ledger_bundles_to_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    copy_state(dir.path());
    let out = dir.path().join("bundle");
    let (code, printed) = run(
        dir.path(),
        &[
            "bundle",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-01",
            "--sample-dates",
            "2026-01-01",
            "--config",
            "config.toml",
            "--out",
            "bundle",
        ],
    );
    assert_eq!(code, 0, "{printed}");
    let now = bundle_files(&out);
    let then = bundle_files(&golden().join("expected/bundle"));
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        then.keys().collect::<Vec<_>>(),
        "the bundle's files differ"
    );
    for (name, text) in &then {
        assert!(
            &now[name] == text,
            "{name} differs from the bundle the earlier release wrote"
        );
    }
    let (code, v) = run_verify(&out);
    assert_eq!(code, 0, "{v}");
    // What the earlier release got wrong about this ledger, now asserted exactly.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let control = |id: &str| {
        summary["computed"]["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    // Every availability rule was not_applicable: not tested, not effective.
    let a12 = control("soc2:A1.2");
    assert_eq!(a12["result"], "not_tested");
    assert_eq!(a12["not_tested_reason"], "no_rule_applicable");
    assert_eq!(
        control("soc2:A1.3")["not_tested_reason"],
        "collector_never_ran"
    );
    // One outage seen by many collectors counts once (was 619200 s, their sum).
    assert_eq!(control("soc2:CC6.1")["gap_seconds"], 86400);
    // Resolved exceptions are not open.
    for c in summary["computed"]["controls"].as_array().unwrap() {
        for e in c["exceptions"].as_array().unwrap() {
            assert_eq!(e["open"], e["resolved_at"].is_null(), "{e}");
        }
    }
    assert!(v.contains("not tested"), "{v}");
    // ... and says so in every output.
    let csv = std::fs::read_to_string(out.join("controls.csv")).unwrap();
    let row = csv.lines().find(|l| l.starts_with("soc2:A1.2,")).unwrap();
    assert!(
        row.contains(",not_tested,") && row.ends_with(",no_rule_applicable"),
        "{row}"
    );
    let oscal = std::fs::read_to_string(out.join("oscal/assessment-results.json")).unwrap();
    assert!(oscal.contains(
        "not assessed: attestd did not test this control in the period (no_rule_applicable)"
    ));
    // Not tested is neither satisfied nor not-satisfied: the finding gives no
    // objective status, only the remark; and the OSCAL of the old ledger validates
    // and resolves like a new one.
    let found = common::oscal::check(&out).unwrap_or_else(|e| panic!("{e}"));
    let findings = found.results["assessment-results"]["results"][0]["findings"]
        .as_array()
        .unwrap()
        .clone();
    let finding = |id: &str| {
        findings
            .iter()
            .find(|f| f["title"].as_str().unwrap().starts_with(&format!("{id} ")))
            .unwrap()
            .clone()
    };
    let a12 = finding("soc2:A1.2");
    assert!(a12["target"].get("status").is_none(), "{a12}");
    assert_eq!(
        a12["target"]["remarks"],
        "not assessed: attestd did not test this control in the period (no_rule_applicable)"
    );
    assert_eq!(
        finding("soc2:CC6.1")["target"]["status"]["state"],
        "not-satisfied"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("not tested: no rule applied to this host"));
    assert!(html.contains("<td>A.8.14</td><td>"));
    assert!(
        html.contains("not tested here"),
        "the statement of applicability"
    );
    // The PKCS#8 v2 key of the earlier release was rewritten as v1, which OpenSSL reads.
    let o = std::process::Command::new("openssl")
        .args(["pkey", "-in", "state/signing-key.pem", "-noout", "-text"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
}

fn run_verify(bundle: &Path) -> (i32, String) {
    let o = attestd()
        .arg("verify")
        .arg(bundle)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap(), format!("{so}{se}"))
}
