//! The Slack sink: an incoming webhook with a Block Kit message (a header, one section
//! per rule with observed/expected, controls and the fix). The webhook URL is a secret
//! read from a file or systemd credential; it never appears in logs or errors.

use super::{post, SendContext, SendError, Sent};
use crate::alert::{ItemKind, Message};
pub use crate::config::sinks::SlackConfig;
use serde_json::json;

/// The Block Kit payload.
pub fn payload(msg: &Message) -> serde_json::Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&msg.summary(), 150)}
    })];
    for i in msg.items.iter().take(45) {
        let icon = match i.kind {
            ItemKind::Failing => ":red_circle: *FAILING*",
            ItemKind::StillFailing => ":large_orange_circle: *STILL FAILING*",
            ItemKind::Resolved => ":large_green_circle: *RESOLVED*",
            ItemKind::AttestationDue => ":spiral_calendar_pad: *ATTESTATION DUE*",
        };
        let mut text = format!(
            "{icon} `{}` ({}, {})\n{}\n*Observed:* `{}`  *Expected:* {}\n*Controls:* {}",
            i.rule,
            i.status.as_str(),
            i.severity,
            i.title,
            i.observed,
            i.expected,
            i.controls.join(", ")
        );
        if let Some(r) = &i.reason {
            text.push_str(&format!("\n*Reason:* {r}"));
        }
        if i.kind != ItemKind::Resolved && !i.remediation.is_empty() {
            text.push_str(&format!("\n*Fix:* {}", i.remediation));
        }
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, 3000)}}),
        );
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("host `{}` · run `{}` · alert `{}`", msg.host, msg.run, msg.id)}]
    }));
    json!({"text": msg.summary(), "blocks": blocks})
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

impl SlackConfig {
    pub async fn send(&self, ctx: &SendContext, msg: &Message) -> Result<Sent, SendError> {
        let url = self.url.read("url")?;
        let body = serde_json::to_vec(&payload(msg)).expect("JSON");
        post(ctx, &url, body, &[("idempotency-key", msg.id.clone())]).await
    }
}
