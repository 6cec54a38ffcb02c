//! The organisation ledger with real parts: a PostgreSQL cluster of the test's own, a
//! real `attestd-server` over HTTPS, two hosts and an organisation ledger driven by the
//! real `attestd` binary. The organisation records a training (with its file) and a
//! quarterly access review, pushes and gets a receipt; the fleet bundle carries the
//! organisation as its own member with the file by hash and shows A.6.3 attested for
//! both hosts from the organisation; an edited organisation file fails `sha256sum -c`
//! and `verify`; a run pushed to the organisation ledger is refused; the organisation
//! ledger is never late.

mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use common::fleet_host::FleetHost as Host;
use common::*;
use pg::{admin, write_config, Server};

#[test]
fn an_organisation_ledger_is_witnessed_and_evidences_controls_for_every_host() {
    let pg::Site {
        pg: _pg,
        dir: sdir,
        tls,
    } = pg::Site::migrated();
    let port = pg::free_port();
    let cfg = write_config(
        sdir.path(),
        "a.toml",
        &_pg.server_url(),
        port,
        Some(&tls),
        "late_after_secs = 1\nnot_reporting_after_secs = 1\n",
    );
    let server = Server::start(&cfg, port);
    let token = |extra: &[&str]| {
        let mut a = vec!["token", "create", "--config", cfg.to_str().unwrap()];
        a.extend_from_slice(extra);
        let (ok, t, err) = admin(&a);
        assert!(ok, "{err}");
        t.trim().to_string()
    };
    let web1 = Host::new("web-1", "hardened", &server.url(), &tls.0, 200, "");
    let web2 = Host::new("web-2", "debian12-stock", &server.url(), &tls.0, 200, "");
    for h in [&web1, &web2] {
        assert_eq!(
            h.run(&["enroll", "--token", &token(&["--scope", "prod"])])
                .0,
            0
        );
        h.collect();
        let (c, so, se) = h.push();
        assert_eq!(c, 0, "{so}{se}");
    }
    let org = Host::new("acme", "hardened", &server.url(), &tls.0, 200, "");
    let (c, so, se) = org.run(&["enroll", "--token", &token(&["--organisation"])]);
    assert_eq!(c, 0, "{so}{se}");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let file = org.dir.path().join("training-2026.csv");
    std::fs::write(&file, "name,completed\nalice,2026-11-30\nbob,2026-12-01\n").unwrap();
    let (c, so, se) = org.run(&[
        "attest",
        "add",
        "--kind",
        "training",
        "--control",
        "iso27001-2022:A.6.3",
        "--control",
        "soc2:CC1.4",
        "--title",
        "Security awareness 2026",
        "--effective",
        &today,
        "--every",
        "1y",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{so}{se}");
    let (c, so, se) = org.run(&[
        "attest",
        "add",
        "--kind",
        "access_review",
        "--control",
        "iso27001-2022:A.5.18",
        "--title",
        "Quarterly access review",
        "--effective",
        &today,
        "--every",
        "3mo",
    ]);
    assert_eq!(c, 0, "{so}{se}");
    let (c, so, se) = org.push();
    assert_eq!(c, 0, "{so}{se}");
    assert!(so.contains("witnessed up to row 2"), "{so}");

    // Listed as the organisation ledger, never late (the hosts are, after 1 s).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (ok, list, err) = admin(&[
        "hosts",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let acme = list
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "acme")
        .unwrap();
    assert_eq!(acme["state"], "organisation", "{list}");
    assert_eq!(acme["ledger"], "organisation");
    let w = list
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "web-1")
        .unwrap();
    assert_eq!(w["state"], "not_reporting", "{list}");

    // The fleet bundle.
    let now = chrono::Utc::now();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("fleet");
    let (ok, so, se) = admin(&[
        "bundle",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &(now - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        "--to",
        &(now + chrono::Duration::seconds(5))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{so}{se}");
    let fleet: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("fleet.json")).unwrap()).unwrap();
    assert_eq!(fleet["population"].as_array().unwrap().len(), 2, "{fleet}");
    assert_eq!(fleet["organisations"][0]["organisation"], "acme");
    let sha = hex_sha256(&std::fs::read(&file).unwrap());
    let copied = out.join("organisations/acme/attestations/files").join(&sha);
    assert!(
        copied.is_file(),
        "the organisation's file is in the bundle by hash"
    );
    let soa = std::fs::read_to_string(out.join("applicability.csv")).unwrap();
    for host in ["web-1", "web-2"] {
        let line = soa
            .lines()
            .find(|l| l.starts_with(&format!("{host},iso27001-2022:A.6.3,")))
            .unwrap_or_else(|| panic!("{soa}"));
        assert!(
            line.contains(",attested,") || line.contains(",both,"),
            "{line}"
        );
        assert!(line.contains(",organisation,"), "{line}");
    }
    let sums = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );
    let v = attestd().arg("verify").arg(&out).output().unwrap();
    let said = text(&v).0;
    assert!(v.status.success(), "{said}");
    assert!(
        said.contains("organisation acme") && said.contains("applicability"),
        "{said}"
    );
    // An edited organisation row fails verify (its chain and the recomputation).
    let edited = d.path().join("edited");
    copy_dir(&out, &edited);
    let l = edited.join("organisations/acme/ledger.json");
    let t = std::fs::read_to_string(&l).unwrap();
    std::fs::write(
        &l,
        t.replace("Security awareness 2026", "Security awareness 2025"),
    )
    .unwrap();
    let v = attestd().arg("verify").arg(&edited).output().unwrap();
    let said = text(&v).0;
    assert!(!v.status.success(), "{said}");
    assert!(said.contains("organisations/acme/ledger.json"), "{said}");
    // An edited organisation file fails both.
    std::fs::write(&copied, "name,completed\nalice,2026-11-30\n").unwrap();
    let sums = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(!sums.status.success());
    let v = attestd().arg("verify").arg(&out).output().unwrap();
    assert!(!v.status.success(), "{}", text(&v).0);

    // A host's rows in the organisation ledger are refused with their code.
    org.collect();
    let (c, so, se) = org.push();
    assert_ne!(c, 0, "{so}{se}");
    assert!(se.contains("organisation_kind"), "{so}{se}");
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}
