//! A fleet server's receipt, kept as a row of the host's own ledger: the server (the
//! witness) says it held this host's chain up to `seq` with chain value `head` at
//! `received_at`, and signs that with its witness key. Host bundles carry these rows so
//! `verify` can tell a bundle that ends before a witnessed head, or contradicts one.

use serde::{Deserialize, Serialize};

/// One signed receipt, exactly as the server issued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The host the receipt is for (its enrolled name).
    pub host: String,
    /// The last sequence number of the host's ledger the server stored.
    pub seq: i64,
    /// The chain value after row `seq`, lowercase hex.
    pub head: String,
    /// When the server stored it (RFC 3339, UTC).
    pub received_at: String,
    /// Position of this receipt in the server's own receipt log.
    pub log_seq: i64,
    /// Chain value of the server's receipt log before this entry, lowercase hex.
    pub log_prev: String,
    /// Ed25519 signature by the witness key over [`Receipt::message`], lowercase hex.
    pub signature: String,
}

impl Receipt {
    /// The bytes the witness signs: every field but the signature, canonical JSON.
    pub fn message(&self) -> Vec<u8> {
        let unsigned = serde_json::json!({
            "host": self.host,
            "seq": self.seq,
            "head": self.head,
            "received_at": self.received_at,
            "log_seq": self.log_seq,
            "log_prev": self.log_prev,
        });
        crate::canonical_json(&unsigned)
            .expect("a receipt serialises")
            .into_bytes()
    }

    /// The chain value of the server's receipt log after this entry, lowercase hex:
    /// SHA-256 over the previous value and the signed message.
    pub fn log_chain_out(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.log_prev.as_bytes());
        h.update(b"\n");
        h.update(self.message());
        hex::encode(h.finalize())
    }
}
