//! ufw: the status and incoming default from `ufw status verbose`. Parses only.

use serde_json::{json, Value};

pub(crate) fn parse_ufw(text: &str) -> Value {
    let active = text
        .lines()
        .find_map(|l| l.strip_prefix("Status:"))
        .map(|s| s.trim() == "active");
    let default_incoming = text
        .lines()
        .find_map(|l| l.strip_prefix("Default:"))
        .and_then(|d| {
            d.split(',')
                .find(|p| p.contains("(incoming)"))
                .map(|p| p.replace("(incoming)", "").trim().to_string())
        });
    json!({"active": active, "default_incoming": default_incoming})
}
