//! The boundary between bundles and the alerts outbox: which alerts were sent, and
//! delivered, about a rule during an exception. Owns only the record shape and the
//! lookup; it never sends anything.

use serde::{Deserialize, Serialize};

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
    /// Alerts about `rule` queued in `[from, to)` (RFC 3339).
    fn alerts_for(&self, rule: &str, from: &str, to: &str) -> Vec<AlertRecord>;
}

/// Today's source: the ledger has no alert rows yet.
pub struct NoAlerts;

impl AlertSource for NoAlerts {
    fn alerts_for(&self, _rule: &str, _from: &str, _to: &str) -> Vec<AlertRecord> {
        // filled from the alerts outbox when it lands
        Vec::new()
    }
}
