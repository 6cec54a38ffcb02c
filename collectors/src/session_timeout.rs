//! session_timeout collector: the idle limits that end interactive sessions: the
//! shell's `TMOUT` (in `/etc/profile`, `/etc/profile.d/*.sh`, `/etc/bash.bashrc`),
//! sshd's `ClientAliveInterval` × `ClientAliveCountMax` (through the shared
//! `sshd_config` parser) and systemd-logind's `StopIdleSessionSec`.
//!
//! Shell files are read line by line, not executed: an assignment inside an `if` counts
//! as if it ran. It must never judge and never run a shell.

use crate::formats::sshd_config;
use crate::formats::text::{meaningful_lines, Comments};
use crate::{Artifact, CollectContext, CollectError, Collector, Evidence, HostRoot};
use serde_json::{json, Value};
use std::path::PathBuf;

const PROFILE: &str = "/etc/profile";
const PROFILE_D: &str = "/etc/profile.d";
const BASHRC: &str = "/etc/bash.bashrc";
const LOGIND: &str = "/etc/systemd/logind.conf";
const LOGIND_D: &str = "/etc/systemd/logind.conf.d";

/// Idle-session limits.
pub struct SessionTimeout;

impl Collector for SessionTimeout {
    fn name(&self) -> &'static str {
        "session_timeout"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&[
            PROFILE,
            PROFILE_D,
            BASHRC,
            LOGIND,
            LOGIND_D,
            sshd_config::SSH_DIR,
        ])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let mut artifacts = Vec::new();
        let tmout = shell_tmout(&ctx.root, &mut artifacts)?;
        let sshd = match sshd_config::read(&ctx.root, &mut artifacts)? {
            None => json!({"installed": false}),
            Some(config) => {
                let eff = config.effective()?;
                let limit = (eff.client_alive_interval > 0).then(|| {
                    eff.client_alive_interval * u64::from(eff.client_alive_count_max.max(1))
                });
                json!({
                    "installed": true,
                    "client_alive_interval": eff.client_alive_interval,
                    "client_alive_count_max": eff.client_alive_count_max,
                    "idle_limit_seconds": limit,
                })
            }
        };
        let logind = logind(&ctx.root, &mut artifacts)?;
        Ok(Evidence {
            facts: json!({"tmout": tmout, "sshd": sshd, "logind": logind}),
            artifacts,
        })
    }
}

/// One assignment or flag change of `TMOUT` in a shell file.
#[derive(Debug, Clone, PartialEq)]
struct Assignment {
    file: String,
    line: usize,
    /// The value assigned, as written (quotes removed); `None` for a bare
    /// `readonly TMOUT` / `export TMOUT`.
    raw: Option<String>,
    readonly: bool,
    exported: bool,
}

/// `TMOUT` as a login shell ends up with.
fn shell_tmout(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<Value, CollectError> {
    let mut files = vec![PROFILE.to_string()];
    files.extend(
        root.glob(&format!("{PROFILE_D}/*.sh"))?
            .into_iter()
            .filter(|p| !p.ends_with("/*.sh")),
    );
    files.push(BASHRC.to_string());
    let mut read = Vec::new();
    let mut found = Vec::new();
    for file in &files {
        let Some(text) = root.read_text(file)? else {
            if file == PROFILE || file == BASHRC {
                artifacts.push(Artifact::absent(file));
            }
            continue;
        };
        artifacts.push(Artifact::file(file, text.as_bytes()));
        read.push(file.clone());
        for (line, content) in meaningful_lines(&text, Comments::Anywhere) {
            found.extend(
                tmout_in_line(content)
                    .into_iter()
                    .map(|(raw, r, x)| Assignment {
                        file: file.clone(),
                        line,
                        raw,
                        readonly: r,
                        exported: x,
                    }),
            );
        }
    }
    // Replay in order: once TMOUT is readonly, later assignments fail in the shell.
    let (mut value, mut raw, mut readonly, mut exported, mut set_in) =
        (None::<i64>, None::<String>, false, false, None::<String>);
    let mut ignored = Vec::new();
    for a in &found {
        if readonly && a.raw.is_some() {
            ignored.push(format!("{}:{}", a.file, a.line));
            continue;
        }
        if let Some(r) = &a.raw {
            raw = Some(r.clone());
            value = r.parse::<i64>().ok();
            set_in = Some(format!("{}:{}", a.file, a.line));
        }
        readonly |= a.readonly;
        exported |= a.exported;
    }
    Ok(json!({
        "files": read,
        "value": value,
        "raw": raw,
        "readonly": readonly,
        "exported": exported,
        "set_in": set_in,
        "assignments": found.iter().map(|a| json!({
            "file": a.file, "line": a.line, "value": a.raw,
            "readonly": a.readonly, "exported": a.exported,
        })).collect::<Vec<_>>(),
        "ignored_after_readonly": ignored,
    }))
}

/// The `TMOUT` words of one shell line: `(value, readonly, exported)` for each simple
/// command that names it (`TMOUT=900`, `readonly TMOUT=900`, `export TMOUT`,
/// `declare -rx TMOUT=900`, `typeset -r TMOUT`).
fn tmout_in_line(line: &str) -> Vec<(Option<String>, bool, bool)> {
    let mut out = Vec::new();
    for command in line.split([';', '&', '|']) {
        let words: Vec<&str> = command.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        let (mut readonly, mut exported, rest) = match *first {
            "readonly" => (true, false, &words[1..]),
            "export" => (false, true, &words[1..]),
            "declare" | "typeset" | "local" => (false, false, &words[1..]),
            _ => (false, false, &words[..]),
        };
        for w in rest {
            if let Some(flags) = w.strip_prefix('-') {
                if *first == "declare" || *first == "typeset" {
                    readonly |= flags.contains('r');
                    exported |= flags.contains('x');
                }
                continue;
            }
            if *w == "TMOUT" && rest.len() < words.len() {
                out.push((None, readonly, exported));
            } else if let Some(v) = w.strip_prefix("TMOUT=") {
                let v = v.trim_matches(|c| c == '"' || c == '\'');
                out.push((Some(v.to_string()), readonly, exported));
            }
        }
    }
    out
}

/// `StopIdleSessionSec` from logind.conf then its drop-ins (later files win).
fn logind(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<Value, CollectError> {
    let mut files = vec![LOGIND.to_string()];
    files.extend(root.glob(&format!("{LOGIND_D}/*.conf"))?);
    let (mut seconds, mut set_in, mut read) = (None::<u64>, None::<String>, Vec::new());
    for file in &files {
        let Some(text) = root.read_text(file)? else {
            if file == LOGIND {
                artifacts.push(Artifact::absent(file));
            }
            continue;
        };
        artifacts.push(Artifact::file(file, text.as_bytes()));
        read.push(file.clone());
        let mut section = String::new();
        for (line, content) in meaningful_lines(&text, Comments::WholeLine) {
            if content.starts_with(';') {
                continue;
            }
            if let Some(s) = content.strip_prefix('[') {
                section = s.trim_end_matches(']').to_string();
                continue;
            }
            let Some((key, value)) = content.split_once('=') else {
                return Err(CollectError::Malformed {
                    path: file.clone(),
                    line,
                    reason: "expected `Key=value` or a `[Section]` header".into(),
                });
            };
            if section == "Login" && key.trim() == "StopIdleSessionSec" {
                seconds =
                    systemd_timespan(value.trim()).map_err(|reason| CollectError::Malformed {
                        path: file.clone(),
                        line,
                        reason: format!("StopIdleSessionSec: {reason}"),
                    })?;
                set_in = Some(format!("{file}:{line}"));
            }
        }
    }
    Ok(json!({"files": read, "stop_idle_session_sec": seconds, "set_in": set_in}))
}

/// A systemd time span in whole seconds; `None` for `infinity` or empty (no limit).
fn systemd_timespan(v: &str) -> Result<Option<u64>, String> {
    if v.is_empty() || v == "infinity" {
        return Ok(None);
    }
    let bad = || "not a time span (like 900, 15min or 1h 30min)".to_string();
    let mut total: f64 = 0.0;
    let mut rest = v.trim();
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            "M" | "month" | "months" => 2_629_800.0,
            "y" | "year" | "years" => 31_557_600.0,
            _ => return Err(bad()),
        };
        total += n * factor;
        rest = rest[unit_end..].trim_start();
    }
    Ok(Some(total.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn run(files: &[(&str, &str)]) -> Result<Value, CollectError> {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let ctx = CollectContext::new(HostRoot::new(dir.path()), Value::Null, chrono::Utc::now());
        SessionTimeout.collect(&ctx).map(|e| e.facts)
    }

    #[test]
    fn tmout_readonly_freezes_the_value_and_later_files_lose() {
        let f = run(&[
            (PROFILE, "TMOUT=1800\n"),
            (
                "/etc/profile.d/50-tmout.sh",
                "readonly TMOUT=900 ; export TMOUT\n",
            ),
            (BASHRC, "TMOUT=0 # too late: readonly\n"),
        ])
        .unwrap();
        let t = &f["tmout"];
        assert_eq!(t["value"], 900);
        assert_eq!(t["readonly"], true);
        assert_eq!(t["exported"], true);
        assert_eq!(t["set_in"], "/etc/profile.d/50-tmout.sh:1");
        assert_eq!(t["ignored_after_readonly"][0], "/etc/bash.bashrc:1");
        assert_eq!(f["sshd"]["installed"], false);
        assert_eq!(f["logind"]["stop_idle_session_sec"], Value::Null);
    }

    #[test]
    fn declare_flags_and_last_assignment_without_readonly() {
        let f = run(&[(PROFILE, "TMOUT=600\ndeclare -rx TMOUT\n")]).unwrap();
        assert_eq!(
            (
                &f["tmout"]["value"],
                &f["tmout"]["readonly"],
                &f["tmout"]["exported"]
            ),
            (&json!(600), &json!(true), &json!(true))
        );
        let f = run(&[(PROFILE, "TMOUT=600\n"), (BASHRC, "TMOUT=\"$X\"\n")]).unwrap();
        assert_eq!(
            f["tmout"]["value"],
            Value::Null,
            "a value we cannot evaluate"
        );
        assert_eq!(f["tmout"]["raw"], "$X");
    }

    #[test]
    fn sshd_client_alive_and_logind_drop_ins() {
        let f = run(&[
            (
                "/etc/ssh/sshd_config",
                "ClientAliveInterval 5m\nClientAliveCountMax 2\n",
            ),
            (
                LOGIND,
                "[Login]\n#StopIdleSessionSec=infinity\nStopIdleSessionSec=1h\n",
            ),
            (
                "/etc/systemd/logind.conf.d/idle.conf",
                "[Login]\nStopIdleSessionSec=15min\n",
            ),
        ])
        .unwrap();
        assert_eq!(f["sshd"]["idle_limit_seconds"], 600);
        assert_eq!(f["logind"]["stop_idle_session_sec"], 900);
        assert_eq!(
            f["logind"]["set_in"],
            "/etc/systemd/logind.conf.d/idle.conf:2"
        );
    }

    #[test]
    fn malformed_logind_and_sshd_name_file_and_line() {
        let e = run(&[(LOGIND, "[Login]\nStopIdleSessionSec=soon\n")]).unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/systemd/logind.conf:2:"),
            "{e}"
        );
        let e = run(&[("/etc/ssh/sshd_config", "ClientAliveInterval x\n")]).unwrap_err();
        assert!(e.to_string().starts_with("/etc/ssh/sshd_config:1:"), "{e}");
        assert_eq!(systemd_timespan("1h 30min").unwrap(), Some(5400));
    }
}
