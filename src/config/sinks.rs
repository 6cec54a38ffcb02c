//! The shapes of `[alerts.sinks.NAME]` (one struct per sink type, chosen by `type`),
//! their routing filters and secret references, with the load-time checks that need
//! neither the network nor the secret. It never reads a secret or sends anything:
//! delivery lives in `alert::sink`, which implements `send` for these shapes.

use crate::location::FieldError;
use attestd_ledger::body::Severity;
use attestd_ledger::controls::FRAMEWORKS;
use lettre::message::Mailbox;
use serde::Deserialize;
use std::path::PathBuf;

/// One configured sink, by type.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkConfig {
    /// A generic JSON webhook, signed with HMAC-SHA256.
    Webhook(WebhookConfig),
    /// A Slack incoming webhook (Block Kit).
    Slack(SlackConfig),
    /// A Microsoft Teams workflow webhook (Adaptive Card).
    Teams(TeamsConfig),
    /// PagerDuty Events API v2.
    Pagerduty(PagerDutyConfig),
    /// E-mail over SMTP with STARTTLS or implicit TLS.
    Email(EmailConfig),
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

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
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
    /// Load-time check of the reference (never reads the secret).
    pub(crate) fn validate(&self, field: &str) -> Result<(), FieldError> {
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
}

/// `[alerts.sinks.NAME]` with `type = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST (`https://...`). Not logged; if the URL itself carries a token,
    /// keep the config file readable by root only.
    pub url: String,
    /// The shared HMAC secret: a file path or `credential:NAME`.
    pub secret: SecretRef,
    /// Which alerts this sink receives (default: all).
    #[serde(default)]
    pub route: Route,
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), FieldError> {
        if reqwest::Url::parse(&self.url).is_err()
            || !(self.url.starts_with("https://") || self.url.starts_with("http://"))
        {
            return Err(FieldError::new(
                "url",
                "expected an http:// or https:// URL",
            ));
        }
        self.secret.validate("secret")
    }
}

/// `[alerts.sinks.NAME]` with `type = "slack"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// File (or `credential:NAME`) holding the incoming-webhook URL.
    pub url: SecretRef,
    /// Which alerts this sink receives (default: all).
    #[serde(default)]
    pub route: Route,
}

/// `[alerts.sinks.NAME]` with `type = "teams"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// File (or `credential:NAME`) holding the workflow webhook URL.
    pub url: SecretRef,
    /// Which alerts this sink receives (default: all).
    #[serde(default)]
    pub route: Route,
}

/// The public PagerDuty Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// `[alerts.sinks.NAME]` with `type = "pagerduty"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// File (or `credential:NAME`) holding the integration's routing key.
    pub routing_key: SecretRef,
    /// The Events API endpoint (default `https://events.pagerduty.com/v2/enqueue`; the
    /// EU service uses `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default)]
    pub url: Option<String>,
    /// Which alerts this sink receives (default: all).
    #[serde(default)]
    pub route: Route,
}

impl PagerDutyConfig {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(u) = &self.url {
            if reqwest::Url::parse(u).is_err() {
                return Err(FieldError::new("url", "expected an https:// URL"));
            }
        }
        self.routing_key.validate("routing_key")
    }
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connect, then STARTTLS (required; refused if the server does not offer it).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// `[alerts.sinks.NAME]` with `type = "email"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name (also the name checked in its certificate).
    pub server: String,
    /// Port; default 587 for `starttls`, 465 for `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: TlsMode,
    /// A PEM file of extra CA certificates to trust (a private relay's CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Login name, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// File (or `credential:NAME`) holding the password; needs `username`.
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// Sender address, such as `attestd <attestd@example.com>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Which alerts this sink receives (default: all).
    #[serde(default)]
    pub route: Route,
}

impl EmailConfig {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.server.trim().is_empty() {
            return Err(FieldError::new("server", "must not be empty"));
        }
        self.from
            .parse::<Mailbox>()
            .map_err(|e| FieldError::new("from", format!("not an e-mail address: {e}")))?;
        if self.to.is_empty() {
            return Err(FieldError::new("to", "give at least one recipient"));
        }
        for t in &self.to {
            t.parse::<Mailbox>().map_err(|e| {
                FieldError::new("to", format!("`{t}` is not an e-mail address: {e}"))
            })?;
        }
        if let Some(p) = &self.password {
            if self.username.is_none() {
                return Err(FieldError::new("password", "needs `username` too"));
            }
            p.validate("password")?;
        }
        Ok(())
    }
}
