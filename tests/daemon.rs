//! The daemon as it runs on a host: first run at start, a weakened file caught within
//! seconds through the file watch, a broken config at reload keeps the old one, and
//! SIGTERM stops it cleanly with the ledger intact.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

fn drift_to_fail(db: &Path, config: &Path) -> Option<serde_json::Value> {
    let out = attestd()
        .args([
            "history",
            "--rule",
            "password.max_age",
            "--format",
            "json",
            "--db",
        ])
        .arg(db)
        .arg("--config")
        .arg(config)
        .output()
        .ok()?;
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    events
        .as_array()?
        .iter()
        .find(|e| e["to"] == "fail")
        .cloned()
}

#[test]
fn watched_file_change_reload_and_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    // Yearly schedules: every run in this test comes from start, the watch or reload.
    let config = plain_config(
        dir.path(),
        "[collectors.password_policy]\nschedule = \"0 0 1 1 *\"\n[collectors.availability]\nschedule = \"0 0 1 1 *\"\n",
    );
    let db = dir.path().join("state/attestd.db");
    let daemon = Daemon::start(&host, &config, &db, &dir.path().join("daemon.log"), &[]);

    let started = wait_for(Duration::from_secs(30), || {
        daemon.log().contains("run stored").then_some(())
    });
    assert!(started.is_some(), "no first run; log:\n{}", daemon.log());
    assert!(drift_to_fail(&db, &config).is_none());

    // Weaken the password policy the way an editor would: write a new file.
    weaken_max_age(&host);
    let drift = wait_for(Duration::from_secs(20), || drift_to_fail(&db, &config));
    let drift =
        drift.unwrap_or_else(|| panic!("the change was not caught; log:\n{}", daemon.log()));
    assert_eq!(drift["observed_after"], 99999);
    assert!(daemon.log().contains("watched files changed"));
    assert!(daemon.log().contains("verdict changed"));
    // The message names the rule and the change, for `journalctl RULE=...`.
    assert!(
        daemon
            .log()
            .contains("password.max_age pass -> fail (observed 99999)"),
        "{}",
        daemon.log()
    );

    // A broken config at reload keeps the old one running and says why.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{good}\n[collectors.availability]\nschedule = \"nonsense\"\n"),
    )
    .unwrap();
    daemon.signal("-HUP");
    let refused = wait_for(Duration::from_secs(10), || {
        daemon.log().contains("reload failed").then_some(())
    });
    assert!(refused.is_some(), "log:\n{}", daemon.log());
    assert!(daemon.log().contains("keeping the previous configuration"));
    // The message itself names the file and line, for `journalctl -u attestd`.
    let line = daemon
        .log()
        .lines()
        .find(|l| l.contains("reload failed"))
        .map(str::to_string)
        .unwrap();
    assert!(
        line.contains("attestd.toml:") && line.contains("previous configuration: "),
        "{line}"
    );
    let mut daemon = daemon;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon died on a bad reload"
    );

    // SIGTERM: a clean, prompt exit and an intact ledger.
    daemon.signal("-TERM");
    let exited = wait_for(Duration::from_secs(10), || daemon.child.try_wait().unwrap());
    let status = exited.expect("the daemon did not stop within 10 s of SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        daemon.log()
    );
    attestd()
        .args(["verify", "--db"])
        .arg(&db)
        .assert()
        .success();
}
