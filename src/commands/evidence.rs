//! `attestd evidence --at TIMESTAMP`: every rule's state at a moment, rebuilt from
//! the ledger (the last run of each collector at or before it).

use super::{open_for_reading, CliError};
use crate::cli::{EvidenceArgs, Format};
use crate::store::Store;
use attestd_ledger::body::PolicySnapshot;
use attestd_ledger::body::Status;
use attestd_ledger::fold::state::{RuleAt, StateAt};
use attestd_ledger::fold::Decoded;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Every rule's state at `at`, folded from the rows in force then, and the
/// parameters in force (schedules, zone).
fn state_at(store: &Store, at: &str) -> Result<(Vec<RuleAt>, Option<PolicySnapshot>), CliError> {
    let selection = store
        .in_force_at(at)
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let mut fold = StateAt::default();
    let mut policy = None;
    store
        .stream_rows(&selection, |row| {
            if row.kind == attestd_ledger::RowKind::Policy {
                policy = serde_json::from_str::<PolicySnapshot>(&row.body).ok();
            }
            fold.row(row.seq, Decoded::of(&row).map_err(|e| e.to_string())?);
            Ok(())
        })
        .map_err(|e| CliError::Operational(format!("{}: {e}", store.path().display())))?;
    Ok((fold.rules(), policy))
}

/// How old each collector's latest evidence was at `at`, and whether `at` falls in a
/// gap: the last run could not observe, or a whole scheduled slot (fire time to the
/// next, in the recorded zone) passed after it without a run. The summary's
/// definition of a gap, seen from one instant.
fn freshness(
    rules: &[RuleAt],
    policy: Option<&PolicySnapshot>,
    at: DateTime<Utc>,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for r in rules {
        if out.contains_key(&r.collector) {
            continue;
        }
        let Ok(last) = attestd_ledger::summary::parse_time(&r.run_at) else {
            continue;
        };
        let schedule = policy
            .and_then(|p| p.collectors.get(&r.collector).map(|c| (p, c)))
            .filter(|(_, c)| c.enabled);
        let mut missed = 0u64;
        if let Some((p, c)) = schedule {
            if let Ok(cron) = attestd_ledger::cron::UnixCron::parse(&c.schedule) {
                let zone = p.zone();
                let mut f = cron.next_after(&last.with_timezone(&zone));
                while let Some(fire) = f {
                    let next = cron.next_after(&fire);
                    match &next {
                        Some(n) if n.with_timezone(&Utc) <= at => missed += 1,
                        _ => break,
                    }
                    f = next;
                    if missed > 100_000 {
                        break;
                    }
                }
            }
        }
        let in_gap = r.collector_error.is_some() || missed > 0;
        out.insert(
            r.collector.clone(),
            serde_json::json!({
                "last_run_at": r.run_at,
                "age_seconds": (at - last).num_seconds(),
                "last_run_error": r.collector_error,
                "schedule": schedule.map(|(_, c)| c.schedule.clone()),
                "missed_scheduled_runs": missed,
                "in_gap": in_gap,
            }),
        );
    }
    out
}

pub fn run(args: EvidenceArgs) -> Result<i32, CliError> {
    let at = super::bundle::parse_bound(&args.at, false, "--at")?;
    let at_text = crate::clock::rfc3339(at);
    let store = open_for_reading(args.db.db.as_deref(), &args.db.config)?;
    let (rules, policy) = state_at(&store, &at_text)?;
    let fresh = freshness(&rules, policy.as_ref(), at);
    let mut controls: BTreeMap<&str, Vec<&RuleAt>> = BTreeMap::new();
    for r in &rules {
        for c in &r.controls {
            controls.entry(c.as_str()).or_default().push(r);
        }
    }
    let control_state = |rs: &[&RuleAt]| {
        if rs.iter().any(|r| r.status == Status::Fail) {
            "fail"
        } else if rs.iter().any(|r| r.status == Status::Error) {
            "error"
        } else if rs.iter().all(|r| r.status == Status::NotApplicable) {
            "not_applicable"
        } else {
            "pass"
        }
    };
    match args.db.format {
        Format::Json => {
            let cs: Vec<serde_json::Value> = controls
                .iter()
                .map(|(c, rs)| {
                    serde_json::json!({
                        "control": c,
                        "status": control_state(rs),
                        "rules": rs.iter().map(|r| &r.rule).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "at": at_text,
                    "evidence": if rules.is_empty() { "none yet: no run was recorded at or before this time" } else { "the last run of each collector at or before this time" },
                    "collectors": fresh,
                    "rules": rules,
                    "controls": cs,
                }))
                .expect("JSON")
            );
        }
        Format::Text => {
            if rules.is_empty() {
                println!("no evidence yet at {at_text}: no run was recorded at or before it");
                return Ok(0);
            }
            println!("state at {at_text}, from the last run of each collector at or before it\n");
            println!(
                "{:<20} {:<21} {:>12} {:>7} gap",
                "collector", "last run", "age", "missed"
            );
            for (c, f) in &fresh {
                println!(
                    "{:<20} {:<21} {:>12} {:>7} {}",
                    c,
                    f["last_run_at"].as_str().unwrap_or("-"),
                    crate::bundle::html::duration(f["age_seconds"].as_i64().unwrap_or(0)),
                    f["missed_scheduled_runs"],
                    if f["in_gap"] == true { "IN GAP" } else { "no" }
                );
            }
            println!();
            println!(
                "{:<26} {:<15} {:<30} {:<21} evidence",
                "rule", "status", "observed", "last run"
            );
            for r in &rules {
                let mut observed = r.observed.to_string();
                if observed.len() > 30 {
                    observed.truncate(27);
                    observed.push_str("...");
                }
                println!(
                    "{:<26} {:<15} {:<30} {:<21} {}",
                    r.rule,
                    r.status.as_str(),
                    observed,
                    r.run_at,
                    r.evidence_sha256
                        .as_deref()
                        .map(|h| &h[..12.min(h.len())])
                        .unwrap_or("-")
                );
            }
            println!("\n{:<26} {:<15} rules", "control", "status");
            for (c, rs) in &controls {
                println!(
                    "{:<26} {:<15} {}",
                    c,
                    control_state(rs),
                    rs.iter()
                        .map(|r| r.rule.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    Ok(0)
}
