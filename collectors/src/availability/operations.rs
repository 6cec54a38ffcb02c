//! The operational half of the availability collector: systemd units (`systemctl show`),
//! file-system headroom (`df`), memory headroom (`/proc/meminfo`) and the endpoint probe
//! summary the engine hands over. Figures are rounded so that a steady host keeps
//! producing the same facts. It never probes an endpoint itself and never judges.

use super::settings::AvailabilitySettings;
use crate::command::{Command, CommandError};
use crate::{Artifact, CollectContext, CollectError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub const SYSTEMCTL: &str = "/usr/bin/systemctl";
pub const DF: &str = "/usr/bin/df";
/// The unit properties asked for, in one `systemctl show` call.
pub const UNIT_PROPERTIES: &str = "--property=Id,LoadState,ActiveState,SubState,NRestarts,Result";

/// Facts added to the availability collector's: `units`, `disks`, `memory`, `probes`.
pub fn facts(
    ctx: &CollectContext,
    settings: &AvailabilitySettings,
    facts: &mut Map<String, Value>,
    unavailable: &mut Map<String, Value>,
    artifacts: &mut Vec<Artifact>,
) -> Result<(), CollectError> {
    match units(ctx, &settings.units, artifacts) {
        Ok(u) => {
            facts.insert("units".into(), u);
        }
        Err(reason) => {
            unavailable.insert("units".into(), reason.into());
        }
    }
    match disks(ctx, &settings.paths_for_disk_headroom, artifacts) {
        Ok(d) => {
            facts.insert("disks".into(), d);
        }
        Err(reason) => {
            unavailable.insert("disks".into(), reason.into());
        }
    }
    facts.insert("memory".into(), memory(ctx, artifacts)?);
    facts.insert("probes".into(), probes(ctx, settings, unavailable));
    Ok(())
}

fn command_error(e: CommandError) -> String {
    match e {
        CommandError::NotInstalled { .. } => format!("{e}: cannot observe without it"),
        other => other.to_string(),
    }
}

/// `systemctl show --property=... UNIT...`: one entry per configured unit, in order.
fn units(
    ctx: &CollectContext,
    names: &[String],
    artifacts: &mut Vec<Artifact>,
) -> Result<Value, String> {
    if names.is_empty() {
        return Ok(json!([]));
    }
    if let Some(reason) = crate::probe::systemd_not_running(&ctx.root) {
        return Err(reason);
    }
    let out = Command::new(SYSTEMCTL)
        .args(["show", UNIT_PROPERTIES])
        .args(names.iter().cloned())
        .timeout(Duration::from_secs(10))
        .run(&ctx.root)
        .map_err(command_error)?;
    artifacts.push(out.artifact());
    if !out.success() {
        return Err(out.failure_reason());
    }
    // Blocks of KEY=VALUE separated by blank lines, properties in systemd's own order.
    let mut by_id: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for block in out.stdout.split("\n\n") {
        let props: BTreeMap<String, String> = block
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if let Some(id) = props.get("Id") {
            by_id.insert(id.clone(), props);
        }
    }
    let mut list = Vec::new();
    for name in names {
        // systemctl reports `nginx` as `nginx.service`.
        let key = if name.contains('.') {
            name.clone()
        } else {
            format!("{name}.service")
        };
        let props = by_id
            .get(&key)
            .ok_or_else(|| format!("`{}` printed nothing for unit {name}", out.command_line()))?;
        let get = |k: &str| props.get(k).cloned().unwrap_or_default();
        let restarts: Value = get("NRestarts")
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or(Value::Null);
        list.push(json!({
            "name": name,
            "load_state": get("LoadState"),
            "active_state": get("ActiveState"),
            "sub_state": get("SubState"),
            "result": get("Result"),
            "restarts": restarts,
        }));
    }
    Ok(Value::Array(list))
}

/// `df --output=target,size,avail -B1 PATH...`: size and free share per configured path.
fn disks(
    ctx: &CollectContext,
    paths: &[String],
    artifacts: &mut Vec<Artifact>,
) -> Result<Value, String> {
    if paths.is_empty() {
        return Ok(json!([]));
    }
    let out = Command::new(DF)
        .args(["--output=target,size,avail", "-B1"])
        .args(paths.iter().cloned())
        .timeout(Duration::from_secs(10))
        .run(&ctx.root)
        .map_err(command_error)?;
    // The free space changes with every write; quote the command, not the figures.
    artifacts.push(out.artifact_unquoted());
    if !out.success() {
        return Err(out.failure_reason());
    }
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if rows.len() != paths.len() {
        return Err(format!(
            "`{}` printed {} rows for {} paths",
            out.command_line(),
            rows.len(),
            paths.len()
        ));
    }
    let mut list = Vec::new();
    for (path, row) in paths.iter().zip(rows) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let parsed = (fields.len() >= 3)
            .then(|| {
                let avail = fields[fields.len() - 1].parse::<u64>().ok()?;
                let size = fields[fields.len() - 2].parse::<u64>().ok()?;
                Some((fields[..fields.len() - 2].join(" "), size, avail))
            })
            .flatten();
        let Some((mount, size, avail)) = parsed else {
            return Err(format!(
                "`{}`: cannot read the row {row:?}",
                out.command_line()
            ));
        };
        // Whole percent, rounded down: free space is never overstated.
        let percent = (avail * 100).checked_div(size).unwrap_or(0);
        list.push(json!({
            "path": path,
            "mount": mount,
            "size_bytes": size,
            "available_percent": percent,
        }));
    }
    Ok(Value::Array(list))
}

/// MemTotal and MemAvailable from `/proc/meminfo`; `null` when the tree has none.
fn memory(ctx: &CollectContext, artifacts: &mut Vec<Artifact>) -> Result<Value, CollectError> {
    let path = "/proc/meminfo";
    let Some(text) = ctx.root.read_text(path)? else {
        return Ok(Value::Null);
    };
    artifacts.push(Artifact {
        source: path.into(),
        kind: "kernel".into(),
        sha256: None,
        excerpt: None,
        present: true,
        exit_status: None,
    });
    let field = |name: &str| -> Result<u64, CollectError> {
        text.lines()
            .enumerate()
            .find(|(_, l)| l.starts_with(&format!("{name}:")))
            .ok_or_else(|| CollectError::Malformed {
                path: path.into(),
                line: 0,
                reason: format!("no {name} line"),
            })
            .and_then(|(i, l)| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| CollectError::Malformed {
                        path: path.into(),
                        line: i + 1,
                        reason: format!("expected `{name}: NUMBER kB`"),
                    })
            })
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?;
    let percent = (available * 100).checked_div(total).unwrap_or(0);
    Ok(json!({
        "total_mib": total / 1024,
        "available_percent": percent,
    }))
}

/// One entry per configured probe from the store's summary. A probe with no result in
/// the window has no `availability_percent`: nothing was measured, which is a gap in
/// evidence, not downtime, so rules on it are `error` with the reason.
fn probes(
    ctx: &CollectContext,
    settings: &AvailabilitySettings,
    unavailable: &mut Map<String, Value>,
) -> Value {
    let summaries: Vec<Value> = ctx
        .measurements
        .as_ref()
        .and_then(|m| m.get("probes"))
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let list = settings
        .probes
        .iter()
        .map(|spec| {
            let found = summaries
                .iter()
                .find(|s| s["name"] == spec.name.as_str() && s["measured_seconds"].as_f64().unwrap_or(0.0) > 0.0);
            match found {
                Some(s) => s.clone(),
                None => {
                    unavailable.insert(
                        format!("probes.{}", spec.name),
                        "no probe result in the window: endpoints are probed by the daemon (`attestd run`) or once by `attestd collect`; time without results is a gap in evidence, not downtime".into(),
                    );
                    json!({"name": spec.name, "target": spec.target(), "measured_seconds": 0})
                }
            }
        })
        .collect();
    Value::Array(list)
}
