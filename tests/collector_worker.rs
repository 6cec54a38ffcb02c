//! Collectors run in a worker process the parent can kill. A hostile sshd `Include`
//! tree (three includes per file, fifteen levels deep: 3^15 files to read through
//! globs) must cost one killed worker: `attestd collect` answers `error` within the
//! collector's timeout plus a second, no worker is left behind, and the parent's own
//! memory stays small. Real binary, real files.

mod common;
use common::*;
use std::time::{Duration, Instant};

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
