//! Alert deliveries: from `alert` rows and their `alert_attempt` rows, the state of
//! each alert at each sink it was routed to (pending, delivered, failed). The host's
//! `attestd alerts`, the rebuild of the delivery queue and bundles all use this fold.

use crate::body::{AlertRecord, AttemptOutcome, AttemptRecord};
use serde::Serialize;
use std::collections::HashMap;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One alert's delivery to one sink, derived from its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub sink: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub delivered_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When the next retry is due (pending deliveries only).
    pub next_attempt_at: Option<String>,
}

/// The delivery to `sink` given every attempt of one alert, oldest first.
pub fn delivery(sink: &str, attempts: &[AttemptRecord]) -> Delivery {
    let mine: Vec<&AttemptRecord> = attempts.iter().filter(|a| a.sink == sink).collect();
    let delivered = mine.iter().find(|a| a.outcome == AttemptOutcome::Delivered);
    let last = mine.last();
    let status = if delivered.is_some() {
        DeliveryStatus::Delivered
    } else if last.map(|a| a.outcome) == Some(AttemptOutcome::Failed) {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    Delivery {
        sink: sink.to_string(),
        status,
        attempts: mine.len() as u32,
        delivered_at: delivered.map(|a| a.at.clone()),
        last_attempt_at: last.map(|a| a.at.clone()),
        last_status: last.and_then(|a| a.status),
        last_error: last.and_then(|a| a.error.clone()),
        next_attempt_at: if status == DeliveryStatus::Pending {
            last.and_then(|a| a.next_attempt_at.clone())
        } else {
            None
        },
    }
}

/// Alerts and their attempts, folded in sequence order.
#[derive(Debug, Default)]
pub struct Deliveries {
    alerts: Vec<(i64, AlertRecord)>,
    attempts: HashMap<String, Vec<AttemptRecord>>,
}

impl Deliveries {
    pub fn alert(&mut self, seq: i64, alert: AlertRecord) {
        self.alerts.push((seq, alert));
    }

    pub fn attempt(&mut self, attempt: AttemptRecord) {
        self.attempts
            .entry(attempt.key.clone())
            .or_default()
            .push(attempt);
    }

    /// Every alert seen, oldest first, with its row's sequence number.
    pub fn alerts(&self) -> impl Iterator<Item = (i64, &AlertRecord)> {
        self.alerts.iter().map(|(s, a)| (*s, a))
    }

    /// The deliveries of one alert, one per sink it was routed to (sink order).
    pub fn deliveries_of(&self, alert: &AlertRecord) -> Vec<Delivery> {
        let none = Vec::new();
        let attempts = self.attempts.get(&alert.key).unwrap_or(&none);
        alert.routes.keys().map(|s| delivery(s, attempts)).collect()
    }

    /// When `alert` was first delivered to `sink`, if it was.
    pub fn delivered_at(&self, alert: &str, sink: &str) -> Option<&str> {
        self.attempts.get(alert)?.iter().find_map(|a| {
            (a.sink == sink && a.outcome == AttemptOutcome::Delivered).then_some(a.at.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn attempt(sink: &str, n: u32, outcome: AttemptOutcome, at: &str) -> AttemptRecord {
        AttemptRecord {
            key: "a1".into(),
            sink: sink.into(),
            attempt: n,
            at: at.into(),
            outcome,
            status: Some(503),
            error: None,
            next_attempt_at: Some("2026-01-01T00:10:00Z".into()),
        }
    }

    #[test]
    fn each_sink_has_its_own_state() {
        let mut f = Deliveries::default();
        f.alert(
            7,
            AlertRecord {
                key: "a1".into(),
                host: "h".into(),
                run: "r".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                items: vec![],
                routes: BTreeMap::from([
                    ("hook".to_string(), vec![]),
                    ("mail".to_string(), vec![]),
                    ("pager".to_string(), vec![]),
                ]),
                test: false,
            },
        );
        f.attempt(attempt(
            "hook",
            1,
            AttemptOutcome::Retry,
            "2026-01-01T00:01:00Z",
        ));
        f.attempt(attempt(
            "hook",
            2,
            AttemptOutcome::Delivered,
            "2026-01-01T00:02:00Z",
        ));
        f.attempt(attempt(
            "mail",
            1,
            AttemptOutcome::Failed,
            "2026-01-01T00:01:00Z",
        ));
        let (_, a) = f.alerts().next().unwrap();
        let d = f.deliveries_of(a);
        let states: Vec<_> = d
            .iter()
            .map(|d| (d.sink.as_str(), d.status, d.attempts))
            .collect();
        assert_eq!(
            states,
            [
                ("hook", DeliveryStatus::Delivered, 2),
                ("mail", DeliveryStatus::Failed, 1),
                ("pager", DeliveryStatus::Pending, 0),
            ]
        );
        assert_eq!(d[0].next_attempt_at, None);
        assert_eq!(f.delivered_at("a1", "hook"), Some("2026-01-01T00:02:00Z"));
        assert_eq!(f.delivered_at("a1", "mail"), None);
    }
}
