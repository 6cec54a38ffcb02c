//! A burst of 10,000 drift events, each raising an alert, delivered by the real daemon
//! to a local webhook receiver: prints the time to queue them (10,000 runs stored with
//! their alerts), the time until the receiver has all of them, and the daemon's peak
//! RSS (VmHWM) during delivery. Prints figures; asserts nothing.
//!
//! Run: `cargo bench --bench alert_burst` (N=2000 in the environment for a shorter run).

use attestd::alert::{AlertPolicy, AlertsSection};
use attestd::policy::{Status, Verdict};
use attestd::store::{CollectorRun, RuleMeta, RunInput, Store};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The receiver: counts POSTs.
    let count = Arc::new(AtomicUsize::new(0));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    {
        let count = count.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let app = axum::Router::new().fallback(move |_body: axum::body::Bytes| {
                    let count = count.clone();
                    async move {
                        count.fetch_add(1, Ordering::Relaxed);
                        "ok"
                    }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
    }
    let port: u16 = port_rx.recv().unwrap();
    std::fs::write(d.join("secret"), "bench").unwrap();
    let alerts = format!(
        "[alerts]\nrenotify_minutes = 0\n[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{}/secret\"\n",
        d.display()
    );
    let config = d.join("attestd.toml");
    std::fs::write(
        &config,
        format!("[daemon]\npolicy_dirs = []\nwatch = false\n[collectors.password_policy]\nschedule = \"0 0 1 1 *\"\n[collectors.availability]\nschedule = \"0 0 1 1 *\"\n{alerts}"),
    )
    .unwrap();
    let section: AlertsSection = attestd::config::Config::from_file(&config).unwrap().alerts;

    // The burst: n runs in which one rule flips, each a drift event and an alert.
    let db = d.join("attestd.db");
    let mut store = Store::open(&db).unwrap();
    let policy = AlertPolicy {
        host: "bench".into(),
        section,
        rules: BTreeMap::new(),
    };
    let mut meta = BTreeMap::new();
    meta.insert(
        "bench.rule".to_string(),
        RuleMeta {
            controls: vec!["soc2:CC6.1".into()],
            severity: "high".into(),
        },
    );
    let t = Instant::now();
    for i in 0..n {
        let status = if i % 2 == 0 {
            Status::Fail
        } else {
            Status::Pass
        };
        let run = RunInput {
            run_id: format!("run-{i}"),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:00Z".into(),
            trigger: "schedule".into(),
            collectors: vec![CollectorRun {
                collector: "bench".into(),
                version: "1".into(),
                outcome: Err("synthetic".into()),
                duration_ms: 0,
                verdicts: vec![Verdict {
                    rule: "bench.rule".into(),
                    status,
                    observed: serde_json::json!(i),
                    expected: "a pass".into(),
                    reason: None,
                    waiver: None,
                }],
            }],
            rule_meta: meta.clone(),
            policy: None,
        };
        let out = attestd::pipeline::store(&mut store, &run, Some(&policy), None).unwrap();
        assert!(out.alert.is_some());
    }
    let queued = t.elapsed();
    drop(store);

    // The daemon delivers them.
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/hardened");
    let t = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args(["run", "--root"])
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .env("ATTESTD_LOG", "warn")
        .stderr(std::fs::File::create(d.join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let hwm = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                })
            })
            .unwrap_or(0)
    };
    let mut peak = 0;
    while count.load(Ordering::Relaxed) < n && t.elapsed() < Duration::from_secs(600) {
        peak = peak.max(hwm());
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = t.elapsed();
    peak = peak.max(hwm());
    let got = count.load(Ordering::Relaxed);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!("alert burst: {n} drift events, each one alert, one webhook sink on 127.0.0.1");
    println!(
        "  queue (store {n} runs with drift + alert rows): {:.2} s",
        queued.as_secs_f64()
    );
    println!(
        "  deliver (daemon start until the receiver has {got}/{n}): {:.2} s ({:.0} alerts/s)",
        delivered.as_secs_f64(),
        got as f64 / delivered.as_secs_f64()
    );
    println!("  daemon peak RSS (VmHWM): {:.1} MiB", peak as f64 / 1024.0);
    println!("  database after: {:.1} MiB", size as f64 / 1048576.0);
}
