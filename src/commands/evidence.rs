//! `attestd evidence --at TIMESTAMP`: every rule's state at a moment, rebuilt from
//! the ledger (the last run of each collector at or before it).

use super::{open_for_reading, CliError};
use crate::cli::{EvidenceArgs, Format};
use crate::store::Store;
use attestd_ledger::body::Status;
use attestd_ledger::fold::state::{RuleAt, StateAt};
use attestd_ledger::fold::Decoded;
use std::collections::BTreeMap;

/// Every rule's state at `at`, folded from the rows in force then.
fn state_at(store: &Store, at: &str) -> Result<Vec<RuleAt>, CliError> {
    let selection = store
        .in_force_at(at)
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let mut fold = StateAt::default();
    store
        .stream_rows(&selection, |row| {
            fold.row(row.seq, Decoded::of(&row).map_err(|e| e.to_string())?);
            Ok(())
        })
        .map_err(|e| CliError::Operational(format!("{}: {e}", store.path().display())))?;
    Ok(fold.rules())
}

pub fn run(args: EvidenceArgs) -> Result<i32, CliError> {
    let at = super::bundle::parse_bound(&args.at, false, "--at")?;
    let at_text = crate::clock::rfc3339(at);
    let store = open_for_reading(args.db.db.as_deref(), &args.db.config)?;
    let rules = state_at(&store, &at_text)?;
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
                    "rules": rules,
                    "controls": cs,
                }))
                .expect("JSON")
            );
        }
        Format::Text => {
            if rules.is_empty() {
                println!("no runs recorded at or before {at_text}");
                return Ok(0);
            }
            println!("state at {at_text}, from the last run of each collector at or before it\n");
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
