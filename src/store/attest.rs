//! Attestation rows and attestation reminders: reading every `attestation` and
//! `attestation_review` row, appending one, and enqueuing a reminder alert once per
//! key. Owns only the SQL; it never decides what is due.

use super::ledger::{append, from_sql, ROW_COLUMNS};
use super::{sqlite, RunTx, Store, StoreError};
use attestd_ledger::body::AlertRecord;
use attestd_ledger::{Body, Row, RowKind};
use rusqlite::{params, OptionalExtension};

impl Store {
    /// Every attestation and review row, in sequence order (a few per week: small).
    pub fn attestation_rows(&self) -> Result<Vec<Row>, StoreError> {
        let run = || -> rusqlite::Result<Vec<Row>> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM ledger WHERE kind IN (?1, ?2) ORDER BY seq"
            ))?;
            let rows = stmt.query_map(
                params![
                    RowKind::Attestation.as_str(),
                    RowKind::AttestationReview.as_str()
                ],
                from_sql,
            )?;
            rows.collect()
        };
        run().map_err(|e| sqlite(&self.path, e))
    }

    /// Append an attestation or a review in a transaction of its own, after `check`
    /// passes on the rows already stored (inside the same transaction, so two recorders
    /// cannot both supersede one attestation).
    pub fn append_attestation<B: Body>(
        &mut self,
        recorded_at: &str,
        body: &B,
        check: impl FnOnce(&[Row]) -> Result<(), String>,
    ) -> Result<Result<i64, String>, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let existing = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {ROW_COLUMNS} FROM ledger WHERE kind IN (?1, ?2) ORDER BY seq"
                ))
                .map_err(|e| sqlite(&path, e))?;
            let rows = stmt
                .query_map(
                    params![
                        RowKind::Attestation.as_str(),
                        RowKind::AttestationReview.as_str()
                    ],
                    from_sql,
                )
                .map_err(|e| sqlite(&path, e))?;
            rows.collect::<rusqlite::Result<Vec<Row>>>()
                .map_err(|e| sqlite(&path, e))?
        };
        if let Err(e) = check(&existing) {
            return Ok(Err(e));
        }
        let seq = append(&tx, recorded_at, body).map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(Ok(seq))
    }

    /// Enqueue a reminder alert unless an alert with its key exists already (a
    /// reminder is sent once per attestation and date). True when enqueued.
    pub fn enqueue_reminder(&mut self, record: &AlertRecord) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT seq FROM ledger WHERE kind = ?1 AND key = ?2 LIMIT 1",
                params![RowKind::Alert.as_str(), record.key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite(&path, e))?;
        if exists.is_some() {
            return Ok(false);
        }
        {
            let mut run_tx = RunTx {
                tx: &tx,
                path: &path,
            };
            run_tx.enqueue_alert(record)?;
        }
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(true)
    }
}
