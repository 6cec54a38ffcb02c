//! The backup collector against real restic and Borg repositories made in a temporary
//! directory (Debian's `restic` and `borgbackup`; `.ci/run` installs them). Snapshot
//! dates are set with `restic backup --time` and `borg create --timestamp`.

use attestd_collectors::{backup::Backup, CollectContext, Collector, HostRoot};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn sh(argv: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(argv[0])
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

fn collect(settings: Value) -> Value {
    let ctx = CollectContext {
        root: HostRoot::live(),
        settings,
        previous_facts: None,
        measurements: None,
        now: Utc::now(),
    };
    Backup.collect(&ctx).unwrap().facts
}

struct Repos {
    dir: tempfile::TempDir,
}

impl Repos {
    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

/// A restic repository with snapshots on 2026-11-01 (host web1) and 2026-11-20 (web2),
/// and a Borg repository with archives on 2026-10-01 and 2026-11-21.
fn make_repos() -> Repos {
    let dir = tempfile::tempdir().unwrap();
    let r = Repos { dir };
    std::fs::create_dir_all(r.p("data")).unwrap();
    std::fs::write(r.p("data/a.txt"), "hello").unwrap();
    std::fs::write(r.p("pass"), "correct horse\n").unwrap();
    std::fs::write(r.p("wrong"), "battery staple\n").unwrap();
    let cache = r.p("cache");
    let env = [("RESTIC_CACHE_DIR", cache.as_str())];
    let (repo, pass, data) = (r.p("restic"), r.p("pass"), r.p("data"));
    sh(
        &[
            "/usr/bin/restic",
            "-r",
            &repo,
            "--password-file",
            &pass,
            "init",
        ],
        &env,
    );
    for (time, host) in [
        ("2026-11-01 02:00:00", "web1"),
        ("2026-11-20 02:30:00", "web2"),
    ] {
        sh(
            &[
                "/usr/bin/restic",
                "-r",
                &repo,
                "--password-file",
                &pass,
                "backup",
                "--time",
                time,
                "--host",
                host,
                &data,
            ],
            &[("RESTIC_CACHE_DIR", cache.as_str()), ("TZ", "UTC")],
        );
    }
    let base = r.p("borgbase");
    let passcmd = format!("/bin/cat {pass}");
    let benv = [
        ("BORG_BASE_DIR", base.as_str()),
        ("BORG_PASSCOMMAND", passcmd.as_str()),
    ];
    let borg = r.p("borg");
    sh(&["/usr/bin/borg", "init", "-e", "repokey", &borg], &benv);
    for (ts, name) in [("2026-10-01T01:00:00", "a1"), ("2026-11-21T01:15:00", "a2")] {
        sh(
            &[
                "/usr/bin/borg",
                "create",
                "--timestamp",
                ts,
                &format!("{borg}::{name}"),
                &data,
            ],
            &benv,
        );
    }
    r
}

#[test]
fn restic_and_borg_repositories_report_times_counts_hosts_and_paths() {
    let r = make_repos();
    std::fs::write(
        r.p("restore.log"),
        "2026-09-01T10:00:00Z ok restored /etc\n2026-11-22T10:00:00Z ok restored data/, 1 file compared\n",
    )
    .unwrap();
    let facts = collect(json!({"repositories": [
        {"name": "local", "kind": "restic", "repository": r.p("restic"), "password_file": r.p("pass"),
         "restore_test_marker": r.p("restore.log")},
        {"name": "nas", "kind": "borg", "repository": r.p("borg"), "password_file": r.p("pass"), "off_host": true},
    ]}));
    let restic = &facts["repositories"][0];
    assert_eq!(restic["status"], "ok", "{facts}");
    assert_eq!(restic["snapshot_count"], 2);
    assert_eq!(restic["newest_backup_at"], "2026-11-20T02:30:00Z");
    assert_eq!(restic["oldest_backup_at"], "2026-11-01T02:00:00Z");
    assert_eq!(restic["hosts"], json!(["web1", "web2"]));
    assert_eq!(restic["paths"], json!([r.p("data")]));
    assert_eq!(restic["off_host"], false);
    assert_eq!(restic["last_restore_test"]["at"], "2026-11-22T10:00:00Z");
    assert_eq!(restic["last_check"], Value::Null);
    let borg = &facts["repositories"][1];
    assert_eq!(borg["status"], "ok", "{facts}");
    assert_eq!(borg["snapshot_count"], 2);
    assert_eq!(borg["newest_backup_at"], "2026-11-21T01:15:00Z");
    assert_eq!(borg["oldest_backup_at"], "2026-10-01T01:00:00Z");
    assert_eq!(borg["paths"], json!([r.p("data")]));
    assert_eq!(
        (borg["off_host"].clone(), borg["off_host_basis"].clone()),
        (json!(true), json!("declared"))
    );
    assert_eq!(facts["unavailable"], json!({}));
    // The password never reaches facts.
    assert!(!facts.to_string().contains("correct horse"));
}

#[test]
fn wrong_passwords_missing_locked_and_corrupt_repositories_are_named_errors() {
    let r = make_repos();
    // Corrupt: the snapshot objects overwritten with garbage. restic then lists fewer
    // snapshots and exits 0, which must not read as "no backups" or as fine.
    sh(
        &["/bin/cp", "-a", &r.p("restic"), &r.p("restic-corrupt")],
        &[],
    );
    for entry in std::fs::read_dir(r.p("restic-corrupt/snapshots")).unwrap() {
        std::fs::write(
            entry.unwrap().path(),
            "garbage garbage garbage garbage garbage",
        )
        .unwrap();
    }
    let facts = collect(json!({"repositories": [
        {"name": "wrongpw", "kind": "restic", "repository": r.p("restic"), "password_file": r.p("wrong")},
        {"name": "missing", "kind": "restic", "repository": r.p("nothing-here"), "password_file": r.p("pass")},
        {"name": "corrupt", "kind": "restic", "repository": r.p("restic-corrupt"), "password_file": r.p("pass")},
        {"name": "borg-wrongpw", "kind": "borg", "repository": r.p("borg"), "password_file": r.p("wrong")},
        {"name": "borg-missing", "kind": "borg", "repository": r.p("no-borg"), "password_file": r.p("pass")},
        {"name": "nopassfile", "kind": "restic", "repository": r.p("restic"), "password_file": r.p("no-such-file")},
    ]}));
    let kinds: Vec<(String, String)> = facts["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["status"].as_str().unwrap().to_string(),
                x["error_kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [
        "wrong_password",
        "missing",
        "corrupt",
        "wrong_password",
        "missing",
        "unreadable",
    ];
    for (i, k) in want.iter().enumerate() {
        assert_eq!(
            kinds[i],
            ("error".to_string(), k.to_string()),
            "{}",
            facts["repositories"][i]
        );
        // No snapshot facts for a repository that could not be read: rules become errors.
        assert!(facts["repositories"][i].get("newest_backup_at").is_none());
    }
    assert_eq!(facts["unavailable"].as_object().unwrap().len(), 6);
    assert!(facts["unavailable"]["repositories.nopassfile"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert!(
        !facts.to_string().contains("correct horse")
            && !facts.to_string().contains("battery staple")
    );

    // Locked: `borg with-lock` holds the exclusive lock while `sleep` runs.
    let passcmd = format!("/bin/cat {}", r.p("pass"));
    let base = r.p("borgbase");
    let mut holder = Command::new("/usr/bin/borg")
        .args(["with-lock", &r.p("borg"), "/bin/sleep", "30"])
        .env("BORG_BASE_DIR", &base)
        .env("BORG_PASSCOMMAND", &passcmd)
        .spawn()
        .unwrap();
    let lock = Path::new(&r.p("borg")).join("lock.exclusive");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !lock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "borg with-lock never locked"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let facts = collect(json!({"repositories": [
        {"name": "busy", "kind": "borg", "repository": r.p("borg"), "password_file": r.p("pass")},
    ]}));
    let _ = holder.kill();
    let _ = holder.wait();
    let busy = &facts["repositories"][0];
    assert_eq!(
        (busy["status"].as_str(), busy["error_kind"].as_str()),
        (Some("error"), Some("locked")),
        "{busy}"
    );

    // restic locked exclusively: a `restic check` frozen (SIGSTOP) once its lock exists.
    let locks = Path::new(&r.p("restic")).join("locks");
    let count_locks = || std::fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0);
    let lock_written = || {
        std::fs::read_dir(&locks)
            .map(|d| d.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 0)))
            .unwrap_or(false)
    };
    let mut frozen = None;
    for _ in 0..20 {
        let mut check = Command::new("/usr/bin/restic")
            .args([
                "-r",
                &r.p("restic"),
                "--password-file",
                &r.p("pass"),
                "--no-cache",
                "check",
                "--read-data",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(5) {
            if count_locks() > 0 {
                // Let restic finish writing the lock file before freezing it: on a busy
                // machine a fixed pause can catch a lock file still empty.
                let written = std::time::Instant::now();
                while !lock_written() && written.elapsed() < std::time::Duration::from_secs(2) {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                sh(&["/bin/kill", "-STOP", &check.id().to_string()], &[]);
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        if count_locks() > 0 && check.try_wait().unwrap().is_none() {
            frozen = Some(check);
            break;
        }
        let _ = check.kill();
        let _ = check.wait();
    }
    let mut check = frozen.expect("could not catch `restic check` holding its lock in 20 tries");
    let facts = collect(json!({"repositories": [
        {"name": "busy", "kind": "restic", "repository": r.p("restic"), "password_file": r.p("pass")},
    ]}));
    let _ = check.kill();
    let _ = check.wait();
    let busy = &facts["repositories"][0];
    assert_eq!(
        (busy["status"].as_str(), busy["error_kind"].as_str()),
        (Some("error"), Some("locked")),
        "{busy}"
    );
    assert!(
        busy["error"]
            .as_str()
            .unwrap()
            .contains("locked exclusively"),
        "{busy}"
    );
}

#[test]
fn file_repositories_report_the_newest_matching_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("var/backups/db")).unwrap();
    for (name, when) in [
        ("a.sql.gz", "2026-11-01 00:00:00"),
        ("b.sql.gz", "2026-11-24 23:00:00"),
    ] {
        let p = root.join("var/backups/db").join(name);
        std::fs::write(&p, "x").unwrap();
        sh(
            &[
                "/usr/bin/touch",
                "-d",
                &format!("{when} UTC"),
                &p.to_string_lossy(),
            ],
            &[],
        );
    }
    let ctx = |settings: Value| CollectContext {
        root: HostRoot::new(root),
        settings,
        previous_facts: None,
        measurements: None,
        now: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
    };
    let facts = Backup
        .collect(&ctx(json!({"repositories": [{"name": "db", "kind": "file", "path": "/var/backups/db/*.sql.gz"}]})))
        .unwrap()
        .facts;
    let db = &facts["repositories"][0];
    assert_eq!(db["snapshot_count"], 2);
    assert_eq!(db["newest_backup_at"], "2026-11-24T23:00:00Z");
    assert_eq!(db["newest_file"], "/var/backups/db/b.sql.gz");
    // Nothing matches: zero backups, no time; a rule on it fails rather than passes.
    let facts = Backup
        .collect(&ctx(json!({"repositories": [{"name": "db", "kind": "file", "path": "/var/backups/none/*"}]})))
        .unwrap()
        .facts;
    assert_eq!(facts["repositories"][0]["snapshot_count"], 0);
    assert_eq!(facts["repositories"][0]["newest_backup_at"], Value::Null);
    // A tree without restic recorded: the tool counts as not installed.
    let facts = Backup
        .collect(&ctx(json!({"repositories": [{"name": "r", "kind": "restic", "repository": "/srv/restic", "password_file": "/var/backups/db/a.sql.gz"}]})))
        .unwrap()
        .facts;
    assert_eq!(facts["repositories"][0]["error_kind"], "not_installed");
    assert!(
        facts["unavailable"]["repositories.r"]
            .as_str()
            .unwrap()
            .contains("restic is not installed")
            || facts["unavailable"]["repositories.r"]
                .as_str()
                .unwrap()
                .contains("/usr/bin/restic is not installed")
    );
}

fn collect_with(settings: Value, previous: Option<Value>, now: chrono::DateTime<Utc>) -> Value {
    let ctx = CollectContext {
        root: HostRoot::live(),
        settings,
        previous_facts: previous,
        measurements: None,
        now,
    };
    Backup.collect(&ctx).unwrap().facts
}

/// Overwrite (up to) 100 bytes in the middle of every file under `dir` (restic's data packs,
/// borg's segments) with other bytes, as a failing disk or a botched copy would.
fn damage(dir: &str, min_len: u64) {
    let mut damaged = 0;
    for entry in walk(Path::new(dir)) {
        let len = std::fs::metadata(&entry).unwrap().len();
        if len < min_len {
            continue;
        }
        let mut perms = std::fs::metadata(&entry).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&entry, perms).unwrap();
        let mut bytes = std::fs::read(&entry).unwrap();
        let mid = bytes.len() / 2;
        let n = 100.min(bytes.len() / 3);
        for b in &mut bytes[mid..mid + n] {
            *b = !*b;
        }
        std::fs::write(&entry, bytes).unwrap();
        damaged += 1;
    }
    assert!(damaged > 0, "nothing to damage under {dir}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_damaged_data_pack_or_segment_fails_the_integrity_check() {
    let r = make_repos();
    sh(&["/bin/cp", "-a", &r.p("restic"), &r.p("restic-bad")], &[]);
    sh(&["/bin/cp", "-a", &r.p("borg"), &r.p("borg-bad")], &[]);
    // restic: the data pack (the file contents; the small packs hold trees).
    damage(&r.p("restic-bad/data"), 0);
    // borg: the segments holding data (not the tiny commit-tag segments).
    damage(&r.p("borg-bad/data"), 100);
    let repos = |name: &str, kind: &str, extra: Value| {
        let mut v = json!({"name": name, "kind": kind, "repository": r.p(name), "password_file": r.p("pass")});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let now = Utc::now();
    let facts = collect_with(
        json!({"repositories": [
            repos("restic", "restic", json!({"check_read_data_subset": "100%"})),
            repos("restic-bad", "restic", json!({"check_read_data_subset": "100%"})),
            repos("borg", "borg", json!({})),
            repos("borg-bad", "borg", json!({"check_verify_data": true})),
        ]}),
        None,
        now,
    );
    let check = |i: usize| facts["repositories"][i]["integrity_check"].clone();
    for i in [0, 2] {
        assert_eq!(check(i)["result"], "ok", "{}", check(i));
        assert_eq!(check(i)["by"], "attestd");
        assert!(check(i)["duration_ms"].is_u64());
    }
    let bad = check(1);
    assert_eq!(bad["result"], "failed", "{bad}");
    assert!(
        bad["note"]
            .as_str()
            .unwrap()
            .contains("repository contains errors"),
        "{bad}"
    );
    assert_eq!(bad["options"], json!(["--read-data-subset", "100%"]));
    let bad = check(3);
    assert_eq!(bad["result"], "failed", "{bad}");
    assert_eq!(bad["options"], json!(["--verify-data"]));
    // The listing alone does not notice: that is why the check matters.
    assert_eq!(facts["repositories"][1]["status"], "ok");
    assert_eq!(facts["repositories"][1]["snapshot_count"], 2);
    // No password in facts.
    assert!(!facts.to_string().contains("correct horse"));
}

#[test]
fn checks_run_on_their_own_schedule_and_a_newer_marker_entry_wins() {
    let r = make_repos();
    let settings = |extra: Value| {
        let mut repo = json!({"name": "local", "kind": "restic", "repository": r.p("restic"),
            "password_file": r.p("pass"), "check_read_data_subset": "100%",
            "check_marker": r.p("check.log")});
        repo.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "repositories": [repo] })
    };
    let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    let first = collect_with(settings(json!({})), None, t0);
    let own = first["repositories"][0]["attestd_check"].clone();
    assert_eq!(own["result"], "ok", "{first}");
    assert_eq!(own["at"], "2026-11-30T12:00:00Z");
    // Two hours later the check is not due: it is carried over, even though the
    // repository is now damaged (a run would notice).
    damage(&r.p("restic/data"), 0);
    let t1 = t0 + chrono::Duration::hours(2);
    let second = collect_with(settings(json!({})), Some(first.clone()), t1);
    assert_eq!(second["repositories"][0]["integrity_check"], own);
    // A day later it is due and runs again, and finds the damage.
    let t2 = t0 + chrono::Duration::hours(25);
    let third = collect_with(settings(json!({})), Some(second), t2);
    let check = &third["repositories"][0]["integrity_check"];
    assert_eq!(check["result"], "failed", "{third}");
    assert_eq!(check["at"], "2026-12-01T13:00:00Z");
    // An operator's check recorded after attestd's wins; attestd's stays known.
    std::fs::write(
        r.p("check.log"),
        "2026-12-01T14:00:00Z ok restic check --read-data-subset 1/10 (nightly job)\n",
    )
    .unwrap();
    let t3 = t2 + chrono::Duration::hours(2);
    let fourth = collect_with(
        settings(json!({"check_interval_hours": 0})),
        Some(third.clone()),
        t3,
    );
    let repo = &fourth["repositories"][0];
    assert_eq!(repo["integrity_check"]["by"], "check_marker", "{fourth}");
    assert_eq!(repo["integrity_check"]["at"], "2026-12-01T14:00:00Z");
    assert_eq!(repo["attestd_check"]["result"], "failed");
}
