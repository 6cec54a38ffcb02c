//! file_permissions collector: owner, group and mode of the files that guard access
//! (account databases, sudo policy, sshd configuration and host private keys, cron).
//!
//! Owner and group names resolve through the tree's own `/etc/passwd` and `/etc/group`,
//! not the machine running attestd. It reports what is; the expected values live in
//! the rules. It must never read the content of a guarded file (only its metadata) and
//! never judge.

use crate::{Artifact, CollectContext, CollectError, Collector, Evidence, HostRoot};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The paths looked at; patterns are globbed inside the root.
const GUARDED: [&str; 20] = [
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/group",
    "/etc/group-",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/sudoers.d/*",
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/*.conf",
    "/etc/ssh/ssh_host_*_key",
    "/etc/crontab",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/cron.d",
];

/// Ownership and modes of access-guarding files.
pub struct FilePermissions;

impl Collector for FilePermissions {
    fn name(&self) -> &'static str {
        "file_permissions"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&[
            "/etc/passwd",
            "/etc/group",
            "/etc/shadow",
            "/etc/gshadow",
            "/etc/sudoers",
            "/etc/sudoers.d",
            "/etc/ssh",
            "/etc/crontab",
            "/etc/cron.d",
        ])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let mut artifacts = Vec::new();
        let users = names(&ctx.root, "/etc/passwd", &mut artifacts)?;
        let groups = names(&ctx.root, "/etc/group", &mut artifacts)?;
        let mut files = Vec::new();
        for pattern in GUARDED {
            let paths = if pattern.contains('*') {
                ctx.root.glob(pattern)?
            } else {
                vec![pattern.to_string()]
            };
            for path in paths {
                files.push(describe(&ctx.root, &path, &users, &groups)?);
            }
        }
        // Cron's files guard something only where a cron daemon runs them.
        let mut cron_daemon = None;
        for path in CRON_DAEMONS {
            if ctx.root.metadata(path)?.is_some() {
                cron_daemon = Some(path.to_string());
                break;
            }
        }
        Ok(Evidence {
            facts: json!({
                "files": files,
                "cron_installed": cron_daemon.is_some(),
                "cron_daemon": cron_daemon,
            }),
            artifacts,
        })
    }
}

/// Where the cron daemons Debian and RHEL ship put their binary (cron, cronie, bcron,
/// busybox's crond).
const CRON_DAEMONS: &[&str] = &[
    "/usr/sbin/cron",
    "/usr/sbin/crond",
    "/usr/bin/crond",
    "/usr/sbin/bcron-start",
];

/// One path's metadata as facts; absent paths are reported with `present: false`.
fn describe(
    root: &HostRoot,
    path: &str,
    users: &BTreeMap<u32, String>,
    groups: &BTreeMap<u32, String>,
) -> Result<Value, CollectError> {
    let Some(meta) = root.metadata(path)? else {
        return Ok(json!({"path": path, "present": false}));
    };
    let mode = meta.mode() & 0o7777;
    let bits: Vec<u32> = (0..12)
        .map(|b| 1u32 << b)
        .filter(|b| mode & b != 0)
        .collect();
    let kind = if meta.is_dir() {
        "directory"
    } else if meta.is_file() {
        "file"
    } else {
        "other"
    };
    Ok(json!({
        "path": path,
        "present": true,
        "kind": kind,
        "uid": meta.uid(),
        "gid": meta.gid(),
        "owner": users.get(&meta.uid()),
        "group": groups.get(&meta.gid()),
        "mode": format!("{mode:04o}"),
        "mode_bits": bits,
    }))
}

/// id -> name from a passwd- or group-format file of the tree. A file that is missing
/// or unreadable yields no names (owners are then reported by number only).
fn names(
    root: &HostRoot,
    path: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<BTreeMap<u32, String>, CollectError> {
    let text = match root.read_text(path) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(BTreeMap::new()),
        Err(CollectError::Unreadable { .. }) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    // passwd is recorded redacted elsewhere; here only the id->name map is used, and
    // the artifact hashes that map, not the file.
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 3 {
            if let Ok(id) = fields[2].parse::<u32>() {
                out.entry(id).or_insert_with(|| fields[0].to_string());
            }
        }
    }
    let projection: String = out.iter().map(|(id, n)| format!("{n}:{id}\n")).collect();
    artifacts.push(Artifact::redacted_file(path, &projection));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn modes_bits_and_names_from_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir_all(etc.join("ssh")).unwrap();
        fs::write(etc.join("passwd"), "root:x:0:0::/root:/bin/bash\n").unwrap();
        fs::write(etc.join("group"), "root:x:0:\n").unwrap();
        fs::write(etc.join("shadow"), "root:*:1::::::\n").unwrap();
        fs::set_permissions(etc.join("shadow"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(etc.join("ssh/ssh_host_ed25519_key"), "not a key").unwrap();
        fs::set_permissions(
            etc.join("ssh/ssh_host_ed25519_key"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let ctx = CollectContext::new(HostRoot::new(dir.path()), Value::Null, chrono::Utc::now());
        let e = FilePermissions.collect(&ctx).unwrap();
        let files = e.facts["files"].as_array().unwrap();
        let by = |p: &str| files.iter().find(|f| f["path"] == p).unwrap().clone();
        let shadow = by("/etc/shadow");
        assert_eq!(shadow["mode"], "0640");
        assert_eq!(shadow["mode_bits"], json!([32, 128, 256]));
        assert_eq!(by("/etc/ssh/ssh_host_ed25519_key")["mode"], "0600");
        assert_eq!(by("/etc/gshadow")["present"], false);
        let me = fs::metadata(etc.join("shadow")).unwrap().uid();
        if me == 0 {
            assert_eq!(shadow["owner"], "root");
        }
        assert!(!serde_json::to_string(&e).unwrap().contains("not a key"));
    }
}
