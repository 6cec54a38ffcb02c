//! accounts collector: who can log in and who can become root. UID 0 accounts,
//! system accounts with a login shell, accounts with an empty or no password (states
//! only, through password_policy's redacted shadow reader), last logins from lastlog
//! and wtmp, the members of `sudo`, `wheel` and `adm`, and the sudo policy.
//!
//! Code map: `login_records` (binary lastlog/wtmp), `sudoers` (sudo's files). It must
//! never judge and never hold a password hash: passwd and shadow are recorded only as
//! redacted artifacts, and only the password's state leaves this module.

pub(crate) mod login_records;
pub(crate) mod sudoers;

use crate::password_policy::shadow::{self, PasswdEntry};
use crate::{Artifact, CollectContext, CollectError, Collector, Evidence, HostRoot};
use chrono::DateTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const GROUP: &str = "/etc/group";
/// Accounts below this UID are system accounts (Debian's UID_MIN).
const FIRST_USER_UID: u32 = 1000;
/// Groups whose members can administer the host on Debian and its relatives.
const PRIVILEGED_GROUPS: [&str; 3] = ["sudo", "wheel", "adm"];

/// Account hygiene and privilege.
pub struct Accounts;

impl Collector for Accounts {
    fn name(&self) -> &'static str {
        "accounts"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&[
            shadow::PASSWD,
            shadow::SHADOW,
            GROUP,
            sudoers::SUDOERS,
            "/etc/sudoers.d",
        ])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let mut artifacts = Vec::new();
        let mut unavailable = Map::new();
        let passwd = shadow::read_db(&ctx.root, shadow::PASSWD, &mut artifacts)?;
        let shadow_db = shadow::read_db(&ctx.root, shadow::SHADOW, &mut artifacts)?;
        let groups = read_groups(&ctx.root, &mut artifacts)?;
        let sudo = sudoers::read(&ctx.root, &mut artifacts)?;
        let passwd = match passwd {
            Ok(text) => Some(shadow::parse_passwd(&text)?),
            Err(reason) => {
                unavailable.insert("accounts".into(), Value::String(reason));
                None
            }
        };
        let shadow_map = match shadow_db {
            Ok(text) => Some(shadow::parse_shadow(&text)?),
            Err(reason) => {
                unavailable.insert("passwords".into(), Value::String(reason));
                None
            }
        };
        let entries = passwd.unwrap_or_default();
        let ids: Vec<(String, u32)> = entries.iter().map(|e| (e.name.clone(), e.uid)).collect();
        let logins = login_records::read(&ctx.root, &ids, &mut artifacts)?;
        let password_of = |e: &PasswdEntry| -> Option<&'static str> {
            if e.password != "x" {
                return Some(shadow::password_state(&e.password));
            }
            let map = shadow_map.as_ref()?;
            Some(
                map.get(&e.name)
                    .map_or("missing", |s| shadow::password_state(&s.password)),
            )
        };
        let have_accounts = !unavailable.contains_key("accounts");
        let accounts: Vec<Value> = entries
            .iter()
            .map(|e| {
                let last = logins.by_name.get(&e.name);
                json!({
                    "name": e.name,
                    "uid": e.uid,
                    "gid": e.gid,
                    "shell": e.shell,
                    "login_shell": shadow::can_log_in(e),
                    "system": e.uid < FIRST_USER_UID,
                    "password": password_of(e),
                    "last_login": last.and_then(|(t, _)| DateTime::from_timestamp(*t, 0))
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    "last_login_source": last.map(|(_, s)| *s),
                })
            })
            .collect();
        let names = |pred: &dyn Fn(&PasswdEntry) -> bool| -> Value {
            if !have_accounts {
                return Value::Null;
            }
            entries
                .iter()
                .filter(|e| pred(e))
                .map(|e| e.name.clone())
                .collect::<Vec<_>>()
                .into()
        };
        let uid0 = names(&|e| e.uid == 0);
        let system_logins =
            names(&|e| e.uid != 0 && e.uid < FIRST_USER_UID && shadow::can_log_in(e));
        let by_password = |state: &str| -> Value {
            if !have_accounts || (shadow_map.is_none() && state != "empty") {
                return Value::Null;
            }
            entries
                .iter()
                .filter(|e| password_of(e) == Some(state))
                .map(|e| e.name.clone())
                .collect::<Vec<_>>()
                .into()
        };
        let mut privileged = Map::new();
        for g in PRIVILEGED_GROUPS {
            let value = match groups.get(g) {
                None => json!({"present": false, "members": []}),
                Some((gid, listed)) => {
                    let mut members: Vec<String> = listed.clone();
                    members.extend(
                        entries
                            .iter()
                            .filter(|e| e.gid == *gid)
                            .map(|e| e.name.clone()),
                    );
                    members.sort();
                    members.dedup();
                    json!({"present": true, "gid": gid, "members": members})
                }
            };
            privileged.insert(g.into(), value);
        }
        let facts = json!({
            "accounts": if have_accounts { Value::from(accounts) } else { Value::Null },
            "uid0_accounts": uid0,
            "login_capable_system_accounts": system_logins,
            "empty_password_accounts": by_password("empty"),
            "no_password_accounts": by_password("missing"),
            "privileged_groups": privileged,
            "sudoers": sudo,
            "login_records": {
                "lastlog": logins.lastlog_present,
                "wtmp": logins.wtmp_present,
                "wtmp_truncated": logins.wtmp_truncated,
            },
            "unavailable": unavailable,
        });
        Ok(Evidence { facts, artifacts })
    }
}

/// `/etc/group`: name -> (gid, listed members). Missing file: no groups.
fn read_groups(
    root: &HostRoot,
    artifacts: &mut Vec<Artifact>,
) -> Result<BTreeMap<String, (u32, Vec<String>)>, CollectError> {
    let mut out = BTreeMap::new();
    let Some(text) = root.read_text(GROUP)? else {
        artifacts.push(Artifact::absent(GROUP));
        return Ok(out);
    };
    artifacts.push(Artifact::file(GROUP, text.as_bytes()));
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let malformed = |reason: String| CollectError::Malformed {
            path: GROUP.into(),
            line: i + 1,
            reason,
        };
        if fields.len() != 4 {
            return Err(malformed(format!(
                "expected 4 colon-separated fields, found {}",
                fields.len()
            )));
        }
        let gid = fields[2]
            .parse::<u32>()
            .map_err(|_| malformed("the GID (field 3) is not a whole number".into()))?;
        let members = fields[3]
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        out.insert(fields[0].to_string(), (gid, members));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn uid0_system_logins_passwords_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir_all(&etc).unwrap();
        fs::write(etc.join("passwd"), "root:x:0:0::/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/:/usr/sbin/nologin\nbackup:x:34:34::/:/bin/bash\nops:x:1000:1000::/home/ops:/bin/bash\nghost:x:1001:1001::/:/bin/bash\nwheelie:x:1002:10::/:/bin/bash\n").unwrap();
        fs::write(etc.join("shadow"), "root:!$y$FAKE:1::::::\ntoor::1::::::\ndaemon:*:1::::::\nbackup:*:1::::::\nops:$y$FAKEHASH:1::::::\nwheelie:!:1::::::\n").unwrap();
        fs::write(etc.join("group"), "root:x:0:\nsudo:x:27:ops\nwheel:x:10:\n").unwrap();
        let ctx = CollectContext::new(HostRoot::new(dir.path()), Value::Null, chrono::Utc::now());
        let e = Accounts.collect(&ctx).unwrap();
        let f = &e.facts;
        assert_eq!(f["uid0_accounts"], json!(["root", "toor"]));
        assert_eq!(f["login_capable_system_accounts"], json!(["backup"]));
        assert_eq!(f["empty_password_accounts"], json!(["toor"]));
        assert_eq!(f["no_password_accounts"], json!(["ghost"]));
        assert_eq!(f["privileged_groups"]["sudo"]["members"], json!(["ops"]));
        assert_eq!(
            f["privileged_groups"]["wheel"]["members"],
            json!(["wheelie"])
        );
        assert_eq!(f["privileged_groups"]["adm"]["present"], false);
        assert_eq!(f["sudoers"]["present"], false);
        let all = serde_json::to_string(&e).unwrap();
        assert!(!all.contains("FAKE"), "no hash may leave the collector");
    }
}
