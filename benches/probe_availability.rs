//! Figures for endpoint probes: the cost of one HTTP and one TCP probe against a local
//! server, and the cost of keeping and summarising 30 days of one probe a minute
//! (43 200 ledger rows): insert time, bytes on disk, and the time `attestd availability`
//! and the availability collector's summary take over that window. Real SQLite, real
//! sockets. `cargo bench --bench probe_availability`; it asserts nothing.

use attestd::probe::{run_probe, runnable, ProbeResult};
use attestd::store::Store;
use attestd_collectors::availability::ProbeSpec;
use chrono::{Duration, SecondsFormat, TimeZone, Utc};
use std::io::{Read, Write};
use std::time::Instant;

/// A minimal HTTP/1.1 server answering 200 to every request, on a thread.
fn local_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

/// User + system CPU seconds this process has used.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = local_server();
    let http = ProbeSpec {
        name: "web".into(),
        url: Some(format!("http://127.0.0.1:{port}/")),
        tcp: None,
        expected_status: Some(200),
        timeout_seconds: Some(5),
        interval_seconds: Some(60),
    };
    let tcp = ProbeSpec {
        name: "tcp".into(),
        url: None,
        tcp: Some(format!("127.0.0.1:{port}")),
        ..http.clone()
    };
    let probes = runnable(&[http, tcp]);
    assert_eq!(probes.len(), 2, "this machine has a trust store");
    let n = 500;
    for probe in &probes {
        let spec = probe.spec();
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        for _ in 0..n {
            let r = rt.block_on(run_probe(probe, Utc::now()));
            assert!(r.ok, "{r:?}");
        }
        println!(
            "{} probe: {:.2} ms wall, {:.3} ms CPU each ({n} probes)",
            if spec.url.is_some() { "HTTP" } else { "TCP " },
            wall.elapsed().as_secs_f64() * 1000.0 / n as f64,
            (cpu_seconds() - cpu) * 1000.0 / n as f64
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    let mut store = Store::open(&db).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let minutes = 30 * 24 * 60;
    let t = Instant::now();
    for m in 0..minutes {
        let at = start + Duration::minutes(m);
        let down = m % 10_000 < 15;
        store
            .record_probe(&ProbeResult {
                key: "web".into(),
                target: "https://app.example.com/health".into(),
                at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
                ok: !down,
                status: Some(if down { 503 } else { 200 }),
                latency_ms: 12,
                error: down.then(|| "HTTP 503, expected 200".into()),
                interval_seconds: 60,
            })
            .unwrap();
    }
    let insert = t.elapsed();
    drop(store);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    println!(
        "30 days of one probe a minute: {minutes} rows inserted in {:.1} s ({:.2} ms each, one transaction per probe), {:.1} MiB on disk",
        insert.as_secs_f64(),
        insert.as_secs_f64() * 1000.0 / minutes as f64,
        bytes as f64 / 1048576.0
    );
    let store = Store::open_read_only(&db).unwrap();
    let end = start + Duration::days(30);
    let runs = 10;
    let t = Instant::now();
    let mut s = None;
    for _ in 0..runs {
        s = Some(store.probe_summary("web", start, end, 99.95).unwrap());
    }
    let s = s.unwrap();
    println!(
        "availability over 30 days: {:.1} ms per summary ({} probes, {:.3} % up, {} s down, {} s error budget left)",
        t.elapsed().as_secs_f64() * 1000.0 / runs as f64,
        s.probes,
        s.availability_percent.unwrap_or(0.0),
        s.downtime_seconds,
        s.error_budget_left_seconds
    );
}
