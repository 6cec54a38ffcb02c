//! The backup and availability rules on their fixture hosts: `hardened` passes each,
//! `backup-neglected` and `degraded` fail each, and hosts without configuration are
//! not_applicable, never a pass.

mod common;
use common::*;

fn collect(host: &str) -> serde_json::Value {
    let h = prepare_host(host);
    collect_json(&h.root, &h.config, &[]).1
}

fn reason<'a>(doc: &'a serde_json::Value, rule: &str) -> &'a str {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .and_then(|r| r["reason"].as_str())
        .unwrap_or("")
}

const BACKUP: [&str; 3] = ["backup.recent", "backup.copies", "backup.restore_tested"];
const AVAILABILITY: [&str; 4] = [
    "availability.endpoint_uptime",
    "availability.units_active",
    "availability.disk_headroom",
    "availability.memory_headroom",
];

#[test]
fn hardened_passes_and_the_neglected_and_degraded_hosts_fail() {
    let hardened = collect("hardened");
    for rule in BACKUP.iter().chain(AVAILABILITY.iter()) {
        assert_eq!(
            status_of(&hardened, rule),
            "pass",
            "hardened: {rule}: {}",
            hardened["results"]
        );
    }
    let neglected = collect("backup-neglected");
    for rule in BACKUP {
        assert_eq!(
            status_of(&neglected, rule),
            "fail",
            "backup-neglected: {rule}"
        );
    }
    let degraded = collect("degraded");
    for rule in AVAILABILITY {
        assert_eq!(status_of(&degraded, rule), "fail", "degraded: {rule}");
    }
    assert_eq!(status_of(&degraded, "availability.load_headroom"), "pass");
}

#[test]
fn unconfigured_hosts_are_not_applicable() {
    let stock = collect("debian12-stock");
    for rule in BACKUP.iter().chain(&AVAILABILITY[..3]) {
        assert_eq!(
            status_of(&stock, rule),
            "not_applicable",
            "debian12-stock: {rule}"
        );
    }
    // No /proc/meminfo in that tree: nothing to judge, not a pass.
    assert_eq!(
        status_of(&stock, "availability.memory_headroom"),
        "not_applicable"
    );
}

#[test]
fn unreadable_repositories_and_missing_tools_are_errors_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("backup-neglected"), &host);
    // A tree where restic is not installed (nothing recorded) and systemctl neither.
    std::fs::remove_file(host.join("attestd-recorded-commands.toml")).unwrap();
    copy_tree(&fixture("hardened").join("proc"), &host.join("proc"));
    let config = plain_config(
        dir.path(),
        r#"
[collectors.backup]
repositories = [{ name = "r", kind = "restic", repository = "/srv/backup/restic", password_file = "/etc/attestd/restic.pass" }]
[collectors.availability]
units = ["nginx.service"]
"#,
    );
    let (_, doc) = collect_json(&host, &config, &[]);
    for rule in ["backup.recent", "backup.copies"] {
        assert_eq!(status_of(&doc, rule), "error", "{rule}");
        assert!(
            reason(&doc, rule).contains("/usr/bin/restic is not installed"),
            "{rule}: {}",
            reason(&doc, rule)
        );
    }
    assert_eq!(status_of(&doc, "availability.units_active"), "error");
    assert!(reason(&doc, "availability.units_active").contains("systemctl is not installed"));
    // A malformed restore-test log names file and line.
    std::fs::write(
        host.join("var/lib/backup-tests/restic.log"),
        "last tuesday ok\n",
    )
    .unwrap();
    let config = plain_config(
        dir.path(),
        r#"
[collectors.backup]
repositories = [{ name = "f", kind = "file", path = "/etc/attestd/*.pass", restore_test_marker = "/var/lib/backup-tests/restic.log" }]
"#,
    );
    let (_, doc) = collect_json(&host, &config, &[]);
    assert_eq!(status_of(&doc, "backup.restore_tested"), "error");
    assert!(
        reason(&doc, "backup.restore_tested").contains("/var/lib/backup-tests/restic.log:1"),
        "{}",
        reason(&doc, "backup.restore_tested")
    );
}

#[test]
fn settings_errors_are_usage_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(
        dir.path(),
        "[collectors.backup]\nrepositories = [{ name = \"r\", kind = \"restic\", repository = \"/srv/r\" }]\n",
    );
    let out = attestd()
        .args(["collect", "--root"])
        .arg(fixture("hardened"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("password_file"), "{stderr}");
}
