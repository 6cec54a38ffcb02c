//! Which alerts were sent, and delivered, about a rule during an exception. Alerts and
//! delivery attempts are ledger rows (`alert`, `alert_attempt`), so the same rows that
//! build a bundle's summary let `verify` recompute it. Owns only the record shape and
//! the lookup (over the deliveries fold); it never sends anything.

use crate::fold::deliveries::Deliveries;
use crate::fold::Decoded;
use crate::Row;
use crate::RowKind;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// One alert about a rule, as the outbox recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentAlert {
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
    fn alerts_for(&self, rule: &str, from: &str, to: &str) -> Vec<SentAlert>;
}

/// Alerts read from the ledger rows a bundle streams through: feed every row to
/// `observe`, then ask.
#[derive(Default)]
pub struct LedgerAlerts {
    fold: RefCell<Deliveries>,
}

impl LedgerAlerts {
    /// Remember an `alert` or `alert_attempt` row; other rows are ignored, as are
    /// bodies that do not parse (the chain check reports tampering).
    pub fn observe(&self, row: &Row) {
        if !matches!(row.kind, RowKind::Alert | RowKind::AlertAttempt) {
            return;
        }
        match Decoded::of(row) {
            Ok(Decoded::Alert(a)) => self.fold.borrow_mut().alert(row.seq, a),
            Ok(Decoded::AlertAttempt(a)) => self.fold.borrow_mut().attempt(a),
            _ => {}
        }
    }
}

impl AlertSource for LedgerAlerts {
    fn alerts_for(&self, rule: &str, from: &str, to: &str) -> Vec<SentAlert> {
        let fold = self.fold.borrow();
        let mut out = Vec::new();
        for (_, alert) in fold.alerts() {
            // RFC 3339 UTC timestamps of one format compare as text.
            if alert.created_at.as_str() < from || alert.created_at.as_str() > to {
                continue;
            }
            for (sink, items) in &alert.routes {
                if items
                    .iter()
                    .any(|&i| alert.items.get(i).is_some_and(|item| item.rule == rule))
                {
                    out.push(SentAlert {
                        sink: sink.clone(),
                        sent_at: alert.created_at.clone(),
                        delivered_at: fold.delivered_at(&alert.key, sink).map(str::to_string),
                    });
                }
            }
        }
        out
    }
}
