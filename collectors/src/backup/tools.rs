//! Reading one repository: restic and Borg through the command runner, `file`
//! repositories through the host root. Each returns snapshot times, hosts and paths,
//! or a `RepoError` that says which kind of trouble it was. Never reads a password.

use super::settings::RepositorySpec;
use super::{RepoError, Snapshots};
use crate::command::{Command, CommandError, CommandOutput};
use crate::{sha256_hex, Artifact, CollectContext};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use std::time::Duration;

/// Where Debian installs the tools.
pub const RESTIC: &str = "/usr/bin/restic";
pub const BORG: &str = "/usr/bin/borg";

fn timeout(spec: &RepositorySpec) -> Duration {
    Duration::from_secs(spec.timeout_seconds.unwrap_or(60))
}

/// The password file must exist; its content is the tool's business, not ours.
fn check_password_file(ctx: &CollectContext, spec: &RepositorySpec) -> Result<(), RepoError> {
    let Some(pf) = &spec.password_file else {
        return Ok(());
    };
    match ctx.root.metadata(pf) {
        Ok(Some(m)) if m.is_file() => Ok(()),
        Ok(Some(_)) => Err(RepoError {
            kind: "unreadable",
            reason: format!("password_file {pf} is not a regular file"),
        }),
        Ok(None) => Err(RepoError {
            kind: "unreadable",
            reason: format!("password_file {pf} does not exist"),
        }),
        Err(e) => Err(RepoError {
            kind: "unreadable",
            reason: e.to_string(),
        }),
    }
}

fn run(
    ctx: &CollectContext,
    cmd: Command,
    artifacts: &mut Vec<Artifact>,
) -> Result<CommandOutput, RepoError> {
    match cmd.run(&ctx.root) {
        Ok(out) => {
            // Listings name hosts and paths only; still, quote nothing: the hash is enough.
            artifacts.push(out.artifact_unquoted());
            Ok(out)
        }
        Err(e @ CommandError::NotInstalled { .. }) => Err(RepoError {
            kind: "not_installed",
            reason: format!(
                "{e} (install it, e.g. `apt-get install {}`)",
                package(cmd.program())
            ),
        }),
        Err(e @ CommandError::TimedOut { .. }) => Err(RepoError {
            kind: "timeout",
            reason: format!("{e}; raise timeout_seconds for this repository if it is slow"),
        }),
        Err(e) => Err(RepoError {
            kind: "failed",
            reason: e.to_string(),
        }),
    }
}

fn package(program: &str) -> &'static str {
    if program.ends_with("borg") {
        "borgbackup"
    } else {
        "restic"
    }
}

/// Sort a failed run into a kind by what the tool said.
fn classify(out: &CommandOutput, rules: &[(&'static str, &[&str])]) -> RepoError {
    let stderr = out.stderr.to_lowercase();
    let kind = rules
        .iter()
        .find(|(_, needles)| needles.iter().any(|n| stderr.contains(n)))
        .map(|(k, _)| *k)
        .unwrap_or("failed");
    RepoError {
        kind,
        reason: out.failure_reason(),
    }
}

#[derive(Deserialize)]
struct ResticSnapshot {
    time: DateTime<chrono::FixedOffset>,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    paths: Vec<String>,
}

/// `restic -r REPO --password-file FILE --no-cache --json snapshots`.
pub fn restic(
    ctx: &CollectContext,
    spec: &RepositorySpec,
    artifacts: &mut Vec<Artifact>,
) -> Result<Snapshots, RepoError> {
    check_password_file(ctx, spec)?;
    let mut cmd = Command::new(RESTIC)
        .args(["-r", spec.repository.as_deref().unwrap_or("")])
        .args([
            "--password-file",
            spec.password_file.as_deref().unwrap_or(""),
        ])
        // No cache: the daemon has no home directory to keep one in, and a listing
        // needs none.
        .args(["--no-cache", "--json", "snapshots"])
        .timeout(timeout(spec));
    for (k, v) in &spec.env {
        cmd = cmd.env(k, v);
    }
    let out = run(ctx, cmd, artifacts)?;
    if !out.success() {
        return Err(classify(
            &out,
            &[
                ("wrong_password", &["wrong password", "no key found"]),
                ("locked", &["already locked", "unable to create lock"]),
                (
                    "missing",
                    &[
                        "is there a repository at the following location",
                        "does not exist",
                    ],
                ),
                (
                    "corrupt",
                    &[
                        "ciphertext verification failed",
                        "config cannot be loaded",
                        "unexpected end of json",
                        "invalid",
                        "corrupt",
                        "load index",
                        "unable to load",
                    ],
                ),
            ],
        ));
    }
    // restic skips snapshot files it cannot decrypt, says so on stderr and still exits
    // 0 with a shorter list: that is a damaged repository, not fewer backups.
    let damaged: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("could not load snapshot") || l.contains("invalid data returned"))
        .collect();
    if !damaged.is_empty() {
        return Err(RepoError {
            kind: "corrupt",
            reason: format!(
                "`{}`: {} snapshot(s) unreadable, first: {} (run `restic check`)",
                out.command_line(),
                damaged.len(),
                damaged[0].trim()
            ),
        });
    }
    parse_restic_snapshots(&out.stdout).map_err(|e| RepoError {
        kind: "malformed",
        reason: format!(
            "`{}` printed something that is not a restic snapshot list: {e}",
            out.command_line()
        ),
    })
}

/// The stdout of `restic --json snapshots` as snapshots.
pub(crate) fn parse_restic_snapshots(stdout: &str) -> Result<Snapshots, String> {
    let list: Vec<ResticSnapshot> =
        serde_json::from_str(stdout.trim()).map_err(|e| e.to_string())?;
    Ok(Snapshots {
        times: list.iter().map(|s| s.time.with_timezone(&Utc)).collect(),
        hosts: list.iter().map(|s| s.hostname.clone()).collect(),
        paths: list.iter().flat_map(|s| s.paths.clone()).collect(),
        newest_file: None,
    })
}

#[derive(Deserialize)]
struct BorgList {
    archives: Vec<BorgArchive>,
}

#[derive(Deserialize)]
struct BorgArchive {
    /// Local time of the borg process without an offset; we run borg with TZ=UTC.
    time: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    command_line: Vec<String>,
}

/// `borg list --json --lock-wait 5 --format {hostname}{command_line} REPO`, with the
/// password through `BORG_PASSCOMMAND=/bin/cat FILE` and `TZ=UTC`.
pub fn borg(
    ctx: &CollectContext,
    spec: &RepositorySpec,
    artifacts: &mut Vec<Artifact>,
) -> Result<Snapshots, RepoError> {
    check_password_file(ctx, spec)?;
    let repo = spec.repository.as_deref().unwrap_or("");
    let cmd = Command::new(BORG)
        .args([
            "list",
            "--json",
            "--lock-wait",
            "5",
            "--format",
            "{hostname}{command_line}",
            repo,
        ])
        .timeout(timeout(spec));
    let (cmd, scratch) = borg_environment(cmd, ctx, spec);
    let result = run(ctx, cmd, artifacts);
    drop(scratch);
    let out = result?;
    if !out.success() {
        return Err(classify(
            &out,
            &[
                ("wrong_password", &["passphrase supplied", "is incorrect"]),
                (
                    "locked",
                    &[
                        "failed to create/acquire the lock",
                        "lock.exclusive",
                        "lock timeout",
                    ],
                ),
                ("missing", &["does not exist"]),
                (
                    "corrupt",
                    &[
                        "is not a valid repository",
                        "integrity",
                        "corrupt",
                        "checksum",
                    ],
                ),
            ],
        ));
    }
    parse_borg_list(&out.stdout).map_err(|e| RepoError {
        kind: "malformed",
        reason: format!(
            "`{}` printed something that is not a borg archive list: {e}",
            out.command_line()
        ),
    })
}

/// The stdout of `borg list --json` as snapshots.
pub(crate) fn parse_borg_list(stdout: &str) -> Result<Snapshots, String> {
    let list: BorgList = serde_json::from_str(stdout).map_err(|e| e.to_string())?;
    let mut snaps = Snapshots::default();
    for a in &list.archives {
        let t = NaiveDateTime::parse_from_str(&a.time, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|e| format!("borg archive time {:?}: {e}", a.time))?;
        snaps.times.push(t.and_utc());
        snaps.hosts.push(a.hostname.clone());
        snaps.paths.extend(borg_paths(&a.command_line));
    }
    Ok(snaps)
}

/// The paths given to `borg create`: the arguments after `REPO::ARCHIVE` that are not
/// options. Best effort: borg keeps no list of backed-up roots.
fn borg_paths(command_line: &[String]) -> Vec<String> {
    let Some(i) = command_line.iter().position(|a| a.contains("::")) else {
        return Vec::new();
    };
    command_line[i + 1..]
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect()
}

/// The files matching `path`, newest first by modification time.
pub fn files(
    ctx: &CollectContext,
    spec: &RepositorySpec,
    artifacts: &mut Vec<Artifact>,
) -> Result<Snapshots, RepoError> {
    let pattern = spec.path.as_deref().unwrap_or("");
    let paths = ctx.root.glob(pattern).map_err(|e| RepoError {
        kind: "malformed",
        reason: e.to_string(),
    })?;
    let mut snaps = Snapshots::default();
    let mut listing = String::new();
    let mut newest: Option<(DateTime<Utc>, String)> = None;
    for p in paths {
        let meta = match ctx.root.metadata(&p) {
            Ok(Some(m)) if m.is_file() => m,
            Ok(_) => continue,
            Err(e) => {
                return Err(RepoError {
                    kind: "unreadable",
                    reason: e.to_string(),
                })
            }
        };
        let mtime: DateTime<Utc> =
            meta.modified()
                .map(DateTime::<Utc>::from)
                .map_err(|e| RepoError {
                    kind: "unreadable",
                    reason: format!("{p}: no modification time: {e}"),
                })?;
        listing.push_str(&format!("{p} {} {}\n", mtime.timestamp(), meta.len()));
        snaps.times.push(mtime);
        if newest.as_ref().is_none_or(|(t, _)| mtime > *t) {
            newest = Some((mtime, p.clone()));
        }
    }
    snaps.paths.push(pattern.to_string());
    snaps.newest_file = newest.map(|(_, p)| p);
    artifacts.push(Artifact {
        source: pattern.to_string(),
        kind: "glob".into(),
        sha256: Some(sha256_hex(listing.as_bytes())),
        excerpt: snaps.newest_file.clone(),
        present: !snaps.times.is_empty(),
        exit_status: None,
    });
    Ok(snaps)
}

/// The environment every borg command of attestd runs in: UTC times, no question
/// nobody can answer (unencrypted or relocated repositories, showing the passphrase),
/// the password through `BORG_PASSCOMMAND`, and, on a live host, a private
/// `BORG_BASE_DIR` (borg keeps its cache and security data there, default ~) unless the
/// operator named one; then the operator's own `env`. The returned directory guard
/// removes the scratch directory when dropped: keep it until the command has run.
pub(super) fn borg_environment(
    cmd: Command,
    ctx: &CollectContext,
    spec: &RepositorySpec,
) -> (Command, Option<tempfile::TempDir>) {
    let mut cmd = cmd
        .env("TZ", "UTC")
        .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .env("BORG_DISPLAY_PASSPHRASE", "no");
    if let Some(pf) = &spec.password_file {
        // Quoted for borg's shlex split; the settings refuse paths with a single quote.
        cmd = cmd.env("BORG_PASSCOMMAND", format!("/bin/cat '{pf}'"));
    }
    let scratch = (ctx.root.is_live() && !spec.env.contains_key("BORG_BASE_DIR"))
        .then(|| {
            tempfile::Builder::new()
                .prefix("attestd-borg-")
                .tempdir()
                .ok()
        })
        .flatten();
    if let Some(dir) = &scratch {
        cmd = cmd.env("BORG_BASE_DIR", dir.path().to_string_lossy());
    }
    for (k, v) in &spec.env {
        cmd = cmd.env(k, v);
    }
    (cmd, scratch)
}
