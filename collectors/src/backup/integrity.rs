//! Whether a repository can be restored from: the repository's own integrity check
//! (`restic check`, optionally reading a subset of the data packs; `borg check`,
//! optionally `--verify-data`), run by attestd on the repository's own schedule
//! (`check_interval_hours`, counted from the previous run's facts, so nothing is
//! written), and the newest entry of the operator's check marker file. The newer of
//! the two is the repository's `integrity_check` fact: when, ok or failed, how long it
//! took, and who ran it.
//!
//! It never repairs (`--repair` is never passed), never reads a password (the tools get
//! the password file's path) and never judges how old a check may be.

use super::settings::{Kind, RepositorySpec};
use super::tools::{BORG, RESTIC};
use crate::command::{Command, CommandError};
use crate::{Artifact, CollectContext};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Default hours between two checks attestd runs itself.
pub const DEFAULT_INTERVAL_HOURS: u64 = 24;
/// Default share of restic's data packs read by each check.
pub const DEFAULT_READ_DATA_SUBSET: &str = "5%";
/// Default seconds a check may take.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 600;

/// The repository's `integrity_check` fact: attestd's own check (run now when due, or
/// carried from the previous facts) or the marker's newest entry, whichever is newer.
/// `Null` when neither exists.
pub fn integrity_check(
    ctx: &CollectContext,
    spec: &RepositorySpec,
    marker: &Value,
    artifacts: &mut Vec<Artifact>,
) -> Value {
    let own = match spec.kind {
        Kind::File => Value::Null,
        Kind::Restic | Kind::Borg => {
            let interval = spec.check_interval_hours.unwrap_or(DEFAULT_INTERVAL_HOURS);
            match previous_check(ctx, spec) {
                Some(prev) if interval == 0 || !is_due(&prev, ctx.now, interval) => prev,
                _ if interval == 0 => Value::Null,
                _ => run(ctx, spec, artifacts),
            }
        }
    };
    let from_marker = if marker.is_object() {
        json!({
            "at": marker["at"],
            "result": marker["result"],
            "duration_ms": Value::Null,
            "by": "check_marker",
            "note": marker["note"],
        })
    } else {
        Value::Null
    };
    match (own.is_null(), from_marker.is_null()) {
        (true, _) => from_marker,
        (false, true) => own,
        (false, false) => {
            if time(&from_marker) > time(&own) {
                from_marker
            } else {
                own
            }
        }
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v["at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The check attestd ran on an earlier run, from that run's facts.
fn previous_check(ctx: &CollectContext, spec: &RepositorySpec) -> Option<Value> {
    let prev = ctx.previous_facts.as_ref()?;
    let repo = prev["repositories"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == spec.name.as_str())?;
    // The newest check attestd itself ran is kept apart from the marker's.
    let own = &repo["attestd_check"];
    // A check that could not run (a timeout, the tool missing) is tried again next run.
    let finished = own["result"] == "ok" || own["result"] == "failed";
    (own.is_object() && own["by"] == "attestd" && finished && same_options(own, spec))
        .then(|| own.clone())
}

/// A check made with other options (a larger data subset asked for) is not reused.
fn same_options(prev: &Value, spec: &RepositorySpec) -> bool {
    prev["options"] == json!(options(spec))
}

fn is_due(prev: &Value, now: DateTime<Utc>, interval_hours: u64) -> bool {
    match time(prev) {
        Some(at) => now - at >= chrono::Duration::hours(interval_hours as i64) || at > now,
        None => true,
    }
}

fn options(spec: &RepositorySpec) -> Vec<String> {
    match spec.kind {
        Kind::Restic => {
            let subset = spec
                .check_read_data_subset
                .as_deref()
                .unwrap_or(DEFAULT_READ_DATA_SUBSET);
            if subset.is_empty() || subset == "0" || subset == "0%" {
                Vec::new()
            } else {
                vec!["--read-data-subset".into(), subset.into()]
            }
        }
        Kind::Borg => {
            if spec.check_verify_data.unwrap_or(false) {
                vec!["--verify-data".into()]
            } else {
                Vec::new()
            }
        }
        Kind::File => Vec::new(),
    }
}

/// Run the check now.
fn run(ctx: &CollectContext, spec: &RepositorySpec, artifacts: &mut Vec<Artifact>) -> Value {
    let repo = spec.repository.as_deref().unwrap_or("");
    let opts = options(spec);
    let timeout = Duration::from_secs(
        spec.check_timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    );
    let (cmd, scratch) = match spec.kind {
        Kind::Restic => {
            let mut cmd = Command::new(RESTIC)
                .args(["-r", repo])
                .args([
                    "--password-file",
                    spec.password_file.as_deref().unwrap_or(""),
                ])
                .args(["--no-cache", "check"])
                .args(opts.iter().map(String::as_str))
                .timeout(timeout);
            for (k, v) in &spec.env {
                cmd = cmd.env(k, v);
            }
            (cmd, None)
        }
        _ => {
            let cmd = Command::new(BORG)
                .args(["check", "--lock-wait", "5"])
                .args(opts.iter().map(String::as_str))
                .arg(repo)
                .timeout(timeout);
            super::tools::borg_environment(cmd, ctx, spec)
        }
    };
    let started = Instant::now();
    let outcome = cmd.run(&ctx.root);
    let duration_ms = started.elapsed().as_millis() as u64;
    drop(scratch);
    let at = ctx.now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let base = |result: &str, note: String| {
        json!({
            "at": at, "result": result, "duration_ms": duration_ms, "by": "attestd",
            "note": note, "options": opts,
        })
    };
    match outcome {
        Ok(out) => {
            artifacts.push(out.artifact_unquoted());
            if out.success() {
                base("ok", format!("`{}` found no errors", out.command_line()))
            } else {
                // The tool's last words say what is wrong ("repository contains errors",
                // "Segment entry checksum mismatch").
                let last: Vec<&str> = out
                    .stderr
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                let summary = last
                    .iter()
                    .rev()
                    .take(2)
                    .rev()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" / ");
                let status = out
                    .status
                    .map(|c| format!("exited with {c}"))
                    .unwrap_or_else(|| "was killed by a signal".into());
                base("failed", format!("`{}` {status}: {summary}", out.command_line()))
            }
        }
        Err(e @ CommandError::NotInstalled { .. }) => base("error", e.to_string()),
        Err(e @ CommandError::TimedOut { .. }) => base(
            "error",
            format!("{e}; raise check_timeout_seconds for this repository (and timeout_seconds of the collector)"),
        ),
        Err(e) => base("error", e.to_string()),
    }
}
