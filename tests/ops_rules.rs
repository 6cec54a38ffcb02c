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

const BACKUP: [&str; 4] = [
    "backup.recent",
    "backup.copies",
    "backup.restore_tested",
    "backup.integrity_checked",
];
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

/// `sh -c`-free helper: run a real tool and insist it worked.
fn run(argv: &[&str], env: &[(&str, &str)]) {
    let out = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_repository_with_a_damaged_data_pack_counts_for_nothing() {
    // A real restic repository with a backup taken now, declared off the host; then a
    // copy whose data pack is overwritten. `restic snapshots` lists both alike.
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    std::fs::create_dir_all(p("data")).unwrap();
    std::fs::write(p("data/db.sql"), "INSERT INTO t VALUES (1);\n".repeat(50)).unwrap();
    std::fs::write(p("pass"), "correct horse\n").unwrap();
    let env = [
        ("RESTIC_CACHE_DIR", p("cache")),
        ("RESTIC_PASSWORD_FILE", p("pass")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&["/usr/bin/restic", "-q", "-r", &p("good"), "init"], &env);
    run(
        &[
            "/usr/bin/restic",
            "-q",
            "-r",
            &p("good"),
            "backup",
            &p("data"),
        ],
        &env,
    );
    run(&["/bin/cp", "-a", &p("good"), &p("bad")], &[]);
    let pack_dir = std::path::Path::new(&p("bad")).join("data");
    let mut packs: Vec<_> = std::fs::read_dir(&pack_dir)
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .collect();
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let largest = packs.last().expect("a data pack");
    let mut bytes = std::fs::read(largest).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 32] {
        *b = !*b;
    }
    std::fs::set_permissions(largest, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(largest, bytes).unwrap();
    // The operator's own job recorded the failed check as well.
    std::fs::write(
        p("check.log"),
        format!(
            "{} failed restic check: repository contains errors\n",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .unwrap();
    let config = |name: &str, marker: bool| {
        let marker = if marker {
            format!(", check_marker = \"{}\"", p("check.log"))
        } else {
            String::new()
        };
        plain_config(
            dir.path(),
            &format!(
                "[collectors.backup]\nrepositories = [{{ name = \"{name}\", kind = \"restic\", repository = \"{}\", password_file = \"{}\", off_host = true, check_read_data_subset = \"100%\"{marker} }}]\n",
                p(name),
                p("pass")
            ),
        )
    };
    let run_collect = |cfg: &std::path::Path| {
        let out = attestd()
            .args([
                "collect",
                "--format",
                "json",
                "--collector",
                "backup",
                "--config",
            ])
            .arg(cfg)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let good = run_collect(&config("good", false));
    for rule in ["backup.recent", "backup.copies", "backup.integrity_checked"] {
        assert_eq!(
            status_of(&good, rule),
            "pass",
            "good: {rule}: {}",
            good["results"]
        );
    }
    for with_marker in [false, true] {
        let bad = run_collect(&config("bad", with_marker));
        for rule in ["backup.recent", "backup.copies", "backup.integrity_checked"] {
            assert_eq!(
                status_of(&bad, rule),
                "fail",
                "bad ({with_marker}): {rule}: {}",
                bad["results"]
            );
        }
        let observed = bad["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "backup.integrity_checked")
            .unwrap()["observed"]
            .to_string();
        assert!(observed.contains("bad: failed at"), "{observed}");
    }
}
