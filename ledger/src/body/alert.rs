//! The `alert` row (one message raised by a run, and which items each sink receives)
//! and the `alert_attempt` row (one delivery attempt of it to one sink).

use super::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why an item is in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A rule started failing (after K consecutive failing runs).
    Failing,
    /// A rule is still failing; a reminder after the renotify interval.
    StillFailing,
    /// A rule that was alerted about passes again (or was waived, or no longer applies).
    Resolved,
    /// An attestation falls due or expires (a reminder, not a rule verdict).
    AttestationDue,
}

impl ItemKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemKind::Failing => "failing",
            ItemKind::StillFailing => "still_failing",
            ItemKind::Resolved => "resolved",
            ItemKind::AttestationDue => "attestation_due",
        }
    }
}

/// One rule in an alert message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertItem {
    pub kind: ItemKind,
    pub rule: String,
    pub title: String,
    pub collector: String,
    pub status: Status,
    pub severity: String,
    pub controls: Vec<String>,
    pub observed: serde_json::Value,
    pub expected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub remediation: String,
    /// When the failure streak began (for resolved items: when it had begun).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// Consecutive failing runs when the item was made.
    pub consecutive_failures: u32,
}

/// A ledger row of kind `alert`. Its `key` is the idempotency key receivers see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub key: String,
    pub host: String,
    pub run: String,
    pub created_at: String,
    pub items: Vec<AlertItem>,
    /// Sink name -> indices into `items` it receives (after routing).
    pub routes: BTreeMap<String, Vec<usize>>,
    /// True for `attestd alerts test` messages (never stored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The receiver accepted it.
    Delivered,
    /// It failed and will be retried.
    Retry,
    /// It failed in a way a retry cannot fix (such as a 404); given up.
    Failed,
}

/// A ledger row of kind `alert_attempt`. `key` is the alert's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub key: String,
    pub sink: String,
    pub attempt: u32,
    pub at: String,
    pub outcome: AttemptOutcome,
    /// The HTTP status (or SMTP reply code) if the receiver answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}
