//! The e-mail sink: SMTP with STARTTLS (port 587) or implicit TLS (port 465), through
//! lettre with rustls; never plain text. The system's CA store is trusted, plus an
//! optional CA file for a private relay. An optional login uses a password read from a
//! file or systemd credential. The Message-ID is derived from the alert id, so mail
//! systems and people can spot duplicates. It never logs the password.

use super::{SendContext, SendError, Sent};
use crate::alert::Message;
pub use crate::config::sinks::{EmailConfig, TlsMode};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

impl EmailConfig {
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
                let text = crate::error_text::with_causes(&e);
                Err(SendError {
                    status: e.status().map(u16::from),
                    message: format!("SMTP {}:{port}: {text}", self.server),
                    retry: !e.is_permanent(),
                })
            }
        }
    }
}
