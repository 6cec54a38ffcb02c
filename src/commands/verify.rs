//! `attestd verify`: walk the ledger's hash chain and name the first broken row.

use super::{open_for_reading, CliError};
use crate::cli::{Format, VerifyArgs};

pub fn run(args: VerifyArgs) -> Result<i32, CliError> {
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
