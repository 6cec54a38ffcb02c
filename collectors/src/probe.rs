//! Helpers shared by the operations collectors (audit logging, firewall, patching, disk
//! encryption, time sync, malware): running a tool through the command runner and
//! telling "not installed" from "failed", asking systemd about a unit, reading optional
//! files as artifacts, file times as RFC 3339, and the `unavailable` map of facts that
//! could not be gathered.
//!
//! It never judges and never runs anything except through `command::Command`.

use crate::{Artifact, CollectError, Command, CommandError, CommandOutput, HostRoot};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// Where `systemctl` lives on the systems attestd supports.
pub const SYSTEMCTL: &[&str] = &["/usr/bin/systemctl", "/bin/systemctl"];

/// Why systemd cannot be asked anything on the live host, or `None` when it can (or
/// when `root` is a fixture tree, whose recorded `systemctl` output answers instead).
/// This is the test `sd_booted(3)` makes and `systemctl` makes before it does anything:
/// systemd runs as init exactly when `/run/systemd/system` is a directory. Checking it
/// first spares a `systemctl` or `timedatectl` start (4 to 5 ms each) that could only
/// fail with "System has not been booted with systemd as init system".
pub fn systemd_not_running(root: &HostRoot) -> Option<String> {
    if !root.is_live() || std::path::Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    Some(
        "systemd is not running as init on this host (/run/systemd/system is absent), \
         so it cannot be asked about services"
            .into(),
    )
}

/// The outcome of asking a tool.
pub enum ToolRun {
    /// The program is not on this host.
    NotInstalled,
    /// It ran (whatever its exit status); its artifact is recorded.
    Ran(CommandOutput),
}

/// Run `cmd` on `root`, recording its artifact. A timeout or a failure to start is an
/// `Err` with the reason; "not installed" is `Ok(ToolRun::NotInstalled)`.
pub fn run_tool(
    root: &HostRoot,
    cmd: Command,
    artifacts: &mut Vec<Artifact>,
) -> Result<ToolRun, String> {
    record_tool(cmd.run(root), artifacts)
}

/// A command running on a thread of a scope (`start_tool`), for `finish_tool`.
pub type StartedTool<'scope> =
    std::thread::ScopedJoinHandle<'scope, Result<crate::CommandOutput, CommandError>>;

/// Start `cmd` on a thread of `scope`, so that a collector can do its other work (or
/// run its other tools) meanwhile: it then waits for the slowest tool, not their sum.
pub fn start_tool<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    root: &'env HostRoot,
    cmd: Command,
) -> StartedTool<'scope> {
    scope.spawn(move || cmd.run(root))
}

/// Wait for a tool `start_tool` started and record it as `run_tool` does.
pub fn finish_tool(
    started: StartedTool<'_>,
    artifacts: &mut Vec<Artifact>,
) -> Result<ToolRun, String> {
    let ran = started
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    record_tool(ran, artifacts)
}

fn record_tool(
    ran: Result<crate::CommandOutput, CommandError>,
    artifacts: &mut Vec<Artifact>,
) -> Result<ToolRun, String> {
    match ran {
        Ok(out) => {
            artifacts.push(out.artifact());
            Ok(ToolRun::Ran(out))
        }
        Err(CommandError::NotInstalled { .. }) => Ok(ToolRun::NotInstalled),
        Err(e) => Err(e.to_string()),
    }
}

/// Read an optional text file and record it (absent when missing).
pub fn read_optional(
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

/// The files matching a glob, each read and recorded, in byte order.
pub fn read_glob(
    root: &HostRoot,
    pattern: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Vec<(String, String)>, CollectError> {
    let mut out = Vec::new();
    for path in root.glob(pattern)? {
        if root.metadata(&path)?.is_some_and(|m| m.is_dir()) {
            continue;
        }
        if let Some(text) = read_optional(root, &path, artifacts)? {
            out.push((path, text));
        }
    }
    Ok(out)
}

/// A file's modification time, UTC RFC 3339 to the second; `None` when absent.
pub fn mtime(root: &HostRoot, path: &str) -> Result<Option<String>, CollectError> {
    Ok(root
        .metadata(path)?
        .and_then(|m| m.modified().ok())
        .map(|t| rfc3339(DateTime::<Utc>::from(t))))
}

/// UTC RFC 3339 to the second.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A systemd unit as `systemctl show` reports it.
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub unit_file: String,
}

impl UnitState {
    /// The facts rules read: `unit`, `installed`, `enabled`, `active`, and the raw states.
    pub fn facts(&self, unit: &str) -> Value {
        json!({
            "unit": unit,
            "installed": self.load == "loaded",
            "enabled": matches!(self.unit_file.as_str(), "enabled" | "enabled-runtime" | "static" | "alias" | "linked"),
            "active": self.active == "active",
            "load_state": self.load,
            "active_state": self.active,
            "unit_file_state": self.unit_file,
        })
    }
}

/// Ask systemd about one unit. `Ok(None)` when systemctl is not installed; `Err` when
/// it could not answer (no systemd as PID 1, a timeout).
pub fn unit_state(
    root: &HostRoot,
    unit: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Option<UnitState>, String> {
    let Some(systemctl) = Command::locate(root, SYSTEMCTL) else {
        return Ok(None);
    };
    if let Some(reason) = systemd_not_running(root) {
        return Err(reason);
    }
    let cmd = Command::new(&systemctl).args([
        "show",
        "--property=LoadState,ActiveState,UnitFileState",
        unit,
    ]);
    let out = match run_tool(root, cmd, artifacts)? {
        ToolRun::NotInstalled => return Ok(None),
        ToolRun::Ran(out) => out,
    };
    if !out.success() {
        return Err(out.failure_reason());
    }
    let get = |key: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let state = UnitState {
        load: get("LoadState"),
        active: get("ActiveState"),
        unit_file: get("UnitFileState"),
    };
    if state.load.is_empty() {
        return Err(format!("`{}` printed no LoadState", out.command_line()));
    }
    Ok(Some(state))
}

/// Facts for one service: the first of `units` that systemd knows, or the first one
/// reported as not installed. Errors go to `unavailable[key]` and the facts are absent.
pub fn service_facts(
    root: &HostRoot,
    key: &str,
    units: &[&str],
    artifacts: &mut Vec<Artifact>,
    unavailable: &mut Map<String, Value>,
) -> Option<Value> {
    let mut first = None;
    for unit in units {
        match unit_state(root, unit, artifacts) {
            Ok(Some(state)) => {
                let facts = state.facts(unit);
                if state.load == "loaded" {
                    return Some(facts);
                }
                first.get_or_insert(facts);
            }
            Ok(None) => {
                unavailable.insert(
                    key.into(),
                    Value::String(
                        "systemctl is not installed: cannot ask systemd about services".into(),
                    ),
                );
                return None;
            }
            Err(reason) => {
                unavailable.insert(key.into(), Value::String(reason));
                return None;
            }
        }
    }
    first
}

/// Parse `key=value` / `key = value` lines (journald, auditd, chrony style), skipping
/// comments (`#`, `;`) and section headers; returns `(line, key, value)`.
pub fn assignments(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') || l.starts_with('[') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            Some((i + 1, k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Installed versions of `names` from dpkg's database (`/var/lib/dpkg/status`, packages
/// whose status is `install ok installed` or held). `Ok(None)` on a host without dpkg.
/// Only those packages' stanzas are parsed, unless the whole database is already
/// parsed and shared (`crate::dpkg`).
pub fn dpkg_installed(
    root: &HostRoot,
    names: &[&str],
) -> Result<Option<std::collections::BTreeMap<String, String>>, CollectError> {
    // The database is large and changes with every install; it is not an artifact of its
    // own, the facts name the packages and versions found in it.
    crate::dpkg::installed_versions(root, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_is_asked_only_where_it_runs_as_init() {
        // A fixture tree always answers from its recorded output.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(systemd_not_running(&HostRoot::new(dir.path())), None);
        // The live host: exactly sd_booted(3)'s test.
        let booted = std::path::Path::new("/run/systemd/system").is_dir();
        let live = HostRoot::live();
        assert_eq!(systemd_not_running(&live).is_none(), booted);
        if !booted && Command::locate(&live, SYSTEMCTL).is_some() {
            // No systemctl is started to hear it fail: the reason says why, and no
            // command artifact is recorded.
            let mut artifacts = Vec::new();
            let e = unit_state(&live, "ssh.service", &mut artifacts)
                .err()
                .expect("systemd cannot answer here");
            assert!(e.contains("/run/systemd/system is absent"), "{e}");
            assert!(artifacts.is_empty(), "{artifacts:?}");
        }
    }
}
