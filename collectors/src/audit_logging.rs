//! audit_logging collector: whether the host records security events and keeps them.
//!
//! It observes auditd (installed, its systemd unit, the rules the kernel has loaded
//! through `auditctl -l`, the rules configured in `/etc/audit/rules.d/*.rules`, and
//! `/etc/audit/auditd.conf`), journald's storage and retention (`journald.conf` and its
//! drop-ins, in systemd's order), forwarding to a remote collector (rsyslog, syslog-ng,
//! systemd-journal-upload) and how long logrotate keeps the syslog files.
//!
//! It never judges, and never records credentials: a forwarding URL is reduced to its
//! host.

use crate::probe::{
    assignments, finish_tool, read_glob, read_optional, service_facts, start_tool, StartedTool,
    ToolRun,
};
use crate::{CollectContext, CollectError, Collector, Command, Evidence, HostRoot};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Audit daemon, journal persistence, forwarding and retention.
pub struct AuditLogging;

const AUDITCTL: &[&str] = &["/usr/sbin/auditctl", "/sbin/auditctl"];
const AUDITD: &[&str] = &["/usr/sbin/auditd", "/sbin/auditd"];
const JOURNALD_DROP_IN_DIRS: &[&str] = &[
    "/usr/lib/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/etc/systemd/journald.conf.d",
];

impl Collector for AuditLogging {
    fn name(&self) -> &'static str {
        "audit_logging"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&[
            "/etc/audit",
            "/etc/systemd/journald.conf",
            "/etc/systemd/journald.conf.d",
            "/etc/rsyslog.conf",
            "/etc/rsyslog.d",
            "/etc/syslog-ng",
            "/etc/systemd/journal-upload.conf",
            "/etc/logrotate.conf",
            "/etc/logrotate.d",
        ])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        // `auditctl -l` asks the kernel and does not depend on what systemctl answers:
        // it runs meanwhile.
        std::thread::scope(|scope| {
            let auditctl = Command::locate(&ctx.root, AUDITCTL)
                .map(|prog| start_tool(scope, &ctx.root, Command::new(&prog).arg("-l")));
            collect_with(ctx, auditctl)
        })
    }
}

/// The collection, with `auditctl -l` already started (when it is installed).
fn collect_with(
    ctx: &CollectContext,
    auditctl_run: Option<StartedTool<'_>>,
) -> Result<Evidence, CollectError> {
    let root = &ctx.root;
    let mut artifacts = Vec::new();
    let mut unavailable = Map::new();

    // auditd
    let installed = Command::locate(root, AUDITD).is_some()
        || Command::locate(root, AUDITCTL).is_some()
        || root.metadata("/etc/audit/auditd.conf")?.is_some();
    let mut auditd = Map::new();
    auditd.insert("installed".into(), json!(installed));
    if let Some(service) = service_facts(
        root,
        "auditd.service",
        &["auditd.service"],
        &mut artifacts,
        &mut unavailable,
    ) {
        auditd.insert("service".into(), service);
    }
    let conf = read_optional(root, "/etc/audit/auditd.conf", &mut artifacts)?;
    let mut conf_map = Map::new();
    conf_map.insert("present".into(), json!(conf.is_some()));
    for (_, k, v) in assignments(conf.as_deref().unwrap_or("")) {
        if matches!(
            k.as_str(),
            "max_log_file"
                | "num_logs"
                | "max_log_file_action"
                | "space_left_action"
                | "disk_full_action"
                | "admin_space_left_action"
                | "log_file"
        ) {
            let value = v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(v.to_lowercase()));
            conf_map.insert(k, value);
        }
    }
    auditd.insert("conf".into(), Value::Object(conf_map));

    // Rules: configured files, and what the kernel has loaded.
    let rule_files = read_glob(root, "/etc/audit/rules.d/*.rules", &mut artifacts)?;
    let configured: usize = rule_files
        .iter()
        .map(|(_, t)| t.lines().filter(|l| is_audit_rule(l)).count())
        .sum();
    let mut rules = Map::new();
    let mut in_force: Vec<String> = rule_files
        .iter()
        .flat_map(|(_, t)| t.lines().filter(|l| is_audit_rule(l)).map(String::from))
        .collect();
    let mut in_force_source = "/etc/audit/rules.d";
    rules.insert(
        "files".into(),
        json!(rule_files
            .iter()
            .map(|(p, _)| p.clone())
            .collect::<Vec<_>>()),
    );
    rules.insert("configured".into(), json!(configured));
    match auditctl_run {
        None => {
            rules.insert("loaded".into(), json!(0));
            rules.insert("loaded_source".into(), json!("auditctl not installed"));
        }
        Some(running) => match finish_tool(running, &mut artifacts) {
            Ok(ToolRun::Ran(out)) if out.success() => {
                let n = out
                    .stdout
                    .lines()
                    .filter(|l| !l.trim().is_empty() && l.trim() != "No rules")
                    .count();
                rules.insert("loaded".into(), json!(n));
                rules.insert("loaded_source".into(), json!("auditctl -l"));
                in_force = out.stdout.lines().map(String::from).collect();
                in_force_source = "auditctl -l";
            }
            Ok(ToolRun::Ran(out)) => {
                unavailable.insert("audit_rules.loaded".into(), json!(out.failure_reason()));
            }
            Ok(ToolRun::NotInstalled) => {
                rules.insert("loaded".into(), json!(0));
            }
            Err(reason) => {
                unavailable.insert("audit_rules.loaded".into(), json!(reason));
            }
        },
    }

    let journald = journald(root, &mut artifacts)?;
    let forwarding = forwarding(root, &mut artifacts)?;
    let retention = retention(root, &mut artifacts)?;
    let login_records =
        crate::login_trail::facts(root, &in_force, in_force_source, &mut artifacts)?;

    let facts = json!({
        "auditd": auditd,
        "audit_rules": rules,
        "journald": journald,
        "forwarding": forwarding,
        "retention": retention,
        "login_records": login_records,
        "unavailable": unavailable,
    });
    Ok(Evidence { facts, artifacts })
}

/// A line of an audit rules file that adds a rule (`-a`, `-w`), not a control line.
fn is_audit_rule(line: &str) -> bool {
    let l = line.trim();
    l.starts_with("-a ") || l.starts_with("-w ") || l.starts_with("-A ")
}

fn journald(root: &HostRoot, artifacts: &mut Vec<crate::Artifact>) -> Result<Value, CollectError> {
    // systemd reads journald.conf, then drop-ins from all directories sorted by file
    // name (a later directory's file of the same name replaces an earlier one's).
    let mut files: Vec<(String, String)> = Vec::new();
    if let Some(t) = read_optional(root, "/etc/systemd/journald.conf", artifacts)? {
        files.push(("/etc/systemd/journald.conf".into(), t));
    }
    let mut drop_ins: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for dir in JOURNALD_DROP_IN_DIRS {
        for (path, text) in read_glob(root, &format!("{dir}/*.conf"), artifacts)? {
            let name = path.rsplit('/').next().unwrap_or("").to_string();
            drop_ins.insert(name, (path, text));
        }
    }
    files.extend(drop_ins.into_values());
    let mut settings = Map::new();
    let mut set_in = Map::new();
    for (path, text) in &files {
        let mut in_journal = false;
        for (line, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.starts_with('[') {
                in_journal = l == "[Journal]";
                continue;
            }
            if !in_journal {
                continue;
            }
            if let Some((_, k, v)) = assignments(l).into_iter().next() {
                if matches!(
                    k.as_str(),
                    "Storage"
                        | "SystemMaxUse"
                        | "MaxRetentionSec"
                        | "ForwardToSyslog"
                        | "SystemKeepFree"
                        | "MaxFileSec"
                ) {
                    settings.insert(k.clone(), json!(v));
                    set_in.insert(k, json!(format!("{path}:{}", line + 1)));
                }
            }
        }
    }
    let storage = settings
        .get("Storage")
        .and_then(Value::as_str)
        .unwrap_or("auto")
        .to_lowercase();
    let journal_dir = root
        .metadata("/var/log/journal")?
        .is_some_and(|m| m.is_dir());
    let persistent = storage == "persistent" || (storage == "auto" && journal_dir);
    let retention_days = match settings.get("MaxRetentionSec").and_then(Value::as_str) {
        Some(v) => Some(timespan_days(v).ok_or_else(|| {
            CollectError::Malformed {
                path: set_in["MaxRetentionSec"]
                    .as_str()
                    .unwrap_or("journald.conf")
                    .into(),
                line: 0,
                reason: format!("MaxRetentionSec={v} is not a time span systemd understands"),
            }
        })?),
        None => None,
    };
    Ok(json!({
        "files": files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        "settings": settings,
        "set_in": set_in,
        "storage": storage,
        "var_log_journal_exists": journal_dir,
        "persistent": persistent,
        "max_retention_days": retention_days,
    }))
}

/// A systemd time span (`1year`, `90d`, `2w 3d`, `3600`) in whole days; `0` means off.
fn timespan_days(text: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = rest[unit_end..].trim_start();
        let secs = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "min" | "m" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 7.0 * 86400.0,
            "M" | "month" | "months" => 30.44 * 86400.0,
            "y" | "year" | "years" => 365.25 * 86400.0,
            "ms" | "msec" => 0.001,
            "us" | "usec" => 0.000001,
            _ => return None,
        };
        total += n * secs;
    }
    Some((total / 86400.0).floor() as i64)
}

fn forwarding(
    root: &HostRoot,
    artifacts: &mut Vec<crate::Artifact>,
) -> Result<Value, CollectError> {
    let mut rsyslog_targets = Vec::new();
    let mut files = Vec::new();
    if let Some(t) = read_optional(root, "/etc/rsyslog.conf", artifacts)? {
        files.push(("/etc/rsyslog.conf".to_string(), t));
    }
    files.extend(read_glob(root, "/etc/rsyslog.d/*.conf", artifacts)?);
    for (path, text) in &files {
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with('#') || l.is_empty() {
                continue;
            }
            // Legacy selector lines: `*.* @host:514` (UDP) or `@@host` (TCP).
            let mut fields = l.split_whitespace();
            let selector = fields.next().unwrap_or("");
            if let Some(action) = fields.next() {
                if selector.contains('.') && action.starts_with('@') {
                    let target = action
                        .trim_start_matches('@')
                        .trim_start_matches('(')
                        .to_string();
                    rsyslog_targets.push(
                        json!({"target": host_of(&target), "file": format!("{path}:{}", i + 1)}),
                    );
                }
            }
            if l.contains("omfwd") || l.contains("omrelp") {
                let target = quoted_after(l, "target=").unwrap_or_default();
                rsyslog_targets
                    .push(json!({"target": target, "file": format!("{path}:{}", i + 1)}));
            }
        }
    }
    let mut ng_targets = Vec::new();
    let mut ng_files = Vec::new();
    if let Some(t) = read_optional(root, "/etc/syslog-ng/syslog-ng.conf", artifacts)? {
        ng_files.push(("/etc/syslog-ng/syslog-ng.conf".to_string(), t));
    }
    ng_files.extend(read_glob(root, "/etc/syslog-ng/conf.d/*.conf", artifacts)?);
    for (path, text) in &ng_files {
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with('#') {
                continue;
            }
            for driver in ["network(", "tcp(", "udp(", "syslog(", "tcp6(", "udp6("] {
                if let Some(at) = l.find(driver) {
                    let after = &l[at + driver.len()..];
                    if let Some(host) = quoted_after(after, "") {
                        ng_targets
                            .push(json!({"target": host, "file": format!("{path}:{}", i + 1)}));
                    }
                }
            }
        }
    }
    let upload = read_optional(root, "/etc/systemd/journal-upload.conf", artifacts)?;
    let upload_host = upload.as_deref().and_then(|t| {
        assignments(t)
            .into_iter()
            .find(|(_, k, _)| k == "URL")
            .map(|(_, _, v)| host_of(&v))
            .filter(|h| !h.is_empty())
    });
    let configured = !rsyslog_targets.is_empty() || !ng_targets.is_empty() || upload_host.is_some();
    Ok(json!({
        "rsyslog": rsyslog_targets,
        "syslog_ng": ng_targets,
        "journal_upload": upload_host,
        "configured": configured,
    }))
}

/// The first quoted string after `key` (`target="logs.example.com"`).
fn quoted_after(text: &str, key: &str) -> Option<String> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    Some(host_of(&rest[start..end]))
}

/// The host of a URL or `host:port`, without any user or password.
fn host_of(target: &str) -> String {
    let t = target.split("://").last().unwrap_or(target);
    let t = t.rsplit('@').next().unwrap_or(t);
    let t = t.split('/').next().unwrap_or(t);
    let t = t.trim_end_matches(')');
    if t.starts_with('[') {
        return t
            .split(']')
            .next()
            .unwrap_or(t)
            .trim_start_matches('[')
            .to_string();
    }
    t.split(':').next().unwrap_or(t).to_string()
}

/// logrotate's view of the syslog files: for each block in the syslog daemon's
/// logrotate file, `rotate` × period (global defaults from `/etc/logrotate.conf`).
fn retention(root: &HostRoot, artifacts: &mut Vec<crate::Artifact>) -> Result<Value, CollectError> {
    let global = read_optional(root, "/etc/logrotate.conf", artifacts)?;
    let (g_rotate, g_period, _) =
        logrotate_directives(&strip_blocks(global.as_deref().unwrap_or("")));
    let mut blocks = Vec::new();
    for file in ["/etc/logrotate.d/rsyslog", "/etc/logrotate.d/syslog-ng"] {
        let Some(text) = read_optional(root, file, artifacts)? else {
            continue;
        };
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| c + open) else {
                return Err(CollectError::Malformed {
                    path: file.into(),
                    line: 0,
                    reason: "a `{` block is never closed".into(),
                });
            };
            let logs: Vec<String> = rest[..open]
                .split_whitespace()
                .filter(|w| w.starts_with('/'))
                .map(String::from)
                .collect();
            let (rotate, period, maxage) = logrotate_directives(&rest[open + 1..close]);
            // logrotate's own default is `rotate 0`: old files are removed.
            let rotate = rotate.or(g_rotate).or(Some(0));
            let period = period
                .or(g_period.clone())
                .unwrap_or_else(|| "weekly".into());
            let per_days = match period.as_str() {
                "daily" => 1,
                "weekly" => 7,
                "monthly" => 30,
                "yearly" => 365,
                _ => 7,
            };
            let mut days = rotate.map(|r| r * per_days);
            if let (Some(d), Some(m)) = (days, maxage) {
                days = Some(d.min(m));
            }
            blocks.push(json!({
                "file": file, "logs": logs, "rotate": rotate, "period": period,
                "maxage": maxage, "days": days,
            }));
            rest = &rest[close + 1..];
        }
    }
    let syslog_days = blocks.iter().filter_map(|b| b["days"].as_i64()).min();
    Ok(json!({"logrotate": blocks, "syslog_days": syslog_days}))
}

fn strip_blocks(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
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

fn logrotate_directives(text: &str) -> (Option<i64>, Option<String>, Option<i64>) {
    let mut rotate = None;
    let mut period = None;
    let mut maxage = None;
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("rotate") => rotate = w.next().and_then(|n| n.parse().ok()),
            Some("maxage") => maxage = w.next().and_then(|n| n.parse().ok()),
            Some(p @ ("daily" | "weekly" | "monthly" | "yearly")) => period = Some(p.to_string()),
            _ => {}
        }
    }
    (rotate, period, maxage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_spans_and_hosts() {
        assert_eq!(timespan_days("1year"), Some(365));
        assert_eq!(timespan_days("2w 1d"), Some(15));
        assert_eq!(timespan_days("3600"), Some(0));
        assert_eq!(timespan_days("soon"), None);
        assert_eq!(
            host_of("https://user:pw@logs.example.com:19532/upload"),
            "logs.example.com"
        );
        assert_eq!(host_of("logs.example.com:514"), "logs.example.com");
    }

    use crate::test_support::tree;

    #[test]
    fn journald_drop_ins_override_in_name_order_and_etc_wins_same_names() {
        let dir = tree(&[
            (
                "/etc/systemd/journald.conf",
                "[Journal]\nStorage=volatile\n",
            ),
            (
                "/usr/lib/systemd/journald.conf.d/10-vendor.conf",
                "[Journal]\nStorage=volatile\nMaxRetentionSec=1w\n",
            ),
            (
                "/etc/systemd/journald.conf.d/10-vendor.conf",
                "[Journal]\nStorage=persistent\n",
            ),
            (
                "/etc/systemd/journald.conf.d/20-other.conf",
                "[Other]\nStorage=none\n",
            ),
        ]);
        let mut artifacts = Vec::new();
        let j = journald(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        assert_eq!(j["storage"], "persistent");
        assert_eq!(j["persistent"], true);
        // The /usr/lib file of the same name is replaced, so its retention is not read.
        assert_eq!(j["max_retention_days"], serde_json::Value::Null);
        assert_eq!(
            j["set_in"]["Storage"],
            "/etc/systemd/journald.conf.d/10-vendor.conf:2"
        );
        let bad = tree(&[(
            "/etc/systemd/journald.conf",
            "[Journal]\nMaxRetentionSec=forever\n",
        )]);
        let e = journald(&HostRoot::new(bad.path()), &mut artifacts).unwrap_err();
        assert!(e.to_string().contains("MaxRetentionSec=forever"), "{e}");
    }

    #[test]
    fn forwarding_targets_and_logrotate_days() {
        let dir = tree(&[
            ("/etc/rsyslog.d/60.conf", "# *.* @old.example.com\naction(type=\"omfwd\" target=\"logs.example.com\" port=\"6514\" protocol=\"tcp\")\n"),
            ("/etc/syslog-ng/conf.d/f.conf", "destination d_net { network(\"10.1.2.3\" port(514)); };\n"),
            ("/etc/logrotate.conf", "monthly\nrotate 2\n/var/log/wtmp {\n rotate 1\n}\n"),
            ("/etc/logrotate.d/rsyslog", "/var/log/syslog\n{\n rotate 7\n daily\n}\n/var/log/auth.log\n{\n maxage 30\n}\n"),
        ]);
        let root = HostRoot::new(dir.path());
        let mut a = Vec::new();
        let f = forwarding(&root, &mut a).unwrap();
        assert_eq!(f["rsyslog"][0]["target"], "logs.example.com");
        assert_eq!(
            f["rsyslog"].as_array().unwrap().len(),
            1,
            "comments do not forward"
        );
        assert_eq!(f["syslog_ng"][0]["target"], "10.1.2.3");
        let r = retention(&root, &mut a).unwrap();
        // syslog: 7 daily = 7; auth.log: global monthly x 2 = 60, capped by maxage 30.
        assert_eq!(r["logrotate"][0]["days"], 7);
        assert_eq!(r["logrotate"][1]["days"], 30);
        assert_eq!(r["syslog_days"], 7);
    }
}
