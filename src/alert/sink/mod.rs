//! The single registry of alert sinks. Each sink is one module with a `send` that
//! delivers one message for its config struct (the shapes of `[alerts.sinks.NAME]` live
//! in `config::sinks`, which the config loader owns).
//! This module owns what they share: routing filters, secrets read from files or
//! systemd credentials at delivery time, the HTTP client and the classification of
//! failures into "retry" and "give up". Sinks never log and never put a secret (a
//! token, a webhook URL) into an error message.

pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

use super::Message;
pub use crate::config::sinks::{Route, SecretRef, SinkConfig, SINK_TYPES};
use std::path::PathBuf;
use std::time::Duration;

impl SinkConfig {
    /// Deliver one message.
    pub async fn send(&self, ctx: &SendContext, msg: &Message) -> Result<Sent, SendError> {
        match self {
            SinkConfig::Webhook(c) => c.send(ctx, msg).await,
            SinkConfig::Slack(c) => c.send(ctx, msg).await,
            SinkConfig::Teams(c) => c.send(ctx, msg).await,
            SinkConfig::Pagerduty(c) => c.send(ctx, msg).await,
            SinkConfig::Email(c) => c.send(ctx, msg).await,
        }
    }
}

impl SecretRef {
    /// Where it is read from (for messages; a path, never the content).
    pub fn location(&self) -> String {
        match self.0.strip_prefix("credential:") {
            Some(name) => match super::credentials_dir() {
                Some(d) => d.join(name).display().to_string(),
                None => format!("systemd credential `{name}` ($CREDENTIALS_DIRECTORY is not set)"),
            },
            None => self.0.clone(),
        }
    }

    /// Read the secret (trimmed). Errors name the file, never the content.
    pub fn read(&self, field: &str) -> Result<String, SendError> {
        let path: PathBuf = match self.0.strip_prefix("credential:") {
            Some(name) => match super::credentials_dir() {
                Some(d) => d.join(name),
                None => {
                    return Err(SendError::retry(format!(
                        "{field}: systemd credential `{name}` unavailable: $CREDENTIALS_DIRECTORY is not set (add LoadCredential={name}:/path to the unit)"
                    )))
                }
            },
            None => PathBuf::from(&self.0),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            SendError::retry(format!(
                "{field}: cannot read the secret file {}: {e}",
                path.display()
            ))
        })?;
        let t = text.trim();
        if t.is_empty() {
            return Err(SendError::retry(format!(
                "{field}: the secret file {} is empty",
                path.display()
            )));
        }
        Ok(t.to_string())
    }
}

/// What every send gets.
#[derive(Clone)]
pub struct SendContext {
    /// The HTTP client, or why it could not be built (no trust store on the host):
    /// then every HTTP delivery fails with that reason and is retried.
    pub http: Result<reqwest::Client, String>,
    pub timeout: Duration,
}

impl SendContext {
    pub fn new(timeout: Duration) -> SendContext {
        crate::crypto::install();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("attestd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTPS ({e}); install the ca-certificates package"));
        SendContext { http, timeout }
    }
}

/// A successful delivery.
#[derive(Debug, Clone)]
pub struct Sent {
    /// HTTP status or SMTP reply code.
    pub status: Option<u16>,
}

/// A failed delivery: why, and whether a retry can help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub status: Option<u16>,
    pub message: String,
    pub retry: bool,
}

impl SendError {
    pub fn retry(message: String) -> SendError {
        SendError {
            status: None,
            message,
            retry: true,
        }
    }

    pub fn permanent(message: String) -> SendError {
        SendError {
            status: None,
            message,
            retry: false,
        }
    }
}

/// POST a body and classify the answer: 2xx delivered; 408, 429 and 5xx retried; other
/// 4xx given up (the request cannot succeed as configured). Connection and TLS errors
/// are retried. Error texts never contain the URL.
pub async fn post(
    ctx: &SendContext,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<Sent, SendError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| SendError::permanent(format!("the configured URL is not valid ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SendError::permanent(
            "the configured URL must start with https:// (or http://)".into(),
        ));
    }
    let http = ctx.http.as_ref().map_err(|e| SendError::retry(e.clone()))?;
    let mut req = http
        .post(parsed)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| SendError::retry(describe(e)))?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(Sent {
            status: Some(status),
        });
    }
    let text = resp.text().await.unwrap_or_default();
    let snippet: String = text.chars().take(200).collect();
    let retry = status == 408 || status == 429 || status >= 500;
    Err(SendError {
        status: Some(status),
        message: format!(
            "the receiver answered HTTP {status}{}{}",
            if snippet.trim().is_empty() { "" } else { ": " },
            snippet.trim()
        ),
        retry,
    })
}

/// A reqwest error with its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    match std::error::Error::source(&e) {
        Some(cause) => format!("{kind}: {}", crate::error_text::with_causes(cause)),
        None => kind.to_string(),
    }
}

/// Severity words PagerDuty understands, from ours.
pub fn severity_for_pagerduty(sev: &str) -> &'static str {
    match sev {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_filter_by_severity_and_framework() {
        let iso = vec!["iso27001-2022:A.8.5".to_string()];
        let soc = vec!["soc2:CC6.1".to_string()];
        assert!(Route::default().matches("low", &soc));
        let r = Route {
            severities: vec!["high".into(), "critical".into()],
            frameworks: vec!["iso27001-2022".into()],
        };
        assert!(r.matches("high", &iso));
        assert!(!r.matches("low", &iso), "severity filtered");
        assert!(!r.matches("high", &soc), "framework filtered");
        assert!(Route {
            severities: vec!["urgent".into()],
            frameworks: vec![]
        }
        .validate()
        .is_err());
    }

    #[test]
    fn secrets_are_paths_or_credentials_and_errors_name_the_file() {
        assert!(SecretRef("hunter2".into()).validate("secret").is_err());
        assert!(SecretRef("credential:".into()).validate("secret").is_err());
        assert!(SecretRef("credential:hook".into())
            .validate("secret")
            .is_ok());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "  value-42\n").unwrap();
        let s = SecretRef(f.display().to_string());
        assert_eq!(s.read("secret").unwrap(), "value-42");
        std::fs::write(&f, "\n").unwrap();
        let e = s.read("secret").unwrap_err();
        assert!(e.retry && e.message.contains("is empty"), "{}", e.message);
        let missing = SecretRef(dir.path().join("nope").display().to_string());
        let e = missing.read("secret").unwrap_err();
        assert!(e.message.contains("nope"), "{}", e.message);
    }
}
