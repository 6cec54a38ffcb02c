//! Issue 14, D1: no secret through any path. Marker password hashes, keys and a token
//! are planted in copies of the `hardened` fixture, and each trick an attacker with
//! write access to one config file has (an `Include` of /etc/shadow, a config file that
//! is a symlink or hard link to it, a PAM include of a host key, a drop-in symlinked to
//! a credential or to attestd's own signing key, a glob over /etc/ssl/private, a copy
//! of shadow under an innocent name) is run through `attestd collect --db`. Then every
//! output is walked for the markers: stdout and stderr, the database (stored text, raw
//! file, WAL), and a bundle built from it (`tests/common/secrets.rs`).
//!
//! The second test runs the same tricks through the daemon (`attestd run`, each trick
//! planted and then removed, with a reload after each step so every trick opens alerts
//! of its own), with a real webhook receiver and a real SMTP peer (aiosmtpd) as sinks,
//! and walks the daemon's log, every webhook body and header, every e-mail, `/health`
//! and `/metrics` of the status endpoint, `attestd status` and `attestd alerts`, the
//! database with its WAL, and a bundle.

mod alerts_support;
mod common;

use alerts_support::smtp::{make_certs, messages, start_smtp};
use alerts_support::Receiver;
use common::secrets::SecretWalk;
use common::{attestd, copy_tree, fixture, free_port, plain_config, wait_for, Daemon};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

const SHADOW_MARKER: &str = "SHADOWMARKERa1b2c3";
const GSHADOW_MARKER: &str = "GSHADOWMARKERd4e5f6";
const HOST_KEY_MARKER: &str = "HOSTKEYMARKERf6g7h8";
const TOKEN_MARKER: &str = "CREDMARKERh8i9j0k1";
const SSL_KEY_MARKER: &str = "SSLKEYMARKERk1l2m3";

type Plant = fn(&Path);

fn write(host: &Path, path: &str, text: &str) {
    let p = host.join(path);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = fs::remove_file(&p);
    fs::write(p, text).unwrap();
}

fn link(host: &Path, path: &str, target: &str) {
    let p = host.join(path);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = fs::remove_file(&p);
    symlink(target, p).unwrap();
}

/// The secrets every host copy carries, wherever the tricks point.
fn plant_secrets(host: &Path, signing_key: &str) {
    let mut shadow = fs::read_to_string(host.join("etc/shadow")).unwrap();
    shadow.push_str(&format!(
        "marker:$y$j9T${SHADOW_MARKER}$Zq8rT5vW2xY7zA1bC3dE5fG7hJ9kL1mN3pQ5rS7tU:20400:0:99999:7:::\n"
    ));
    write(host, "etc/shadow", &shadow);
    write(
        host,
        "etc/gshadow",
        &format!("sudo:$6${GSHADOW_MARKER}$Yx7wV5uT3sR1qP9oN7mL5kJ3hG1fE9dC7bA5zY3xW:root:alice\n"),
    );
    write(
        host,
        "etc/ssh/ssh_host_ed25519_key",
        &format!("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{HOST_KEY_MARKER}\n-----END OPENSSH PRIVATE KEY-----\n"),
    );
    write(
        host,
        "etc/credstore/alert-token",
        &format!("{TOKEN_MARKER}\n"),
    );
    write(
        host,
        "etc/ssl/private/server.key",
        &format!("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI{SSL_KEY_MARKER}\n-----END PRIVATE KEY-----\n"),
    );
    write(host, "var/lib/attestd/signing-key.pem", signing_key);
}

/// (what the trick is, the collectors it reaches, how to plant it)
const TRICKS: &[(&str, &[&str], Plant)] = &[
    (
        "sshd_config.d drop-in `Include /etc/shadow`",
        &["ssh", "session_timeout"],
        |h| {
            write(
                h,
                "etc/ssh/sshd_config.d/10-evil.conf",
                "Include /etc/shadow\n",
            )
        },
    ),
    (
        "etc/login.defs a symlink to /etc/shadow",
        &["password_policy"],
        |h| link(h, "etc/login.defs", "/etc/shadow"),
    ),
    (
        "etc/login.defs a hard link to /etc/shadow",
        &["password_policy"],
        |h| {
            let _ = fs::remove_file(h.join("etc/login.defs"));
            fs::hard_link(h.join("etc/shadow"), h.join("etc/login.defs")).unwrap();
        },
    ),
    (
        "PAM `@include ../ssh/ssh_host_ed25519_key`",
        &["password_policy"],
        |h| {
            let p = h.join("etc/pam.d/common-auth");
            let text = fs::read_to_string(&p).unwrap() + "@include ../ssh/ssh_host_ed25519_key\n";
            fs::write(p, text).unwrap();
        },
    ),
    (
        "sudoers.d drop-in `@include /etc/gshadow`",
        &["accounts"],
        |h| write(h, "etc/sudoers.d/zz-evil", "@include /etc/gshadow\n"),
    ),
    (
        "pwquality.conf.d drop-in symlinked to a credential",
        &["password_policy"],
        |h| {
            link(
                h,
                "etc/security/pwquality.conf.d/60-token.conf",
                "/etc/credstore/alert-token",
            )
        },
    ),
    (
        "profile.d glob reaching attestd's signing key",
        &["session_timeout"],
        |h| {
            link(
                h,
                "etc/profile.d/zz-key.sh",
                "/var/lib/attestd/signing-key.pem",
            )
        },
    ),
    ("sshd `Include /etc/ssl/private/*`", &["ssh"], |h| {
        write(
            h,
            "etc/ssh/sshd_config.d/10-evil.conf",
            "Include /etc/ssl/private/*\n",
        )
    }),
    (
        "sshd `Include` of a copy of /etc/shadow under an innocent name",
        &["ssh"],
        |h| {
            fs::copy(h.join("etc/shadow"), h.join("etc/ssh/backup.conf")).unwrap();
            write(
                h,
                "etc/ssh/sshd_config.d/10-evil.conf",
                "Include /etc/ssh/backup.conf\n",
            )
        },
    ),
    (
        "a certificate file that also carries the private key",
        &["certificates"],
        |h| {
            let p = h.join("etc/ssl/certs/local/internal-ca.pem");
            let key = fs::read_to_string(h.join("etc/ssl/private/server.key")).unwrap();
            let text = fs::read_to_string(&p).unwrap() + &key;
            fs::write(p, text).unwrap();
        },
    ),
];

#[test]
fn no_planted_secret_reaches_any_output_of_collect_or_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let state = dir.path().join("state");
    fs::create_dir_all(&state).unwrap();
    let db = state.join("ledger.db");
    let key = attestd()
        .args(["key", "show", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let signing_key = fs::read_to_string(state.join("signing-key.pem")).unwrap();
    let mut walk = SecretWalk::new(&[
        SHADOW_MARKER,
        GSHADOW_MARKER,
        HOST_KEY_MARKER,
        TOKEN_MARKER,
        SSL_KEY_MARKER,
        "notarealhash",
    ]);
    for line in signing_key.lines().filter(|l| !l.starts_with("-----")) {
        walk.marker(line.to_string());
    }
    walk.add_output("attestd key show", &key);

    for (i, (trick, collectors, plant)) in TRICKS.iter().enumerate() {
        let host = dir.path().join(format!("host-{i}"));
        copy_tree(&fixture("hardened"), &host);
        plant_secrets(&host, &signing_key);
        plant(&host);
        let mut cmd = attestd();
        cmd.args(["collect", "--format", "json", "--root"])
            .arg(&host)
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db);
        for c in *collectors {
            cmd.args(["--collector", c]);
        }
        let out = cmd.output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{trick}: no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        walk.add_output(&format!("collect, {trick}"), &out);
        let results = doc["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{trick}: no results");
        if collectors == &["certificates"] {
            // The certificate is still described; its key never read out.
            assert!(
                results
                    .iter()
                    .any(|r| r["status"] == "pass" || r["status"] == "fail"),
                "{trick}: {doc}"
            );
        } else {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("refused"),
                "{trick}: the read was not refused: {stdout}"
            );
            assert!(results.iter().any(|r| r["status"] == "error"), "{trick}");
        }
    }

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let bundle = dir.path().join("bundle");
    let out = attestd()
        .args(["bundle", "--from", &today, "--to", &today, "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    walk.add_output("bundle", &out);
    walk.add_tree(&bundle);
    walk.add_database(&db);
    assert!(walk.places() > 20, "only {} places searched", walk.places());
    walk.assert_clean();
}

/// One HTTP/1.1 GET over the status endpoint's unix socket: the whole response.
fn get_unix(socket: &Path, path: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("{}: {e}", socket.display()));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A fresh copy of the hardened host with the secrets planted and no trick.
fn reset_host(host: &Path, signing_key: &str) {
    let _ = fs::remove_dir_all(host);
    copy_tree(&fixture("hardened"), host);
    plant_secrets(host, signing_key);
}

#[test]
fn no_planted_secret_reaches_the_daemon_log_alerts_email_or_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The sinks: a webhook receiver and an SMTP peer requiring STARTTLS.
    let hook = Receiver::start();
    fs::write(d.join("hook.secret"), "hook-secret-for-hmac\n").unwrap();
    make_certs(d);
    let mail = d.join("mail");
    fs::create_dir(&mail).unwrap();
    let (starttls, tls) = (free_port(), free_port());
    let _smtp = start_smtp(d, &mail, starttls, tls);

    let state = d.join("state");
    fs::create_dir_all(&state).unwrap();
    let db = state.join("ledger.db");
    let socket = d.join("status.sock");
    // Only the collectors the tricks reach run, at start and at every reload.
    let reached = [
        "ssh",
        "session_timeout",
        "password_policy",
        "accounts",
        "certificates",
    ];
    let mut extra = format!(
        r#"status_socket = "{socket}"
watch = false
[alerts]
retry_initial_seconds = 1
retry_max_seconds = 2
[alerts.sinks.hook]
type = "webhook"
url = "{url}"
secret = "{d}/hook.secret"
[alerts.sinks.mail]
type = "email"
server = "127.0.0.1"
port = {starttls}
ca_file = "{d}/ca.pem"
from = "attestd <attestd@example.com>"
to = ["security@example.com"]
"#,
        socket = socket.display(),
        url = hook.url("/hook"),
        d = d.display()
    );
    for name in attestd_collectors::known_collector_names() {
        if !reached.contains(&name) {
            extra.push_str(&format!("[collectors.{name}]\nenabled = false\n"));
        }
    }
    let config = plain_config(d, &extra);

    let key = attestd()
        .args(["key", "show", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let signing_key = fs::read_to_string(state.join("signing-key.pem")).unwrap();
    let mut walk = SecretWalk::new(&[
        SHADOW_MARKER,
        GSHADOW_MARKER,
        HOST_KEY_MARKER,
        TOKEN_MARKER,
        SSL_KEY_MARKER,
        "notarealhash",
    ]);
    for line in signing_key.lines().filter(|l| !l.starts_with("-----")) {
        walk.marker(line.to_string());
    }

    let host = d.join("host");
    reset_host(&host, &signing_key);
    let log = d.join("daemon.log");
    let daemon = Daemon::start(&host, &config, &db, &log, &[]);
    wait_for(Duration::from_secs(60), || {
        (daemon.count("run stored") >= 1).then_some(())
    })
    .unwrap_or_else(|| panic!("no first run; log:\n{}", daemon.log()));
    let mut runs = 1;
    for (_, _, plant) in TRICKS {
        plant(&host);
        daemon.reload_and_wait(&config, runs);
        runs += 1;
        reset_host(&host, &signing_key);
        daemon.reload_and_wait(&config, runs);
        runs += 1;
    }
    // Every alert delivered to both sinks (the queue empty), or the test says which not.
    let pending = || {
        let out = attestd()
            .args(["alerts", "--format", "json", "--limit", "1000", "--db"])
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let waiting = doc["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["deliveries"].as_array().unwrap().iter())
            .filter(|d| d["state"] != "delivered")
            .count();
        (doc, out, waiting)
    };
    wait_for(Duration::from_secs(60), || (pending().2 == 0).then_some(()))
        .unwrap_or_else(|| panic!("deliveries pending: {}", pending().0));
    let (doc, out, _) = pending();
    walk.add_output("attestd alerts --format json", &out);
    let alerts = doc["alerts"].as_array().unwrap().len();

    // The tricks were refused and said so in the alerts the sinks got.
    let requests = hook.requests("/hook");
    assert!(
        requests.len() >= alerts && alerts >= TRICKS.len(),
        "{} requests, {alerts} alerts",
        requests.len()
    );
    let refused_bodies = requests
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("refused"))
        .count();
    assert!(
        refused_bodies >= TRICKS.len() - 1,
        "{refused_bodies} webhook bodies name a refusal"
    );
    for (i, r) in requests.iter().enumerate() {
        walk.add_bytes(format!("webhook request {i}: body"), r.body.clone());
        walk.add_bytes(
            format!("webhook request {i}: headers"),
            format!("{:?}", r.headers),
        );
    }
    let emails = messages(&mail);
    assert!(
        emails.len() >= alerts,
        "{} e-mails for {alerts} alerts",
        emails.len()
    );
    assert!(
        emails.iter().any(|(_, m)| m.contains("refused")),
        "no e-mail names a refusal"
    );
    for (name, message) in emails {
        walk.add_bytes(format!("e-mail {name}"), message);
    }

    // The status endpoint and command while the daemon runs.
    walk.add_bytes("GET /health", get_unix(&socket, "/health"));
    walk.add_bytes("GET /metrics", get_unix(&socket, "/metrics"));
    for format in ["text", "json"] {
        let out = attestd()
            .args(["status", "--format", format, "--db"])
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        walk.add_output(&format!("attestd status --format {format}"), &out);
    }
    daemon.stop();
    let log_text = fs::read_to_string(&log).unwrap();
    assert!(log_text.matches("run stored").count() >= runs, "{log_text}");
    walk.add_file(&log);

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let bundle = d.join("bundle");
    let out = attestd()
        .args(["bundle", "--from", &today, "--to", &today, "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    walk.add_output("bundle", &out);
    walk.add_tree(&bundle);
    walk.add_database(&db);
    assert!(walk.places() > 40, "only {} places searched", walk.places());
    walk.assert_clean();
}
