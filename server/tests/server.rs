//! The fleet server with real parts: its own PostgreSQL cluster, two `attestd-server`
//! instances on one database over real HTTPS (rcgen certificates), enrolment, pushes
//! that continue and that do not, every refusal, the insert-only schema, the receipt
//! log, hosts and retirement.

mod support;

use attestd_ledger::body::Receipt;
use attestd_ledger::fleet::push_message;
use attestd_ledger::{Row, RowKind, GENESIS};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{json, Value};
use support::*;

fn chain(n: i64, tag: &str) -> Vec<Row> {
    let mut prev = GENESIS;
    (1..=n)
        .map(|seq| {
            let r = Row::new(
                seq,
                RowKind::Run,
                "2026-11-01T00:00:00Z",
                format!("{{\"n\":{seq},\"t\":\"{tag}\"}}"),
                &prev,
            );
            prev = r.chain_out_bytes().unwrap();
            r
        })
        .collect()
}

fn push_body(host: &str, rows: &[Row], key: &SigningKey) -> Value {
    let last = rows.last().unwrap();
    let sig = key.sign(&push_message(host, last.seq, &last.chain_out().unwrap()));
    json!({"host": host, "rows": rows, "signature": hex::encode(sig.to_bytes())})
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let r = client.post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn verify_receipt(r: &Value, witness: &VerifyingKey) -> Receipt {
    let receipt: Receipt = serde_json::from_value(r.clone()).unwrap();
    let sig = Signature::from_slice(&hex::decode(&receipt.signature).unwrap()).unwrap();
    witness
        .verify(&receipt.message(), &sig)
        .expect("the receipt verifies with the witness key");
    receipt
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_witness_pushes_and_refuse_everything_else() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pg = Postgres::start();
    let (ok, _, err) = admin(&["migrate", "--database", &pg.owner_url()]);
    assert!(ok, "migrate: {err}");
    // Migrating again applies nothing and succeeds.
    let (ok, _, err) = admin(&["migrate", "--database", &pg.owner_url()]);
    assert!(ok && err.contains("applied: 0"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let tls = tls_files(dir.path());
    let (pa, pb) = (free_port(), free_port());
    let extra = "max_body_bytes = 200000\nmax_rows_per_push = 100\n";
    let ca = write_config(
        dir.path(),
        "a.toml",
        &pg.server_url(),
        pa,
        Some(&tls),
        extra,
    );
    let cb = write_config(
        dir.path(),
        "b.toml",
        &pg.server_url(),
        pb,
        Some(&tls),
        extra,
    );
    let a = Server::start(&ca, pa);
    let b = Server::start(&cb, pb);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&tls.0).unwrap()).unwrap()])
        .build()
        .unwrap();

    // Enrolment: a token is one-use, across instances.
    let (ok, token, err) = admin(&[
        "token",
        "create",
        "--config",
        ca.to_str().unwrap(),
        "--scope",
        "prod",
    ]);
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    assert!(token.starts_with("atk_") && !token.contains('\n'));
    let key = SigningKey::from_bytes(&[1; 32]);
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let (s, v) = post(
        &client,
        &format!("{}/v1/enroll", a.url()),
        &json!({"token": token, "host": "web-1", "public_key": pem}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["scope"], "prod");
    let witness = VerifyingKey::from_public_key_pem(v["witness_key"].as_str().unwrap()).unwrap();
    let (s, v) = post(
        &client,
        &format!("{}/v1/enroll", b.url()),
        &json!({"token": token, "host": "web-9", "public_key": pem}),
    )
    .await;
    assert_eq!((s, v["refused"].as_str()), (410, Some("token_used")), "{v}");
    let (s, v) = post(
        &client,
        &format!("{}/v1/enroll", b.url()),
        &json!({"token": "atk_00", "host": "web-9", "public_key": pem}),
    )
    .await;
    assert_eq!(
        (s, v["refused"].as_str()),
        (403, Some("token_unknown")),
        "{v}"
    );

    // Pushes continue the chain, whichever instance takes them.
    let rows = chain(6, "true");
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("web-1", &rows[..3], &key),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stored"], 3);
    let r1 = verify_receipt(&v["receipt"], &witness);
    assert_eq!(
        (r1.seq, r1.head.as_str()),
        (3, rows[2].chain_out().unwrap().as_str())
    );
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", b.url()),
        &push_body("web-1", &rows[3..5], &key),
    )
    .await;
    assert_eq!((s, v["stored"].as_u64()), (200, Some(2)), "{v}");
    let r2 = verify_receipt(&v["receipt"], &witness);
    assert_eq!(r2.log_seq, r1.log_seq + 1);
    assert_eq!(
        r2.log_prev,
        r1.log_chain_out(),
        "the receipt log is one chain across instances"
    );
    // A resend of rows already held (a lost answer) stores nothing and gets the receipt.
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("web-1", &rows[2..5], &key),
    )
    .await;
    assert_eq!((s, v["stored"].as_u64()), (200, Some(0)), "{v}");
    assert_eq!(verify_receipt(&v["receipt"], &witness).seq, 5);
    let (s, v) = post(
        &client,
        &format!("{}/v1/head", b.url()),
        &json!({"host": "web-1"}),
    )
    .await;
    assert_eq!((s, v["seq"].as_i64()), (200, Some(5)));
    assert_eq!(v["head"], rows[4].chain_out().unwrap());

    let count = || {
        pg.sql_as(
            "postgres",
            "SELECT count(*) FROM ledger_rows WHERE host = 'web-1'",
        )
        .1
    };
    assert_eq!(count(), "5");

    // Every bad push is refused with its reason and stores nothing.
    let refused = |s: u16, v: &Value| (s, v["refused"].as_str().unwrap_or("").to_string());
    let other = SigningKey::from_bytes(&[2; 32]);
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("web-1", &rows[5..], &other),
    )
    .await;
    assert_eq!(refused(s, &v), (403, "bad_signature".into()), "{v}");
    let mut edited = rows[5..].to_vec();
    edited[0].body = "{\"n\":6,\"t\":\"edited\"}".into();
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("web-1", &edited, &key),
    )
    .await;
    assert_eq!(refused(s, &v), (400, "bad_hash".into()), "{v}");
    let later = chain(8, "true");
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", b.url()),
        &push_body("web-1", &later[6..], &key),
    )
    .await;
    assert_eq!(refused(s, &v), (409, "gap".into()), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("send rows 6..6 first"),
        "{v}"
    );
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", b.url()),
        &push_body("db-7", &rows[..1], &key),
    )
    .await;
    assert_eq!(refused(s, &v), (403, "unknown_host".into()), "{v}");
    let mut body = push_body("web-1", &rows[5..], &key);
    body["rows"][0]["kind"] = json!("teleport");
    let (s, v) = post(&client, &format!("{}/v1/push", a.url()), &body).await;
    assert_eq!(refused(s, &v), (400, "unknown_kind".into()), "{v}");
    let mut body = push_body("web-1", &rows[5..], &key);
    body["extra"] = json!(1);
    let (s, v) = post(&client, &format!("{}/v1/push", a.url()), &body).await;
    assert_eq!(refused(s, &v), (400, "malformed".into()), "{v}");
    let big = Row::new(
        6,
        RowKind::Run,
        "2026-11-01T00:00:00Z",
        format!("{{\"pad\":\"{}\"}}", "x".repeat(300_000)),
        &hex::decode(rows[4].chain_out().unwrap()).unwrap(),
    );
    let (s, _) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("web-1", &[big], &key),
    )
    .await;
    assert_eq!(s, 413);
    let r = client
        .post(format!("{}/v1/push", a.url()))
        .body("{\"host\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(count(), "5", "refused pushes stored nothing");
    assert_eq!(
        pg.sql_as("postgres", "SELECT count(*) FROM incidents").1,
        "0"
    );

    // A rewritten history (row 4 changed, chain recomputed, signed with the real key)
    // is refused as forked and recorded as an incident.
    let mut forged = chain(3, "true");
    let mut prev = forged[2].chain_out_bytes().unwrap();
    for seq in 4..=6 {
        let r = Row::new(
            seq,
            RowKind::Run,
            "2026-11-01T00:00:00Z",
            format!("{{\"n\":{seq},\"t\":\"forged\"}}"),
            &prev,
        );
        prev = r.chain_out_bytes().unwrap();
        forged.push(r);
    }
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", b.url()),
        &push_body("web-1", &forged[5..], &key),
    )
    .await;
    assert_eq!(
        refused(s, &v),
        (409, "forked".into()),
        "a segment on a rewritten chain: {v}"
    );
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("web-1", &forged[3..], &key),
    )
    .await;
    assert_eq!(
        refused(s, &v),
        (409, "forked".into()),
        "rewritten rows the server holds: {v}"
    );
    assert_eq!(count(), "5");
    assert_eq!(
        pg.sql_as(
            "postgres",
            "SELECT count(*) FROM incidents WHERE host = 'web-1'"
        )
        .1,
        "2"
    );

    // hosts: the forked host and a retired one.
    let (_, token2, _) = admin(&[
        "token",
        "create",
        "--config",
        cb.to_str().unwrap(),
        "--scope",
        "prod",
    ]);
    let key2 = SigningKey::from_bytes(&[3; 32]);
    let pem2 = key2
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let (s, v) = post(
        &client,
        &format!("{}/v1/enroll", b.url()),
        &json!({"token": token2.trim(), "host": "db-1", "public_key": pem2}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let rows2 = chain(2, "db");
    assert_eq!(
        post(
            &client,
            &format!("{}/v1/push", b.url()),
            &push_body("db-1", &rows2[..1], &key2)
        )
        .await
        .0,
        200
    );
    let (ok, _, err) = admin(&["host", "retire", "--config", ca.to_str().unwrap(), "db-1"]);
    assert!(ok, "{err}");
    let (s, v) = post(
        &client,
        &format!("{}/v1/push", a.url()),
        &push_body("db-1", &rows2[1..], &key2),
    )
    .await;
    assert_eq!(refused(s, &v), (410, "retired_host".into()), "{v}");
    let (ok, out, err) = admin(&[
        "hosts",
        "--config",
        ca.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let hosts: Value = serde_json::from_str(&out).unwrap();
    let by = |h: &str| {
        hosts
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["host"] == h)
            .unwrap()
            .clone()
    };
    assert_eq!(by("web-1")["state"], "forked");
    assert_eq!(by("web-1")["head"], rows[4].chain_out().unwrap());
    assert_eq!(by("web-1")["scope"], "prod");
    assert!(by("web-1")["last_push"].is_string());
    assert_eq!(by("db-1")["state"], "retired");
    assert!(by("db-1")["retired"].is_string());

    // Insert-only: the server's role may not update or delete, and triggers refuse
    // even the owner.
    let (ok, _, err) = pg.sql_as(
        "attestd_server",
        "UPDATE ledger_rows SET body = '{}' WHERE seq = 1",
    );
    assert!(!ok && err.contains("permission denied"), "{err}");
    let (ok, _, err) = pg.sql_as("attestd_server", "DELETE FROM receipts");
    assert!(!ok && err.contains("permission denied"), "{err}");
    let (ok, _, err) = pg.sql_as("postgres", "DELETE FROM ledger_rows WHERE seq = 5");
    assert!(!ok && err.contains("insert-only"), "{err}");
    let (ok, _, err) = pg.sql_as("postgres", "TRUNCATE incidents");
    assert!(!ok && err.contains("insert-only"), "{err}");
    assert_eq!(count(), "5");

    // The receipt log is a chain: every entry carries the head of the one before.
    let (_, broken, _) = pg.sql_as(
        "postgres",
        "SELECT count(*) FROM receipts r JOIN receipts p ON p.log_seq = r.log_seq - 1 WHERE r.log_prev <> p.log_head",
    );
    assert_eq!(broken, "0");

    // Metrics count refusals by reason and hosts by state.
    let m = client
        .get(format!("{}/metrics", a.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("attestd_server_refused_total{reason=\"forked\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("attestd_server_hosts{state=\"forked\"} 1"),
        "{m}"
    );
    assert!(m.contains("attestd_server_db_seconds"), "{m}");
    drop((a, b));
}

#[test]
fn a_non_loopback_listener_without_tls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.toml");
    std::fs::write(&c, "database = \"postgresql://x@127.0.0.1/x\"\nlisten = \"0.0.0.0:8443\"\nwitness_key = \"/tmp/none\"\n").unwrap();
    let (ok, _, err) = admin(&["run", "--config", c.to_str().unwrap()]);
    assert!(
        !ok && err.contains("tls_cert and tls_key are required"),
        "{err}"
    );
    std::fs::write(
        &c,
        "database = \"x\"\nlisten = \"127.0.0.1:1\"\nwitness_key = \"/tmp/none\"\nbogus = 1\n",
    )
    .unwrap();
    let (ok, _, err) = admin(&["run", "--config", c.to_str().unwrap()]);
    assert!(!ok && err.contains("bogus"), "{err}");
}
