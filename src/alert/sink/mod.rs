//! The single registry of alert sinks. Each sink is one module with one config struct
//! (`[alerts.sinks.NAME]`, chosen by `type`) and a `send` that delivers one message.
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
use crate::location::FieldError;
use attestd_ledger::body::Severity;
use attestd_ledger::controls::FRAMEWORKS;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// One configured sink, by type.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkConfig {
    /// A generic JSON webhook, signed with HMAC-SHA256.
    Webhook(webhook::WebhookConfig),
    /// A Slack incoming webhook (Block Kit).
    Slack(slack::SlackConfig),
    /// A Microsoft Teams workflow webhook (Adaptive Card).
    Teams(teams::TeamsConfig),
    /// PagerDuty Events API v2.
    Pagerduty(pagerduty::PagerDutyConfig),
    /// E-mail over SMTP with STARTTLS or implicit TLS.
    Email(email::EmailConfig),
}

/// The sink types, as written in `type = "..."`.
pub const SINK_TYPES: &[&str] = &["webhook", "slack", "teams", "pagerduty", "email"];

impl SinkConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Slack(_) => "slack",
            SinkConfig::Teams(_) => "teams",
            SinkConfig::Pagerduty(_) => "pagerduty",
            SinkConfig::Email(_) => "email",
        }
    }

    pub fn route(&self) -> &Route {
        match self {
            SinkConfig::Webhook(c) => &c.route,
            SinkConfig::Slack(c) => &c.route,
            SinkConfig::Teams(c) => &c.route,
            SinkConfig::Pagerduty(c) => &c.route,
            SinkConfig::Email(c) => &c.route,
        }
    }

    /// Load-time checks; `(field, message)` on error. Secrets are not read here (a
    /// missing file is reported at delivery, where it can be fixed without a restart).
    pub fn validate(&self) -> Result<(), FieldError> {
        self.route().validate()?;
        match self {
            SinkConfig::Webhook(c) => c.validate(),
            SinkConfig::Slack(c) => c.url.validate("url"),
            SinkConfig::Teams(c) => c.url.validate("url"),
            SinkConfig::Pagerduty(c) => c.validate(),
            SinkConfig::Email(c) => c.validate(),
        }
    }

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

/// `route = { severities = [...], frameworks = [...] }`: which items a sink receives.
/// Empty lists mean everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Only rules of these severities (`low`, `medium`, `high`, `critical`).
    #[serde(default)]
    pub severities: Vec<String>,
    /// Only rules mapped to a control of these frameworks (`soc2`, `iso27001-2022`).
    #[serde(default)]
    pub frameworks: Vec<String>,
}

impl Route {
    pub fn matches(&self, severity: &str, controls: &[String]) -> bool {
        (self.severities.is_empty() || self.severities.iter().any(|s| s == severity))
            && (self.frameworks.is_empty()
                || controls.iter().any(|c| {
                    self.frameworks
                        .iter()
                        .any(|f| c.split(':').next() == Some(f.as_str()))
                }))
    }

    fn validate(&self) -> Result<(), FieldError> {
        for s in &self.severities {
            if Severity::parse(s).is_none() {
                let known: Vec<&str> = Severity::ALL.iter().map(|v| v.as_str()).collect();
                return Err(FieldError::new(
                    "route.severities",
                    format!("unknown severity `{s}`; use {}", known.join(", ")),
                ));
            }
        }
        for f in &self.frameworks {
            if !FRAMEWORKS.contains(&f.as_str()) {
                return Err(FieldError::new(
                    "route.frameworks",
                    format!("unknown framework `{f}`; use {}", FRAMEWORKS.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

/// Where a secret lives: a file path (`/etc/attestd/slack.url`), or `credential:NAME`
/// for a systemd credential (`LoadCredential=NAME:...`) read from
/// `$CREDENTIALS_DIRECTORY/NAME`. Never the secret itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

impl SecretRef {
    fn validate(&self, field: &str) -> Result<(), FieldError> {
        let s = &self.0;
        if let Some(name) = s.strip_prefix("credential:") {
            if name.is_empty() || name.contains('/') {
                return Err(FieldError::new(
                    field,
                    "a systemd credential name must be non-empty and contain no `/`",
                ));
            }
            return Ok(());
        }
        if !s.starts_with('/') {
            return Err(FieldError::new(field, "give the absolute path of a file holding the secret, or `credential:NAME` for a systemd credential; never the secret itself"));
        }
        Ok(())
    }

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
    let mut out = kind.to_string();
    let e = e.without_url();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
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
