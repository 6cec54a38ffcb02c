//! `attestd collect` as a user runs it: the JSON contract of DESIGN.md, exit codes,
//! readable text, clear usage errors, and no secrets in anything it prints or stores.

mod common;
use common::*;
use predicates::prelude::*;

fn is_utc_rfc3339(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z')
}

#[test]
fn json_output_follows_the_contract() {
    // The hardened host as its fixture file prepares it (recent apt and AIDE times).
    let host = prepare_host("hardened");
    let (code, doc) = collect_json(&host.root, &host.config, &[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["host"]["hostname"], "hardened");
    assert_eq!(doc["host"]["os"], "Debian GNU/Linux 12 (bookworm)");
    for key in ["id", "started_at", "finished_at"] {
        assert!(doc["run"][key].is_string(), "run.{key}");
    }
    assert!(is_utc_rfc3339(doc["run"]["finished_at"].as_str().unwrap()));
    let results = doc["results"].as_array().unwrap();
    assert!(results.len() >= 12);
    for r in results {
        for key in [
            "rule",
            "collector",
            "status",
            "controls",
            "severity",
            "observed",
            "expected",
            "evidence_sha256",
        ] {
            assert!(r.get(key).is_some(), "result lacks {key}: {r}");
        }
        let sha = r["evidence_sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64
                && sha
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("soc2:")));
    }
    let summary = &doc["summary"];
    let total: u64 = ["pass", "fail", "error", "not_applicable", "waived"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, results.len());
}

#[test]
fn a_failing_host_exits_1_and_text_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let out = attestd()
        .args(["collect", "--root"])
        .arg(fixture("debian12-stock"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("FAIL   high     password.min_length"),
        "{stdout}"
    );
    assert!(
        stdout.contains("observed: 6   expected: a password quality module"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fix:      apt install libpam-pwquality"),
        "{stdout}"
    );
    assert!(
        stdout.contains("controls: soc2:CC6.1 iso27001-2022:A.5.17"),
        "{stdout}"
    );
    // Failures come before passes.
    assert!(stdout.find("FAIL").unwrap() < stdout.find("PASS").unwrap());
}

#[test]
fn one_collector_can_be_chosen_and_unknown_ones_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let (_, doc) = collect_json(
        &fixture("hardened"),
        &config,
        &["--collector", "availability"],
    );
    let results = doc["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r["collector"] == "availability"));
    attestd()
        .args(["collect", "--collector", "pasword_policy", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("unknown collector `pasword_policy`")
                .and(predicate::str::contains("password_policy")),
        );
}

#[test]
fn bad_config_is_exit_2_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(
        dir.path(),
        "\n[collectors.password_policy]\nschedule = \"every monday\"\n",
    );
    attestd()
        .args(["collect", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        // The line of the `schedule` key, not of the `[collectors.password_policy]` header.
        .stderr(predicate::str::contains("attestd.toml:5: `collectors.password_policy.schedule`: invalid schedule `every monday`"));
    let config = plain_config(dir.path(), "[variables]\npassword_min_lenght = 12\n");
    attestd()
        .args(["collect", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "attestd.toml:4: `variables.password_min_lenght`: unknown variable",
        ));
    attestd()
        .args(["collect", "--root", "/no/such/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a directory"));
}

#[test]
fn variables_in_config_change_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "[variables]\npassword_min_length = 16\n");
    let (_, doc) = collect_json(&fixture("hardened"), &config, &[]);
    assert_eq!(status_of(&doc, "password.min_length"), "fail");
    let r = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "password.min_length")
        .unwrap();
    assert!(r["expected"].as_str().unwrap().contains(">= 16"));
}

#[test]
fn waivers_in_config_mark_failures_waived_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let waiver = |expires: &str| {
        format!("[[waiver]]\nrule = \"password.max_age\"\nreason = \"NIST SP 800-63B: no forced expiry, MFA everywhere\"\napprover = \"ciso@example.com\"\nexpires = \"{expires}\"\n")
    };
    let config = plain_config(dir.path(), &waiver("2999-01-01"));
    let (_, doc) = collect_json(&fixture("debian12-stock"), &config, &[]);
    assert_eq!(status_of(&doc, "password.max_age"), "waived");
    assert_eq!(doc["summary"]["waived"], 1);
    let config = plain_config(dir.path(), &waiver("2020-01-01"));
    let (_, doc) = collect_json(&fixture("debian12-stock"), &config, &[]);
    assert_eq!(status_of(&doc, "password.max_age"), "fail");
}

#[test]
fn no_password_hash_reaches_output_or_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    for host in fixture_names() {
        let db = dir.path().join(format!("{host}.db"));
        let out = attestd()
            .args(["collect", "--format", "json", "--root"])
            .arg(fixture(&host))
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        // Every text value of every table: raw file bytes would also hold binary chain
        // hashes, in which `$1$` turns up by chance.
        let stored = all_text_in(&db);
        for haystack in [stdout.as_bytes(), stderr.as_bytes(), stored.as_bytes()] {
            for secret in ["$y$", "$6$", "$1$", "FAKE"] {
                assert!(
                    !haystack
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()),
                    "{host}: `{secret}` leaked"
                );
            }
        }
    }
}

/// Every text value stored in any table of a database.
fn all_text_in(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(tables.iter().any(|t| t == "ledger"), "{tables:?}");
    let mut out = String::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let rusqlite::types::ValueRef::Text(t) = row.get_ref(i).unwrap() {
                    out.push_str(&String::from_utf8_lossy(t));
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn help_explains_the_commands() {
    attestd().arg("--help").assert().success().stdout(
        predicate::str::contains("collect")
            .and(predicate::str::contains("verify"))
            .and(predicate::str::contains("Exit codes")),
    );
    attestd()
        .args(["collect", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--root <DIR>"));
    let out = attestd().args(["collect", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let help: String = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for name in attestd_collectors::known_collector_names() {
        assert!(
            help.contains(&format!("{name},")) || help.contains(&format!("{name}, or")),
            "collect --help does not list {name}:\n{help}"
        );
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    // `attestd controls --all | head -1` or `| grep -q`: the reader closes the pipe after
    // the first bytes; attestd must end as other Unix tools do, not panic on the write.
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (mut reader, writer) = std::io::pipe().unwrap();
    // A one-page pipe, so the ~290 lines cannot all fit before the reader goes away.
    // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own.
    let size = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(size >= 4096, "F_SETPIPE_SZ failed");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_attestd"));
    cmd.args(["controls", "--framework", "iso27001-2022", "--all", "--db"])
        .arg(dir.path().join("none.db"))
        .stdout(writer)
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    drop(cmd);
    let mut first = [0u8; 16];
    reader.read_exact(&mut first).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "attestd panicked: {stderr}");
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("error"),
        "attestd complained about the closed pipe: {stderr}"
    );
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
