//! availability collector: boot time (from uptime), load average, CPU count and reboots
//! seen across runs; systemd units, disk and memory headroom, and the endpoint probes'
//! availability that the daemon measured (`operations`). Uptime itself is not a fact: it changes every second
//! and is derivable from `boot_time`, and keeping it would store new evidence every run. On a live host it asks the kernel through sysinfo; under a
//! fixture root it reads `/proc/uptime`, `/proc/loadavg` and `/proc/cpuinfo` from the
//! tree. It never judges whether the host is available enough.

mod operations;
pub mod settings;

pub use operations::{DF, SYSTEMCTL, UNIT_PROPERTIES};
pub use settings::{AvailabilitySettings, ProbeSpec};

use crate::{Artifact, CollectContext, CollectError, Collector, Evidence};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::json;
use std::path::PathBuf;

/// Host uptime and load.
pub struct Availability;

/// The raw kernel figures this collector turns into facts.
struct KernelFigures {
    uptime_seconds: u64,
    load: [f64; 3],
    cpus: usize,
}

impl Collector for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }
    fn version(&self) -> &'static str {
        "2"
    }
    fn watched_paths(&self, _settings: &serde_json::Value) -> Vec<PathBuf> {
        Vec::new()
    }
    fn default_schedule(&self) -> &'static str {
        "*/5 * * * *"
    }
    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        settings::parse(settings).map(|_| ())
    }
    fn probes(&self, settings: &serde_json::Value) -> Vec<ProbeSpec> {
        settings::parse(settings)
            .map(|s| s.probes)
            .unwrap_or_default()
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let settings = settings::parse(&ctx.settings).map_err(CollectError::Settings)?;
        let (figures, mut artifacts) = if ctx.root.is_live() {
            (
                live_figures()?,
                vec![api_artifact("sysinfo: uptime, load_average, cpus")],
            )
        } else {
            tree_figures(ctx)?
        };
        let boot = boot_time(ctx.now, figures.uptime_seconds);
        let (reboots_since_previous, reboots_seen) = reboots(ctx, boot);
        // Load is kept to 0.1: finer digits are noise for a capacity judgement, and
        // coarser facts let an unchanged host reuse its stored evidence.
        let per_cpu = |l: f64| round1(l / figures.cpus.max(1) as f64);
        let mut facts = json!({
            "boot_time": boot.to_rfc3339_opts(SecondsFormat::Secs, true),
            "cpus": figures.cpus,
            "load_average": {
                "one": round1(figures.load[0]),
                "five": round1(figures.load[1]),
                "fifteen": round1(figures.load[2]),
            },
            "load_per_cpu": {
                "one": per_cpu(figures.load[0]),
                "five": per_cpu(figures.load[1]),
                "fifteen": per_cpu(figures.load[2]),
            },
            "reboots_since_previous_run": reboots_since_previous,
            "reboots_seen": reboots_seen,
        });
        let mut unavailable = serde_json::Map::new();
        let map = facts.as_object_mut().expect("an object");
        operations::facts(ctx, &settings, map, &mut unavailable, &mut artifacts)?;
        map.insert("unavailable".into(), unavailable.into());
        Ok(Evidence { facts, artifacts })
    }
}

/// Boot time to the second; the kernel's own uptime jitters by a fraction of a second
/// between reads, so it is rounded to keep identical boots identical.
fn boot_time(now: DateTime<Utc>, uptime_seconds: u64) -> DateTime<Utc> {
    let secs = now.timestamp() - uptime_seconds as i64;
    // Round to 10 s so that two reads of the same boot agree despite clock jitter.
    Utc.timestamp_opt(secs - secs.rem_euclid(10), 0)
        .single()
        .unwrap_or(now)
}

/// Compare this boot with the previous run's: a different boot time is a reboot.
fn reboots(ctx: &CollectContext, boot: DateTime<Utc>) -> (u64, u64) {
    let Some(prev) = &ctx.previous_facts else {
        return (0, 0);
    };
    let seen_before = prev["reboots_seen"].as_u64().unwrap_or(0);
    let prev_boot = prev["boot_time"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    match prev_boot {
        Some(p) if (p.timestamp() - boot.timestamp()).abs() > 60 => (1, seen_before + 1),
        _ => (0, seen_before),
    }
}

fn live_figures() -> Result<KernelFigures, CollectError> {
    let kernel =
        |e: sysinfo::Error| CollectError::Other(format!("kernel figures unavailable: {e}"));
    let uptime = sysinfo::System::uptime().map_err(kernel)?;
    let load = sysinfo::System::load_average().map_err(kernel)?;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(KernelFigures {
        uptime_seconds: uptime,
        load: [load.one, load.five, load.fifteen],
        cpus,
    })
}

fn tree_figures(ctx: &CollectContext) -> Result<(KernelFigures, Vec<Artifact>), CollectError> {
    let mut artifacts = Vec::new();
    let uptime_text = read_required(ctx, "/proc/uptime", &mut artifacts)?;
    let uptime_seconds = first_number(&uptime_text, "/proc/uptime")? as u64;
    let load_text = read_required(ctx, "/proc/loadavg", &mut artifacts)?;
    let mut load = [0.0; 3];
    let mut fields = load_text.split_whitespace();
    for slot in &mut load {
        *slot = parse_f64(fields.next(), "/proc/loadavg")?;
    }
    let cpus = match ctx.root.read_text("/proc/cpuinfo")? {
        Some(text) => {
            artifacts.push(kernel_artifact("/proc/cpuinfo"));
            text.lines()
                .filter(|l| l.starts_with("processor"))
                .count()
                .max(1)
        }
        None => 1,
    };
    Ok((
        KernelFigures {
            uptime_seconds,
            load,
            cpus,
        },
        artifacts,
    ))
}

/// Read a kernel figure file. Its artifact names the source only: the content changes
/// every second, the figures in it are the facts, and a hash of it would make every
/// run's evidence new.
fn read_required(
    ctx: &CollectContext,
    path: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<String, CollectError> {
    let text = ctx
        .root
        .read_text(path)?
        .ok_or_else(|| CollectError::Unreadable {
            path: path.into(),
            reason: "missing: the root has no kernel figures".into(),
        })?;
    artifacts.push(kernel_artifact(path));
    Ok(text)
}

fn first_number(text: &str, path: &str) -> Result<f64, CollectError> {
    parse_f64(text.split_whitespace().next(), path)
}

fn parse_f64(field: Option<&str>, path: &str) -> Result<f64, CollectError> {
    field
        .and_then(|f| f.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| CollectError::Malformed {
            path: path.into(),
            line: 1,
            reason: format!(
                "expected a non-negative number, found {:?}",
                field.unwrap_or("")
            ),
        })
}

fn kernel_artifact(path: &str) -> Artifact {
    Artifact {
        kind: "kernel".into(),
        ..api_artifact(path)
    }
}

fn api_artifact(what: &str) -> Artifact {
    Artifact {
        source: what.into(),
        kind: "api".into(),
        sha256: None,
        excerpt: None,
        present: true,
        exit_status: None,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostRoot;
    use std::fs;

    fn ctx(dir: &std::path::Path, previous: Option<serde_json::Value>) -> CollectContext {
        CollectContext {
            root: HostRoot::new(dir),
            settings: serde_json::Value::Null,
            previous_facts: previous,
            measurements: None,
            now: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
        }
    }

    fn tree(uptime: &str, load: &str, cpus: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc")).unwrap();
        fs::write(dir.path().join("proc/uptime"), uptime).unwrap();
        fs::write(dir.path().join("proc/loadavg"), load).unwrap();
        let cpuinfo: String = (0..cpus).map(|i| format!("processor\t: {i}\n\n")).collect();
        fs::write(dir.path().join("proc/cpuinfo"), cpuinfo).unwrap();
        dir
    }

    #[test]
    fn reads_uptime_load_and_cpus_from_a_tree() {
        let dir = tree("3600.52 7000.1\n", "0.50 1.00 4.00 1/100 42\n", 2);
        let ev = Availability.collect(&ctx(dir.path(), None)).unwrap();
        assert_eq!(ev.facts["boot_time"], "2026-11-23T11:00:00Z");
        assert_eq!(ev.facts["load_per_cpu"]["fifteen"], 2.0);
        assert_eq!(ev.facts["reboots_seen"], 0);
    }

    #[test]
    fn a_new_boot_time_counts_as_a_reboot() {
        let dir = tree("60 0\n", "0 0 0 1/1 1\n", 1);
        let prev = json!({"boot_time": "2026-11-01T00:00:00Z", "reboots_seen": 3});
        let ev = Availability.collect(&ctx(dir.path(), Some(prev))).unwrap();
        assert_eq!(ev.facts["reboots_since_previous_run"], 1);
        assert_eq!(ev.facts["reboots_seen"], 4);
        let same = json!({"boot_time": ev.facts["boot_time"], "reboots_seen": 4});
        let again = Availability.collect(&ctx(dir.path(), Some(same))).unwrap();
        assert_eq!(again.facts["reboots_since_previous_run"], 0);
        assert_eq!(again.facts["reboots_seen"], 4);
    }

    #[test]
    fn garbage_load_is_malformed_not_zero() {
        let dir = tree("60 0\n", "garbage\n", 1);
        let err = Availability.collect(&ctx(dir.path(), None)).unwrap_err();
        assert!(err.to_string().contains("/proc/loadavg"), "{err}");
    }
}
