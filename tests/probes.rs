//! Endpoint probes end to end: the daemon probes a real HTTP server on 127.0.0.1 every
//! second while the test stops and restarts it, and `attestd availability` reports the
//! outage the test made as downtime, and the time the daemon was stopped as a gap.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn http_server(port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &"python3 -m http.server");
    child
}

fn availability(db: &std::path::Path, from: &str, to: &str) -> serde_json::Value {
    let out = attestd()
        .args([
            "availability",
            "--format",
            "json",
            "--from",
            from,
            "--to",
            to,
            "--db",
        ])
        .arg(db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["probes"][0].clone()
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn an_outage_is_downtime_and_a_stopped_daemon_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = plain_config(
        dir.path(),
        &format!(
            "[collectors.availability]\nprobes = [{{ name = \"web\", url = \"http://127.0.0.1:{port}/\", expected_status = 200, timeout_seconds = 1, interval_seconds = 1 }}]\n"
        ),
    );
    let db = dir.path().join("attestd.db");
    let mut server = http_server(port, dir.path());
    let log = dir.path().join("daemon.log");
    let d = Daemon::start(&fixture("hardened"), &config, &db, &log, &[]);
    std::thread::sleep(Duration::from_secs(3));
    let from = now();
    std::thread::sleep(Duration::from_secs(3));
    // The outage: 6 seconds with nothing listening.
    let _ = server.kill();
    let _ = server.wait();
    let down_at = now();
    std::thread::sleep(Duration::from_secs(6));
    server = http_server(port, dir.path());
    let outage = (now() - down_at).num_milliseconds() as f64 / 1000.0;
    std::thread::sleep(Duration::from_secs(4));
    let to = now();
    let s = availability(&db, &stamp(from), &stamp(to));
    let period = (to - from).num_milliseconds() as f64 / 1000.0;
    let downtime = s["downtime_seconds"].as_f64().unwrap();
    // One-second probes measure an outage to within about a probe interval each side.
    assert!(
        (downtime - outage).abs() <= 2.0,
        "downtime {downtime} s for an outage of {outage} s: {s}"
    );
    assert!(s["gap_seconds"].as_f64().unwrap() <= 1.5, "{s}");
    let expected = (period - outage) / period * 100.0;
    let measured = s["availability_percent"].as_f64().unwrap();
    assert!(
        (measured - expected).abs() < 2.0 / period * 100.0,
        "{measured} % vs {expected} %: {s}"
    );
    assert!(s["failures"].as_u64().unwrap() >= 4, "{s}");
    assert!(
        s["error_budget_left_seconds"].as_f64().unwrap() < 0.0,
        "an outage this long overspends 99.95 %: {s}"
    );

    // The daemon stops for 5 seconds while the server is up: a gap, not downtime.
    d.stop();
    let stopped_at = now();
    std::thread::sleep(Duration::from_secs(5));
    let d = Daemon::start(&fixture("hardened"), &config, &db, &log, &[]);
    std::thread::sleep(Duration::from_secs(4));
    let gap = (now() - stopped_at).num_milliseconds() as f64 / 1000.0 - 4.0;
    let to2 = now();
    d.stop();
    let s2 = availability(&db, &stamp(from), &stamp(to2));
    let downtime2 = s2["downtime_seconds"].as_f64().unwrap();
    assert!(
        (downtime2 - downtime).abs() <= 1.0,
        "stopping attestd added downtime: {s2}"
    );
    let gaps = s2["gap_seconds"].as_f64().unwrap();
    assert!(
        gaps >= gap - 3.0 && gaps <= gap + 2.0,
        "gap {gaps} s for a {gap} s stop: {s2}"
    );
    let _ = server.kill();
    let _ = server.wait();

    // The text view names the same figures.
    let out = attestd()
        .args([
            "availability",
            "--from",
            &stamp(from),
            "--to",
            &stamp(to2),
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("web") && stdout.contains("gaps"),
        "{stdout}"
    );
}

/// A host without a trust store (a minimal Debian has no ca-certificates) cannot build
/// an HTTPS-capable client: HTTP probes are then not taken, which shows as missing
/// results (a gap), never as downtime and never as a crash.
#[test]
fn without_a_trust_store_http_probes_are_gaps_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(
        dir.path(),
        "[collectors.availability]\nprobes = [{ name = \"web\", url = \"http://127.0.0.1:9/\", expected_status = 200, timeout_seconds = 2 }]\n",
    );
    let out = attestd()
        .args([
            "collect",
            "--format",
            "json",
            "--collector",
            "availability",
            "--config",
        ])
        .arg(&config)
        .env("SSL_CERT_FILE", dir.path().join("no-such-bundle.pem"))
        .env("SSL_CERT_DIR", dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ca-certificates"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status_of(&doc, "availability.endpoint_uptime"), "error");
}
