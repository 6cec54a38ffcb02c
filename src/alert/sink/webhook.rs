//! The generic webhook sink: POSTs the alert as JSON and signs the exact body with
//! HMAC-SHA256 under a shared secret read from a file, so the receiver can check that
//! attestd sent it. Headers: `X-Attestd-Signature: sha256=<hex>`, `Idempotency-Key`.
//! It never logs, and its errors never contain the URL or the secret.

use super::{post, SecretRef, SendContext, SendError, Sent};
use crate::alert::Message;
use crate::location::FieldError;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

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
    pub route: super::Route,
}

/// The signature header value for a body.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
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

    pub async fn send(&self, ctx: &SendContext, msg: &Message) -> Result<Sent, SendError> {
        let secret = self.secret.read("secret")?;
        let body = serde_json::to_vec(&msg.to_json()).expect("JSON");
        let sig = signature(secret.as_bytes(), &body);
        post(
            ctx,
            &self.url,
            body,
            &[
                ("x-attestd-signature", sig),
                ("idempotency-key", msg.id.clone()),
            ],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
