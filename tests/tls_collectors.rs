//! The tls and certificates collectors against real peers: `openssl s_server` in the
//! configurations of the fixture hosts (current, legacy, NULL suite, expired,
//! mismatched, self-signed), a silent listener, a closed port, an HTTP server, and
//! certificate files that are good, expiring, garbage, huge or unreadable. Asserts the
//! facts the collector reports and the verdicts the shipped rules give.

mod common;
use attestd_collectors::{CollectContext, Collector, HostRoot};
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn results_of<'a>(doc: &'a Value, collector: &str) -> Vec<&'a Value> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["collector"] == collector)
        .collect()
}

#[test]
fn hardened_tls_endpoint_and_certificates_pass_every_rule() {
    let host = prepare_host("hardened");
    let (_, doc) = collect_json(&host.root, &host.config, &[]);
    let tls = results_of(&doc, "tls");
    let certs = results_of(&doc, "certificates");
    assert_eq!(tls.len(), 9);
    assert_eq!(certs.len(), 4);
    for r in tls.iter().chain(certs.iter()) {
        assert_eq!(r["status"], "pass", "{r}");
    }
    let protocols = &status_observed(&doc, "tls.no_legacy_protocols")[0]["protocols"];
    assert_eq!(
        protocols,
        &json!({"ssl3": false, "tls1_0": false, "tls1_1": false, "tls1_2": true, "tls1_3": true})
    );
}

#[test]
fn the_modern_profile_fails_an_intermediate_endpoint() {
    let host = prepare_host("hardened");
    let text = std::fs::read_to_string(&host.config).unwrap();
    std::fs::write(
        &host.config,
        format!("{text}\n[variables]\ntls_profile = \"modern\"\n"),
    )
    .unwrap();
    let (code, doc) = collect_json(&host.root, &host.config, &["--collector", "tls"]);
    assert_eq!(code, 1);
    assert_eq!(status_of(&doc, "tls.no_legacy_protocols"), "fail");
    assert_eq!(status_of(&doc, "tls.profile_cipher_suites"), "fail");
    assert_eq!(status_of(&doc, "tls.current_protocol_supported"), "pass");
}

fn status_observed(doc: &Value, rule: &str) -> Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap()["observed"]
        .clone()
}

#[test]
fn legacy_endpoints_fail_protocol_and_cipher_rules_with_what_was_accepted() {
    let host = prepare_host("tls-legacy");
    let (code, doc) = collect_json(&host.root, &host.config, &["--collector", "tls"]);
    assert_eq!(code, 1);
    for (rule, want) in [
        ("tls.no_legacy_protocols", "fail"),
        ("tls.current_protocol_supported", "fail"),
        ("tls.no_weak_ciphers", "fail"),
        ("tls.profile_cipher_suites", "fail"),
        ("tls.certificate_trusted", "pass"),
        ("tls.certificate_hostname", "pass"),
        ("tls.certificate_not_expired", "pass"),
    ] {
        assert_eq!(status_of(&doc, rule), want, "{rule}");
    }
    let weak = status_observed(&doc, "tls.no_weak_ciphers");
    assert_eq!(weak[0]["weak_suites"], json!(["CBC_TLS1_0"]), "{weak}");
    assert_eq!(weak[1]["weak_suites"], json!(["NULL"]), "{weak}");
    let protocols = status_observed(&doc, "tls.no_legacy_protocols");
    assert_eq!(
        protocols[0]["protocols"],
        json!({"ssl3": false, "tls1_0": true, "tls1_1": true, "tls1_2": false, "tls1_3": false})
    );
    let suites = status_observed(&doc, "tls.profile_cipher_suites");
    assert_eq!(
        suites[1]["suites"]["tls1_2"],
        json!(["TLS_ECDHE_ECDSA_WITH_NULL_SHA"])
    );
}

#[test]
fn bad_certificates_fail_each_certificate_rule() {
    let host = prepare_host("tls-bad-certificates");
    let (code, doc) = collect_json(&host.root, &host.config, &[]);
    assert_eq!(code, 1);
    for (rule, want) in [
        ("tls.no_legacy_protocols", "pass"),
        ("tls.no_weak_ciphers", "pass"),
        ("tls.certificate_trusted", "fail"),
        ("tls.certificate_hostname", "fail"),
        ("tls.certificate_not_expired", "fail"),
        ("tls.certificate_key_strength", "fail"),
        ("tls.certificate_lifetime", "fail"),
        ("certificates.not_expired", "fail"),
        ("certificates.expiry_imminent", "fail"),
        ("certificates.expiry_warning", "fail"),
        ("certificates.key_strength", "fail"),
    ] {
        assert_eq!(status_of(&doc, rule), want, "{rule}");
    }
    let trusted = status_observed(&doc, "tls.certificate_trusted");
    assert_eq!(trusted[0]["trusted"], false);
    // The reason names the problem but not the run time, so the fact stays stable.
    assert_eq!(trusted[0]["trust_error"], "CertExpired", "{trusted}");
    assert_eq!(trusted[1]["trusted"], true, "{trusted}");
    assert_eq!(trusted[2]["trusted"], false);
    let names = status_observed(&doc, "tls.certificate_hostname");
    assert_eq!(names[1]["hostname"], "www.example.org");
    let keys = status_observed(&doc, "tls.certificate_key_strength");
    assert_eq!(
        keys[2],
        json!({"address": keys[2]["address"], "key_type": "RSA", "key_bits": 1024})
    );
    let weak_files = status_observed(&doc, "certificates.key_strength");
    assert_eq!(
        weak_files[0]["file"],
        "/etc/ssl/certs/local/legacy-appliance.crt"
    );
}

#[test]
fn silent_closed_and_non_tls_peers_are_errors_within_the_timeout() {
    let host = prepare_host("broken-tls");
    let started = Instant::now();
    let (code, doc) = collect_json(&host.root, &host.config, &[]);
    let took = started.elapsed();
    assert_ne!(code, 0);
    // One read timeout (2 s) for the silent peer; the others fail at once.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    for r in results_of(&doc, "tls")
        .into_iter()
        .chain(results_of(&doc, "certificates"))
    {
        assert_eq!(r["status"], "error", "{r}");
    }
    let reason = results_of(&doc, "tls")[0]["reason"].as_str().unwrap();
    assert!(reason.contains("no answer within 2 s"), "{reason}");
    assert!(reason.contains("Connection refused"), "{reason}");
    assert!(reason.contains("not TLS"), "{reason}");
    let reason = results_of(&doc, "certificates")[0]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("garbage.pem"), "{reason}");
    assert!(reason.contains("dangling.pem"), "{reason}");
}

// ---- the collectors called directly, for facts the rules do not show ----

fn ctx(root: &Path, settings: Value) -> CollectContext {
    CollectContext {
        root: HostRoot::new(root),
        settings,
        previous_facts: None,
        measurements: None,
        now: chrono::Utc::now(),
    }
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s_server(dir: &Path, cert: &str, key: &str, extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", cert, "-key", key])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &"s_server");
    (Server(child), port)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tls_material() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls")
}

/// A leaf for localhost from the test CA, valid `days`, in `dir`.
fn leaf(dir: &Path, name: &str, days: &str) {
    let ca = tls_material();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-CA",
            ca.join("ca.pem").to_str().unwrap(),
            "-CAkey",
            ca.join("ca.key").to_str().unwrap(),
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            days,
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

#[test]
fn a_private_ca_is_trusted_only_through_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    leaf(dir.path(), "leaf", "30");
    let (_server, port) = s_server(dir.path(), "leaf.pem", "leaf.key", &[]);
    // The tree has no system roots at all.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/attestd")).unwrap();
    std::fs::copy(
        tls_material().join("ca.pem"),
        root.join("etc/attestd/ca.pem"),
    )
    .unwrap();
    let endpoint = json!([{"address": format!("127.0.0.1:{port}")}]);
    let ev = attestd_collectors::tls::Tls
        .collect(&ctx(&root, json!({"endpoints": endpoint})))
        .unwrap();
    let cert = &ev.facts["endpoints"][0]["certificate"];
    assert_eq!(cert["trusted"], false);
    assert_eq!(cert["hostname"], "127.0.0.1");
    assert_eq!(cert["hostname_matches"], true, "IP SAN 127.0.0.1");
    assert_eq!(ev.facts["trust"]["roots"], 0);
    let ev = attestd_collectors::tls::Tls
        .collect(&ctx(
            &root,
            json!({"endpoints": endpoint, "ca_file": "/etc/attestd/ca.pem"}),
        ))
        .unwrap();
    let e = &ev.facts["endpoints"][0];
    assert_eq!(e["certificate"]["trusted"], true, "{e}");
    // Nothing in the facts changes by itself: a second run a moment later is identical,
    // so the store keeps the evidence once.
    let again = attestd_collectors::tls::Tls
        .collect(&ctx(
            &root,
            json!({"endpoints": endpoint, "ca_file": "/etc/attestd/ca.pem"}),
        ))
        .unwrap();
    assert_eq!(again.facts, ev.facts);
    assert_eq!(e["certificate"]["key_type"], "EC");
    assert_eq!(e["certificate"]["key_bits"], 256);
    assert_eq!(e["certificate"]["self_signed"], false);
    assert_eq!(e["certificate"]["signature_algorithm"], "ecdsa-with-SHA256");
    // Debian's s_server defaults: TLS 1.2 and 1.3.
    assert_eq!(e["protocols"]["tls1_3"], true);
    assert!(e["negotiated"]["tls1_3"]
        .as_str()
        .unwrap()
        .starts_with("TLS_AES_"));
    assert!(e["negotiated"]["tls1_2"]
        .as_str()
        .unwrap()
        .starts_with("TLS_ECDHE_ECDSA_WITH_"));
    let err = attestd_collectors::tls::Tls
        .collect(&ctx(
            &root,
            json!({"endpoints": endpoint, "ca_file": "/etc/attestd/missing.pem"}),
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("/etc/attestd/missing.pem"),
        "{err}"
    );
}

#[test]
fn tls13_only_servers_give_their_certificate_through_rustls() {
    let dir = tempfile::tempdir().unwrap();
    leaf(dir.path(), "leaf", "30");
    let (_server, port) = s_server(dir.path(), "leaf.pem", "leaf.key", &["-tls1_3"]);
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
    std::fs::copy(
        tls_material().join("ca.pem"),
        root.join("etc/ssl/certs/ca-certificates.crt"),
    )
    .unwrap();
    let settings =
        json!({"endpoints": [{"address": format!("127.0.0.1:{port}"), "sni": "localhost"}]});
    let ev = attestd_collectors::tls::Tls
        .collect(&ctx(&root, settings))
        .unwrap();
    let e = &ev.facts["endpoints"][0];
    assert_eq!(
        e["protocols"],
        json!({"ssl3": false, "tls1_0": false, "tls1_1": false, "tls1_2": false, "tls1_3": true})
    );
    assert_eq!(e["certificate"]["trusted"], true, "{e}");
    assert_eq!(e["certificate"]["hostname_matches"], true);
    // A server without X25519 answers our key share with a HelloRetryRequest: that
    // still says TLS 1.3 is accepted.
    let (_p256, port) = s_server(
        dir.path(),
        "leaf.pem",
        "leaf.key",
        &["-tls1_3", "-groups", "P-256"],
    );
    let settings =
        json!({"endpoints": [{"address": format!("127.0.0.1:{port}"), "sni": "localhost"}]});
    let ev = attestd_collectors::tls::Tls
        .collect(&ctx(&root, settings))
        .unwrap();
    let e = &ev.facts["endpoints"][0];
    assert_eq!(e["protocols"]["tls1_3"], true, "{e}");
    assert_eq!(e["suites"]["tls1_3"].as_array().unwrap().len(), 3, "{e}");
    assert_eq!(e["certificate"]["trusted"], true, "{e}");
}

#[test]
fn smtp_starttls_is_probed_after_the_smtp_dialogue() {
    let dir = tempfile::tempdir().unwrap();
    leaf(dir.path(), "leaf", "30");
    // A minimal SMTP server in Python: greets, answers EHLO and STARTTLS, then speaks
    // TLS through Python's ssl module (OpenSSL, like s_server).
    let port = free_port();
    let script = r#"
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(64)
def serve(c):
    try:
        f = c.makefile('rb')
        c.sendall(b'220 mx.test ESMTP\r\n')
        f.readline()
        c.sendall(b'250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n')
        f.readline()
        c.sendall(b'220 2.0.0 Ready to start TLS\r\n')
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(1)
    except Exception:
        pass
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;
    let child = Command::new("python3")
        .args(["-c", script, &port.to_string(), "leaf.pem", "leaf.key"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    wait_for_port(port, &"smtp");
    let settings = json!({"endpoints": [{"address": format!("127.0.0.1:{port}"), "sni": "localhost", "starttls": "smtp"}]});
    let ev = attestd_collectors::tls::Tls
        .collect(&ctx(dir.path(), settings.clone()))
        .unwrap();
    let e = &ev.facts["endpoints"][0];
    assert_eq!(e["starttls"], "smtp");
    assert_eq!(e["protocols"]["tls1_3"], true, "{e}");
    assert_eq!(e["certificate"]["subject"], "CN=localhost", "{e}");
    // The same endpoint without STARTTLS sees an SMTP banner, not TLS: an error.
    let plain = json!({"endpoints": [{"address": format!("127.0.0.1:{port}")}]});
    let ev = attestd_collectors::tls::Tls
        .collect(&ctx(dir.path(), plain))
        .unwrap();
    let e = &ev.facts["endpoints"][0];
    assert!(e.get("protocols").is_none());
    assert!(e["error"].as_str().unwrap().contains("not TLS"), "{e}");
}

#[test]
fn expiry_horizons_separate_warning_from_failure() {
    // Certificates valid 20 and 5 more days, in a tree of their own.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("etc/ssl/certs/local");
    std::fs::create_dir_all(&local).unwrap();
    leaf(&local, "soon", "20");
    std::fs::remove_file(local.join("soon.key")).unwrap();
    let config = plain_config(dir.path(), "");
    let (_, doc) = collect_json(dir.path(), &config, &["--collector", "certificates"]);
    assert_eq!(status_of(&doc, "certificates.expiry_warning"), "fail");
    assert_eq!(status_of(&doc, "certificates.expiry_imminent"), "pass");
    assert_eq!(status_of(&doc, "certificates.not_expired"), "pass");
    leaf(&local, "sooner", "5");
    std::fs::remove_file(local.join("sooner.key")).unwrap();
    let (_, doc) = collect_json(dir.path(), &config, &["--collector", "certificates"]);
    assert_eq!(status_of(&doc, "certificates.expiry_imminent"), "fail");
    assert_eq!(status_of(&doc, "certificates.not_expired"), "pass");
    let observed = status_observed(&doc, "certificates.expiry_imminent");
    assert_eq!(observed.as_array().unwrap().len(), 1, "{observed}");
    assert_eq!(observed[0]["file"], "/etc/ssl/certs/local/sooner.pem");
}

#[test]
fn huge_and_unreadable_certificate_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("etc/ssl/certs/local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::copy(tls_material().join("ca.pem"), local.join("good.pem")).unwrap();
    let huge = std::fs::File::create(local.join("huge.crt")).unwrap();
    huge.set_len(5 * 1024 * 1024).unwrap();
    let ev = attestd_collectors::certificates::Certificates
        .collect(&ctx(dir.path(), Value::Null))
        .unwrap();
    assert!(ev.facts.get("certificates").is_none());
    let reason = ev.facts["unavailable"]["/etc/ssl/certs/local/huge.crt"]
        .as_str()
        .unwrap();
    assert!(reason.contains("huge.crt"), "{reason}");
    std::fs::remove_file(local.join("huge.crt")).unwrap();
    // A FIFO would block a reader forever: it is named, never opened.
    let fifo = local.join("pipe.pem");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let ev = attestd_collectors::certificates::Certificates
        .collect(&ctx(dir.path(), Value::Null))
        .unwrap();
    assert!(ev.facts.get("certificates").is_none());
    assert_eq!(
        ev.facts["unavailable"]["/etc/ssl/certs/local/pipe.pem"],
        "not a regular file"
    );
    std::fs::remove_file(&fifo).unwrap();
    let ev = attestd_collectors::certificates::Certificates
        .collect(&ctx(dir.path(), Value::Null))
        .unwrap();
    let certs = ev.facts["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["subject"], "CN=attestd test CA");
    assert_eq!(certs[0]["is_ca"], true);
}

#[test]
fn certificate_files_report_names_dates_keys_and_self_signature() {
    let root = fixture("tls-bad-certificates");
    let ev = attestd_collectors::certificates::Certificates
        .collect(&ctx(&root, Value::Null))
        .unwrap();
    let certs = ev.facts["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2, "{certs:?}");
    let appliance = &certs[0];
    assert_eq!(
        appliance["file"],
        "/etc/ssl/certs/local/legacy-appliance.crt"
    );
    assert_eq!(appliance["subject"], "CN=legacy-rsa1024.example");
    assert_eq!(appliance["self_signed"], true);
    assert_eq!(appliance["key_type"], "RSA");
    assert_eq!(appliance["key_bits"], 1024);
    assert_eq!(appliance["signature_algorithm"], "sha256WithRSAEncryption");
    let portal = &certs[1];
    assert_eq!(portal["issuer"], "CN=attestd test CA");
    assert_eq!(portal["self_signed"], false);
    assert_eq!(portal["not_after"], "2021-01-01T00:00:00Z");
    assert_eq!(portal["key_type"], "EC");
    // /etc/letsencrypt/live is a default path too; this tree has none.
    assert_eq!(ev.facts["paths"][1]["present"], false);
}

#[test]
fn bad_tls_settings_stop_collect_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, needle) in [
        (
            "[collectors.tls]\nendpoints = [{ address = \"example.org\" }]\n",
            "endpoints[0].address",
        ),
        (
            "[collectors.tls]\nendpoints = [{ address = \"h:25\", starttls = \"pop3\" }]\n",
            "pop3",
        ),
        (
            "[collectors.certificates]\npaths = [\"certs\"]\n",
            "paths[0]",
        ),
    ] {
        let config = plain_config(dir.path(), extra);
        let out = attestd()
            .args(["collect", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

/// nginx on 127.0.0.1 with `protocols` and `ciphers`, running until dropped.
fn nginx(dir: &Path, protocols: &str, ciphers: &str) -> (Server, u16) {
    let port = free_port();
    for sub in ["logs", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let conf = format!(
        r#"# One process, no workers: killing the child stops nginx entirely.
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {d}/leaf.pem;
        ssl_certificate_key {d}/leaf.key;
        ssl_protocols {protocols};
        ssl_ciphers {ciphers};
        ssl_prefer_server_ciphers off;
        return 200 "ok\n";
    }}
}}
"#,
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("logs/error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (.ci/run installs it)");
    let server = Server(child);
    wait_for_port(port, &"nginx");
    (server, port)
}

#[test]
fn nginx_with_mozillas_intermediate_configuration_passes_and_an_old_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    leaf(dir.path(), "leaf", "90");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
    std::fs::copy(
        tls_material().join("ca.pem"),
        root.join("etc/ssl/certs/ca-certificates.crt"),
    )
    .unwrap();
    // The cipher list Mozilla's generator gives for the intermediate profile.
    let intermediate = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
    let judge = |port: u16| {
        let config = plain_config(
            dir.path(),
            &format!("[collectors.tls]\nendpoints = [{{ address = \"127.0.0.1:{port}\", sni = \"localhost\" }}]\n"),
        );
        collect_json(&root, &config, &["--collector", "tls"]).1
    };
    let (server, port) = nginx(dir.path(), "TLSv1.2 TLSv1.3", intermediate);
    let doc = judge(port);
    drop(server);
    for r in results_of(&doc, "tls") {
        assert_eq!(r["status"], "pass", "{r}");
    }
    let (server, port) = nginx(
        dir.path(),
        "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
        "DEFAULT@SECLEVEL=0",
    );
    let doc = judge(port);
    drop(server);
    assert_eq!(status_of(&doc, "tls.no_legacy_protocols"), "fail");
    assert_eq!(status_of(&doc, "tls.no_weak_ciphers"), "fail");
    assert_eq!(status_of(&doc, "tls.profile_cipher_suites"), "fail");
    assert_eq!(status_of(&doc, "tls.certificate_trusted"), "pass");
}

#[test]
fn letsencrypt_live_symlinks_are_followed_and_private_keys_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("etc/letsencrypt/archive/example.org");
    let live = dir.path().join("etc/letsencrypt/live/example.org");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    leaf(&archive, "cert1", "90");
    std::fs::rename(archive.join("cert1.key"), archive.join("privkey1.pem")).unwrap();
    let ca = std::fs::read_to_string(tls_material().join("ca.pem")).unwrap();
    let cert = std::fs::read_to_string(archive.join("cert1.pem")).unwrap();
    std::fs::write(archive.join("chain1.pem"), &ca).unwrap();
    std::fs::write(archive.join("fullchain1.pem"), format!("{cert}{ca}")).unwrap();
    for name in ["cert", "chain", "fullchain", "privkey"] {
        std::os::unix::fs::symlink(
            format!("../../archive/example.org/{name}1.pem"),
            live.join(format!("{name}.pem")),
        )
        .unwrap();
    }
    // A key saved under a name that does not look like one: skipped, not an error.
    std::fs::copy(archive.join("privkey1.pem"), live.join("backup.pem")).unwrap();
    let ev = attestd_collectors::certificates::Certificates
        .collect(&ctx(dir.path(), Value::Null))
        .unwrap();
    let certs = ev.facts["certificates"].as_array().unwrap();
    let files: Vec<(&str, u64)> = certs
        .iter()
        .map(|c| (c["file"].as_str().unwrap(), c["index"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        files,
        [
            ("/etc/letsencrypt/live/example.org/cert.pem", 0),
            ("/etc/letsencrypt/live/example.org/chain.pem", 0),
            ("/etc/letsencrypt/live/example.org/fullchain.pem", 0),
            ("/etc/letsencrypt/live/example.org/fullchain.pem", 1),
        ]
    );
    assert_eq!(
        ev.facts["skipped_without_certificates"],
        json!(["/etc/letsencrypt/live/example.org/backup.pem"])
    );
    for a in &ev.artifacts {
        assert!(
            !a.source.contains("privkey") && !a.source.contains("backup"),
            "{a:?}"
        );
    }
    assert!(!serde_json::to_string(&ev).unwrap().contains("PRIVATE KEY"));
}
