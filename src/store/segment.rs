//! Reading the ledger in segments and appending single rows, for pushing a host's
//! ledger to the fleet server and keeping its receipts, and enqueuing an alert raised
//! outside a run (the server refused the host's history). Owns only the SQL; it never
//! talks to a server.

use super::ledger::{append, from_sql, ROW_COLUMNS};
use super::{sqlite, Store, StoreError};
use attestd_ledger::body::AlertRecord;
use attestd_ledger::{Body, Row, RowKind};

impl Store {
    /// Up to `limit` rows from sequence number `from` on, in order.
    pub fn rows_from(&self, from: i64, limit: usize) -> Result<Vec<Row>, StoreError> {
        let run = || -> rusqlite::Result<Vec<Row>> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM ledger WHERE seq >= ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows = stmt.query_map(rusqlite::params![from, limit as i64], from_sql)?;
            rows.collect()
        };
        run().map_err(|e| sqlite(&self.path, e))
    }

    /// The sequence number of the newest row (0 for an empty ledger).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM ledger", [], |r| r.get(0))
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Append one row in a transaction of its own.
    pub fn append_one<B: Body>(&self, recorded_at: &str, body: &B) -> Result<i64, StoreError> {
        let run = || -> rusqlite::Result<i64> {
            let tx = self.conn.unchecked_transaction()?;
            let seq = append(&tx, recorded_at, body)?;
            tx.commit()?;
            Ok(seq)
        };
        run().map_err(|e| sqlite(&self.path, e))
    }

    /// Append an `alert` row raised outside a run and queue its deliveries, in one
    /// transaction (as a run's alerts are).
    pub fn enqueue_alert_now(&self, record: &AlertRecord) -> Result<i64, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| sqlite(&self.path, e))?;
        let seq = super::RunTx {
            tx: &tx,
            path: &self.path,
        }
        .enqueue_alert(record)?;
        tx.commit().map_err(|e| sqlite(&self.path, e))?;
        Ok(seq)
    }

    /// The newest `limit` alert rows, newest first.
    pub fn recent_alerts(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let run = || -> rusqlite::Result<Vec<Row>> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM ledger WHERE kind = ?1 ORDER BY seq DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(
                rusqlite::params![RowKind::Alert.as_str(), limit as i64],
                from_sql,
            )?;
            rows.collect()
        };
        let rows = run().map_err(|e| sqlite(&self.path, e))?;
        Ok(rows.iter().filter_map(|r| r.decode().ok()).collect())
    }
}
