//! One worker process per run (issue 15), keeping what issue 14's per-collector workers
//! guaranteed. The real `attestd` binary is the worker; the hosts are real trees, the
//! limits are real rlimits and the stalled peer a real socket:
//!
//! - a run of every built-in collector takes one worker, and each collector's evidence
//!   is what the collector gives when run in this process;
//! - one collector past its timeout is `error` with the same words as before, answers
//!   already in are kept, and a still-running neighbour finishes in a second worker;
//! - a collector that blows the worker's memory limit while others are still running
//!   is `error` naming the limit, and every other collector gets its real evidence
//!   (each unfinished one ran again alone);
//! - one collector's evidence over the reply limit is that collector's `error` only;
//! - `attestd collect` itself starts one worker for every collector of the run.

mod common;
use attestd::worker::{observe_all, Job, Limits, Request};
use attestd_collectors::{
    collector_by_name, known_collector_names, CollectContext, Evidence, HostRoot,
};
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_attestd"))
}

fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

fn job(root: &Path, collector: &str, settings: serde_json::Value, timeout_s: u64) -> Job {
    Job {
        request: Request {
            collector: collector.into(),
            root: Some(root.to_path_buf()),
            settings,
            previous_facts: None,
            measurements: None,
            now: now(),
        },
        timeout: Duration::from_secs(timeout_s),
    }
}

/// Every built-in collector with its default settings, 60 s each (load on a shared CI
/// machine must not time anything out here).
fn every_collector(root: &Path) -> Vec<Job> {
    known_collector_names()
        .into_iter()
        .map(|name| job(root, name, serde_json::json!({}), 60))
        .collect()
}

/// What the collector gives run in this process, for the same request.
fn in_process(req: &Request) -> Result<Evidence, String> {
    let collector = collector_by_name(&req.collector).unwrap();
    let ctx = CollectContext {
        root: HostRoot::new(req.root.as_ref().unwrap()).for_collector_run(),
        settings: req.settings.clone(),
        previous_facts: None,
        measurements: None,
        now: req.now,
    };
    collector.collect(&ctx).map_err(|e| e.to_string())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn hardened_copy(dir: &Path) -> PathBuf {
    let host = dir.join("host");
    copy_tree(&fixture("hardened"), &host);
    host
}

/// `etc/passwd` with `n` more accounts: legal lines, a file under the 4 MiB a read may
/// take, whose account list costs the accounts collector far more than 64 MiB of heap.
fn swell_passwd(host: &Path, n: usize) {
    let path = host.join("etc/passwd");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    for i in 0..n {
        writeln!(f, "u{i}:x:{}:100::/h:/bin/sh", 20000 + i).unwrap();
    }
}

/// `etc/group` with one more group of `n` members: a legal line under the 4 MiB a read
/// may take that only the accounts collector parses, and whose member list costs it
/// far more than 32 MiB of heap (the facts keep privileged groups only: small).
fn swell_group(host: &Path, n: usize) {
    let path = host.join("etc/group");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    let members = vec!["a"; n].join(",");
    writeln!(f, "crowd:x:5000:{members}").unwrap();
}

/// The same outcome, without printing megabytes of facts when it is not.
fn assert_same(got: &Result<Evidence, String>, want: &Result<Evidence, String>, what: &str) {
    if got != want {
        let short = |r: &Result<Evidence, String>| match r {
            Ok(e) => format!(
                "evidence {}",
                attestd_collectors::sha256_hex(&serde_json::to_vec(e).unwrap())
            ),
            Err(e) => format!("error {e}"),
        };
        panic!(
            "{what}: the worker gave {}, the collector in this process {}",
            short(got),
            short(want)
        );
    }
}

/// tls settings probing the tarpit once, giving up reading after `read_s` seconds: a
/// legitimate run that takes that long and reports the endpoint's failure as a fact.
fn slow_tls(port: u16, read_s: u64) -> serde_json::Value {
    serde_json::json!({
        "connect_timeout_seconds": 5,
        "read_timeout_seconds": read_s,
        "endpoints": [{"address": format!("127.0.0.1:{port}"), "sni": "tarpit.example.org"}],
    })
}

#[test]
fn a_run_of_every_collector_takes_one_worker_and_gives_the_same_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let host = hardened_copy(dir.path());
    let jobs = every_collector(&host);
    assert!(jobs.len() >= 15);
    let observed = runtime().block_on(observe_all(&exe(), jobs.clone(), Limits::default(), None));
    assert_eq!(observed.workers_started, 1);
    assert_eq!(observed.results.len(), jobs.len());
    for (job, (outcome, _)) in jobs.iter().zip(&observed.results) {
        assert_same(outcome, &in_process(&job.request), &job.request.collector);
    }
}

/// `attestd collect` starts its worker, and hands it its requests, before it loads the
/// policies. That worker is used only for a run whose requests and limits are the ones
/// it was started with; any other run starts its own, and both give the evidence of a
/// worker started at the time.
#[test]
fn a_worker_started_beforehand_serves_only_the_run_it_was_started_for() {
    let dir = tempfile::tempdir().unwrap();
    let host = hardened_copy(dir.path());
    let jobs = vec![
        job(&host, "ssh", serde_json::json!({}), 60),
        job(&host, "accounts", serde_json::json!({}), 60),
    ];
    let with = |change: &dyn Fn(&mut Job)| -> Vec<Job> {
        let mut changed = jobs.clone();
        changed.iter_mut().for_each(change);
        changed
    };
    let rt = runtime();
    for (what, started_for, used) in [
        ("the same jobs", jobs.clone(), true),
        // Another timeout means other limits: not the same worker.
        (
            "another timeout",
            with(&|j| j.timeout = Duration::from_secs(61)),
            false,
        ),
        ("fewer collectors", jobs[..1].to_vec(), false),
        (
            "other settings",
            with(&|j| j.request.settings = serde_json::json!({"extra": 1})),
            false,
        ),
        (
            "another time",
            with(&|j| j.request.now += chrono::Duration::seconds(1)),
            false,
        ),
    ] {
        let prestarted = {
            let _in = rt.enter();
            attestd::worker::Prestarted::start(&exe(), &started_for, Limits::default())
        };
        assert!(prestarted.is_some(), "{what}");
        let observed = rt.block_on(observe_all(
            &exe(),
            jobs.clone(),
            Limits::default(),
            prestarted,
        ));
        assert_eq!(observed.used_prestarted, used, "{what}");
        assert_eq!(observed.workers_started, 1, "{what}");
        for (job, (outcome, _)) in jobs.iter().zip(&observed.results) {
            assert_same(outcome, &in_process(&job.request), &job.request.collector);
        }
    }
    // Nothing to run: no worker.
    let _in = rt.enter();
    assert!(attestd::worker::Prestarted::start(&exe(), &[], Limits::default()).is_none());
}

/// The soft and hard values of limit `name` in a `/proc/.../limits` file.
fn limit(path: &str, name: &str) -> (String, String) {
    let limits = std::fs::read_to_string(path).unwrap();
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
    let mut values = line[name.len()..].split_whitespace().map(str::to_string);
    (values.next().unwrap(), values.next().unwrap())
}

/// A limit of a running process as `/proc/PID/limits` shows it (the soft value).
fn soft_limit(pid: u32, name: &str) -> String {
    limit(&format!("/proc/{pid}/limits"), name).0
}

/// `value`, or this process's hard limit `name` when that is lower (as prlimit clamps).
fn clamped(value: u64, name: &str) -> String {
    match limit("/proc/self/limits", name).1.parse::<u64>() {
        Ok(h) if h < value => h.to_string(),
        _ => value.to_string(),
    }
}

#[test]
fn a_spare_worker_gets_the_runs_limits_before_its_requests_and_dies_unused() {
    let dir = tempfile::tempdir().unwrap();
    let host = hardened_copy(dir.path());
    let jobs = vec![
        job(&host, "ssh", serde_json::json!({}), 60),
        job(&host, "accounts", serde_json::json!({}), 30),
    ];
    let rt = runtime();
    let _in = rt.enter();
    let inherited = soft_limit(std::process::id(), "Max cpu time");
    let spare = attestd::worker::Spare::start(&exe()).expect("a spare worker");
    let pid = spare.id().unwrap();
    // Started before anything about the run is known: the limits it inherited.
    assert_eq!(soft_limit(pid, "Max cpu time"), inherited);
    let prestarted = attestd::worker::Prestarted::start_on(spare, &jobs, Limits::default());
    assert!(prestarted.is_some());
    // Handed its requests: the run's limits (CPU: each timeout plus 1 s).
    assert_eq!(soft_limit(pid, "Max cpu time"), clamped(92, "Max cpu time"));
    assert_eq!(
        soft_limit(pid, "Max open files"),
        clamped(512, "Max open files")
    );
    let observed = rt.block_on(observe_all(
        &exe(),
        jobs.clone(),
        Limits::default(),
        prestarted,
    ));
    assert!(observed.used_prestarted);
    assert_eq!(observed.workers_started, 1);
    for (job, (outcome, _)) in jobs.iter().zip(&observed.results) {
        assert_same(outcome, &in_process(&job.request), &job.request.collector);
    }
    // A spare with nothing to run is killed, not left waiting.
    let spare = attestd::worker::Spare::start(&exe()).expect("a spare worker");
    let pid = spare.id().unwrap();
    assert!(attestd::worker::Prestarted::start_on(spare, &[], Limits::default()).is_none());
    let gone = (0..200).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let done = state.is_empty()
            || state
                .rsplit(") ")
                .next()
                .is_some_and(|s| s.starts_with('Z'));
        if !done {
            std::thread::sleep(Duration::from_millis(10));
        }
        done
    });
    assert!(gone, "the unused spare worker {pid} is still running");
}

#[test]
fn a_collector_past_its_timeout_is_killed_and_its_neighbours_finish() {
    let dir = tempfile::tempdir().unwrap();
    let host = hardened_copy(dir.path());
    let tarpit = common::tarpit::Tarpit::start();
    let port = tarpit.port;
    // The culprit waits 30 s for an answer under a 1 s timeout; the neighbour waits 3 s
    // under 60 s, so the kill at 1 s finds it unfinished.
    let jobs = vec![
        job(&host, "tls", slow_tls(port, 30), 1),
        job(&host, "tls", slow_tls(port, 3), 60),
        job(&host, "ssh", serde_json::json!({}), 60),
    ];
    let started = Instant::now();
    let observed = runtime().block_on(observe_all(&exe(), jobs.clone(), Limits::default(), None));
    let took = started.elapsed();
    let culprit = observed.results[0].0.as_ref().unwrap_err();
    assert_eq!(
        culprit,
        "timed out after 1 s; its worker process was killed (raise timeout_seconds in [collectors.tls] if the host is slow)"
    );
    // Settled at its deadline, not when the run ended.
    assert!(
        observed.results[0].1 < Duration::from_millis(1900),
        "{:?}",
        observed.results[0].1
    );
    // The neighbour ran again in a second worker, with its whole timeout, and observed.
    let neighbour = observed.results[1]
        .0
        .as_ref()
        .expect("the slow tls run observed");
    assert!(!neighbour.facts.is_null());
    assert!(
        observed.results[1].1 >= Duration::from_secs(4),
        "{:?}",
        observed.results[1].1
    );
    // The fast one answered before the kill and was kept, with the evidence it gives.
    assert_same(&observed.results[2].0, &in_process(&jobs[2].request), "ssh");
    assert!(observed.results[2].1 < Duration::from_secs(1));
    assert_eq!(observed.workers_started, 2);
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Three connections: the culprit's, the neighbour's first try (killed with the
    // worker) and its second.
    assert_eq!(tarpit.connections(), 3);
}

#[test]
fn a_collector_that_blows_the_memory_limit_is_named_and_the_others_observe() {
    let dir = tempfile::tempdir().unwrap();
    let host = hardened_copy(dir.path());
    swell_group(&host, 1_900_000);
    let tarpit = common::tarpit::Tarpit::start();
    let port = tarpit.port;
    let mut jobs = every_collector(&host);
    // A tls run still waiting on its peer when the accounts collector blows the limit.
    let tls = jobs
        .iter()
        .position(|j| j.request.collector == "tls")
        .unwrap();
    jobs[tls].request.settings = slow_tls(port, 2);
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let observed = runtime().block_on(observe_all(&exe(), jobs.clone(), limits, None));
    for (job, (outcome, _)) in jobs.iter().zip(&observed.results) {
        let name = &job.request.collector;
        if name == "accounts" {
            let Err(reason) = outcome else {
                panic!("the accounts collector observed under the memory limit")
            };
            assert_eq!(
                reason,
                "its worker ran out of its memory limit (32 MiB) and was stopped"
            );
        } else {
            assert_same(outcome, &in_process(&job.request), name);
        }
    }
    // The shared worker, then at least the culprit and the tls run alone.
    assert!(
        observed.workers_started >= 3,
        "{}",
        observed.workers_started
    );
    // In this process the same accounts collector does observe: the limit, not the
    // input, ended it.
    let accounts = jobs
        .iter()
        .find(|j| j.request.collector == "accounts")
        .unwrap();
    let facts = in_process(&accounts.request).unwrap().facts;
    assert!(facts["accounts"].is_array(), "{}", facts["unavailable"]);
}

#[test]
fn evidence_over_the_reply_limit_fails_only_its_collector() {
    let dir = tempfile::tempdir().unwrap();
    let host = hardened_copy(dir.path());
    swell_passwd(&host, 20_000);
    let jobs = vec![
        job(&host, "accounts", serde_json::json!({}), 60),
        job(&host, "ssh", serde_json::json!({}), 60),
        job(&host, "session_timeout", serde_json::json!({}), 60),
    ];
    let limits = Limits {
        max_reply_bytes: 1 << 20,
        ..Limits::default()
    };
    let observed = runtime().block_on(observe_all(&exe(), jobs.clone(), limits, None));
    assert_eq!(
        observed.results[0].0.as_ref().unwrap_err(),
        "its evidence exceeded the worker's limit of 1 MiB"
    );
    for (job, (outcome, _)) in jobs.iter().zip(&observed.results).skip(1) {
        assert_same(outcome, &in_process(&job.request), &job.request.collector);
    }
    // Skipped, not killed: one worker.
    assert_eq!(observed.workers_started, 1);
}

/// Every collector in one worker, the one `collect` started (with its requests)
/// before it loaded the policies: also with `--db`, where the second run hands the
/// collectors their previous facts.
#[test]
fn attestd_collect_runs_every_collector_in_one_worker() {
    let host = prepare_host("hardened");
    let db = tempfile::tempdir().unwrap();
    let db = db.path().join("attestd.db");
    for (what, with_db) in [
        ("no --db", false),
        ("first --db", true),
        ("second --db", true),
    ] {
        let mut cmd = attestd();
        cmd.env("ATTESTD_LOG", "attestd::engine=debug")
            .args(["collect", "--format", "json", "--root"])
            .arg(&host.root)
            .arg("--config")
            .arg(&host.config);
        if with_db {
            cmd.arg("--db").arg(&db);
        }
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let collectors: std::collections::BTreeSet<_> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["collector"].as_str().unwrap().to_string())
            .collect();
        assert!(collectors.len() >= 15, "{what}: {collectors:?}");
        let line = stderr
            .lines()
            .find(|l| l.contains("collectors ran in worker processes"))
            .unwrap_or_else(|| panic!("{what}: no worker count logged; stderr:\n{stderr}"));
        assert!(line.contains("workers=1"), "{what}: {line}");
        assert!(line.contains("prestarted=true"), "{what}: {line}");
    }
}
