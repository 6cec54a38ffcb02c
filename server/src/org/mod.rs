//! Organisation ledgers on the server: evidence that belongs to no host (training,
//! supplier reviews, risk assessments), recorded with `attestd attest` on an admin
//! host against a ledger of its own and pushed here. Such a ledger is enrolled with a
//! token made by `attestd-server token create --organisation`, and then is a host in
//! every other respect: the same push checks (`check`), the same continuity under the
//! same advisory lock, the same receipts and receipt log (`db::push`). This module owns
//! only what differs: a push may carry attestation, attestation_review, receipt and
//! attestation-reminder rows and nothing a host records about itself
//! (`organisation_kind`), and every file an attestation row names must have been
//! uploaded first (`missing_blob`, `blobs`); the fleet bundle's organisation members
//! and the fleet statement of applicability (`bundle`).
//!
//! Never stores anything before the segment's checks pass; never updates a row.

pub mod blobs;
pub mod bundle;
mod catalog;

use crate::check::{Refused, Segment};
use crate::db::DbError;
use attestd_ledger::body::Attestation;
use attestd_ledger::RowKind;
use deadpool_postgres::Pool;
use std::collections::BTreeMap;

/// Check a segment pushed to an organisation ledger: only its kinds of row, and every
/// attested file already uploaded with the size its row records. `None` when it may be
/// stored.
pub async fn check_segment(pool: &Pool, seg: &Segment) -> Result<Option<Refused>, DbError> {
    // sha256 -> (row, file name, size the row records)
    let mut files: BTreeMap<String, (i64, String, u64)> = BTreeMap::new();
    for row in &seg.rows {
        if let Err(e) = attestd_ledger::org::check_row(row) {
            return Ok(Some(Refused::new(
                "organisation_kind",
                format!("{} is an organisation ledger: {e}", seg.host),
            )));
        }
        if row.kind == RowKind::Attestation {
            let a: Attestation = match row.decode() {
                Ok(a) => a,
                Err(e) => {
                    return Ok(Some(Refused::new(
                        "malformed",
                        format!("row {}: not an attestation: {e}", row.seq),
                    )))
                }
            };
            for f in a.files {
                files
                    .entry(f.sha256.clone())
                    .or_insert((row.seq, f.name, f.size));
            }
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    let wanted: Vec<&str> = files.keys().map(String::as_str).collect();
    let c = pool.get().await?;
    let held: BTreeMap<String, i64> = c
        .query(
            "SELECT sha256, size FROM blobs WHERE sha256 = ANY($1)",
            &[&wanted],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (sha, (seq, name, size)) in &files {
        match held.get(sha) {
            None => {
                return Ok(Some(Refused::new(
                    "missing_blob",
                    format!(
                        "row {seq}: the attested file {name:?} (SHA-256 {sha}) was not uploaded; an organisation ledger uploads each file to {} before the rows that name it (attestd push does)",
                        attestd_ledger::org::BLOB_PATH
                    ),
                )))
            }
            Some(held) if *held as u64 != *size => {
                return Ok(Some(Refused::new(
                    "malformed",
                    format!(
                        "row {seq}: the attested file {name:?} (SHA-256 {sha}) is recorded as {size} bytes, but the uploaded file has {held}"
                    ),
                )))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}
