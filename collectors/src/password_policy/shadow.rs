//! Per-account password state and aging for login-capable accounts, from `/etc/passwd`
//! and `/etc/shadow`.
//!
//! A login-capable account is one whose shell is not nologin, false, sync, shutdown or
//! halt (by the shell's last path component). For each, the password field is reduced
//! to a state (`set`, `locked`, `empty`, or `missing` when shadow has no entry) and the
//! aging fields are reported as numbers and dates.
//!
//! It must NEVER store, log or quote a password hash: both files become redacted
//! artifacts (the password field replaced by `<set>`, `<locked>` or `<empty>`), and
//! error messages name a field, never its content. Missing or unreadable files do not
//! fail the collector: the accounts are then unavailable, with the reason.

use crate::{Artifact, CollectError, HostRoot, Sensitive};
use chrono::{Days, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// The account database.
pub const PASSWD: &str = "/etc/passwd";
/// The password and aging database.
pub const SHADOW: &str = "/etc/shadow";
/// Shells (last path component) that do not give a login session.
const NO_LOGIN_SHELLS: [&str; 5] = ["nologin", "false", "sync", "shutdown", "halt"];
/// The shadow fields after the password, in order, with the names errors use.
const AGING_FIELDS: [&str; 6] = [
    "last change",
    "minimum age",
    "maximum age",
    "warning period",
    "inactivity period",
    "expiration date",
];

/// One login-capable account, as the `accounts` facts show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub shell: String,
    /// `set`, `locked`, `empty` or `missing`.
    pub password: &'static str,
    pub locked: bool,
    pub empty_password: bool,
    /// Days since 1970-01-01 of the last change; 0 means "must change at next login".
    pub last_change_days: Option<i64>,
    /// The last change as `YYYY-MM-DD`; null when unknown or 0.
    pub last_change_date: Option<String>,
    pub max_days: Option<i64>,
    pub min_days: Option<i64>,
    pub warn_days: Option<i64>,
    pub inactive_days: Option<i64>,
    /// The account expiry as `YYYY-MM-DD`; null when none.
    pub expire_date: Option<String>,
}

/// What this module contributes to the facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Accounts {
    /// The login-capable accounts; `None` when passwd or shadow could not be read.
    pub accounts: Option<Vec<Account>>,
    /// How many login-capable accounts passwd lists; `None` without passwd.
    pub login_accounts: Option<usize>,
    /// Why `accounts` is `None`.
    pub unavailable: Option<String>,
}

/// A passwd line, minus what collectors do not need (no GECOS, no home).
pub(crate) struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The passwd password field (`x` when shadow holds it). Never reported.
    pub password: String,
    pub shell: String,
}

/// A shadow line: the password field and the aging fields.
pub(crate) struct ShadowEntry {
    /// The password field. Never reported: only its state is.
    pub password: String,
    pub aging: [Option<i64>; 6],
}

/// Read both files and build the accounts. Nothing here depends on the date of the
/// run, so an unchanged shadow file gives unchanged facts (and evidence is stored once).
pub fn read(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<Accounts, CollectError> {
    let passwd = read_db(root, PASSWD, artifacts)?;
    let shadow = read_db(root, SHADOW, artifacts)?;
    let passwd = match passwd {
        Ok(text) => parse_passwd(&text)?,
        Err(reason) => {
            // Without passwd nothing is known about accounts.
            let reasons: Vec<String> = std::iter::once(reason).chain(shadow.err()).collect();
            return Ok(unavailable(None, reasons.join("; ")));
        }
    };
    let logins: Vec<PasswdEntry> = passwd.into_iter().filter(can_log_in).collect();
    // A missing /etc/shadow is reported as unavailable rather than as zero accounts:
    // "no accounts" would read as "nothing to check" and hide a host we cannot see.
    let shadow = match shadow {
        Ok(text) => parse_shadow(&text)?,
        Err(reason) => return Ok(unavailable(Some(logins.len()), reason)),
    };
    let accounts: Vec<Account> = logins
        .iter()
        .map(|p| account(p, shadow.get(&p.name)))
        .collect();
    Ok(Accounts {
        login_accounts: Some(accounts.len()),
        accounts: Some(accounts),
        unavailable: None,
    })
}

fn unavailable(login_accounts: Option<usize>, reason: String) -> Accounts {
    Accounts {
        accounts: None,
        login_accounts,
        unavailable: Some(reason),
    }
}

/// Read passwd or shadow: the text, or (as the inner error) why accounts are
/// unavailable. Binary content is still a hard error. The artifact is redacted.
pub(crate) fn read_db(
    root: &HostRoot,
    path: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Result<String, String>, CollectError> {
    // The one place passwd and shadow are opened: the bytes go straight to `redact`
    // for the artifact, and the text stays in this module, which reports only states.
    let read = root.read_sensitive(path, Sensitive::PasswordDatabase, |bytes| {
        crate::host_root::bytes_to_text(path, bytes.to_vec())
    });
    match read.and_then(Option::transpose) {
        Ok(Some(text)) => {
            artifacts.push(Artifact::redacted_file(path, &redact(&text)));
            Ok(Ok(text))
        }
        Ok(None) => {
            artifacts.push(Artifact::absent(path));
            Ok(Err(format!("missing {path}")))
        }
        Err(e @ CollectError::Unreadable { .. }) => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

/// The file with every password field replaced by its state (`x` kept as it is).
pub fn redact(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        match line.split_once(':') {
            Some((name, rest)) => {
                let (password, tail) = rest.split_once(':').unwrap_or((rest, ""));
                let shown = match password {
                    "x" => "x",
                    other => match password_state(other) {
                        "empty" => "<empty>",
                        "locked" => "<locked>",
                        _ => "<set>",
                    },
                };
                out.push_str(&format!("{name}:{shown}:{tail}\n"));
            }
            None if line.trim().is_empty() => out.push('\n'),
            None => out.push_str("<unparsed>\n"),
        }
    }
    out
}

/// `empty`, `locked` (`!` or `*` first, even before a hash) or `set`.
pub(crate) fn password_state(field: &str) -> &'static str {
    if field.is_empty() {
        "empty"
    } else if field.starts_with('!') || field.starts_with('*') {
        "locked"
    } else {
        "set"
    }
}

pub(crate) fn can_log_in(entry: &PasswdEntry) -> bool {
    let shell = entry.shell.trim_end_matches('/');
    let last = shell.rsplit('/').next().unwrap_or(shell);
    !NO_LOGIN_SHELLS.contains(&last)
}

pub(crate) fn parse_passwd(text: &str) -> Result<Vec<PasswdEntry>, CollectError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // NIS compat entries (`+`, `-`) are not local accounts.
        if line.trim().is_empty() || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let malformed = |reason: &str| CollectError::Malformed {
            path: PASSWD.into(),
            line: i + 1,
            reason: reason.into(),
        };
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() != 7 {
            return Err(malformed(&format!(
                "expected 7 colon-separated fields, found {}",
                fields.len()
            )));
        }
        let uid = fields[2]
            .parse::<u32>()
            .map_err(|_| malformed("the UID (field 3) is not a whole number"))?;
        let gid = fields[3]
            .parse::<u32>()
            .map_err(|_| malformed("the GID (field 4) is not a whole number"))?;
        out.push(PasswdEntry {
            name: fields[0].to_string(),
            uid,
            gid,
            password: fields[1].to_string(),
            shell: fields[6].to_string(),
        });
    }
    Ok(out)
}

pub(crate) fn parse_shadow(text: &str) -> Result<BTreeMap<String, ShadowEntry>, CollectError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let malformed = |reason: String| CollectError::Malformed {
            path: SHADOW.into(),
            line: i + 1,
            reason,
        };
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 2 || fields.len() > 9 {
            // Never quote the line: it may hold a hash.
            return Err(malformed(format!(
                "expected 9 colon-separated fields, found {}",
                fields.len()
            )));
        }
        let mut aging = [None; 6];
        for (slot, (raw, name)) in aging
            .iter_mut()
            .zip(fields.iter().skip(2).zip(AGING_FIELDS))
        {
            if !raw.is_empty() {
                *slot = Some(raw.parse::<i64>().map_err(|_| {
                    malformed(format!("the {name} field is not a whole number of days"))
                })?);
            }
        }
        out.insert(
            fields[0].to_string(),
            ShadowEntry {
                password: fields[1].to_string(),
                aging,
            },
        );
    }
    Ok(out)
}

fn account(p: &PasswdEntry, shadow: Option<&ShadowEntry>) -> Account {
    // pam_unix only consults shadow when passwd says `x`; any other passwd field
    // (including an empty one) is the password itself.
    let field = if p.password == "x" {
        shadow.map(|s| s.password.as_str())
    } else {
        Some(p.password.as_str())
    };
    let password = field.map_or("missing", password_state);
    let aging = shadow.map_or([None; 6], |s| s.aging);
    let [last_change, min_days, max_days, warn_days, inactive_days, expire] = aging;
    let changed = last_change.filter(|d| *d > 0);
    Account {
        name: p.name.clone(),
        uid: p.uid,
        shell: p.shell.clone(),
        password,
        locked: password == "locked",
        empty_password: password == "empty",
        last_change_days: last_change,
        last_change_date: changed.and_then(date_of),
        max_days,
        min_days,
        warn_days,
        inactive_days,
        expire_date: expire.and_then(date_of),
    }
}

/// The date `days` after 1970-01-01.
fn day_of(days: i64) -> Option<NaiveDate> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    epoch.checked_add_days(Days::new(u64::try_from(days).ok()?))
}

fn date_of(days: i64) -> Option<String> {
    day_of(days).map(|d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const FAKE: &str = "$y$j9T$FAKEFAKEFAKE$notarealhashnotarealhashnotarealhash00";

    fn host(passwd: Option<&str>, shadow: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        if let Some(p) = passwd {
            fs::write(dir.path().join("etc/passwd"), p).unwrap();
        }
        if let Some(s) = shadow {
            fs::write(dir.path().join("etc/shadow"), s).unwrap();
        }
        dir
    }

    #[test]
    fn states_aging_and_login_capability() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\nsync:x:4:65534:sync:/bin:/bin/sync\nalice:x:1000:1000::/home/alice:/bin/zsh\nbob:x:1001:1001::/home/bob:\ncarol:x:1002:1002::/home/carol:/bin/bash\nold:x:1003:1003::/:/bin/bash\n";
        let shadow = format!(
            "root:!{FAKE}:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nsync:*:19700::::::\nalice:{FAKE}:19700:1:365:14:30:20000:\nbob::0:0:99999:7:::\nold:*:19000:0:99999:7:::\n"
        );
        let dir = host(Some(passwd), Some(&shadow));
        let mut artifacts = Vec::new();
        let got = read(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        let accounts = got.accounts.unwrap();
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["root", "alice", "bob", "carol", "old"]);
        assert_eq!(got.login_accounts, Some(5));
        let by = |n: &str| accounts.iter().find(|a| a.name == n).unwrap().clone();
        assert_eq!((by("root").password, by("root").locked), ("locked", true));
        let alice = by("alice");
        assert_eq!(alice.password, "set");
        assert_eq!(alice.last_change_date.as_deref(), Some("2023-12-09"));
        assert_eq!(
            (
                alice.min_days,
                alice.max_days,
                alice.warn_days,
                alice.inactive_days
            ),
            (Some(1), Some(365), Some(14), Some(30))
        );
        assert_eq!(alice.expire_date.as_deref(), Some("2024-10-04"));
        let bob = by("bob");
        assert_eq!(
            (
                bob.password,
                bob.empty_password,
                bob.last_change_days,
                bob.last_change_date
            ),
            ("empty", true, Some(0), None)
        );
        assert_eq!(by("carol").password, "missing");
        // Neither artifact quotes or hashes a password hash.
        assert!(artifacts.iter().all(|a| a.excerpt.is_none()));
    }

    #[test]
    fn redaction_keeps_structure_and_drops_hashes() {
        let text = format!("a:{FAKE}:1:2:3:4:::\nb:!{FAKE}:1::::::\nc::1::::::\nd:x:0:0::/:/bin/sh\n\ngarbage{FAKE}\n");
        let red = redact(&text);
        assert_eq!(red, "a:<set>:1:2:3:4:::\nb:<locked>:1::::::\nc:<empty>:1::::::\nd:x:0:0::/:/bin/sh\n\n<unparsed>\n");
    }

    #[test]
    fn missing_or_unreadable_shadow_makes_accounts_unavailable() {
        let dir = host(Some("alice:x:1000:1000::/home/alice:/bin/bash\n"), None);
        let got = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert_eq!(got.accounts, None);
        assert_eq!(got.login_accounts, Some(1));
        assert_eq!(got.unavailable.as_deref(), Some("missing /etc/shadow"));
        // A directory stands in for a file we may not read (tests may run as root,
        // for whom permission bits do not bite).
        fs::create_dir(dir.path().join("etc/shadow")).unwrap();
        let got = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert_eq!(got.accounts, None);
        assert!(got
            .unavailable
            .unwrap()
            .starts_with("cannot read /etc/shadow"));
    }

    #[test]
    fn a_bad_aging_field_is_malformed_without_quoting_the_line() {
        // A misplaced colon shifts the hash into the "last change" field.
        let dir = host(
            Some("alice:x:1000:1000::/home/alice:/bin/bash\n"),
            Some(&format!("alice::{FAKE}:0:99999:7:::\n")),
        );
        let err = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/shadow:1:") && text.contains("last change"),
            "{text}"
        );
        assert!(!text.contains("$y$") && !text.contains("FAKE"), "{text}");
    }
}
