//! The e-mail sink against a real SMTP server on loopback (Python aiosmtpd, see
//! tests/alerts_smtp.py) with a certificate from a throwaway CA made by openssl:
//! STARTTLS and implicit TLS deliver a message the test reads back (subject, body,
//! Message-ID from the alert id); an untrusted certificate and a missing password file
//! are clear errors, and the alert stays queued.

mod alerts_support;
mod common;
use alerts_support::smtp::*;
use alerts_support::*;
use common::*;
use std::process::{Command, Stdio};

#[test]
fn email_over_starttls_and_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certs(d);
    let out = d.join("mail");
    std::fs::create_dir(&out).unwrap();
    let (p1, p2) = (free_port(), free_port());
    let _smtp = start_smtp(d, &out, p1, p2);
    let config = plain_config(
        d,
        &format!(
            r#"[alerts]
retry_initial_seconds = 1
retry_max_seconds = 2
[alerts.sinks.mail]
type = "email"
server = "127.0.0.1"
port = {p1}
ca_file = "{d}/ca.pem"
from = "attestd <attestd@example.com>"
to = ["security@example.com"]

[alerts.sinks.smtps]
type = "email"
server = "127.0.0.1"
port = {p2}
tls = "tls"
ca_file = "{d}/ca.pem"
from = "attestd@example.com"
to = ["security@example.com", "oncall@example.com"]

[alerts.sinks.untrusted]
type = "email"
server = "127.0.0.1"
port = {p1}
from = "attestd@example.com"
to = ["security@example.com"]

[alerts.sinks.nopassword]
type = "email"
server = "127.0.0.1"
port = {p1}
ca_file = "{d}/ca.pem"
username = "attestd"
password = "{d}/smtp.password"
from = "attestd@example.com"
to = ["security@example.com"]
"#,
            d = d.display()
        ),
    );

    // `alerts test` through each sink.
    let o = attestd()
        .args(["alerts", "test", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("mail (email): ok (250)"), "{stdout}");
    assert!(stdout.contains("smtps (email): ok (250)"), "{stdout}");
    let untrusted = stdout.lines().find(|l| l.starts_with("untrusted")).unwrap();
    assert!(untrusted.contains("FAILED"), "{untrusted}");
    assert!(
        untrusted.to_lowercase().contains("certificate"),
        "{untrusted}"
    );
    let nopw = stdout
        .lines()
        .find(|l| l.starts_with("nopassword"))
        .unwrap();
    assert!(nopw.contains("smtp.password"), "{nopw}");
    let got = messages(&out);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().any(|(n, _)| n.ends_with("-starttls.eml")));
    assert!(got.iter().any(|(n, _)| n.ends_with("-tls.eml")));

    // A real alert, queued by collect --db and sent by `alerts deliver`.
    let db = d.join("attestd.db");
    attestd()
        .args(["collect", "--root"])
        .arg(fixture("debian12-stock"))
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let o = attestd()
        .args(["alerts", "deliver", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, _) = text(&o);
    assert!(stdout.contains("mail: 1 delivered"), "{stdout}");
    assert!(stdout.contains("smtps: 1 delivered"), "{stdout}");
    assert!(
        stdout.contains("untrusted: 0 delivered, 1 to retry"),
        "{stdout}"
    );
    let alerts = alerts_json(&db, &config);
    let alert = &alerts["alerts"][0];
    let id = alert["id"].as_str().unwrap();
    assert_eq!(
        delivery(alert, "untrusted")["state"],
        "pending",
        "a TLS failure is retried later"
    );
    let got = messages(&out);
    assert_eq!(got.len(), 4);
    let (_, mail) = &got[2];
    assert!(
        mail.contains(&format!("Message-ID: <{id}@attestd>")),
        "{mail}"
    );
    assert!(mail.contains("Subject: [attestd]"), "{mail}");
    assert!(mail.contains("password.min_length"), "{mail}");
    assert!(mail.contains("fix:"), "{mail}");
    assert!(mail.contains("To: security@example.com"), "{mail}");
}

/// An HTTPS receiver whose certificate the system does not trust (openssl s_server):
/// a clear TLS error, no crash, and the alert stays queued for a retry.
#[test]
fn https_sink_with_untrusted_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certs(d);
    let port = free_port();
    let server = Command::new("openssl")
        .current_dir(d)
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-cert",
            "server.pem",
            "-key",
            "server.key",
        ])
        .args(["-accept", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Smtp { child: server };
    std::fs::write(d.join("s"), "k").unwrap();
    let config = plain_config(
        d,
        &format!(
            "[alerts.sinks.tls]\ntype = \"webhook\"\nurl = \"https://127.0.0.1:{port}/hook\"\nsecret = \"{}/s\"\n",
            d.display()
        ),
    );
    let mut last = String::new();
    // s_server may need a moment to listen.
    for _ in 0..20 {
        let o = attestd()
            .args(["alerts", "test", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        last = text(&o).0;
        if !last.contains("cannot connect: client error (Connect): tcp") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(last.contains("tls (webhook): FAILED"), "{last}");
    assert!(last.to_lowercase().contains("certificate"), "{last}");
    assert!(!last.contains("/hook"), "the URL is not shown: {last}");
}
