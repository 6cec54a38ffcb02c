//! The PagerDuty sink (Events API v2): one event per rule in the message, `trigger`
//! when it fails (again on a reminder), `resolve` when it recovers, with
//! `dedup_key = attestd:<host>:<rule>` so an incident opens once per host and rule and
//! closes on recovery. The routing key is a secret read from a file or systemd
//! credential; it never appears in logs or errors.

use super::{post, severity_for_pagerduty, SendContext, SendError, Sent};
use crate::alert::{AlertItem, ItemKind, Message};
pub use crate::config::sinks::{PagerDutyConfig, DEFAULT_URL};
use serde_json::json;

/// The dedup key of a rule on a host.
pub fn dedup_key(host: &str, rule: &str) -> String {
    format!("attestd:{host}:{rule}")
}

/// One Events API v2 event.
pub fn event(routing_key: &str, msg: &Message, i: &AlertItem) -> serde_json::Value {
    let action = if i.kind == ItemKind::Resolved {
        "resolve"
    } else {
        "trigger"
    };
    let mut ev = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(&msg.host, &i.rule),
    });
    if action == "trigger" {
        ev["payload"] = json!({
            "summary": format!("{}: {} failing: {} (observed {}, expected {})", msg.host, i.rule, i.title, i.observed, i.expected).chars().take(1024).collect::<String>(),
            "source": msg.host,
            "severity": severity_for_pagerduty(&i.severity),
            "component": i.rule,
            "group": i.collector,
            "class": i.controls.join(" "),
            "custom_details": {
                "status": i.status.as_str(),
                "observed": i.observed,
                "expected": i.expected,
                "controls": i.controls,
                "reason": i.reason,
                "remediation": i.remediation,
                "failing_since": i.failing_since,
                "alert_id": msg.id,
                "run": msg.run,
            }
        });
    }
    ev
}

impl PagerDutyConfig {
    pub async fn send(&self, ctx: &SendContext, msg: &Message) -> Result<Sent, SendError> {
        let key = self.routing_key.read("routing_key")?;
        let url = self.url.as_deref().unwrap_or(DEFAULT_URL);
        let mut last = Sent { status: None };
        let items: Vec<AlertItem> = if msg.test { vec![] } else { msg.items.clone() };
        if msg.test {
            // A test: open and at once resolve an incident under a test dedup key.
            for action in ["trigger", "resolve"] {
                let mut ev = json!({"routing_key": key, "event_action": action,
                    "dedup_key": format!("attestd:{}:test", msg.host)});
                if action == "trigger" {
                    ev["payload"] =
                        json!({"summary": msg.summary(), "source": msg.host, "severity": "info"});
                }
                last = post(ctx, url, serde_json::to_vec(&ev).expect("JSON"), &[]).await?;
            }
        }
        // Events are idempotent per dedup_key: a retry after a partial failure re-sends
        // the ones that went through, which PagerDuty folds into the same incident.
        for i in &items {
            let body = serde_json::to_vec(&event(&key, msg, i)).expect("JSON");
            last = post(ctx, url, body, &[]).await?;
        }
        Ok(last)
    }
}
