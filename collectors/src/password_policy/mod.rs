//! password_policy collector: the password rules a host enforces and the state of its
//! login-capable accounts.
//!
//! It reads `/etc/login.defs` (aging defaults, hash method), libpwquality's
//! configuration, `/etc/security/faillock.conf`, the Debian `common-password` and
//! `common-auth` PAM stacks, and `/etc/passwd` + `/etc/shadow`, and reports each as
//! written plus an `effective` view of what PAM actually enforces. Code map:
//!
//! - `login_defs`: `KEY VALUE` aging defaults.
//! - `settings`: typed `key = value` files, shared by `pwquality` and `faillock`.
//! - `pwquality`: drop-ins then main file, and which file set each key.
//! - `faillock`: lockout settings.
//! - `pam`: stacks with includes resolved.
//! - `effective`: files + module arguments + module defaults.
//! - `shadow`: per-account password state and aging, redacted.
//!
//! It must never judge (no thresholds live here) and never collect a password hash:
//! `/etc/shadow` and `/etc/passwd` are only ever recorded as redacted artifacts.

mod effective;
mod faillock;
pub(crate) mod login_defs;
use crate::formats::pam::stack as pam;
pub(crate) mod pwquality;
mod settings;
pub(crate) mod shadow;
#[cfg(test)]
mod tests;

use crate::{Artifact, CollectContext, CollectError, Collector, Evidence, HostRoot};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Password quality, aging, history, lockout and account password state.
pub struct PasswordPolicy;

impl Collector for PasswordPolicy {
    fn name(&self) -> &'static str {
        "password_policy"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &serde_json::Value) -> Vec<PathBuf> {
        crate::host_paths(&[
            login_defs::PATH,
            pwquality::MAIN,
            pwquality::DROP_IN_DIR,
            faillock::PATH,
            pam::PAM_DIR,
            shadow::PASSWD,
            shadow::SHADOW,
        ])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let mut artifacts = Vec::new();
        let login_defs = login_defs::read(&ctx.root, &mut artifacts)?;
        let pwquality = pwquality::read(&ctx.root, &mut artifacts)?;
        let faillock = faillock::read(&ctx.root, &mut artifacts)?;
        let pam = pam::read(&ctx.root, &mut artifacts)?;
        let effective = effective::derive(&pwquality, &faillock, &pam)?;
        let accounts = shadow::read(&ctx.root, &mut artifacts)?;
        let mut unavailable = Map::new();
        if let Some(reason) = accounts.unavailable {
            unavailable.insert("accounts".into(), Value::String(reason));
        }
        let facts = json!({
            "login_defs": login_defs,
            "pwquality": pwquality,
            "faillock_conf": faillock,
            "pam": pam,
            "effective": effective,
            "accounts": accounts.accounts,
            "login_accounts": accounts.login_accounts,
            "unavailable": unavailable,
        });
        Ok(Evidence { facts, artifacts })
    }
}

/// Read an optional text file and record it as an artifact (absent when missing).
fn read_optional(
    root: &HostRoot,
    path: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Option<String>, CollectError> {
    let text = root.read_text(path)?;
    artifacts.push(match &text {
        Some(t) => Artifact::file(path, t.as_bytes()),
        None => Artifact::absent(path),
    });
    Ok(text)
}
