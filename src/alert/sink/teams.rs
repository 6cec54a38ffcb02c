//! The Microsoft Teams sink: a Workflows ("When a Teams webhook request is received")
//! webhook, sent an Adaptive Card in a message envelope. The URL is a secret read from
//! a file or systemd credential; it never appears in logs or errors.

use super::{post, SendContext, SendError, Sent};
use crate::alert::{ItemKind, Message};
pub use crate::config::sinks::TeamsConfig;
use serde_json::json;

/// The message envelope with one Adaptive Card.
pub fn payload(msg: &Message) -> serde_json::Value {
    let mut body = vec![json!({
        "type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
        "text": msg.summary()
    })];
    for i in &msg.items {
        let (word, color) = match i.kind {
            ItemKind::Failing => ("FAILING", "Attention"),
            ItemKind::StillFailing => ("STILL FAILING", "Warning"),
            ItemKind::Resolved => ("RESOLVED", "Good"),
            ItemKind::AttestationDue => ("ATTESTATION DUE", "Warning"),
        };
        body.push(
            json!({"type": "TextBlock", "wrap": true, "weight": "Bolder", "color": color,
            "text": format!("{word}: {} ({})", i.rule, i.severity)}),
        );
        let mut facts = vec![
            json!({"title": "Check", "value": i.title}),
            json!({"title": "Status", "value": i.status.as_str()}),
            json!({"title": "Observed", "value": i.observed.to_string()}),
            json!({"title": "Expected", "value": i.expected}),
            json!({"title": "Controls", "value": i.controls.join(", ")}),
        ];
        if let Some(r) = &i.reason {
            facts.push(json!({"title": "Reason", "value": r}));
        }
        if i.kind != ItemKind::Resolved && !i.remediation.is_empty() {
            facts.push(json!({"title": "Fix", "value": i.remediation}));
        }
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    body.push(
        json!({"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small",
        "text": format!("host {} · run {} · alert {}", msg.host, msg.run, msg.id)}),
    );
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

impl TeamsConfig {
    pub async fn send(&self, ctx: &SendContext, msg: &Message) -> Result<Sent, SendError> {
        let url = self.url.read("url")?;
        let body = serde_json::to_vec(&payload(msg)).expect("JSON");
        post(ctx, &url, body, &[("idempotency-key", msg.id.clone())]).await
    }
}
