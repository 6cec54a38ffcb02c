//! The status endpoint of a running daemon, over a real unix socket and a real loopback
//! TCP port: /health reports the stored runs, /metrics agrees with `attestd status`
//! and moves when a watched file is weakened, a second daemon never steals a live
//! socket, and the socket file is removed at exit.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// One HTTP/1.1 GET over any stream: (status code, body).
fn get(mut stream: impl Read + Write, path: &str) -> Option<(u16, String)> {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

fn get_unix(socket: &Path, path: &str) -> Option<(u16, String)> {
    get(std::os::unix::net::UnixStream::connect(socket).ok()?, path)
}

/// The value of one sample line `name{labels} value` in the metrics text.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn health_and_metrics_follow_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let socket = dir.path().join("run/status.sock");
    let port = free_port();
    let config = plain_config(
        dir.path(),
        &format!(
            "status_socket = \"{}\"\nstatus_listen = \"127.0.0.1:{port}\"\n\
             [collectors.password_policy]\nschedule = \"0 0 1 1 *\"\n\
             [collectors.availability]\nschedule = \"0 0 1 1 *\"\n",
            socket.display()
        ),
    );
    let db = dir.path().join("state/attestd.db");
    let mut daemon = Daemon::start(&host, &config, &db, &dir.path().join("daemon.log"), &[]);

    // /health: ok once the first run is stored.
    let health = wait_for(Duration::from_secs(30), || {
        let (code, body) = get_unix(&socket, "/health")?;
        let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
        (code == 200 && doc["runs_stored"] == 1).then_some(doc)
    })
    .unwrap_or_else(|| {
        panic!(
            "/health never reported a stored run; log:\n{}",
            daemon.log()
        )
    });
    assert_eq!(health["status"], "ok");
    assert_eq!(health["policies"], "<embedded policies>");
    assert!(health["last_run_id"].is_string());
    let mode = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o660
    );

    // /metrics agrees with what `attestd status` reads from the ledger.
    let (code, metrics) = get_unix(&socket, "/metrics").unwrap();
    assert_eq!(code, 200);
    let status = attestd()
        .args(["status", "--format", "json", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for s in ["pass", "fail", "error", "not_applicable", "waived"] {
        let in_ledger: u64 = status["collectors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["verdicts"][s].as_u64())
            .sum();
        assert_eq!(
            sample(&metrics, &format!("attestd_rules{{status=\"{s}\"}}")),
            Some(in_ledger as f64),
            "{s}; metrics:\n{metrics}"
        );
    }
    assert_eq!(
        sample(&metrics, "attestd_runs_total{trigger=\"start\"}"),
        Some(1.0)
    );
    for c in ["password_policy", "availability"] {
        assert_eq!(
            sample(
                &metrics,
                &format!("attestd_collector_duration_seconds_count{{collector=\"{c}\"}}")
            ),
            Some(1.0),
            "{metrics}"
        );
        let last = sample(
            &metrics,
            &format!("attestd_collector_last_success_timestamp_seconds{{collector=\"{c}\"}}"),
        )
        .unwrap_or_else(|| panic!("no last success for {c}:\n{metrics}"));
        let now = chrono::Utc::now().timestamp() as f64;
        assert!((now - last).abs() < 120.0, "{c}: {last} vs now {now}");
    }
    // No sink is configured, so nothing was queued: the outbox counts are real zeros.
    assert_eq!(
        sample(&metrics, "attestd_alerts_pending"),
        Some(0.0),
        "{metrics}"
    );
    for state in ["pending", "delivered", "failed"] {
        assert_eq!(
            sample(
                &metrics,
                &format!("attestd_alert_deliveries{{state=\"{state}\"}}")
            ),
            Some(0.0),
            "{metrics}"
        );
    }
    let fail_before = sample(&metrics, "attestd_rules{status=\"fail\"}").unwrap();
    // The first verdicts of a fresh install are baselines, not drift.
    assert_eq!(
        sample(&metrics, "attestd_drift_events_total"),
        Some(0.0),
        "{metrics}"
    );

    // Quiet when nothing changes: the collectors reading their watched files must not
    // trigger watch runs (inotify reports opens too).
    std::thread::sleep(Duration::from_secs(3));
    let (_, quiet) = get_unix(&socket, "/metrics").unwrap();
    assert_eq!(
        sample(&quiet, "attestd_runs_total{trigger=\"watch\"}"),
        None,
        "runs without any change; log:\n{}",
        daemon.log()
    );

    // The same endpoint on loopback TCP.
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (code, body) = get(tcp, "/health").unwrap();
    assert_eq!(code, 200, "{body}");

    // A weakened file: one more failing rule, a watch-triggered run, one drift event.
    weaken_max_age(&host);
    let after = wait_for(Duration::from_secs(20), || {
        let (_, m) = get_unix(&socket, "/metrics")?;
        (sample(&m, "attestd_runs_total{trigger=\"watch\"}")? >= 1.0).then_some(m)
    })
    .unwrap_or_else(|| panic!("no watch run in the metrics; log:\n{}", daemon.log()));
    assert_eq!(
        sample(&after, "attestd_rules{status=\"fail\"}"),
        Some(fail_before + 1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "attestd_drift_events_total"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(get_unix(&socket, "/nope").unwrap().0, 404);

    // A second daemon does not take over the live socket; the first keeps serving.
    let mut second = Daemon::start(
        &host,
        &config,
        &dir.path().join("state/second.db"),
        &dir.path().join("second.log"),
        &[],
    );
    let refused = wait_for(Duration::from_secs(30), || {
        second
            .log()
            .contains("status endpoint unavailable")
            .then_some(())
    });
    assert!(refused.is_some(), "second daemon log:\n{}", second.log());
    assert!(second.log().contains("another process is serving"));
    assert_eq!(get_unix(&socket, "/health").unwrap().0, 200);
    assert!(second.terminate().success());
    assert!(
        socket.exists(),
        "the second daemon removed a socket it did not own"
    );

    // SIGTERM: clean exit, socket file gone.
    assert!(daemon.terminate().success(), "log:\n{}", daemon.log());
    assert!(!socket.exists(), "the socket file was left behind");
}
