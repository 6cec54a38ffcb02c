//! time_sync collector: whether the clock is kept in step with a time source, so that
//! log timestamps from different hosts can be put side by side.
//!
//! It asks systemd about chrony and systemd-timesyncd, asks chrony for its tracking
//! state (`chronyc -c tracking`: stratum, offset, leap status) and timedated for
//! timesyncd's (`timedatectl show`). The offset is reported as a coarse bucket (the
//! smallest of 1, 10, 100, 1000 ms, or 10000 meaning "more") so that a clock that keeps
//! in step gives the same facts run after run; the tracking artifact hashes that
//! projection, not chrony's raw output, which changes every second.
//!
//! It never judges how close is close enough and never changes the clock.

use crate::probe::{
    finish_tool, read_glob, read_optional, service_facts, start_tool, StartedTool, ToolRun,
};
use crate::{sha256_hex, Artifact, CollectContext, CollectError, Collector, Command, Evidence};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Time synchronisation through chrony or systemd-timesyncd.
pub struct TimeSync;

const CHRONYC: &[&str] = &["/usr/bin/chronyc", "/bin/chronyc"];
const TIMEDATECTL: &[&str] = &["/usr/bin/timedatectl", "/bin/timedatectl"];
/// Offset buckets in milliseconds; anything larger is reported as the last value.
const OFFSET_BUCKETS_MS: &[i64] = &[1, 10, 100, 1000, 10000];

impl Collector for TimeSync {
    fn name(&self) -> &'static str {
        "time_sync"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&[
            "/etc/chrony",
            "/etc/systemd/timesyncd.conf",
            "/etc/systemd/timesyncd.conf.d",
        ])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        // `timedatectl` asks timedated over D-Bus and does not depend on what systemctl
        // and chronyc answer: it runs meanwhile, so the collector waits for the slowest
        // tool rather than for the sum of them.
        // Without systemd as init there is no timedated to ask: that is said once, as
        // the reason, instead of starting the tool to hear it fail.
        std::thread::scope(|scope| {
            let timedated = Command::locate(&ctx.root, TIMEDATECTL).map(|prog| {
                match crate::probe::systemd_not_running(&ctx.root) {
                    Some(reason) => Timedated::Unreachable(reason),
                    None => {
                        let cmd =
                            Command::new(&prog).args(["show", "--property=NTP,NTPSynchronized"]);
                        Timedated::Started(start_tool(scope, &ctx.root, cmd))
                    }
                }
            });
            collect_with(ctx, timedated)
        })
    }
}

/// How timedated is being asked, when `timedatectl` is installed.
enum Timedated<'scope> {
    /// `timedatectl show` is running.
    Started(StartedTool<'scope>),
    /// It cannot answer on this host, for this reason.
    Unreachable(String),
}

/// The collection, with `timedatectl show` already started (when it is installed).
fn collect_with(
    ctx: &CollectContext,
    timedated_run: Option<Timedated<'_>>,
) -> Result<Evidence, CollectError> {
    let root = &ctx.root;
    let mut artifacts = Vec::new();
    let mut unavailable = Map::new();

    // chrony
    let chronyc = Command::locate(root, CHRONYC);
    let chrony_conf = read_optional(root, "/etc/chrony/chrony.conf", &mut artifacts)?;
    let mut sources = 0;
    let mut conf_texts: Vec<String> = chrony_conf.iter().cloned().collect();
    conf_texts.extend(
        read_glob(root, "/etc/chrony/sources.d/*.sources", &mut artifacts)?
            .into_iter()
            .map(|(_, t)| t),
    );
    for t in &conf_texts {
        sources += t
            .lines()
            .filter(|l| {
                let w = l.split_whitespace().next().unwrap_or("");
                matches!(w, "server" | "pool" | "peer" | "refclock")
            })
            .count();
    }
    let mut chrony = Map::new();
    chrony.insert("installed".into(), json!(chronyc.is_some()));
    chrony.insert("sources_configured".into(), json!(sources));
    let chrony_service = if chronyc.is_some() {
        service_facts(
            root,
            "chrony.service",
            &["chrony.service", "chronyd.service"],
            &mut artifacts,
            &mut unavailable,
        )
    } else {
        None
    };
    if let Some(s) = &chrony_service {
        chrony.insert("service".into(), s.clone());
    }
    if let Some(prog) = &chronyc {
        let cmd = Command::new(prog).args(["-c", "tracking"]);
        match cmd.run(root) {
            Ok(out) if out.success() => match parse_tracking(&out.stdout) {
                Some(t) => {
                    artifacts.push(projection_artifact(&out.command_line(), &t, out.status));
                    chrony.insert("tracking".into(), t);
                }
                None => {
                    return Err(CollectError::Malformed {
                        path: out.command_line(),
                        line: 1,
                        reason: format!(
                            "expected 14 comma-separated tracking fields, got {:?}",
                            out.stdout.lines().next().unwrap_or("")
                        ),
                    })
                }
            },
            Ok(out) if out.stdout.contains("506") || out.stderr.contains("506") => {
                // "506 Cannot talk to daemon": chronyd is not running.
                artifacts.push(out.artifact());
                chrony.insert("daemon_reachable".into(), json!(false));
            }
            Ok(out) => {
                artifacts.push(out.artifact());
                unavailable.insert("chrony.tracking".into(), json!(out.failure_reason()));
            }
            Err(e) => {
                unavailable.insert("chrony.tracking".into(), json!(e.to_string()));
            }
        }
    }

    // systemd-timesyncd
    let mut timesyncd = Map::new();
    // timesyncd is part of systemd: without systemctl it is simply not there.
    let ts_service = if Command::locate(root, crate::probe::SYSTEMCTL).is_some() {
        service_facts(
            root,
            "systemd-timesyncd.service",
            &["systemd-timesyncd.service"],
            &mut artifacts,
            &mut unavailable,
        )
    } else {
        None
    };
    timesyncd.insert(
        "installed".into(),
        json!(ts_service.as_ref().is_some_and(|s| s["installed"] == true)),
    );
    if let Some(s) = &ts_service {
        timesyncd.insert("service".into(), s.clone());
    }
    let mut timedated = Value::Null;
    match timedated_run {
        None => {}
        Some(Timedated::Unreachable(reason)) => {
            unavailable.insert("timedatectl".into(), json!(reason));
        }
        Some(Timedated::Started(running)) => match finish_tool(running, &mut artifacts) {
            Ok(ToolRun::Ran(out)) if out.success() => {
                let get = |k: &str| {
                    out.stdout
                        .lines()
                        .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                        .map(|v| v.trim() == "yes")
                };
                timedated = json!({"ntp": get("NTP"), "ntp_synchronized": get("NTPSynchronized")});
            }
            Ok(ToolRun::Ran(out)) => {
                unavailable.insert("timedatectl".into(), json!(out.failure_reason()));
            }
            Ok(ToolRun::NotInstalled) => {}
            Err(reason) => {
                unavailable.insert("timedatectl".into(), json!(reason));
            }
        },
    }

    let active = |s: &Option<Value>| s.as_ref().is_some_and(|s| s["active"] == true);
    let enabled = |s: &Option<Value>| s.as_ref().is_some_and(|s| s["enabled"] == true);
    let daemon = if active(&chrony_service) {
        Some("chrony")
    } else if active(&ts_service) {
        Some("systemd-timesyncd")
    } else {
        None
    };
    // "No daemon" is only a fact when systemd could be asked about both.
    let services_known = !unavailable.keys().any(|k| k.ends_with(".service"));
    let mut facts = Map::new();
    if daemon.is_some() || services_known {
        facts.insert("daemon".into(), json!(daemon));
        facts.insert(
            "daemon_enabled".into(),
            json!(match daemon {
                Some("chrony") => enabled(&chrony_service),
                Some(_) => enabled(&ts_service),
                None => false,
            }),
        );
    }
    // Whether the clock is in step, from the daemon that runs it.
    let synced = match daemon {
        Some("chrony") => chrony
            .get("tracking")
            .map(|t| t["synchronised"].clone())
            .or_else(|| {
                (chrony.get("daemon_reachable") == Some(&json!(false))).then_some(json!(false))
            }),
        Some(_) => timedated
            .get("ntp_synchronized")
            .cloned()
            .filter(|v| !v.is_null()),
        None if unavailable.is_empty() => Some(json!(false)),
        None => None,
    };
    if let Some(s) = synced {
        facts.insert("synchronised".into(), s);
    }
    let tracking = chrony.get("tracking").filter(|_| daemon == Some("chrony"));
    facts.insert(
        "stratum".into(),
        tracking
            .map(|t| t["stratum"].clone())
            .unwrap_or(Value::Null),
    );
    facts.insert(
        "offset_ms_bucket".into(),
        tracking
            .map(|t| t["offset_ms_bucket"].clone())
            .unwrap_or(Value::Null),
    );
    facts.insert("chrony".into(), Value::Object(chrony));
    facts.insert("timesyncd".into(), Value::Object(timesyncd));
    facts.insert("timedated".into(), timedated);
    facts.insert("unavailable".into(), Value::Object(unavailable));
    Ok(Evidence {
        facts: Value::Object(facts),
        artifacts,
    })
}

/// `chronyc -c tracking`: reference id, name, stratum, ref time, system offset, last
/// offset, RMS offset, frequency, residual, skew, root delay, root dispersion, update
/// interval, leap status.
fn parse_tracking(text: &str) -> Option<Value> {
    let line = text.lines().next()?;
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 14 {
        return None;
    }
    let stratum: i64 = f[2].parse().ok()?;
    let offset: f64 = f[4].parse().ok()?;
    let leap = f[13].trim();
    let synchronised = leap != "Not synchronised" && stratum > 0 && f[0] != "00000000";
    Some(json!({
        "reference": if f[1].is_empty() { Value::Null } else { json!(f[1]) },
        "stratum": stratum,
        "leap_status": leap,
        "synchronised": synchronised,
        "offset_ms_bucket": bucket(offset.abs() * 1000.0),
    }))
}

fn bucket(ms: f64) -> i64 {
    *OFFSET_BUCKETS_MS
        .iter()
        .find(|b| ms <= **b as f64)
        .unwrap_or(OFFSET_BUCKETS_MS.last().expect("buckets"))
}

/// An artifact for a command whose raw output changes every run: the hash covers the
/// facts taken from it, so an unchanged state stays byte-identical evidence.
fn projection_artifact(command_line: &str, projection: &Value, status: Option<i32>) -> Artifact {
    let text = serde_json::to_string(projection).expect("JSON");
    Artifact {
        source: command_line.into(),
        kind: "command".into(),
        sha256: Some(sha256_hex(text.as_bytes())),
        excerpt: Some(text),
        present: true,
        exit_status: Some(status.unwrap_or(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_lines_and_buckets() {
        // Recorded from chrony 4.3 (Debian 12) synchronised to a local chronyd server.
        let t = parse_tracking("7F000001,127.0.0.1,3,1795686665.117684458,-0.000000809,0.000000012,0.000000030,0.030,-0.000,0.049,0.000004159,0.000000682,0.1,Normal\n").unwrap();
        assert_eq!(t["synchronised"], true);
        assert_eq!(t["stratum"], 3);
        assert_eq!(t["offset_ms_bucket"], 1);
        let t = parse_tracking("00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n").unwrap();
        assert_eq!(t["synchronised"], false);
        assert_eq!(bucket(50.0), 100);
        assert_eq!(bucket(123456.0), 10000);
        assert!(parse_tracking("garbage").is_none());
    }

    #[test]
    fn without_systemd_as_init_timedated_is_not_asked() {
        let live = crate::HostRoot::live();
        if crate::probe::systemd_not_running(&live).is_none()
            || Command::locate(&live, TIMEDATECTL).is_none()
        {
            return; // a host that boots systemd, or has no timedatectl: nothing to show
        }
        let ctx = CollectContext {
            root: live,
            settings: Value::Null,
            previous_facts: None,
            measurements: None,
            now: chrono::Utc::now(),
        };
        let evidence = TimeSync.collect(&ctx).unwrap();
        let reason = evidence.facts["unavailable"]["timedatectl"]
            .as_str()
            .unwrap();
        assert!(reason.contains("/run/systemd/system is absent"), "{reason}");
        assert!(
            !evidence
                .artifacts
                .iter()
                .any(|a| a.source.contains("timedatectl") || a.source.contains("systemctl")),
            "{:?}",
            evidence.artifacts
        );
    }
}
