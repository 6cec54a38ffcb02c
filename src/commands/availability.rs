//! `attestd availability`: per probed endpoint, availability, downtime, gaps in evidence
//! and the error budget left over a period (default the last 30 days), from the probe
//! rows in the ledger. Only reads the database.

use super::{load_config_and_policies, open_for_reading, parse_since, CliError};
use crate::cli::{AvailabilityArgs, Format};
use chrono::{DateTime, Utc};

/// The variable rules use for the target; also the default here.
const TARGET_VARIABLE: &str = "availability_target_percent";

pub fn run(args: AvailabilityArgs) -> Result<i32, CliError> {
    let (_, policies) = load_config_and_policies(&args.db.config)?;
    let target = match args.target {
        Some(t) if t > 0.0 && t <= 100.0 => t,
        Some(t) => {
            return Err(CliError::Usage(format!(
                "--target {t}: give a percentage above 0 and at most 100, such as 99.95"
            )))
        }
        None => policies
            .variables
            .get(TARGET_VARIABLE)
            .and_then(|v| v.value.as_f64())
            .unwrap_or(99.95),
    };
    let when = |text: &Option<String>| -> Result<Option<DateTime<Utc>>, CliError> {
        text.as_deref()
            .map(|t| {
                parse_since(t).map(|s| {
                    DateTime::parse_from_rfc3339(&s)
                        .expect("parse_since gives RFC 3339")
                        .with_timezone(&Utc)
                })
            })
            .transpose()
    };
    let to = when(&args.to)?.unwrap_or_else(Utc::now);
    let from = when(&args.from)?.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        return Err(CliError::Usage(format!(
            "--from {} is not before --to {}",
            from.to_rfc3339(),
            to.to_rfc3339()
        )));
    }
    let store = open_for_reading(args.db.db.as_deref(), &args.db.config)?;
    let op = |e: crate::store::StoreError| CliError::Operational(e.to_string());
    let mut summaries = Vec::new();
    for name in store.probe_names().map_err(op)? {
        summaries.push(store.probe_summary(&name, from, to, target).map_err(op)?);
    }
    if args.db.format == Format::Json {
        let doc = serde_json::json!({
            "from": crate::clock::rfc3339(from),
            "to": crate::clock::rfc3339(to),
            "target_percent": target,
            "probes": summaries,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        return Ok(0);
    }
    println!(
        "availability from {} to {}, target {target} %",
        crate::clock::rfc3339(from),
        crate::clock::rfc3339(to)
    );
    if summaries.is_empty() {
        println!("no probe results recorded; configure probes under [collectors.availability] and run `attestd run`");
        return Ok(0);
    }
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>24} {:>8} {:>8}  target",
        "probe", "uptime", "downtime", "gaps", "error budget left", "probes", "failed"
    );
    for s in &summaries {
        let uptime = s
            .availability_percent
            .map(|p| format!("{p:.3} %"))
            .unwrap_or_else(|| "no data".into());
        let budget = format!(
            "{} of {}",
            duration(s.error_budget_left_seconds),
            duration(s.error_budget_seconds)
        );
        println!(
            "{:<16} {:>10} {:>12} {:>12} {:>24} {:>8} {:>8}  {}",
            s.name,
            uptime,
            duration(s.downtime_seconds),
            duration(s.gap_seconds),
            budget,
            s.probes,
            s.failures,
            s.target
        );
    }
    println!(
        "gaps: time without probe results (attestd not running); neither uptime nor downtime."
    );
    Ok(0)
}

/// `1h 02m 03s`, `4m 05s`, `12s`; a leading `-` when negative.
fn duration(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let total = seconds.abs().round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{sign}{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{sign}{m}m {s:02}s")
    } else {
        format!("{sign}{s}s")
    }
}
