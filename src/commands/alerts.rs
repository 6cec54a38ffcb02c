//! `attestd alerts`: recent alerts with their delivery state per sink (from the
//! ledger), `alerts test` (a test message through each sink, nothing stored) and
//! `alerts deliver` (send what is due now and exit).

use super::{database_path, open_for_reading, parse_since, runtime, CliError};
use crate::alert::worker as outbox;
use crate::cli::{AlertsAction, AlertsArgs, AlertsTestArgs, DbArgs, Format};
use crate::config::Config;
use crate::store::Store;

pub fn run(args: AlertsArgs) -> Result<i32, CliError> {
    match args.action {
        Some(AlertsAction::Test(t)) => test(t),
        Some(AlertsAction::Deliver(d)) => deliver(d),
        None => list(args),
    }
}

fn list(args: AlertsArgs) -> Result<i32, CliError> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let store = open_for_reading(args.db.db.as_deref(), &args.db.config)?;
    let op = |e: crate::store::StoreError| CliError::Operational(e.to_string());
    let mut alerts = store.alerts_between(since.as_deref(), None).map_err(op)?;
    let counts = store.alert_counts().map_err(op)?;
    // Sinks in the current config; a pending delivery to any other sink waits for a sink
    // of that name to come back.
    let configured: Option<Vec<String>> = Config::load(args.db.config.config.as_deref())
        .ok()
        .map(|c| c.alerts.sinks.keys().cloned().collect());
    let skip = alerts.len().saturating_sub(args.limit);
    alerts.drain(..skip);
    if args.db.format == Format::Json {
        let doc = serde_json::json!({"counts": counts, "alerts": alerts});
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        return Ok(0);
    }
    println!(
        "Deliveries: {} pending, {} delivered, {} failed",
        counts.pending, counts.delivered, counts.failed
    );
    if alerts.is_empty() {
        println!(
            "no alerts recorded{}",
            if since.is_some() {
                " in that period"
            } else {
                ""
            }
        );
    }
    for a in &alerts {
        let rules: Vec<String> = a.rules.iter().map(|(r, k)| format!("{r} ({k})")).collect();
        println!("\n{}  alert {}  host {}", a.created_at, a.id, a.host);
        println!("  rules: {}", rules.join(", "));
        for d in &a.deliveries {
            let mut line = format!("  {:<16} {:<9} {} attempt(s)", d.sink, d.state, d.attempts);
            if let Some(at) = &d.delivered_at {
                line.push_str(&format!(", delivered {at}"));
            }
            if d.state == "pending" && configured.as_ref().is_some_and(|c| !c.contains(&d.sink)) {
                line.push_str(" (no sink of this name is configured now: it waits until one is)");
            }
            if d.state != "delivered" {
                if let Some(e) = &d.last_error {
                    line.push_str(&format!(", last error: {e}"));
                }
                if let Some(n) = &d.next_attempt_at {
                    line.push_str(&format!(", next attempt {n}"));
                }
            }
            println!("{line}");
        }
    }
    Ok(0)
}

fn test(args: AlertsTestArgs) -> Result<i32, CliError> {
    let config =
        Config::load(args.config.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let sinks = &config.alerts.sinks;
    if sinks.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no sinks configured; add one under [alerts.sinks.NAME] (see the commented examples in packaging/attestd.toml)",
            config.source
        )));
    }
    if let Some(name) = &args.sink {
        if !sinks.contains_key(name) {
            return Err(CliError::Usage(format!(
                "no sink named `{name}`; configured sinks: {}",
                sinks.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let host = crate::host::HostIdentity::read(&attestd_collectors::HostRoot::live())
        .hostname
        .unwrap_or_else(|| "unknown-host".into());
    let rt = runtime()?;
    let results = rt.block_on(outbox::test_sinks(
        &config.alerts,
        &host,
        args.sink.as_deref(),
    ));
    let mut failed = 0;
    for (name, r) in &results {
        let kind = sinks[name].type_name();
        match r {
            Ok(sent) => println!(
                "{name} ({kind}): ok{}",
                sent.status.map(|s| format!(" ({s})")).unwrap_or_default()
            ),
            Err(e) => {
                failed += 1;
                println!(
                    "{name} ({kind}): FAILED: {}{}",
                    e.message,
                    if e.retry {
                        ""
                    } else {
                        " (a retry would not help: check the configuration)"
                    }
                );
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn deliver(args: DbArgs) -> Result<i32, CliError> {
    let config =
        Config::load(args.config.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let path = database_path(args.db.as_deref(), Some(&config));
    let mut store = Store::open(&path).map_err(|e| CliError::Operational(e.to_string()))?;
    let rt = runtime()?;
    let reports = rt
        .block_on(outbox::deliver_all_due(&mut store, &config.alerts))
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let mut bad = 0;
    for (name, r) in &reports {
        bad += r.retry + r.failed;
        println!(
            "{name}: {} delivered, {} to retry, {} failed",
            r.delivered, r.retry, r.failed
        );
    }
    let counts = store
        .alert_counts()
        .map_err(|e| CliError::Operational(e.to_string()))?;
    println!(
        "Deliveries: {} pending, {} delivered, {} failed",
        counts.pending, counts.delivered, counts.failed
    );
    Ok(if bad > 0 { 1 } else { 0 })
}
