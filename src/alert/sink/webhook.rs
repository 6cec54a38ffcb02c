//! The generic webhook sink: POSTs the alert as JSON and signs the exact body with
//! HMAC-SHA256 under a shared secret read from a file, so the receiver can check that
//! attestd sent it. Headers: `X-Attestd-Signature: sha256=<hex>`, `Idempotency-Key`.
//! It never logs, and its errors never contain the URL or the secret.

use super::{post, SendContext, SendError, Sent};
use crate::alert::Message;
pub use crate::config::sinks::WebhookConfig;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header value for a body.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookConfig {
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
