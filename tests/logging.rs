//! Log output outside systemd: when stderr is not the journal (even if a stale
//! `JOURNAL_STREAM` was inherited) the daemon writes plain text lines to stderr, with
//! the structured fields inline. The journald side is checked under a real systemd by
//! tests/e2e/run.sh.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn plain_text_on_stderr_when_stderr_is_not_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(
        dir.path(),
        "status_socket = \"\"\n[collectors.password_policy]\nschedule = \"0 0 1 1 *\"\n\
         [collectors.availability]\nschedule = \"0 0 1 1 *\"\n",
    );
    let log = dir.path().join("daemon.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args(["run", "--root"])
        .arg(fixture("hardened"))
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("attestd.db"))
        .env("ATTESTD_LOG", "info")
        // An inherited value that names some other stream, not our stderr.
        .env("JOURNAL_STREAM", "8:12345")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut text = String::new();
    while start.elapsed() < Duration::from_secs(30) {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("run stored") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("attestd started"), "log:\n{text}");
    let stored = text
        .lines()
        .find(|l| l.contains("run stored"))
        .unwrap_or_else(|| panic!("no run stored; log:\n{text}"));
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
    assert!(stored.contains("INFO"), "{stored}");
    assert!(stored.contains("run_id="), "{stored}");
    assert!(stored.contains("trigger=\"start\""), "{stored}");
}
