//! The message one sink receives: the alert with only the items routed to it, and its
//! text and JSON forms. It never sends and never holds a secret.

use super::{AlertItem, AlertRecord, ItemKind};

/// The message one sink receives: the alert with only the items routed to it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub host: String,
    pub run: String,
    pub created_at: String,
    pub items: Vec<AlertItem>,
    pub test: bool,
}

impl Message {
    /// The items `sink` receives from `alert`.
    pub fn for_sink(alert: &AlertRecord, sink: &str) -> Message {
        let items = alert
            .routes
            .get(sink)
            .map(|idx| {
                idx.iter()
                    .filter_map(|i| alert.items.get(*i).cloned())
                    .collect()
            })
            .unwrap_or_default();
        Message {
            id: alert.key.clone(),
            host: alert.host.clone(),
            run: alert.run.clone(),
            created_at: alert.created_at.clone(),
            items,
            test: alert.test,
        }
    }

    pub fn count(&self, kind: ItemKind) -> usize {
        self.items.iter().filter(|i| i.kind == kind).count()
    }

    /// One line: "web-1: 2 controls failing, 1 resolved".
    pub fn summary(&self) -> String {
        if self.test {
            return format!("{}: attestd test alert (no action needed)", self.host);
        }
        let mut parts = Vec::new();
        let failing = self.count(ItemKind::Failing);
        let still = self.count(ItemKind::StillFailing);
        let resolved = self.count(ItemKind::Resolved);
        let due = self.count(ItemKind::AttestationDue);
        if due > 0 {
            parts.push(format!("{due} attestation(s) due or expiring"));
        }
        if failing > 0 {
            parts.push(format!("{failing} rule(s) now failing"));
        }
        if still > 0 {
            parts.push(format!("{still} still failing"));
        }
        if resolved > 0 {
            parts.push(format!("{resolved} resolved"));
        }
        let rules: Vec<&str> = self.items.iter().map(|i| i.rule.as_str()).take(3).collect();
        let more = if self.items.len() > 3 { ", ..." } else { "" };
        format!(
            "{}: {} ({}{more})",
            self.host,
            parts.join(", "),
            rules.join(", ")
        )
    }

    /// The JSON body the generic webhook sends (also the `details` of other sinks).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "idempotency_key": self.id,
            "host": self.host,
            "run": self.run,
            "created_at": self.created_at,
            "test": self.test,
            "summary": self.summary(),
            "items": self.items,
        })
    }

    /// Plain text, for e-mail.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n\n", self.summary());
        for i in &self.items {
            out.push_str(&item_text(i));
            out.push('\n');
        }
        out.push_str(&format!(
            "Host: {}\nRun: {}\nCreated: {}\nAlert id (idempotency key): {}\n",
            self.host, self.run, self.created_at, self.id
        ));
        out
    }
}

/// A few lines about one item.
pub fn item_text(i: &AlertItem) -> String {
    let head = match i.kind {
        ItemKind::Failing => "FAILING",
        ItemKind::StillFailing => "STILL FAILING",
        ItemKind::Resolved => "RESOLVED",
        ItemKind::AttestationDue => "ATTESTATION DUE",
    };
    let mut out = format!(
        "[{head}] {} ({}, severity {}): {}\n  controls: {}\n  observed: {}  expected: {}\n",
        i.rule,
        i.status.as_str(),
        i.severity,
        i.title,
        i.controls.join(", "),
        i.observed,
        i.expected
    );
    if let Some(r) = &i.reason {
        out.push_str(&format!("  reason: {r}\n"));
    }
    if i.kind != ItemKind::Resolved && !i.remediation.is_empty() {
        out.push_str(&format!("  fix: {}\n", i.remediation));
    }
    out
}
