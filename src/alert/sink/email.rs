//! The e-mail sink: SMTP with STARTTLS (port 587) or implicit TLS (port 465), through
//! lettre with rustls; never plain text. The system's CA store is trusted, plus an
//! optional CA file for a private relay. An optional login uses a password read from a
//! file or systemd credential. The Message-ID is derived from the alert id, so mail
//! systems and people can spot duplicates. It never logs the password.

use super::{SecretRef, SendContext, SendError, Sent};
use crate::alert::Message;
use crate::location::FieldError;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use std::path::PathBuf;

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
    pub route: super::Route,
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

    fn mail(&self, msg: &Message) -> Result<lettre::Message, SendError> {
        let bad = |e: String| SendError::permanent(e);
        let mut b = lettre::Message::builder()
            .from(
                self.from
                    .parse::<Mailbox>()
                    .map_err(|e| bad(format!("from: {e}")))?,
            )
            .subject(format!("[attestd] {}", msg.summary()))
            .message_id(Some(format!("<{}@attestd>", msg.id)))
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            b = b.to(t.parse::<Mailbox>().map_err(|e| bad(format!("to: {e}")))?);
        }
        b.body(msg.to_text())
            .map_err(|e| bad(format!("cannot build the message: {e}")))
    }

    pub async fn send(&self, ctx: &SendContext, msg: &Message) -> Result<Sent, SendError> {
        let mut params = TlsParameters::builder(self.server.clone());
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                SendError::retry(format!("ca_file: cannot read {}: {e}", ca.display()))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                SendError::retry(format!(
                    "ca_file: {} is not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| SendError::retry(format!("TLS setup failed: {e}")))?;
        let (tls, port) = match self.tls {
            TlsMode::Starttls => (Tls::Required(params), self.port.unwrap_or(587)),
            TlsMode::Tls => (Tls::Wrapper(params), self.port.unwrap_or(465)),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.server)
            .port(port)
            .tls(tls)
            .timeout(Some(ctx.timeout));
        if let Some(user) = &self.username {
            let password = match &self.password {
                Some(p) => p.read("password")?,
                None => String::new(),
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let transport = builder.build();
        let mail = self.mail(msg)?;
        let sent = tokio::time::timeout(ctx.timeout.saturating_mul(3), transport.send(mail)).await;
        match sent {
            Err(_) => Err(SendError::retry(format!(
                "SMTP {}:{port}: timed out",
                self.server
            ))),
            Ok(Ok(resp)) => Ok(Sent {
                status: Some(u16::from(resp.code())),
            }),
            Ok(Err(e)) => {
                let mut text = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    text.push_str(&format!(": {s}"));
                    src = s.source();
                }
                Err(SendError {
                    status: e.status().map(u16::from),
                    message: format!("SMTP {}:{port}: {text}", self.server),
                    retry: !e.is_permanent(),
                })
            }
        }
    }
}
