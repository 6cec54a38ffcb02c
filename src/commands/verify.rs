//! `attestd verify`: with BUNDLE, check an evidence bundle (see `bundle::verify`);
//! without, walk the database's hash chain and name the first broken row.

use super::{open_for_reading, CliError};
use crate::cli::{Format, VerifyArgs};
use std::path::Path;

pub fn run(args: VerifyArgs) -> Result<i32, CliError> {
    if let Some(bundle) = &args.bundle {
        return verify_bundle(
            bundle,
            args.key.as_deref(),
            args.witness_key.as_deref(),
            args.db.format,
        );
    }
    let store = open_for_reading(args.db.db.as_deref(), &args.db.config)?;
    let report = store
        .verify_chain()
        .map_err(|e| CliError::Operational(e.to_string()))?;
    match args.db.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).expect("JSON")),
        Format::Text => match &report.first_break {
            None => println!(
                "ledger intact: {} rows, chain head {}\n({})",
                report.rows,
                report.head_sha256,
                store.path().display()
            ),
            Some(b) => println!(
                "LEDGER BROKEN at row {}: {}\n{} rows checked in {}",
                b.seq,
                b.reason,
                report.rows,
                store.path().display()
            ),
        },
    }
    Ok(if report.first_break.is_some() { 1 } else { 0 })
}

fn verify_bundle(
    path: &Path,
    key: Option<&str>,
    witness_key: Option<&str>,
    format: Format,
) -> Result<i32, CliError> {
    // The catalog only names controls; the shipped one is enough.
    let catalog = crate::policy::PolicySet::load(&crate::policy::PolicyInputs::default())
        .map_err(|e| CliError::Operational(e.to_string()))?
        .catalog;
    let report = crate::bundle::verify::verify_with(path, key, witness_key, &catalog)
        .map_err(CliError::Usage)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).expect("JSON")),
        Format::Text => {
            for c in &report.checks {
                println!(
                    "{:<5} {:<11} {}",
                    if c.ok { "ok" } else { "FAIL" },
                    c.name,
                    c.detail
                );
                for p in &c.problems {
                    println!("      - {p}");
                }
            }
            let n = |k: &str| report.controls.get(k).copied().unwrap_or(0);
            let tally = format!(
                "{} controls: {} effective, {} with exceptions, {} with gaps, {} with exceptions and gaps, {} not tested",
                report.controls.values().sum::<u64>(),
                n("effective"),
                n("exceptions"),
                n("gaps"),
                n("exceptions_and_gaps"),
                n("not_tested")
            );
            if report.ok {
                println!("bundle intact: {} ({tally})", report.bundle);
            } else {
                println!("BUNDLE FAILED VERIFICATION: {}", report.bundle);
            }
        }
    }
    Ok(if report.ok { 0 } else { 1 })
}
