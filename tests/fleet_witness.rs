//! The witness in host bundles, with real parts (a PostgreSQL cluster of the test's own,
//! `attestd-server` over HTTPS, a real host that enrols, collects and pushes): a host
//! bundle carries the server's receipts and witness key and verifies; a bundle cut
//! before a witnessed head, one whose verdict was changed with the chain recomputed and
//! re-signed, one with a forged receipt or another witness key, and one without its
//! receipts all fail `attestd verify`. A push refused as forked reaches the host's alert
//! sinks (a real HTTP receiver) once, and the server's log; the same refusal met by the
//! daemon's pusher (`attestd run`) is delivered once while the fork stays open.

mod alerts_support;
mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use alerts_support::Receiver;
use common::fleet_host::FleetHost as Host;
use common::*;
use pg::{admin, write_config, Postgres, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Fleet {
    _pg: Postgres,
    sdir: tempfile::TempDir,
    tls: (PathBuf, PathBuf),
    config: PathBuf,
    server: Server,
}

fn fleet() -> Fleet {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let port = pg::free_port();
    let config = write_config(
        sdir.path(),
        "a.toml",
        &pg.server_url(),
        port,
        Some(&tls),
        "",
    );
    let server = Server::start_logged(&config, port, &sdir.path().join("server.log"));
    Fleet {
        _pg: pg,
        sdir,
        tls,
        config,
        server,
    }
}

fn enrol(f: &Fleet, h: &Host) {
    let (ok, token, err) = admin(&[
        "token",
        "create",
        "--config",
        f.config.to_str().unwrap(),
        "--scope",
        "prod",
    ]);
    assert!(ok, "{err}");
    let (code, out, err) = h.run(&["enroll", "--token", token.trim()]);
    assert_eq!(code, 0, "{out}{err}");
}

fn verify(bundle: &Path, extra: &[&str]) -> (i32, String) {
    let o = attestd()
        .arg("verify")
        .arg(bundle)
        .args(extra)
        .output()
        .unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap_or(-1), format!("{so}{se}"))
}

/// The `receipts` line of `attestd verify` and the problems under it.
fn receipts_lines(out: &str) -> String {
    let mut lines = out.lines().skip_while(|l| !l.contains(" receipts "));
    let mut s = lines.next().unwrap_or_default().to_string();
    for l in lines.take_while(|l| l.starts_with("      -")) {
        s.push('\n');
        s.push_str(l);
    }
    s
}

/// Rewrite SHA256SUMS and both signatures with the host's own key.
fn resign(bundle: &Path, db: &Path) {
    let key = attestd::bundle::signing::HostKey::load_or_create(db).unwrap();
    let mut sums = String::new();
    for rel in attestd::bundle::list_files(bundle).unwrap() {
        let digest = attestd::bundle::sha256_file(&bundle.join(&rel)).unwrap();
        sums.push_str(&format!("{digest}  {rel}\n"));
    }
    std::fs::write(bundle.join("SHA256SUMS"), &sums).unwrap();
    std::fs::write(bundle.join("SHA256SUMS.sig"), key.sign(sums.as_bytes())).unwrap();
    std::fs::write(
        bundle.join("SHA256SUMS.minisig"),
        key.minisign_signature(sums.as_bytes(), "re-signed"),
    )
    .unwrap();
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_vec(v).unwrap()).unwrap();
}

fn rows_of(ledger: &Value) -> Vec<attestd_ledger::Row> {
    serde_json::from_value(ledger["rows"].clone()).unwrap()
}

#[test]
fn host_bundles_carry_receipts_and_verify_catches_what_contradicts_them() {
    let f = fleet();
    let h = Host::new("web-1", "hardened", &f.server.url(), &f.tls.0, 50, "");
    enrol(&f, &h);
    h.collect();
    h.collect();
    let (code, out, err) = h.run(&["push"]);
    assert_eq!(code, 0, "{out}{err}");
    h.collect();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let to = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let d = tempfile::tempdir().unwrap();
    let genuine = d.path().join("genuine");
    let (code, out, err) = h.run(&[
        "bundle",
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        genuine.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    // The bundle carries the receipt and the witness key, and verifies.
    let receipts = read_json(&genuine.join("receipts.json"));
    assert_eq!(receipts["format"], "attestd-receipts/1");
    let list = receipts["receipts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{receipts}");
    let witnessed = list[0]["receipt"]["seq"].as_i64().unwrap();
    let receipt_row = list[0]["ledger_seq"].as_i64().unwrap();
    assert!(witnessed < receipt_row);
    assert!(genuine.join("fleet-witness.pub.pem").exists());
    let (code, v) = verify(&genuine, &[]);
    assert_eq!(code, 0, "{v}");
    assert!(
        receipts_lines(&v).contains("1 receipt(s) of the fleet server, 1 signature(s) verified"),
        "{v}"
    );
    assert!(
        receipts_lines(&v).contains("1 witnessed head(s) match"),
        "{v}"
    );
    // Pinned to the server's real witness key (saved at enrolment): still verifies; pinned
    // to another key: fails.
    let witness_pem = h.dir.path().join("fleet-witness.pub.pem");
    let (code, v) = verify(&genuine, &["--witness-key", witness_pem.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    let (code, v) = verify(
        &genuine,
        &["--witness-key", &format!("SHA256:{}", "0".repeat(64))],
    );
    assert_eq!(code, 1, "{v}");
    assert!(
        receipts_lines(&v).contains("receipts were signed by another server"),
        "{v}"
    );

    // 1. Cut before the witnessed head (rows removed from the end, header fixed,
    // re-signed with the host key): the receipt still says the row existed.
    let cut = d.path().join("cut");
    copy_tree(&genuine, &cut);
    let mut ledger = read_json(&cut.join("ledger.json"));
    let rows: Vec<_> = rows_of(&ledger)
        .into_iter()
        .filter(|r| r.seq < witnessed)
        .collect();
    ledger["last_seq"] = Value::from(rows.last().unwrap().seq);
    ledger["period_head"] = Value::from(rows.last().unwrap().chain_out().unwrap());
    ledger["rows"] = serde_json::to_value(&rows).unwrap();
    write_json(&cut.join("ledger.json"), &ledger);
    resign(&cut, &h.db());
    let (code, v) = verify(&cut, &[]);
    assert_eq!(code, 1, "{v}");
    let r = receipts_lines(&v);
    assert!(r.starts_with("FAIL"), "{r}");
    assert!(
        r.contains(&format!(
            "before row {witnessed} that the fleet server witnessed"
        )),
        "{r}"
    );

    // 2. A verdict changed and the chain recomputed (the formula needs no secret), the
    // header fixed and re-signed: the ledger check passes, the receipt contradicts it.
    let rewritten = d.path().join("rewritten");
    copy_tree(&genuine, &rewritten);
    let mut ledger = read_json(&rewritten.join("ledger.json"));
    let mut rows = rows_of(&ledger);
    let target = rows
        .iter()
        .position(|r| {
            r.kind == attestd_ledger::RowKind::Verdicts
                && r.seq < witnessed
                && r.body.contains("\"fail\"")
        })
        .or_else(|| {
            rows.iter()
                .position(|r| r.kind == attestd_ledger::RowKind::Verdicts && r.seq < witnessed)
        })
        .expect("a verdicts row before the witnessed head");
    let body = rows[target].body.clone();
    let edited = if body.contains("\"fail\"") {
        body.replacen("\"fail\"", "\"pass\"", 1)
    } else {
        body.replacen("\"pass\"", "\"fail\"", 1)
    };
    assert_ne!(body, edited);
    let target_seq = rows[target].seq;
    let mut prev = hex::decode(&rows[target].prev_sha256).unwrap();
    for r in rows.iter_mut().skip(target) {
        let b = if r.seq == target_seq {
            edited.clone()
        } else {
            r.body.clone()
        };
        *r = attestd_ledger::Row::new(r.seq, r.kind, &r.recorded_at, b, &prev);
        prev = r.chain_out_bytes().unwrap().to_vec();
    }
    let head = rows.last().unwrap().chain_out().unwrap();
    ledger["period_head"] = Value::from(head.clone());
    if ledger["database_head"]["rows"].as_i64() == rows.last().map(|r| r.seq) {
        ledger["database_head"]["chain_sha256"] = Value::from(head);
    }
    ledger["rows"] = serde_json::to_value(&rows).unwrap();
    write_json(&rewritten.join("ledger.json"), &ledger);
    resign(&rewritten, &h.db());
    let (code, v) = verify(&rewritten, &[]);
    assert_eq!(code, 1, "{v}");
    assert!(
        v.lines()
            .any(|l| l.starts_with("ok") && l.contains(" ledger ")),
        "the recomputed chain itself re-walks: {v}"
    );
    let r = receipts_lines(&v);
    assert!(
        r.contains("the history was rewritten after the server saw it"),
        "{r}"
    );

    // 3. A forged receipt (its signature edited in receipts.json).
    let forged = d.path().join("forged");
    copy_tree(&genuine, &forged);
    let mut doc = read_json(&forged.join("receipts.json"));
    let sig = doc["receipts"][0]["receipt"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    doc["receipts"][0]["receipt"]["signature"] = Value::from(flipped);
    write_json(&forged.join("receipts.json"), &doc);
    resign(&forged, &h.db());
    let (code, v) = verify(&forged, &[]);
    assert_eq!(code, 1, "{v}");
    assert!(
        receipts_lines(&v).contains("its signature does not verify with the witness key"),
        "{v}"
    );

    // 4. Another witness key put in (its fingerprint stated too): the real receipt no
    // longer verifies with it.
    let other = d.path().join("other-key");
    copy_tree(&genuine, &other);
    let k = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let pem = k
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    std::fs::write(other.join("fleet-witness.pub.pem"), &pem).unwrap();
    let mut doc = read_json(&other.join("receipts.json"));
    doc["witness_fingerprint"] =
        Value::from(attestd::bundle::signing::fingerprint(&k.verifying_key()));
    write_json(&other.join("receipts.json"), &doc);
    resign(&other, &h.db());
    let (code, v) = verify(&other, &[]);
    assert_eq!(code, 1, "{v}");
    assert!(
        receipts_lines(&v).contains("does not verify with the witness key"),
        "{v}"
    );

    // 5. receipts.json removed (and from SHA256SUMS): the receipt row in ledger.json says
    // there was one.
    let removed = d.path().join("removed");
    copy_tree(&genuine, &removed);
    std::fs::remove_file(removed.join("receipts.json")).unwrap();
    resign(&removed, &h.db());
    let (code, v) = verify(&removed, &[]);
    assert_eq!(code, 1, "{v}");
    assert!(
        receipts_lines(&v).contains("missing, but ledger.json holds 1 receipt row"),
        "{v}"
    );
}

#[test]
fn a_push_refused_as_forked_reaches_the_alert_sinks_once_and_the_server_log() {
    let f = fleet();
    let rx = Receiver::start();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("hook.secret"), "HOOKSECRET-0001\n").unwrap();
    let alerts = format!(
        "[alerts]\nretry_initial_seconds = 1\nretry_max_seconds = 2\ntimeout_seconds = 3\n[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n[alerts.sinks.crit]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{}\"\nroute = {{ severities = [\"low\"] }}\n",
        rx.url("/hook"),
        d.path().join("hook.secret").display(),
        rx.url("/low-only"),
        d.path().join("hook.secret").display(),
    );
    let h = Host::new("db-1", "hardened", &f.server.url(), &f.tls.0, 50, &alerts);
    enrol(&f, &h);
    h.collect();
    assert_eq!(h.run(&["push"]).0, 0);
    // The ledger is restored from this copy later (its newest rows are lost).
    let copy = d.path().join("old.db");
    std::fs::copy(h.db(), &copy).unwrap();
    h.collect();
    assert_eq!(h.run(&["push"]).0, 0);
    let before = rx.requests("/hook").len();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", h.db().display()));
    }
    std::fs::copy(&copy, h.db()).unwrap();
    h.collect();
    let (code, out, err) = h.run(&["push"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("refused (forked)"), "{err}");
    assert!(err.contains("alert") && err.contains("raised"), "{err}");
    let hooks = rx.requests("/hook");
    assert_eq!(hooks.len(), before + 1, "one alert reached the webhook");
    let body = hooks.last().unwrap().json();
    let text = body.to_string();
    assert!(text.contains("fleet.witnessed_chain"), "{text}");
    assert!(text.contains("critical"), "{text}");
    assert!(text.contains("forked"), "{text}");
    assert!(
        rx.requests("/low-only").is_empty(),
        "a sink routed to low severities only does not get it"
    );
    // The refusal is an alert row of the host's own ledger.
    let c = rusqlite::Connection::open(h.db()).unwrap();
    let alerts_rows: i64 = c
        .query_row(
            "SELECT count(*) FROM ledger WHERE kind = 'alert' AND body LIKE '%fleet.witnessed_chain%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(alerts_rows, 1);
    drop(c);
    // Refused again: nothing more is raised (the alert is still open).
    let (code, _, err) = h.run(&["push"]);
    assert_ne!(code, 0);
    assert!(!err.contains("raised"), "{err}");
    assert_eq!(rx.requests("/hook").len(), before + 1);
    // The server's log names the fork.
    let log = std::fs::read_to_string(f.sdir.path().join("server.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("forked") && l.contains("db-1")),
        "{log}"
    );
}

#[test]
fn the_daemon_raises_a_fork_once_and_delivers_it_to_the_webhook() {
    let f = fleet();
    let rx = Receiver::start();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("hook.secret"), "HOOKSECRET-0002\n").unwrap();
    let alerts = format!(
        "[alerts]\nretry_initial_seconds = 1\nretry_max_seconds = 2\ntimeout_seconds = 3\n[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        rx.url("/hook"),
        d.path().join("hook.secret").display(),
    );
    let h = Host::new("app-1", "hardened", &f.server.url(), &f.tls.0, 50, &alerts);
    // `[fleet]` is the config's last section: the daemon pushes every second.
    let mut config = std::fs::read_to_string(&h.config).unwrap();
    config.push_str("push_interval_secs = 1\n");
    std::fs::write(&h.config, config).unwrap();
    enrol(&f, &h);
    h.collect();
    assert_eq!(h.push().0, 0);
    let copy = d.path().join("old.db");
    std::fs::copy(h.db(), &copy).unwrap();
    h.collect();
    assert_eq!(h.push().0, 0);
    // The ledger restored from the older copy: its next push no longer continues the
    // chain the server witnessed.
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", h.db().display()));
    }
    std::fs::copy(&copy, h.db()).unwrap();
    let fork_hooks = || {
        rx.requests("/hook")
            .into_iter()
            .filter(|r| r.json().to_string().contains("fleet.witnessed_chain"))
            .count()
    };
    assert_eq!(fork_hooks(), 0);

    let log = d.path().join("daemon.log");
    let daemon = Daemon::start(&h.root, &h.config, &h.db(), &log, &[]);
    // The pusher raises the alert; the delivery worker (it polls at most every 30 s)
    // sends it.
    let delivered = wait_for(std::time::Duration::from_secs(60), || {
        (fork_hooks() > 0).then_some(())
    });
    assert!(
        delivered.is_some(),
        "no fork alert reached the webhook; log:\n{}",
        daemon.log()
    );
    let hook = rx
        .requests("/hook")
        .into_iter()
        .find(|r| r.json().to_string().contains("fleet.witnessed_chain"))
        .unwrap();
    let text = hook.json().to_string();
    assert!(
        text.contains("critical") && text.contains("forked"),
        "{text}"
    );
    assert_eq!(daemon.count("alert raised"), 1, "{}", daemon.log());

    // The fork stays open: the pusher keeps being refused, and raises nothing more.
    let failures = daemon.count("fleet: push failed");
    let more = wait_for(std::time::Duration::from_secs(40), || {
        (daemon.count("fleet: push failed") >= failures + 3).then_some(())
    });
    assert!(
        more.is_some(),
        "the pusher stopped retrying; log:\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("refused"), "{}", daemon.log());
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(fork_hooks(), 1, "delivered once, not again");
    assert_eq!(daemon.count("alert raised"), 1, "{}", daemon.log());
    daemon.stop();
    let c = rusqlite::Connection::open(h.db()).unwrap();
    let rows: i64 = c
        .query_row(
            "SELECT count(*) FROM ledger WHERE kind = 'alert' AND body LIKE '%fleet.witnessed_chain%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1, "one alert row in the host's ledger");
}
