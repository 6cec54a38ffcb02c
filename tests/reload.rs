//! A reload the operator can see: `attestd reload` (the unit's ExecReload) exits 0 when
//! the running daemon accepts the new config and 2, with file:line:key, when it refuses
//! it; the daemon keeps running on the previous config (a value that used to panic it at
//! SIGHUP included), `/health` turns degraded with the reason, `/metrics` says the last
//! reload failed, and `attestd status` still reads the database while the file is broken.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

fn get_unix(socket: &Path, path: &str) -> Option<(u16, String)> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response.split_once("\r\n\r\n")?.1.to_string()))
}

fn health(socket: &Path) -> (u16, serde_json::Value) {
    let (code, body) = get_unix(socket, "/health").expect("the status socket answers");
    (code, serde_json::from_str(&body).unwrap())
}

/// `attestd reload --pid PID --config FILE`: (exit code, stdout, stderr).
fn reload(pid: u32, config: &Path) -> (i32, String, String) {
    let out = attestd()
        .args(["reload", "--timeout-seconds", "30", "--pid"])
        .arg(pid.to_string())
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

const YEARLY: &str = "[collectors.password_policy]\nschedule = \"0 0 1 1 *\"\n[collectors.availability]\nschedule = \"0 0 1 1 *\"\n";

#[test]
fn a_refused_reload_fails_the_reload_command_and_shows_in_health_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let socket = dir.path().join("status.sock");
    let db = dir.path().join("attestd.db");
    let good = format!(
        "status_socket = \"{}\"\ndatabase = \"{}\"\n{YEARLY}",
        socket.display(),
        db.display()
    );
    let config = plain_config(dir.path(), &good);
    let good_text = std::fs::read_to_string(&config).unwrap();
    let mut daemon = Daemon::start(&host, &config, &db, &dir.path().join("daemon.log"), &[]);
    let pid = daemon.child.id();
    wait_for(Duration::from_secs(30), || {
        daemon.log().contains("run stored").then_some(())
    })
    .unwrap_or_else(|| panic!("no first run; log:\n{}", daemon.log()));
    let (code, h) = health(&socket);
    assert_eq!((code, h["reload"]["count"].as_u64()), (200, Some(0)), "{h}");

    // An accepted reload: exit 0 once the daemon has answered.
    let (code, stdout, stderr) = reload(pid, &config);
    assert_eq!(code, 0, "{stdout}{stderr}\nlog:\n{}", daemon.log());
    assert!(stdout.contains("the daemon reloaded"), "{stdout}");
    let (_, h) = health(&socket);
    assert_eq!(h["reload"]["count"], 1);
    assert_eq!(h["reload"]["last_accepted"], true);

    // A value that panicked the daemon at SIGHUP (Engine::new) is refused by name.
    std::fs::write(
        &config,
        format!("{good_text}[collectors.ssh]\ntimeout_seconds = 9223372036854775807\n"),
    )
    .unwrap();
    let line = good_text.lines().count() + 2;
    let (code, stdout, stderr) = reload(pid, &config);
    assert_eq!(code, 2, "{stdout}{stderr}");
    let named = format!(
        "{}:{line}: `collectors.ssh.timeout_seconds`: must be a whole number from 1 to 3600",
        config.display()
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon died at the reload; log:\n{}",
        daemon.log()
    );
    let (code, h) = health(&socket);
    assert_eq!(code, 503, "{h}");
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["reload"]["count"], 2);
    assert_eq!(h["reload"]["last_accepted"], false);
    assert!(
        h["problem"].as_str().unwrap().contains(&named),
        "{}",
        h["problem"]
    );
    let (_, metrics) = get_unix(&socket, "/metrics").unwrap();
    assert!(
        metrics.contains("attestd_config_last_reload_successful 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("attestd_config_reloads_total{result=\"refused\"} 1"),
        "{metrics}"
    );
    assert!(daemon
        .log()
        .contains("reload failed; keeping the previous configuration"));

    // `attestd status` reads the ledger while the file is broken, and says so; the
    // database is the one the refused file names.
    let out = attestd()
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("config: REFUSED: "), "{stdout}");
    assert!(
        stdout.contains(&format!("database: {}", db.display())),
        "{stdout}"
    );
    assert!(stdout.contains(&named), "{stdout}");
    assert!(stdout.contains("password_policy"), "{stdout}");
    let out = attestd()
        .args(["status", "--format", "json", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["config"]["accepted"], false);
    assert!(!doc["collectors"].as_array().unwrap().is_empty(), "{doc}");

    // Fixed: the reload succeeds and /health is ok again.
    std::fs::write(&config, &good_text).unwrap();
    let (code, stdout, stderr) = reload(pid, &config);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, h) = health(&socket);
    assert_eq!((code, &h["status"]), (200, &serde_json::json!("ok")), "{h}");
    daemon.stop();
}

#[test]
fn without_a_status_socket_the_reload_command_still_refuses_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let config = plain_config(dir.path(), &format!("status_socket = \"\"\n{YEARLY}"));
    let db = dir.path().join("attestd.db");
    let daemon = Daemon::start(&host, &config, &db, &dir.path().join("daemon.log"), &[]);
    wait_for(Duration::from_secs(30), || {
        daemon.log().contains("run stored").then_some(())
    })
    .unwrap_or_else(|| panic!("no first run; log:\n{}", daemon.log()));
    std::fs::write(
        &config,
        "[daemon]\npolicy_dirs = []\nstatus_socket = \"\"\n[collectors.ssh]\nschedule = \"61 * * * *\"\n",
    )
    .unwrap();
    let (code, _, stderr) = reload(daemon.child.id(), &config);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(":5: `collectors.ssh.schedule`: invalid schedule `61 * * * *`: minute must be 0-59, found 61"),
        "{stderr}"
    );
    // The daemon got the signal too, and logged its own refusal.
    wait_for(Duration::from_secs(10), || {
        daemon.log().contains("reload failed").then_some(())
    })
    .unwrap_or_else(|| panic!("no refusal in the log:\n{}", daemon.log()));
    daemon.stop();
}
