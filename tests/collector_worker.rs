//! Collectors run in a worker process the parent can kill. A hostile sshd `Include`
//! tree (three includes per file, fifteen levels deep: 3^15 files to read through
//! globs) must cost one killed worker: `attestd collect` answers `error` within the
//! collector's timeout plus a second, no worker is left behind, and the parent's own
//! memory stays small. Real binary, real files.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A host whose sshd configuration includes, at every level, three files that each
/// include the whole next level.
fn include_bomb(root: &Path, depth: usize) {
    let ssh = root.join("etc/ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("sshd_config"), "Include /etc/ssh/l1/*.conf\n").unwrap();
    for level in 1..=depth {
        let dir = ssh.join(format!("l{level}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..3 {
            let body = if level < depth {
                format!("Include /etc/ssh/l{}/*.conf\n", level + 1)
            } else {
                "MaxAuthTries 3\n".to_string()
            };
            std::fs::write(dir.join(format!("{i}.conf")), body).unwrap();
        }
    }
}

/// Peak resident memory of this process's finished children, KiB (getrusage).
fn children_peak_rss_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we pass.
    unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init().ru_maxrss
    }
}

#[test]
fn a_runaway_collector_costs_one_killed_worker() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    include_bomb(&host, 15);
    let config = plain_config(dir.path(), "[collectors.ssh]\ntimeout_seconds = 2\n");
    let start = Instant::now();
    let (_, doc) = collect_json(&host, &config, &["--collector", "ssh"]);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "collect took {took:?} for a 2 s timeout"
    );
    let results = doc["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["status"], "error", "{r}");
        let reason = r["reason"].as_str().unwrap_or_default();
        // Killed as a process (or stopped earlier by the parser's own bounds), never a
        // thread abandoned to run on.
        assert!(
            reason.contains("worker") || reason.contains("include"),
            "{reason}"
        );
    }
    // The parent never ran the parser: its peak stays far below what the tree costs.
    let peak_mib = children_peak_rss_kib() / 1024;
    assert!(peak_mib < 200, "peak RSS of a child {peak_mib} MiB");
    // No worker survives its parent.
    let left = std::process::Command::new("pgrep")
        .args(["-f", "collect-worker"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "workers left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn a_worker_gives_the_same_evidence_as_before() {
    // The hardened host judged through workers: every shipped rule that applies passes
    // (tests/fixture_rules.rs asserts the same against prepared copies).
    let host = prepare_host("hardened");
    let (_, doc) = collect_json(&host.root, &host.config, &[]);
    let failing: Vec<_> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail" || r["status"] == "error")
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(failing.is_empty(), "{failing:?}");
}

/// The worker processes of `pid`: its children started as `... collect-worker`, with
/// the binary each runs (`/proc/PID/exe`).
fn workers_of(pid: u32) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let proc_dir = entry.path();
        let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
            continue;
        };
        // The parent's pid is the second field after the parenthesised command name.
        let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        if after_name.split(' ').nth(1) != Some(pid.to_string().as_str()) {
            continue;
        }
        let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        if cmdline.ends_with(b"collect-worker\0") {
            if let Ok(exe) = std::fs::read_link(proc_dir.join("exe")) {
                found.push(exe);
            }
        }
    }
    found
}

#[test]
fn collectors_run_in_the_small_worker_binary_installed_beside_attestd() {
    // A build puts attestd-worker beside attestd (target/*/), as the package puts it
    // in /usr/lib/attestd/: `collect` starts its worker from that binary, not from
    // attestd itself. The include bomb keeps the worker alive long enough to look.
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
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = Vec::new();
    while seen.is_empty() && Instant::now() < deadline {
        seen = workers_of(child.id());
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    let expected = std::fs::canonicalize(env!("CARGO_BIN_EXE_attestd-worker")).unwrap();
    assert_eq!(seen, vec![expected], "the worker processes of collect");
}
