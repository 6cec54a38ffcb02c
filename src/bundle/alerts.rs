//! The boundary between bundles and the alerts outbox: which alerts were sent, and
//! delivered, about a rule during an exception. Alerts and delivery attempts are
//! ledger rows (`alert`, `alert_attempt`), so the same rows that build a bundle's
//! summary let `verify` recompute it. Owns only the record shape and the lookup; it
//! never sends anything and never reads the database itself.

use crate::alert::{AlertRecord as OutboxAlert, AttemptOutcome, AttemptRecord};
use attestd_ledger::{Row, RowKind};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

/// One alert about a rule, as the outbox recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The sink it went to (`email`, `webhook`, ...), never its credentials.
    pub sink: String,
    /// When it was queued (RFC 3339).
    pub sent_at: String,
    /// When the sink acknowledged it, if it did.
    pub delivered_at: Option<String>,
}

/// Where the alerts about a rule come from.
pub trait AlertSource {
    /// Alerts about `rule` queued from `from` through `to` (RFC 3339), the resolved
    /// notice at `to` included.
    fn alerts_for(&self, rule: &str, from: &str, to: &str) -> Vec<AlertRecord>;
}

/// Alerts read from the ledger rows a bundle streams through: feed every row to
/// `observe`, then ask.
#[derive(Default)]
pub struct LedgerAlerts {
    alerts: RefCell<Vec<OutboxAlert>>,
    /// (alert key, sink) -> first successful delivery time.
    delivered: RefCell<HashMap<(String, String), String>>,
}

impl LedgerAlerts {
    /// Remember an `alert` or a delivered `alert_attempt` row; other rows are ignored,
    /// as are bodies that do not parse (the chain check reports tampering).
    pub fn observe(&self, row: &Row) {
        match row.kind {
            RowKind::Alert => {
                if let Ok(a) = serde_json::from_str::<OutboxAlert>(&row.body) {
                    self.alerts.borrow_mut().push(a);
                }
            }
            RowKind::AlertAttempt => {
                if let Ok(a) = serde_json::from_str::<AttemptRecord>(&row.body) {
                    if a.outcome == AttemptOutcome::Delivered {
                        self.delivered
                            .borrow_mut()
                            .entry((a.key, a.sink))
                            .or_insert(a.at);
                    }
                }
            }
            _ => {}
        }
    }
}

impl AlertSource for LedgerAlerts {
    fn alerts_for(&self, rule: &str, from: &str, to: &str) -> Vec<AlertRecord> {
        let delivered = self.delivered.borrow();
        let mut out = Vec::new();
        for alert in self.alerts.borrow().iter() {
            // RFC 3339 UTC timestamps of one format compare as text.
            if alert.created_at.as_str() < from || alert.created_at.as_str() > to {
                continue;
            }
            for (sink, items) in &alert.routes {
                if items
                    .iter()
                    .any(|&i| alert.items.get(i).is_some_and(|item| item.rule == rule))
                {
                    out.push(AlertRecord {
                        sink: sink.clone(),
                        sent_at: alert.created_at.clone(),
                        delivered_at: delivered.get(&(alert.key.clone(), sink.clone())).cloned(),
                    });
                }
            }
        }
        out
    }
}
