//! Whether logins leave a record that is kept (part of the `audit_logging` collector's
//! facts, `login_records`): the login record files (`/var/log/wtmp` successful logins,
//! `/var/log/btmp` failed ones, `/var/log/lastlog`), how long logrotate keeps wtmp and
//! btmp, sshd's `LogLevel`, and which of those files the audit rules watch for writes
//! (CIS Debian Linux 12, 6.3.3.x).
//!
//! It reads file metadata and configuration only: never the records themselves (the
//! accounts collector reads last logins), and never judges how long is long enough.

use crate::formats::sshd_config;
use crate::{Artifact, CollectError, HostRoot};
use serde_json::{json, Value};

/// The files that record logins.
pub const RECORD_FILES: &[&str] = &["/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog"];

/// The `login_records` facts. `audit_rules` are the rule lines in force (auditctl's
/// listing when it ran, else the configured files), `audit_source` says which.
pub fn facts(
    root: &HostRoot,
    audit_rules: &[String],
    audit_source: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Value, CollectError> {
    let rotation = rotation(root, artifacts)?;
    let mut out = serde_json::Map::new();
    for path in RECORD_FILES {
        let name = path.rsplit('/').next().unwrap_or(path);
        let present = root.metadata(path)?.is_some_and(|m| m.is_file());
        let mut entry = json!({ "present": present });
        if *path != "/var/log/lastlog" {
            let r = rotation
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, v)| v.clone());
            entry["rotation"] = r.clone().unwrap_or(Value::Null);
            entry["rotation_days"] = r.map(|v| v["days"].clone()).unwrap_or(Value::Null);
        }
        out.insert(name.to_string(), entry);
    }
    let sshd = sshd_config::read(root, artifacts)?;
    let (installed, level) = match sshd {
        Some(c) => (true, Some(c.effective()?.log_level)),
        None => (false, None),
    };
    out.insert("sshd_installed".into(), json!(installed));
    out.insert("sshd_log_level".into(), json!(level));
    let mut watched: Vec<String> = RECORD_FILES
        .iter()
        .chain(
            [
                "/var/run/utmp",
                "/run/utmp",
                "/var/run/faillock",
                "/run/faillock",
            ]
            .iter(),
        )
        .filter(|f| audit_rules.iter().any(|r| watches_writes(r, f)))
        .map(|f| f.to_string())
        .collect();
    watched.sort();
    out.insert("audit_watched".into(), json!(watched));
    out.insert("audit_source".into(), json!(audit_source));
    Ok(Value::Object(out))
}

/// Whether an audit rule line watches `path` for writes or attribute changes
/// (`-w PATH -p wa`, or `-a ... -F path=PATH -F perm=wa`).
fn watches_writes(rule: &str, path: &str) -> bool {
    let words: Vec<&str> = rule.split_whitespace().collect();
    let value_of = |flag: &str| {
        words
            .windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].to_string())
    };
    let field = |name: &str| {
        words
            .windows(2)
            .filter(|w| w[0] == "-F")
            .find_map(|w| w[1].strip_prefix(&format!("{name}=")).map(String::from))
    };
    let (target, perms) = if words.first() == Some(&"-w") {
        (value_of("-w"), value_of("-p"))
    } else if matches!(words.first(), Some(&"-a") | Some(&"-A")) {
        (field("path"), field("perm"))
    } else {
        return false;
    };
    // No `-p`/`perm` watches every access.
    target.as_deref() == Some(path) && perms.is_none_or(|p| p.contains('w') || p.contains('a'))
}

/// logrotate's blocks for wtmp and btmp (in `/etc/logrotate.conf` or
/// `/etc/logrotate.d/*`): (path, {file, rotate, period, days}).
fn rotation(
    root: &HostRoot,
    artifacts: &mut Vec<Artifact>,
) -> Result<Vec<(String, Value)>, CollectError> {
    let mut files = vec!["/etc/logrotate.conf".to_string()];
    files.extend(
        root.list_dir("/etc/logrotate.d")?
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !n.starts_with('.') && !n.ends_with('~') && !n.contains(".dpkg-"))
            .map(|n| format!("/etc/logrotate.d/{n}")),
    );
    let global = root.read_text("/etc/logrotate.conf")?.unwrap_or_default();
    let (g_rotate, g_period) = directives(&outside_blocks(&global));
    let mut out = Vec::new();
    for file in files {
        if root.metadata(&file)?.is_some_and(|m| m.is_dir()) {
            continue;
        }
        let Some(text) = root.read_text(&file)? else {
            continue;
        };
        let mut rest = text.as_str();
        let mut found = false;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| c + open) else {
                return Err(CollectError::Malformed {
                    path: file.clone(),
                    line: 0,
                    reason: "a `{` block is never closed".into(),
                });
            };
            let head = &rest[..open];
            let (rotate, period) = directives(&rest[open + 1..close]);
            // logrotate's own default is `rotate 0` (no old file kept) and weekly.
            let rotate = rotate.or(g_rotate).unwrap_or(0);
            let period = period
                .or(g_period.clone())
                .unwrap_or_else(|| "weekly".into());
            let per_days = match period.as_str() {
                "daily" => 1,
                "monthly" => 30,
                "yearly" => 365,
                _ => 7,
            };
            for log in ["/var/log/wtmp", "/var/log/btmp"] {
                if head.split_whitespace().any(|w| w == log) {
                    found = true;
                    out.push((
                        log.to_string(),
                        json!({"file": file, "rotate": rotate, "period": period, "days": rotate * per_days}),
                    ));
                }
            }
            rest = &rest[close + 1..];
        }
        if found {
            artifacts.push(Artifact::file(&file, text.as_bytes()));
        }
    }
    Ok(out)
}

fn outside_blocks(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0i32;
    for line in text.lines() {
        if line.contains('{') {
            depth += 1;
        }
        if depth == 0 {
            out.push_str(line);
            out.push('\n');
        }
        if line.contains('}') {
            depth -= 1;
        }
    }
    out
}

fn directives(text: &str) -> (Option<i64>, Option<String>) {
    let mut rotate = None;
    let mut period = None;
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("rotate") => rotate = w.next().and_then(|n| n.parse().ok()),
            Some(p @ ("daily" | "weekly" | "monthly" | "yearly")) => period = Some(p.to_string()),
            _ => {}
        }
    }
    (rotate, period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_in_both_rule_forms() {
        assert!(watches_writes(
            "-w /var/log/wtmp -p wa -k session",
            "/var/log/wtmp"
        ));
        assert!(!watches_writes(
            "-w /var/log/wtmp -p r -k session",
            "/var/log/wtmp"
        ));
        assert!(watches_writes("-w /var/log/btmp", "/var/log/btmp"));
        assert!(watches_writes(
            "-a always,exit -F arch=b64 -F path=/var/log/lastlog -F perm=wa -F key=logins",
            "/var/log/lastlog"
        ));
        assert!(!watches_writes("-w /var/log/wtmpx -p wa", "/var/log/wtmp"));
    }

    #[test]
    fn debian_rotation_and_record_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("etc/logrotate.d")).unwrap();
        std::fs::create_dir_all(d.join("var/log")).unwrap();
        std::fs::write(
            d.join("etc/logrotate.conf"),
            "weekly\nrotate 4\ninclude /etc/logrotate.d\n",
        )
        .unwrap();
        // Debian 12's own files.
        std::fs::write(d.join("etc/logrotate.d/wtmp"), "/var/log/wtmp {\n    missingok\n    monthly\n    create 0664 root utmp\n    minsize 1M\n    rotate 1\n}\n").unwrap();
        std::fs::write(
            d.join("etc/logrotate.d/btmp"),
            "/var/log/btmp {\n    missingok\n    monthly\n    create 0660 root utmp\n}\n",
        )
        .unwrap();
        std::fs::write(d.join("var/log/wtmp"), b"").unwrap();
        let f = facts(&HostRoot::new(d), &[], "none", &mut Vec::new()).unwrap();
        assert_eq!(f["wtmp"]["present"], true);
        assert_eq!(f["wtmp"]["rotation_days"], 30);
        assert_eq!(f["btmp"]["present"], false);
        // No rotate in the block: the global `rotate 4`.
        assert_eq!(f["btmp"]["rotation_days"], 120);
        assert_eq!(f["lastlog"]["present"], false);
        assert_eq!(f["sshd_installed"], false);
        assert_eq!(f["audit_watched"], json!([]));
    }
}
