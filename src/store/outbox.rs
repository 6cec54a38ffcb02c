//! The alert outbox in the store.
//!
//! Alerts and delivery attempts are evidence: each alert is a ledger row of kind
//! `alert` (written in the same transaction as the run and drift that caused it) and
//! each delivery attempt a row of kind `alert_attempt`, so the hash chain covers them.
//! Two tables are caches derived from the ledger, never the only record:
//! `alert_queue` (one row per alert and sink: state, attempts, next attempt time) and
//! `alert_rule_state` (the noise state per rule: consecutive failures, open alert).
//! `rebuild_alert_queue` recreates the queue from the ledger. This module never sends
//! anything and never reads a secret.
//!
//! Query API for other parts (bundles, metrics):
//! - [`Store::alerts_between`]: alerts created in a time range with their rules and,
//!   per sink, state (`pending`, `delivered`, `failed`), attempts and `delivered_at`,
//!   all derived from the ledger rows.
//! - [`Store::alert_counts`]: deliveries pending, delivered and failed (for `status`
//!   and a metrics endpoint).

use super::{ledger, sqlite, RunTx, Store, StoreError};
use attestd_ledger::body::{AlertRecord, AttemptOutcome, AttemptRecord};
use attestd_ledger::fold::deliveries::{self, Delivery};
use attestd_ledger::RowKind;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;

/// The migration that adds the outbox caches.
pub const SCHEMA_OUTBOX: &str = r#"
-- Caches derived from the `alert` and `alert_attempt` ledger rows (never evidence).
CREATE TABLE alert_queue (
    alert_seq       INTEGER NOT NULL,
    alert_key       TEXT NOT NULL,
    sink            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    TEXT,
    PRIMARY KEY (alert_seq, sink)
) WITHOUT ROWID;
CREATE INDEX alert_queue_pending ON alert_queue (sink, state, alert_seq);
CREATE TABLE alert_rule_state (
    rule             TEXT PRIMARY KEY,
    fails            INTEGER NOT NULL,
    open             INTEGER NOT NULL,
    since            TEXT,
    last_notified_at TEXT
) WITHOUT ROWID;
"#;

/// Per-rule noise state carried from run to run (the `alert_rule_state` cache).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRuleState {
    /// Consecutive failing runs so far.
    pub fails: u32,
    /// An alert about this rule went out and no recovery since.
    pub open: bool,
    /// When the current failure streak began.
    pub since: Option<String>,
    /// When the team was last told about this rule.
    pub last_notified_at: Option<String>,
}

impl RunTx<'_> {
    /// The noise state of every rule, as the last run left it.
    pub fn alert_rule_states(&self) -> Result<BTreeMap<String, AlertRuleState>, StoreError> {
        let read = || -> rusqlite::Result<BTreeMap<String, AlertRuleState>> {
            let mut stmt = self.tx().prepare(
                "SELECT rule, fails, open, since, last_notified_at FROM alert_rule_state",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    AlertRuleState {
                        fails: r.get(1)?,
                        open: r.get::<_, i64>(2)? != 0,
                        since: r.get(3)?,
                        last_notified_at: r.get(4)?,
                    },
                ))
            })?;
            rows.collect()
        };
        read().map_err(|e| sqlite(self.path(), e))
    }

    /// Keep a rule's new noise state.
    pub fn save_alert_rule_state(
        &mut self,
        rule: &str,
        s: &AlertRuleState,
    ) -> Result<(), StoreError> {
        self.tx()
            .execute(
                "INSERT OR REPLACE INTO alert_rule_state (rule, fails, open, since, last_notified_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![rule, s.fails, s.open as i64, s.since, s.last_notified_at],
            )
            .map(|_| ())
            .map_err(|e| sqlite(self.path(), e))
    }

    /// Append an `alert` row and queue one delivery per sink it is routed to.
    pub fn enqueue_alert(&mut self, record: &AlertRecord) -> Result<i64, StoreError> {
        let seq = self.append(&record.created_at, record)?;
        for sink in record.routes.keys() {
            self.tx()
                .execute(
                    "INSERT INTO alert_queue (alert_seq, alert_key, sink, created_at, state, next_attempt_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?4)",
                    params![seq, record.key, sink, record.created_at],
                )
                .map_err(|e| sqlite(self.path(), e))?;
        }
        Ok(seq)
    }
}

/// One alert waiting for one sink.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub alert_seq: i64,
    pub alert: AlertRecord,
    pub sink: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// One attempt's result, to be recorded.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub alert_seq: i64,
    pub record: AttemptRecord,
}

/// Deliveries per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// Waiting for a first attempt or a retry.
    pub pending: u64,
    pub delivered: u64,
    /// Given up (a 4xx that cannot succeed, such as a bad URL).
    pub failed: u64,
}

/// One sink's part of an alert, derived from the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryState {
    pub sink: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// An alert as stored, with its delivery state per sink.
#[derive(Debug, Clone, Serialize)]
pub struct AlertSummary {
    /// Ledger sequence number of the `alert` row.
    pub seq: i64,
    /// The alert id (the receivers' idempotency key).
    pub id: String,
    pub created_at: String,
    pub host: String,
    pub run: String,
    /// `(rule, kind)` of each item: kind is `failing`, `still_failing` or `resolved`.
    pub rules: Vec<(String, String)>,
    pub deliveries: Vec<DeliveryState>,
}

impl Store {
    /// The oldest pending deliveries for `sink` that are due at `now`, in creation
    /// order, stopping at the first one that is not due yet (so one sink receives its
    /// alerts in order).
    pub fn due_deliveries(
        &self,
        sink: &str,
        now: &str,
        limit: usize,
    ) -> Result<Vec<QueuedDelivery>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT q.alert_seq, q.attempts, q.next_attempt_at, l.body FROM alert_queue q
                 JOIN ledger l ON l.seq = q.alert_seq
                 WHERE q.sink = ?1 AND q.state = 'pending' ORDER BY q.alert_seq LIMIT ?2",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows: Vec<(i64, u32, String, String)> = stmt
            .query_map(params![sink, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out = Vec::new();
        for (seq, attempts, next, body) in rows {
            if next.as_str() > now {
                break;
            }
            let alert: AlertRecord =
                serde_json::from_str(&body).map_err(|e| StoreError::Other {
                    path: self.path.display().to_string(),
                    message: format!("alert row {seq} is unreadable: {e}"),
                })?;
            out.push(QueuedDelivery {
                alert_seq: seq,
                alert,
                sink: sink.to_string(),
                attempts,
            });
        }
        Ok(out)
    }

    /// When the next pending delivery for `sink` is due, if any.
    pub fn next_due(&self, sink: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT next_attempt_at FROM alert_queue WHERE sink = ?1 AND state = 'pending' ORDER BY alert_seq LIMIT 1",
                [sink],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// Record attempts (ledger rows) and update the queue, in one transaction.
    pub fn record_attempts(&mut self, results: &[AttemptResult]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        for r in results {
            let a = &r.record;
            ledger::append(&tx, &a.at, a).map_err(|e| sqlite(&path, e))?;
            let state = match a.outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::Retry => "pending",
                AttemptOutcome::Failed => "failed",
            };
            tx.execute(
                "UPDATE alert_queue SET state = ?3, attempts = ?4, next_attempt_at = COALESCE(?5, next_attempt_at),
                 last_status = ?6, last_error = ?7,
                 delivered_at = CASE WHEN ?3 = 'delivered' THEN ?8 ELSE delivered_at END
                 WHERE alert_seq = ?1 AND sink = ?2",
                params![
                    r.alert_seq,
                    a.sink,
                    state,
                    a.attempt,
                    a.next_attempt_at,
                    a.status,
                    a.error,
                    a.at
                ],
            )
            .map_err(|e| sqlite(&path, e))?;
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// Deliveries (alert × sink) pending, delivered and failed. Zero on a database that
    /// has never had the outbox.
    pub fn alert_counts(&self) -> Result<AlertCounts, StoreError> {
        let mut counts = AlertCounts::default();
        let stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM alert_queue GROUP BY state");
        let mut stmt = match stmt {
            Ok(s) => s,
            Err(_) => return Ok(counts),
        };
        let rows: Vec<(String, u64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        for (state, n) in rows {
            match state.as_str() {
                "pending" => counts.pending = n,
                "delivered" => counts.delivered = n,
                "failed" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Alerts created at or after `from` and before `to` (RFC 3339; None = open
    /// end), oldest first, with per-sink delivery state. Derived from the ledger's
    /// `alert` and `alert_attempt` rows only, so it is as trustworthy as the chain.
    pub fn alerts_between(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<AlertSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, body FROM ledger WHERE kind = ?1 AND recorded_at >= ?2 AND recorded_at < ?3 ORDER BY seq",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let alerts: Vec<(i64, String)> = stmt
            .query_map(
                params![
                    RowKind::Alert.as_str(),
                    from.unwrap_or(""),
                    to.unwrap_or("~")
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        let mut attempts_stmt = self
            .conn
            .prepare("SELECT body FROM ledger WHERE kind = ?1 AND key = ?2 ORDER BY seq")
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out = Vec::new();
        for (seq, body) in alerts {
            let Ok(alert) = serde_json::from_str::<AlertRecord>(&body) else {
                continue;
            };
            let attempts: Vec<AttemptRecord> = attempts_stmt
                .query_map(params![RowKind::AlertAttempt.as_str(), &alert.key], |r| {
                    r.get::<_, String>(0)
                })
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| sqlite(&self.path, e))?
                .iter()
                .filter_map(|b| serde_json::from_str(b).ok())
                .collect();
            let deliveries = alert
                .routes
                .keys()
                .map(|sink| DeliveryState::from(deliveries::delivery(sink, &attempts)))
                .collect();
            out.push(AlertSummary {
                seq,
                id: alert.key.clone(),
                created_at: alert.created_at.clone(),
                host: alert.host.clone(),
                run: alert.run.clone(),
                rules: alert
                    .items
                    .iter()
                    .map(|i| (i.rule.clone(), i.kind.as_str().to_string()))
                    .collect(),
                deliveries,
            });
        }
        Ok(out)
    }

    /// Recreate `alert_queue` from the ledger (after a restore, or if the cache was
    /// lost). Deliveries keep their state; pending ones are due at once.
    pub fn rebuild_alert_queue(&mut self) -> Result<usize, StoreError> {
        let alerts = self.alerts_between(None, None)?;
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        tx.execute("DELETE FROM alert_queue", [])
            .map_err(|e| sqlite(&path, e))?;
        let mut n = 0;
        for a in &alerts {
            for d in &a.deliveries {
                tx.execute(
                    "INSERT INTO alert_queue (alert_seq, alert_key, sink, created_at, state, attempts, next_attempt_at, last_status, last_error, delivered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?4, ?7, ?8, ?9)",
                    params![a.seq, a.id, d.sink, a.created_at, d.state, d.attempts, d.last_status, d.last_error, d.delivered_at],
                )
                .map_err(|e| sqlite(&path, e))?;
                n += 1;
            }
        }
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(n)
    }
}

impl From<Delivery> for DeliveryState {
    fn from(d: Delivery) -> DeliveryState {
        DeliveryState {
            sink: d.sink,
            state: d.status.as_str().to_string(),
            attempts: d.attempts,
            delivered_at: d.delivered_at,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
        }
    }
}
