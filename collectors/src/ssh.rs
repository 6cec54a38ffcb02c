//! ssh collector: the OpenSSH server's effective configuration (through the shared
//! `sshd_config` parser), the weak algorithms it still offers, and whether a second
//! authentication factor is enforced (by `AuthenticationMethods` or by a one-time-code
//! PAM module in `/etc/pam.d/sshd`).
//!
//! It must never judge and never read a private host key. Without
//! `/etc/ssh/sshd_config` it reports `installed: false` and nothing else.

use crate::formats::pam::{pam_logical_lines, parse_pam_line, PamEntry};
use crate::formats::sshd_config::{self, Effective, SshdConfig};
use crate::{Artifact, CollectContext, CollectError, Collector, Evidence, HostRoot};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// sshd's PAM service file.
const PAM_SSHD: &str = "/etc/pam.d/sshd";
/// PAM modules that ask for a second factor (one-time codes, U2F keys, Duo push).
const SECOND_FACTOR_MODULES: [&str; 4] =
    ["pam_google_authenticator", "pam_u2f", "pam_oath", "pam_duo"];
/// The OpenSSH server's effective configuration.
pub struct Ssh;

impl Collector for Ssh {
    fn name(&self) -> &'static str {
        "ssh"
    }
    fn version(&self) -> &'static str {
        // 2: the algorithm lists only; which of them are weak is policy (ssh.toml).
        "2"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&[sshd_config::SSH_DIR, PAM_SSHD, "/etc/pam.d"])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let mut artifacts = Vec::new();
        let Some(config) = sshd_config::read(&ctx.root, &mut artifacts)? else {
            return Ok(Evidence {
                facts: json!({"installed": false}),
                artifacts,
            });
        };
        let eff = config.effective()?;
        let pam = pam_second_factor(&ctx.root, &mut artifacts)?;
        let facts = facts(&config, &eff, &pam);
        Ok(Evidence { facts, artifacts })
    }
}

/// The facts for an installed sshd.
fn facts(config: &SshdConfig, eff: &Effective, pam_modules: &[String]) -> Value {
    let methods = eff.authentication_methods.clone();
    let distinct = |list: &Vec<String>| {
        let mut names: Vec<&str> = list
            .iter()
            .map(|m| m.split(':').next().unwrap_or(m))
            .collect();
        names.sort();
        names.dedup();
        names.len()
    };
    let every_list_two = methods
        .as_ref()
        .is_some_and(|lists| !lists.is_empty() && lists.iter().all(|l| distinct(l) >= 2));
    let every_list_kbd = methods.as_ref().is_some_and(|lists| {
        lists.iter().all(|l| {
            l.iter()
                .any(|m| m.split(':').next() == Some("keyboard-interactive"))
        })
    });
    // A PAM one-time-code module only guards the logins that go through keyboard-
    // interactive: every AuthenticationMethods list must include it, or (with `any`)
    // no other method may log in alone.
    let pam_enforced = !pam_modules.is_empty()
        && eff.use_pam
        && eff.kbd_interactive_authentication
        && (every_list_kbd
            || (methods.is_none() && !eff.pubkey_authentication && !eff.password_authentication));
    let mfa_via = if every_list_two {
        Value::String("authentication_methods".into())
    } else if pam_enforced {
        Value::String("pam".into())
    } else {
        Value::Null
    };
    let matches: Vec<Value> = config
        .matches
        .iter()
        .map(|m| {
            let mut settings = Map::new();
            for d in &m.directives {
                // yes/no values and PermitRootLogin are compared by rules: lower-case
                // them as sshd treats them; everything else stays as written.
                let value = match d.keyword.as_str() {
                    "permitrootlogin"
                    | "passwordauthentication"
                    | "permitemptypasswords"
                    | "kbdinteractiveauthentication"
                    | "pubkeyauthentication"
                    | "x11forwarding" => d.args.join(" ").to_ascii_lowercase(),
                    _ => d.args.join(" "),
                };
                settings
                    .entry(d.keyword.clone())
                    .or_insert_with(|| Value::String(value));
            }
            json!({"criteria": m.criteria, "file": m.file, "line": m.line, "settings": settings})
        })
        .collect();
    json!({
        "installed": true,
        "files": config.files,
        "permit_root_login": eff.permit_root_login,
        "password_authentication": eff.password_authentication,
        "kbd_interactive_authentication": eff.kbd_interactive_authentication,
        "pubkey_authentication": eff.pubkey_authentication,
        "authentication_methods": methods,
        "max_auth_tries": eff.max_auth_tries,
        "login_grace_time": eff.login_grace_time,
        "permit_empty_passwords": eff.permit_empty_passwords,
        "x11_forwarding": eff.x11_forwarding,
        "use_pam": eff.use_pam,
        "log_level": eff.log_level,
        "ciphers": eff.ciphers,
        "macs": eff.macs,
        "kex_algorithms": eff.kex_algorithms,
        "client_alive_interval": eff.client_alive_interval,
        "client_alive_count_max": eff.client_alive_count_max,
        "set_in": eff.set_in,
        "match_blocks": matches,
        "mfa": {
            "enforced": !mfa_via.is_null(),
            "via": mfa_via,
            "pam_second_factor_modules": pam_modules,
        },
    })
}

/// The second-factor modules `/etc/pam.d/sshd` (with its `@include`s) requires in its
/// auth stack. `optional` and `sufficient` lines do not count: they can be skipped.
fn pam_second_factor(
    root: &HostRoot,
    artifacts: &mut Vec<Artifact>,
) -> Result<Vec<String>, CollectError> {
    let mut found = Vec::new();
    pam_file(root, PAM_SSHD, 0, artifacts, &mut found)?;
    found.sort();
    found.dedup();
    Ok(found)
}

fn pam_file(
    root: &HostRoot,
    path: &str,
    depth: usize,
    artifacts: &mut Vec<Artifact>,
    found: &mut Vec<String>,
) -> Result<(), CollectError> {
    if depth > 8 {
        return Err(CollectError::Malformed {
            path: path.into(),
            line: 0,
            reason: "PAM includes nested deeper than 8 (an include loop?)".into(),
        });
    }
    let Some(text) = root.read_text(path)? else {
        artifacts.push(Artifact::absent(path));
        return Ok(());
    };
    artifacts.push(Artifact::file(path, text.as_bytes()));
    for (line, logical) in pam_logical_lines(&text) {
        let entry = parse_pam_line(&logical).map_err(|reason| CollectError::Malformed {
            path: path.into(),
            line,
            reason,
        })?;
        let included = match entry {
            Some(PamEntry::Include(file)) => Some(file),
            Some(PamEntry::Module(m)) if m.kind == "auth" => {
                if m.control == "include" || m.control == "substack" {
                    Some(m.module.clone())
                } else {
                    let base = m.module.rsplit('/').next().unwrap_or(&m.module);
                    let name = base.strip_suffix(".so").unwrap_or(base);
                    let skippable = m.control == "optional" || m.control == "sufficient";
                    if SECOND_FACTOR_MODULES.contains(&name) && !skippable {
                        found.push(name.to_string());
                    }
                    None
                }
            }
            _ => None,
        };
        if let Some(file) = included {
            let target = if file.starts_with('/') {
                file
            } else {
                format!("/etc/pam.d/{file}")
            };
            pam_file(root, &target, depth + 1, artifacts, found)?;
        }
    }
    Ok(())
}
