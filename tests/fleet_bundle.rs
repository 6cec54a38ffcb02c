//! The fleet bundle with real parts: a PostgreSQL cluster of the test's own, two
//! `attestd-server` instances on it, three hosts that enrol, collect and push (one
//! retired, one forked by a ledger restored from an old copy). `attestd-server bundle`
//! writes the population with enrolment and retirement dates, each host's rows, keys,
//! pushes and receipts, summaries, the roll-up, incidents and the receipt log, signed by
//! the witness key; `attestd verify` accepts it (directory and .tar.gz) and catches a
//! summary edited and re-signed, a verdict changed with the chain recomputed, rows cut
//! from the end, the OSCAL results edited and re-signed, and a file changed without
//! re-signing. Its `oscal/assessment-results.json` parses with compliance-trestle and
//! holds one subject per host, each finding following the host's summary.

mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use common::fleet_host::FleetHost as Host;
use common::*;
use pg::{admin, write_config, Server};
use serde_json::Value;
use std::path::Path;

fn verify(bundle: &Path) -> (i32, String) {
    let o = attestd().arg("verify").arg(bundle).output().unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap_or(-1), format!("{so}{se}"))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Re-sign SHA256SUMS with the server's witness key, as whoever holds it could.
fn resign(bundle: &Path, witness_key: &Path) {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use ed25519_dalek::Signer;
    let key =
        ed25519_dalek::SigningKey::from_pkcs8_pem(&std::fs::read_to_string(witness_key).unwrap())
            .unwrap();
    let mut sums = String::new();
    for rel in attestd::bundle::list_files(bundle).unwrap() {
        let digest = attestd::bundle::sha256_file(&bundle.join(&rel)).unwrap();
        sums.push_str(&format!("{digest}  {rel}\n"));
    }
    std::fs::write(bundle.join("SHA256SUMS"), &sums).unwrap();
    std::fs::write(
        bundle.join("SHA256SUMS.sig"),
        key.sign(sums.as_bytes()).to_bytes(),
    )
    .unwrap();
}

fn bundle(config: &Path, from: &str, to: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "bundle",
        "--config",
        config.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = admin(&args);
    assert!(ok, "{out}{err}");
    out
}

#[test]
fn a_fleet_bundle_holds_the_population_verifies_and_catches_tampering() {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let (pa, pb) = (pg::free_port(), pg::free_port());
    let ca = write_config(sdir.path(), "a.toml", &pg.server_url(), pa, Some(&tls), "");
    let cb = write_config(sdir.path(), "b.toml", &pg.server_url(), pb, Some(&tls), "");
    let a = Server::start(&ca, pa);
    let b = Server::start(&cb, pb);
    let web = Host::new("web-1", "hardened", &a.url(), &tls.0, 40, "");
    let db = Host::new("db-1", "debian12-stock", &b.url(), &tls.0, 40, "");
    let old = Host::new("old-1", "weak-access", &a.url(), &tls.0, 40, "");
    for h in [&web, &db, &old] {
        let (ok, token, err) = admin(&[
            "token",
            "create",
            "--config",
            ca.to_str().unwrap(),
            "--scope",
            "prod",
        ]);
        assert!(ok, "{err}");
        assert_eq!(h.run(&["enroll", "--token", token.trim()]).0, 0);
        h.collect();
        let (code, out, err) = h.push();
        assert_eq!(code, 0, "{out}{err}");
    }
    // db-1 is restored from an old copy later: refused as forked.
    let copy = db.dir.path().join("old.db");
    std::fs::copy(db.db(), &copy).unwrap();
    db.collect();
    assert_eq!(db.push().0, 0);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.db().display()));
    }
    std::fs::copy(&copy, db.db()).unwrap();
    db.collect();
    assert_ne!(db.push().0, 0, "the restored ledger is refused");
    // old-1 is retired; then web-1 collects and pushes again.
    assert!(admin(&["host", "retire", "--config", ca.to_str().unwrap(), "old-1"]).0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mid = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    web.collect();
    assert_eq!(web.push().0, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let now = chrono::Utc::now();
    let to = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let from = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();

    let d = tempfile::tempdir().unwrap();
    let genuine = d.path().join("fleet");
    let said = bundle(
        &cb,
        &from,
        &to,
        &genuine,
        &["--sample-hosts", "2", "--sample-days", "1", "--seed", "7"],
    );
    assert!(said.contains("3 hosts"), "{said}");
    let fleet = read_json(&genuine.join("fleet.json"));
    let pop = fleet["population"].as_array().unwrap();
    let names: Vec<&str> = pop.iter().map(|p| p["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["db-1", "old-1", "web-1"]);
    let old_line = pop.iter().find(|p| p["host"] == "old-1").unwrap();
    assert!(old_line["retired_at"].is_string(), "{old_line}");
    assert!(pop
        .iter()
        .all(|p| p["enrolled_at"].is_string() && p["rows"].as_i64().unwrap() > 0));
    for h in ["web-1", "db-1", "old-1"] {
        for f in [
            "ledger.json",
            "signing-key.pub.pem",
            "pushes.jsonl",
            "receipts.jsonl",
            "summary.json",
        ] {
            assert!(genuine.join("hosts").join(h).join(f).is_file(), "{h}/{f}");
        }
    }
    let incidents = std::fs::read_to_string(genuine.join("incidents.csv")).unwrap();
    assert!(
        incidents.lines().any(|l| l.starts_with("db-1,")),
        "{incidents}"
    );
    let controls: Value = read_json(&genuine.join("controls.json"));
    assert!(controls.as_array().unwrap().iter().all(|c| c["hosts"] == 3));
    let html = std::fs::read_to_string(genuine.join("index.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));
    let samples = read_json(&genuine.join("samples.json"));
    assert_eq!(samples["hosts"].as_array().unwrap().len(), 2);
    // The samples are reproducible: the same seed draws the same hosts and days.
    let again = d.path().join("again");
    bundle(
        &ca,
        &from,
        &to,
        &again,
        &["--sample-hosts", "2", "--sample-days", "1", "--seed", "7"],
    );
    assert_eq!(read_json(&again.join("samples.json")), samples);
    let log = std::fs::read_to_string(genuine.join("receipt-log.jsonl")).unwrap();
    assert!(log.lines().count() >= 4, "{log}");

    let (code, v) = verify(&genuine);
    assert_eq!(code, 0, "{v}");
    assert!(v.contains("host web-1") && v.contains("receipt log"), "{v}");

    // The OSCAL assessment results: valid per compliance-trestle, one subject per host,
    // and per host and control a finding that follows the host's summary.
    let oscal_path = genuine.join("oscal/assessment-results.json");
    let parsed = common::oscal::trestle(std::slice::from_ref(&oscal_path))
        .unwrap_or_else(|e| panic!("compliance-trestle: {e}"));
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].0, "assessment-results");
    let ar = read_json(&oscal_path);
    let result = &ar["assessment-results"]["results"][0];
    let items = result["local-definitions"]["inventory-items"]
        .as_array()
        .unwrap();
    let subject_of: std::collections::BTreeMap<String, String> = items
        .iter()
        .map(|i| {
            (
                i["props"][0]["value"].as_str().unwrap().to_string(),
                i["uuid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        subject_of.keys().map(String::as_str).collect::<Vec<_>>(),
        ["db-1", "old-1", "web-1"]
    );
    let uuids: std::collections::BTreeSet<&String> = subject_of.values().collect();
    assert_eq!(uuids.len(), 3, "one subject per host");
    let findings = result["findings"].as_array().unwrap();
    let mut not_satisfied_with_exception = 0;
    let observations = result["observations"].as_array().unwrap();
    for (host, uuid) in &subject_of {
        let summary = read_json(&genuine.join("hosts").join(host).join("summary.json"));
        let controls = summary["computed"]["controls"].as_array().unwrap();
        let mine: Vec<&Value> = findings
            .iter()
            .filter(|f| f["props"][1]["value"] == host.as_str())
            .collect();
        assert_eq!(
            mine.len(),
            controls.len(),
            "{host}: one finding per control"
        );
        for c in controls {
            let id = c["id"].as_str().unwrap();
            let f = mine
                .iter()
                .find(|f| f["title"].as_str().unwrap().starts_with(&format!("{id} ")))
                .unwrap_or_else(|| panic!("{host}: no finding for {id}"));
            // Its observation is about the host's subject.
            let obs = &f["related-observations"][0]["observation-uuid"];
            let o = observations.iter().find(|o| &o["uuid"] == obs).unwrap();
            assert_eq!(o["subjects"][0]["subject-uuid"], uuid.as_str());
            let state = &f["target"]["status"]["state"];
            match c["result"].as_str().unwrap() {
                "effective" => assert_eq!(state, "satisfied", "{host} {id}"),
                "not_tested" => assert!(state.is_null(), "{host} {id}"),
                _ => assert_eq!(state, "not-satisfied", "{host} {id}"),
            }
            if !c["exceptions"].as_array().unwrap().is_empty() {
                assert_eq!(state, "not-satisfied", "{host} {id}: it has an exception");
                assert!(f["related-risks"].as_array().is_some_and(|r| !r.is_empty()));
                not_satisfied_with_exception += 1;
            }
        }
    }
    assert!(
        not_satisfied_with_exception > 0,
        "a host with an exception (old-1, weak-access) has a non-satisfied finding"
    );

    // A period after old-1's retirement: it has left the population.
    let later = d.path().join("later.tar.gz");
    bundle(&ca, &mid, &to, &later, &[]);
    let (code, v) = verify(&later);
    assert_eq!(code, 0, "{v}");
    assert!(!v.contains("host old-1") && v.contains("host web-1"), "{v}");

    let witness_key = sdir.path().join("witness-key.pem");
    // 1. A summary edited and re-signed with the witness key.
    let edited = d.path().join("edited");
    copy_tree(&genuine, &edited);
    let p = edited.join("hosts/web-1/summary.json");
    let t = std::fs::read_to_string(&p).unwrap();
    let changed = t.replacen("\"runs\": ", "\"runs\": 1", 1);
    assert_ne!(t, changed);
    std::fs::write(&p, changed).unwrap();
    resign(&edited, &witness_key);
    let (code, v) = verify(&edited);
    assert_eq!(code, 1, "{v}");
    assert!(
        v.contains("hosts/web-1/summary.json: does not recompute"),
        "{v}"
    );

    // 2. A verdict changed and the chain recomputed: the host's signed pushes and the
    // server's receipts contradict it.
    let rewritten = d.path().join("rewritten");
    copy_tree(&genuine, &rewritten);
    let p = rewritten.join("hosts/web-1/ledger.json");
    let mut ledger = read_json(&p);
    let mut rows: Vec<attestd_ledger::Row> =
        serde_json::from_value(ledger["rows"].clone()).unwrap();
    let target = rows
        .iter()
        .position(|r| r.kind == attestd_ledger::RowKind::Verdicts && r.body.contains("\"pass\""))
        .unwrap();
    let edited_body = rows[target].body.replacen("\"pass\"", "\"fail\"", 1);
    let mut prev = hex::decode(&rows[target].prev_sha256).unwrap();
    for (i, r) in rows.iter_mut().enumerate().skip(target) {
        let body = if i == target {
            edited_body.clone()
        } else {
            r.body.clone()
        };
        *r = attestd_ledger::Row::new(r.seq, r.kind, &r.recorded_at, body, &prev);
        prev = r.chain_out_bytes().unwrap().to_vec();
    }
    ledger["period_head"] = Value::from(rows.last().unwrap().chain_out().unwrap());
    ledger["rows"] = serde_json::to_value(&rows).unwrap();
    std::fs::write(&p, serde_json::to_vec(&ledger).unwrap()).unwrap();
    resign(&rewritten, &witness_key);
    let (code, v) = verify(&rewritten);
    assert_eq!(code, 1, "{v}");
    assert!(v.contains("the history was rewritten"), "{v}");

    // 3. Rows cut from the end of a host's ledger.
    let cut = d.path().join("cut");
    copy_tree(&genuine, &cut);
    let p = cut.join("hosts/web-1/ledger.json");
    let mut ledger = read_json(&p);
    let mut rows: Vec<attestd_ledger::Row> =
        serde_json::from_value(ledger["rows"].clone()).unwrap();
    rows.truncate(rows.len() / 2);
    ledger["last_seq"] = Value::from(rows.last().unwrap().seq);
    ledger["period_head"] = Value::from(rows.last().unwrap().chain_out().unwrap());
    ledger["rows"] = serde_json::to_value(&rows).unwrap();
    std::fs::write(&p, serde_json::to_vec(&ledger).unwrap()).unwrap();
    resign(&cut, &witness_key);
    let (code, v) = verify(&cut);
    assert_eq!(code, 1, "{v}");
    assert!(v.contains("rows were removed from the end"), "{v}");

    // 3b. The OSCAL results edited (a finding made satisfied) and re-signed.
    let forged = d.path().join("oscal-edited");
    copy_tree(&genuine, &forged);
    let p = forged.join("oscal/assessment-results.json");
    let t = std::fs::read_to_string(&p).unwrap();
    let changed = t.replacen("\"not-satisfied\"", "\"satisfied\"", 1);
    assert_ne!(t, changed);
    std::fs::write(&p, changed).unwrap();
    resign(&forged, &witness_key);
    let (code, v) = verify(&forged);
    assert_eq!(code, 1, "{v}");
    assert!(
        v.contains("oscal/assessment-results.json: does not recompute from the hosts' summaries"),
        "{v}"
    );

    // 4. A file changed without re-signing.
    let unsigned = d.path().join("unsigned");
    copy_tree(&genuine, &unsigned);
    std::fs::write(unsigned.join("incidents.csv"), "host,at,seq,reason\n").unwrap();
    let (code, v) = verify(&unsigned);
    assert_eq!(code, 1, "{v}");
    assert!(v.contains("incidents.csv: changed"), "{v}");
    drop((a, b));
}
