//! `systemctl stop` while a collector hangs: SIGTERM ends the daemon within seconds
//! (not after the collector's timeout), with exit 0, and the unfinished run leaves
//! nothing half-written: the ledger holds no run from it and verifies.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_during_a_hung_collection_stops_promptly_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    // A TLS endpoint that accepts connections (the kernel's backlog) and never answers:
    // each probe waits out its 60 s read timeout, so the tls collector hangs. (A FIFO as
    // login.defs no longer hangs anything: the host root refuses it at once.)
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = plain_config(
        dir.path(),
        &format!(
            "status_socket = \"\"\nwatch = false\n\
             [collectors.tls]\nschedule = \"0 0 1 1 *\"\ntimeout_seconds = 120\n\
             read_timeout_seconds = 60\nendpoints = [{{ address = \"127.0.0.1:{port}\" }}]\n\
             [collectors.availability]\nschedule = \"0 0 1 1 *\"\n"
        ),
    );
    let db = dir.path().join("attestd.db");
    let log = dir.path().join("daemon.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args(["run", "--root"])
        .arg(&host)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .env("ATTESTD_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let start = Instant::now();
    while !read_log().contains("attestd started") && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        read_log().contains("attestd started"),
        "log:\n{}",
        read_log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon exited early; log:\n{}",
        read_log()
    );

    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM; log:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "took {:?}",
        stopping.elapsed()
    );
    assert!(status.success(), "{status:?}; log:\n{}", read_log());
    let text = read_log();
    assert!(
        text.contains("stop requested while collecting"),
        "log:\n{text}"
    );
    assert!(!text.contains("run stored"), "log:\n{text}");

    attestd()
        .args(["verify", "--db"])
        .arg(&db)
        .assert()
        .success();
    let out = attestd()
        .args(["status", "--format", "json", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ledger_rows"]["run"].as_u64().unwrap_or(0), 0, "{doc}");
}
