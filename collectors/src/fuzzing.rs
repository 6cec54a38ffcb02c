//! Entry points for the cargo-fuzz targets in `fuzz/`: one function per parser of host
//! text or bytes, each taking arbitrary bytes and driving the parser the way the
//! collector does (includes resolve under an empty root, so nothing outside is read).
//!
//! This module exists so the targets can reach parsers that stay private to the crate;
//! it is hidden from the documentation and is not an API. Its functions must never
//! panic on any input (that is what the fuzzers check), never read the live host, and
//! never judge what they parse.

use crate::formats::{pam, sshd_config, x509};
use crate::HostRoot;

/// A root with nothing in it: `Include` and `@include` targets are simply absent.
fn empty_root() -> HostRoot {
    HostRoot::new("/nonexistent/attestd-fuzz-root")
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `sshd_config`: the parse, then the effective settings both collectors compute.
pub fn sshd_config(data: &[u8]) {
    if let Ok(config) = sshd_config::parse_text(&empty_root(), sshd_config::MAIN, &text(data)) {
        let _ = config.effective();
    }
    let _ = sshd_config::time_seconds(&text(data));
}

/// A PAM service file: logical lines, each line's fields, and module arguments.
pub fn pam(data: &[u8]) {
    for (_, line) in pam::pam_logical_lines(&text(data)) {
        if let Ok(Some(pam::PamEntry::Module(m))) = pam::parse_pam_line(&line) {
            let _ = pam::stack::args_map(&m.args);
        }
    }
}

/// `/etc/login.defs` and the pwquality (and faillock) `key = value` format.
pub fn login_defs_and_pwquality(data: &[u8]) {
    let t = text(data);
    let _ = crate::password_policy::login_defs::parse("/etc/login.defs", &t);
    let mut merged = crate::password_policy::pwquality::Pwquality::default();
    let _ = merged.apply("/etc/security/pwquality.conf", &t);
}

/// `/etc/sudoers`: user specifications, Defaults, aliases and their expansion.
pub fn sudoers(data: &[u8]) {
    let _ = crate::accounts::sudoers::parse_text(&empty_root(), &text(data), &mut Vec::new());
}

/// wtmp records (whole 384-byte utmp records) and one lastlog record.
pub fn wtmp_lastlog(data: &[u8]) {
    let mut by_name = std::collections::BTreeMap::new();
    let _ = crate::accounts::login_records::wtmp_logins(data, 0, &mut by_name);
    let _ = crate::accounts::login_records::lastlog_time(data);
}

/// `nft --json list ruleset`.
pub fn nft_json(data: &[u8]) {
    let _ = crate::firewall::nft::parse_nft(&text(data));
}

/// `iptables-save` / `ip6tables-save`, and `ufw status verbose`.
pub fn iptables_save(data: &[u8]) {
    let t = text(data);
    let _ = crate::firewall::iptables::parse_iptables_save(&t, crate::firewall::Family::V4);
    let _ = crate::firewall::iptables::parse_iptables_save(&t, crate::firewall::Family::V6);
    let _ = crate::firewall::ufw::parse_ufw(&t);
}

/// PEM splitting and X.509 description, as the certificates and tls collectors do it.
pub fn x509_pem(data: &[u8]) {
    if let Ok(ders) = x509::certificates_in(data) {
        for der in ders {
            let _ = x509::describe(&der);
        }
    }
}

/// What a TLS server sends back to a ClientHello, for every version offered.
pub fn tls_server_hello(data: &[u8]) {
    use crate::tls::hello::{AnswerReader, Version};
    for version in Version::ALL {
        for want_chain in [false, true] {
            let mut reader = AnswerReader::new(version, want_chain);
            // Arrived in two pieces, as a slow peer would send it.
            let split = data.len() / 2;
            reader.records.extend_from_slice(&data[..split]);
            if let Ok(None) = reader.step() {
                reader.records.extend_from_slice(&data[split..]);
                if let Ok(None) = reader.step() {
                    let _ = reader.end();
                }
            }
        }
    }
}

/// `restic --json snapshots` and `borg list --json`.
pub fn restic_borg_json(data: &[u8]) {
    let t = text(data);
    let _ = crate::backup::tools::parse_restic_snapshots(&t);
    let _ = crate::backup::tools::parse_borg_list(&t);
}

/// A plugin's stdout.
pub fn plugin_output(data: &[u8]) {
    let _ = crate::exec_plugin::facts_from_stdout("/usr/local/lib/attestd/fuzz", &text(data));
}

/// One fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target by name, for `bench/fuzz.sh` and the smoke test below.
pub const TARGETS: &[(&str, Target)] = &[
    ("sshd_config", sshd_config),
    ("pam", pam),
    ("login_defs_pwquality", login_defs_and_pwquality),
    ("sudoers", sudoers),
    ("wtmp_lastlog", wtmp_lastlog),
    ("nft_json", nft_json),
    ("iptables_save", iptables_save),
    ("x509_pem", x509_pem),
    ("tls_server_hello", tls_server_hello),
    ("restic_borg_json", restic_borg_json),
    ("plugin_output", plugin_output),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_survives_a_few_awkward_inputs() {
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"\0\xff\xfe".to_vec(),
            b"Include *\nMatch\n".to_vec(),
            vec![0x16, 3, 3, 0, 4, 2, 0, 0, 0],
            vec![b'a'; 4096],
            b"{\"archives\":[{\"time\":\"x\"}]}".to_vec(),
            b"[{\"time\":\"2026-01-01T00:00:00Z\"}]".to_vec(),
        ];
        for (_, target) in super::TARGETS {
            for input in &inputs {
                target(input);
            }
        }
    }
}
