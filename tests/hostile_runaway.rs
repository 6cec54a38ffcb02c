//! Issue 14, D6 and "what must hold": a collector that really runs away (the parsers'
//! own bounds stop an include tree first) costs one killed worker process. The input is
//! a network peer that accepts TLS probes and never answers (a tarpit), named ten times
//! with a long read timeout, so the tls collector would wait minutes. Real binary, real
//! sockets:
//!
//! - `attestd collect` reaches the worker's kill path: the rules are `error` naming the
//!   timeout and the killed worker within the timeout plus one second, and the peer sees
//!   its connection closed (the process holding it is gone);
//! - `attestd run` goes through ten such runs (with the sshd `Include` tree of issue 14,
//!   3 includes per file 15 deep, for the ssh collector in the same runs) and its
//!   resident memory and thread count, read from /proc, do not grow.

mod common;
use common::tarpit::Tarpit;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// `[collectors.tls]` probing the tarpit ten times, each probe allowed 30 s to answer,
/// under a collector timeout of `timeout` seconds.
fn tarpit_settings(port: u16, timeout: u64) -> String {
    let mut s = format!(
        "[collectors.tls]\ntimeout_seconds = {timeout}\nconnect_timeout_seconds = 5\nread_timeout_seconds = 30\n"
    );
    for _ in 0..10 {
        s.push_str(&format!(
            "[[collectors.tls.endpoints]]\naddress = \"127.0.0.1:{port}\"\nsni = \"tarpit.example.org\"\n"
        ));
    }
    s
}

/// The sshd `Include` tree of issue 14: at every level, three files that each include
/// the whole next level (3^15 reads unbounded).
fn include_tree(root: &Path, depth: usize) {
    let ssh = root.join("etc/ssh");
    std::fs::write(
        ssh.join("sshd_config.d/10-tree.conf"),
        "Include /etc/ssh/l1/*.conf\n",
    )
    .unwrap();
    include_levels(&ssh, depth);
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

#[test]
fn a_stalled_collector_is_killed_at_its_timeout_with_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let tarpit = Tarpit::start();
    let config = plain_config(dir.path(), &tarpit_settings(tarpit.port, 2));
    let start = Instant::now();
    let (_, doc) = collect_json(&host, &config, &["--collector", "tls"]);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "collect took {took:?} for a 2 s timeout"
    );
    let results: Vec<_> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["collector"] == "tls")
        .collect();
    assert!(!results.is_empty(), "{doc}");
    for r in results {
        assert_eq!(r["status"], "error", "{r}");
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("timed out after 2 s")
                && reason.contains("worker process was killed")
                && reason.contains("timeout_seconds in [collectors.tls]"),
            "{reason}"
        );
    }
    // The prober got through to the peer, and the process that held the connection is
    // gone: the kernel closed its socket when the worker's group was killed.
    assert!(tarpit.connections() >= 1, "the tls probe never connected");
    assert!(
        wait_for(Duration::from_secs(1), || tarpit.all_closed().then_some(())).is_some(),
        "a connection of the killed worker is still open"
    );
}

#[test]
fn the_daemon_does_not_grow_across_ten_runaway_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    include_tree(&host, 15);
    let tarpit = Tarpit::start();
    // Only the tls and ssh collectors run (at start and at every reload).
    let mut extra = format!(
        "status_socket = \"\"\nwatch = false\n{}",
        tarpit_settings(tarpit.port, 1)
    );
    for name in attestd_collectors::known_collector_names() {
        if name != "tls" && name != "ssh" {
            extra.push_str(&format!("[collectors.{name}]\nenabled = false\n"));
        }
    }
    let config = plain_config(dir.path(), &extra);
    let db = dir.path().join("attestd.db");
    let daemon = Daemon::start(&host, &config, &db, &dir.path().join("daemon.log"), &[]);
    let pid = daemon.child.id();
    wait_for(Duration::from_secs(30), || {
        (daemon.count("run stored") >= 1).then_some(())
    })
    .unwrap_or_else(|| panic!("no first run; log:\n{}", daemon.log()));
    // One reload first, so the baseline includes what a reload itself keeps.
    daemon.reload_and_wait(&config, 1);
    let (rss0, threads0) = (status_kib(pid, "VmRSS"), status_kib(pid, "Threads"));
    for i in 0..10 {
        daemon.reload_and_wait(&config, 2 + i);
    }
    let (rss1, threads1) = (status_kib(pid, "VmRSS"), status_kib(pid, "Threads"));
    eprintln!("ten runaway runs: RSS {rss0} -> {rss1} KiB, threads {threads0} -> {threads1}");
    let log = daemon.log();
    assert!(
        log.matches("timed out after 1 s; its worker process was killed")
            .count()
            >= 11,
        "the runs did not run away; log:\n{log}"
    );
    // An abandoned collector thread per run (D6) would add a thread and its memory
    // each time; a killed worker adds nothing to the daemon.
    assert!(
        threads1 < threads0 + 5,
        "threads grew from {threads0} to {threads1} over ten runaway runs"
    );
    assert!(
        rss1 < rss0 + 8 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB over ten runaway runs"
    );
    assert!(
        log.matches("files read for one sshd configuration (an include tree")
            .count()
            >= 11,
        "the include tree did not end in an error each run; log:\n{log}"
    );
    assert!(
        tarpit.connections() >= 11,
        "{} connections",
        tarpit.connections()
    );
    daemon.stop();
}
