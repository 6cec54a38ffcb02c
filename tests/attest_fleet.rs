//! Attestations recorded on a fleet host are pushed and witnessed like every other
//! host row: a real PostgreSQL cluster, a real `attestd-server` over HTTPS, a host that
//! enrols, attests through the CLI and pushes. The server stores the rows insert-only
//! and its signed receipt covers them. (The organisation ledger, for attestations that belong to
//! no host, is tested in tests/org_ledger.rs.)

mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use common::*;
use pg::{admin, write_config, Server};

#[test]
fn a_hosts_attestations_are_pushed_and_witnessed_like_its_other_rows() {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let port = free_port();
    let cfg = write_config(
        sdir.path(),
        "a.toml",
        &pg.server_url(),
        port,
        Some(&tls),
        "",
    );
    let server = Server::start(&cfg, port);
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(
        dir.path(),
        &format!(
            "\n[fleet]\nserver = {:?}\nca_file = {:?}\nhost = \"web-1\"\n",
            server.url(),
            tls.0.display().to_string()
        ),
    );
    let db = dir.path().join("attestd.db");
    let run = |args: &[&str]| {
        let o = attestd()
            .args(args)
            .arg("--db")
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let (so, se) = text(&o);
        (o.status.code().unwrap(), so, se)
    };
    let (ok, token, err) = admin(&[
        "token",
        "create",
        "--config",
        cfg.to_str().unwrap(),
        "--scope",
        "prod",
    ]);
    assert!(ok, "{err}");
    let (c, so, se) = run(&["enroll", "--token", token.trim()]);
    assert_eq!(c, 0, "{so}{se}");
    let evidence = dir.path().join("drill.txt");
    std::fs::write(
        &evidence,
        "DR drill: failover to the second site in 41 minutes.\n",
    )
    .unwrap();
    let (c, so, se) = run(&[
        "attest",
        "add",
        "--kind",
        "dr_drill",
        "--control",
        "iso27001-2022:A.5.30",
        "--control",
        "soc2:A1.3",
        "--title",
        "Failover drill",
        "--effective",
        "2026-03-14",
        "--every",
        "1y",
        "--file",
        evidence.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{so}{se}");
    let id = so
        .split_whitespace()
        .find(|w| w.starts_with("att-"))
        .unwrap()
        .to_string();
    let (c, so, se) = run(&[
        "attest",
        "review",
        &id,
        "--approve",
        "--by",
        "ciso@example.com",
        "--reason",
        "report attached",
    ]);
    assert_eq!(c, 0, "{so}{se}");
    let (c, so, se) = run(&["push"]);
    assert_eq!(c, 0, "{so}{se}");
    assert!(so.contains("witnessed up to row 2"), "{so}");
    let (_, kinds, _) = pg.sql_as(
        "postgres",
        "SELECT string_agg(kind, ',' ORDER BY seq) FROM ledger_rows WHERE host = 'web-1'",
    );
    assert_eq!(kinds.trim(), "attestation,attestation_review");
    // The server's copy is the host's row, byte for byte (the body names the file by
    // hash only: the file itself stays on the host and goes into its bundles).
    let (_, body, _) = pg.sql_as(
        "postgres",
        "SELECT body FROM ledger_rows WHERE host = 'web-1' AND seq = 1",
    );
    assert!(body.contains(&id) && body.contains("\"sha256\""), "{body}");
    assert!(
        !body.contains("41 minutes"),
        "never the file's content: {body}"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let receipts: i64 = c
        .query_row("SELECT count(*) FROM ledger WHERE kind = 'receipt' AND json_extract(body, '$.seq') = 2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        receipts, 1,
        "the witness signed the head that covers both rows"
    );
}
