//! `attestd status`: what fails now, which controls that breaks, and when each
//! collector last ran. It reads the database and works while the config file is broken:
//! then it says the config is refused and describes rules with the shipped policies.

use super::{load_config_and_policies, open_for_reading, CliError};
use crate::cli::{DbArgs, Format};
use crate::policy::Status;
use serde_json::json;
use std::collections::BTreeMap;

pub fn run(args: DbArgs) -> Result<i32, CliError> {
    let (config_error, policies) = match load_config_and_policies(&args.config) {
        Ok((_, policies)) => (None, policies),
        Err(e) => {
            // The ledger is still worth reading; titles and controls from the shipped rules.
            let policies = crate::policy::PolicySet::load(&crate::policy::PolicyInputs::default())
                .map_err(|e| CliError::Usage(e.to_string()))?;
            (Some(e.message().to_string()), policies)
        }
    };
    let store = open_for_reading(args.db.as_deref(), &args.config)?;
    let state = store
        .current_state()
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let counts = store
        .counts()
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let alerts = store
        .alert_counts()
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let mut failing = Vec::new();
    let mut failing_controls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut collectors = Vec::new();
    for s in &state {
        let mut tally: BTreeMap<&str, u64> = BTreeMap::new();
        for v in &s.verdicts.results {
            *tally.entry(v.status.as_str()).or_default() += 1;
            if matches!(v.status, Status::Fail | Status::Error) {
                let rule = policies.rule(&v.rule);
                let controls = rule.map(|r| r.controls.clone()).unwrap_or_default();
                for c in &controls {
                    failing_controls
                        .entry(c.clone())
                        .or_default()
                        .push(v.rule.clone());
                }
                failing.push(json!({
                    "rule": v.rule,
                    "status": v.status,
                    "severity": rule.map(|r| r.severity.as_str()).unwrap_or(""),
                    "title": rule.map(|r| r.title.as_str()).unwrap_or(""),
                    "observed": v.observed,
                    "expected": v.expected,
                    "reason": v.reason,
                    "controls": controls,
                }));
            }
        }
        collectors.push(json!({
            "collector": s.collector,
            "last_run": s.last_run,
            "last_run_at": s.last_run_at,
            "error": s.verdicts.error,
            "verdicts": tally,
        }));
    }
    let doc = json!({
        "config": {
            "accepted": config_error.is_none(),
            "error": config_error,
        },
        "database": store.path().display().to_string(),
        "collectors": collectors,
        "failing_rules": failing,
        "failing_controls": failing_controls,
        "ledger_rows": counts,
        "alerts": alerts,
    });
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        return Ok(0);
    }
    if let Some(e) = &config_error {
        println!("config: REFUSED: {e}");
        println!("  A running daemon keeps the configuration it last accepted; fix the file, then `systemctl reload attestd`.");
        println!("  Rules below are described from the shipped policies.\n");
    }
    println!("database: {}", store.path().display());
    if collectors.is_empty() {
        println!("no runs recorded yet");
    }
    println!("\nCollectors:");
    for c in &collectors {
        let tally: Vec<String> = c["verdicts"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{v} {k}")).collect())
            .unwrap_or_default();
        println!(
            "  {:<18} last run {}  {}{}",
            c["collector"].as_str().unwrap_or(""),
            c["last_run_at"].as_str().unwrap_or("never"),
            tally.join(", "),
            c["error"]
                .as_str()
                .map(|e| format!("  ERROR: {e}"))
                .unwrap_or_default()
        );
    }
    println!("\nFailing rules ({}):", failing.len());
    for f in &failing {
        println!(
            "  {:<5} {:<8} {:<34} observed {} (expected {})",
            f["status"].as_str().unwrap_or("").to_uppercase(),
            f["severity"].as_str().unwrap_or(""),
            f["rule"].as_str().unwrap_or(""),
            f["observed"],
            f["expected"].as_str().unwrap_or("")
        );
    }
    println!("\nControls affected ({}):", failing_controls.len());
    for (control, rules) in &failing_controls {
        println!("  {control:<24} {}", rules.join(", "));
    }
    let rows: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("\nLedger: {}", rows.join(", "));
    println!(
        "Alert deliveries: {} pending, {} delivered, {} failed",
        alerts.pending, alerts.delivered, alerts.failed
    );
    Ok(0)
}
