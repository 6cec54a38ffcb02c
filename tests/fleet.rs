//! Hosts and the fleet server with real parts: a PostgreSQL cluster of the test's own,
//! two `attestd-server` instances over HTTPS, and several `attestd` hosts (separate
//! state directories and fixture roots) that enrol, collect and push. A server that is
//! down loses nothing; a host whose ledger was restored from an old copy is `forked`.

mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use common::fleet_host::FleetHost as Host;
use common::*;
use pg::{admin, write_config, Server};
use serde_json::Value;
use std::path::Path;

impl Host {
    fn ledger(&self, sql: &str) -> i64 {
        let c = rusqlite::Connection::open(self.db()).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}
fn hosts(config: &Path) -> Value {
    let (ok, out, err) = admin(&[
        "hosts",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn host_line(all: &Value, name: &str) -> Value {
    all.as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .cloned()
        .unwrap()
}

#[test]
fn hosts_enrol_push_through_two_instances_survive_an_outage_and_forks_are_refused() {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let (pa, pb) = (free_port(), free_port());
    let ca_cfg = write_config(sdir.path(), "a.toml", &pg.server_url(), pa, Some(&tls), "");
    let cb_cfg = write_config(sdir.path(), "b.toml", &pg.server_url(), pb, Some(&tls), "");
    let mut a = Server::start(&ca_cfg, pa);
    let _b = Server::start(&cb_cfg, pb);

    let web = Host::new("web-1", "hardened", &a.url(), &tls.0, 7, "");
    let db = Host::new("db-1", "debian12-stock", &_b.url(), &tls.0, 7, "");
    let ops = Host::new("ops-1", "weak-access", &a.url(), &tls.0, 7, "");
    for h in [&web, &db, &ops] {
        let (ok, token, err) = admin(&[
            "token",
            "create",
            "--config",
            ca_cfg.to_str().unwrap(),
            "--scope",
            "prod",
        ]);
        assert!(ok, "{err}");
        let (code, out, err) = h.run(&["enroll", "--token", token.trim()]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains(&format!("enrolled {} in scope prod", h.name)),
            "{out}"
        );
        // A token is one-use.
        let (code, _, err) = h.run(&["enroll", "--token", token.trim()]);
        assert_ne!(code, 0);
        assert!(err.contains("token_used"), "{err}");
        h.collect();
        let (code, out, err) = h.push();
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("witnessed up to row"), "{out}");
    }
    // The receipt is a row of the host's own ledger, and the server holds every row
    // before it (several batches of 7).
    for h in [&web, &db, &ops] {
        assert_eq!(
            h.ledger("SELECT count(*) FROM ledger WHERE kind = 'receipt'"),
            1
        );
        let last = h.ledger("SELECT max(seq) FROM ledger");
        let line = host_line(&hosts(&ca_cfg), &h.name);
        assert_eq!(line["seq"].as_i64(), Some(last - 1), "{line}");
        assert_eq!(line["state"], "reporting");
    }
    // Pushing again with nothing new sends nothing (a receipt alone is not pushed).
    let (code, out, _) = web.push();
    assert_eq!((code, out.trim()), (0, "nothing to push"));

    // Server A is down while web-1 collects: the push fails, nothing is lost, and the
    // backlog goes when A is back.
    a.stop();
    web.collect();
    web.collect();
    let (code, _, err) = web.push();
    assert_ne!(code, 0, "a push to a stopped server fails");
    assert!(err.contains("fleet") || err.contains("error"), "{err}");
    let a2 = Server::start(&ca_cfg, pa);
    let before = web.ledger("SELECT max(seq) FROM ledger");
    let (code, out, err) = web.push();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        host_line(&hosts(&cb_cfg), "web-1")["seq"].as_i64(),
        Some(before)
    );
    let stored: i64 = pg
        .sql_as(
            "postgres",
            "SELECT count(*) FROM ledger_rows WHERE host = 'web-1'",
        )
        .1
        .parse()
        .unwrap();
    assert_eq!(
        stored, before,
        "every row the host wrote while the server was down arrived"
    );

    // db-1's ledger is restored from an old copy (its newest rows are gone) and then
    // collects again: the server refuses the rewritten history as forked.
    let copy = db.dir.path().join("old.db");
    std::fs::copy(db.db(), &copy).unwrap();
    db.collect();
    assert_eq!(db.push().0, 0);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.db().display()));
    }
    std::fs::copy(&copy, db.db()).unwrap();
    let restored = db.ledger("SELECT max(seq) FROM ledger");
    db.collect();
    let (code, out, err) = db.push();
    assert_ne!(
        code,
        0,
        "restored to row {restored}, now {}: {out}{err} {}",
        db.ledger("SELECT max(seq) FROM ledger"),
        host_line(&hosts(&ca_cfg), "db-1")
    );
    assert!(err.contains("forked"), "{err}");
    let all = hosts(&ca_cfg);
    assert_eq!(host_line(&all, "db-1")["state"], "forked");
    assert_eq!(host_line(&all, "web-1")["state"], "reporting");
    assert_eq!(
        pg.sql_as(
            "postgres",
            "SELECT count(*) FROM incidents WHERE host = 'db-1'"
        )
        .1,
        "1"
    );

    // A retired host may push no more.
    let (ok, _, err) = admin(&[
        "host",
        "retire",
        "--config",
        ca_cfg.to_str().unwrap(),
        "ops-1",
    ]);
    assert!(ok, "{err}");
    ops.collect();
    let (code, _, err) = ops.push();
    assert_ne!(code, 0);
    assert!(err.contains("retired_host"), "{err}");
    assert_eq!(host_line(&hosts(&ca_cfg), "ops-1")["state"], "retired");
    drop(a2);
}

#[test]
fn the_daemon_pushes_continuously_and_sends_its_backlog_when_the_server_is_back() {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let port = pg::free_port();
    let cfg = write_config(
        sdir.path(),
        "a.toml",
        &pg.server_url(),
        port,
        Some(&tls),
        "",
    );
    let mut server = Server::start(&cfg, port);
    let h = Host::new("daemon-1", "hardened", &server.url(), &tls.0, 7, "");
    std::fs::write(
        &h.config,
        std::fs::read_to_string(&h.config)
            .unwrap()
            .replace("batch_rows = 7", "batch_rows = 7\npush_interval_secs = 1"),
    )
    .unwrap();
    let (ok, token, _) = admin(&[
        "token",
        "create",
        "--config",
        cfg.to_str().unwrap(),
        "--scope",
        "prod",
    ]);
    assert!(ok);
    assert_eq!(h.run(&["enroll", "--token", token.trim()]).0, 0);
    // The server is down when the daemon starts: its first run waits in the ledger.
    server.stop();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args(["run", "--root"])
        .arg(&h.root)
        .arg("--db")
        .arg(h.db())
        .arg("--config")
        .arg(&h.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let _server = Server::start(&cfg, port);
    let stored = || -> i64 {
        pg.sql_as(
            "postgres",
            "SELECT count(*) FROM ledger_rows WHERE host = 'daemon-1'",
        )
        .1
        .parse()
        .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let receipted = || h.ledger("SELECT count(*) FROM ledger WHERE kind = 'receipt'");
    while receipted() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(
        stored() > 0,
        "the daemon pushed its backlog after the server came back"
    );
    assert!(receipted() >= 1, "the daemon recorded the receipt");
}
