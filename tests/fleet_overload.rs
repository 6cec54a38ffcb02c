//! An overloaded fleet server, with real parts (a PostgreSQL cluster of the test's own,
//! `attestd-server` over HTTPS allowing one push at a time and answering every push
//! beyond it 503 with `Retry-After` at once, real hosts pushing with `attestd push`):
//! every host's rows still arrive, because the host retries after the server's
//! `Retry-After`, and the server did refuse pushes as overloaded (so the test can fail).

mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use common::fleet_host::FleetHost as Host;
use pg::{admin, write_config, Server};

#[test]
fn hosts_retry_after_an_overloaded_servers_503_and_every_row_arrives() {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let port = pg::free_port();
    let config = write_config(
        sdir.path(),
        "a.toml",
        &pg.server_url(),
        port,
        Some(&tls),
        "max_concurrent_pushes = 1\npush_wait_ms = 0\nretry_after_secs = 1\n",
    );
    let log = sdir.path().join("server.log");
    let server = Server::start_logged(&config, port, &log);

    // Small batches: each host's backlog is many pushes, so three hosts pushing at once
    // keep meeting a busy slot.
    let hosts: Vec<Host> = (0..3)
        .map(|i| {
            Host::new(
                &format!("web-{i}"),
                "hardened",
                &server.url(),
                &tls.0,
                10,
                "",
            )
        })
        .collect();
    for h in &hosts {
        let (ok, token, err) = admin(&[
            "token",
            "create",
            "--config",
            config.to_str().unwrap(),
            "--scope",
            "prod",
        ]);
        assert!(ok, "{err}");
        let (code, out, err) = h.run(&["enroll", "--token", token.trim()]);
        assert_eq!(code, 0, "{out}{err}");
        h.collect();
    }
    let results: Vec<(i32, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts.iter().map(|h| s.spawn(|| h.push())).collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    for (h, (code, out, err)) in hosts.iter().zip(&results) {
        assert_eq!(code, &0, "{}: {out}{err}", h.name);
    }

    let text = std::fs::read_to_string(&log).unwrap();
    let refused = text.matches("every push slot was busy").count();
    assert!(
        refused > 0,
        "the server never answered a push as overloaded:\n{text}"
    );
    // Every host's whole ledger is on the server: its head is the host's last row.
    let (ok, out, err) = admin(&[
        "hosts",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    for h in &hosts {
        let store = attestd::store::Store::open(&h.db()).unwrap();
        // The receipt row the push appended comes after the pushed rows.
        let local = store.last_seq().unwrap() - 1;
        let line = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["host"] == h.name.as_str())
            .unwrap_or_else(|| panic!("{} not listed: {out}", h.name));
        assert_eq!(line["seq"], local, "{}: {line}", h.name);
    }
    println!("overloaded answers: {refused}");
}
