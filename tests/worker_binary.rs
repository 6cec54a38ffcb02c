//! The collectors' worker binary, attestd-worker: `collect` runs its collectors in it
//! when it is installed beside attestd; a worker built from other sources than its
//! parent hands over to the parent's own binary; run by hand, it only says what it is.
//! Real binaries, real processes.

mod common;
use common::*;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The worker processes of `pid`: its children started as `PROGRAM collect-worker ...`, with
/// the binary each runs (`/proc/PID/exe`).
fn workers_of(pid: u32) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            let proc_dir = Path::new("/proc").join(child);
            let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).nth(1) == Some(b"collect-worker") {
                if let Ok(exe) = std::fs::read_link(proc_dir.join("exe")) {
                    found.push(exe);
                }
            }
        }
    }
    found
}

#[test]
fn collectors_run_in_the_small_worker_binary_installed_beside_attestd() {
    // A build puts attestd-worker beside attestd (target/*/), as the package puts it
    // in /usr/lib/attestd/: `collect` starts its worker from that binary, not from
    // attestd itself.
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    include_bomb(&host, 15);
    let config = plain_config(dir.path(), "[collectors.ssh]\ntimeout_seconds = 3\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args([
            "collect",
            "--format",
            "json",
            "--collector",
            "ssh",
            "--root",
        ])
        .arg(&host)
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Looked for without pause until collect ends: the worker lives a few ms at least.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.is_empty() && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        seen = workers_of(child.id());
    }
    let _ = child.wait();
    let expected = std::fs::canonicalize(env!("CARGO_BIN_EXE_attestd-worker")).unwrap();
    assert_eq!(seen, vec![expected], "the worker processes of collect");
}

#[test]
fn attestd_worker_run_by_hand_says_what_it_is_and_does_nothing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestd-worker"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not run by hand") && stderr.contains("attestd collect"),
        "{stderr}"
    );
}

/// `attestd-worker collect-worker ID FALLBACK` with an empty request: its exit status,
/// and whether FALLBACK (a script that leaves a mark, then runs attestd as the worker)
/// was started in its place.
fn worker_told(id: &str, dir: &Path) -> (Option<i32>, bool) {
    let mark = dir.join("fallback-ran");
    let _ = std::fs::remove_file(&mark);
    let fallback = dir.join("fallback");
    std::fs::write(
        &fallback,
        format!(
            "#!/bin/sh\ntouch {}\nexec {} \"$@\"\n",
            mark.display(),
            env!("CARGO_BIN_EXE_attestd")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attestd-worker"))
        .arg(attestd::worker::SUBCOMMAND)
        .arg(id)
        .arg(&fallback)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"not a request")
        .unwrap();
    let status = child.wait().unwrap();
    (status.code(), mark.exists())
}

#[test]
fn a_worker_built_from_other_sources_hands_over_to_its_parents_binary() {
    let dir = tempfile::tempdir().unwrap();
    // Built with its parent: it serves itself (and refuses the request it cannot read,
    // exit 4).
    assert_eq!(
        worker_told(attestd::worker::SOURCE_ID, dir.path()),
        (Some(4), false)
    );
    // A stale one: the parent's binary runs instead, and it is what answers.
    assert_eq!(worker_told("0123456789abcdef", dir.path()), (Some(4), true));
    // And when that cannot start either, it says so by its own status, never serving.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestd-worker"))
        .args([
            attestd::worker::SUBCOMMAND,
            "0123456789abcdef",
            "/nonexistent/attestd",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
}
