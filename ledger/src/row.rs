//! One ledger row as every store and bundle sees it: sequence number, kind, recording
//! time, the body text exactly as stored (the hash covers these bytes) and the two
//! hashes in lowercase hex. `ledger.json` in a bundle is a list of these.

use crate::body::Body;
use crate::hash::{chain_hash, content_hash};
use crate::RowKind;
use serde::{Deserialize, Serialize};

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub seq: i64,
    pub kind: RowKind,
    pub recorded_at: String,
    pub body: String,
    /// Chain hash of the row before, lowercase hex.
    pub prev_sha256: String,
    /// SHA-256 of this row's content, lowercase hex.
    pub content_sha256: String,
}

/// A row whose body is not what its kind says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger row {seq} ({kind}): {message}")]
pub struct DecodeError {
    pub seq: i64,
    pub kind: RowKind,
    pub message: String,
}

impl Row {
    /// A new row that follows a chain whose value is `prev` (GENESIS for the first).
    pub fn new(seq: i64, kind: RowKind, recorded_at: &str, body: String, prev: &[u8]) -> Row {
        let content = content_hash(seq, kind, recorded_at, &body);
        Row {
            seq,
            kind,
            recorded_at: recorded_at.to_string(),
            body,
            prev_sha256: hex::encode(prev),
            content_sha256: hex::encode(content),
        }
    }

    /// Does the content hash match the row?
    pub fn content_ok(&self) -> bool {
        hex::encode(content_hash(
            self.seq,
            self.kind,
            &self.recorded_at,
            &self.body,
        )) == self.content_sha256
    }

    /// The chain hash this row hands to the next one (None when a hash is not hex).
    pub fn chain_out(&self) -> Option<String> {
        self.chain_out_bytes().map(hex::encode)
    }

    /// `chain_out` as bytes.
    pub fn chain_out_bytes(&self) -> Option<[u8; 32]> {
        let prev = hex::decode(&self.prev_sha256).ok()?;
        let content = hex::decode(&self.content_sha256).ok()?;
        Some(chain_hash(&prev, &content))
    }

    /// The body as its typed record; an error names the row when the kind differs or
    /// the body does not parse.
    pub fn decode<B: Body>(&self) -> Result<B, DecodeError> {
        if self.kind != B::KIND {
            return Err(DecodeError {
                seq: self.seq,
                kind: self.kind,
                message: format!("is not a {} row", B::KIND),
            });
        }
        serde_json::from_str(&self.body).map_err(|e| DecodeError {
            seq: self.seq,
            kind: self.kind,
            message: e.to_string(),
        })
    }
}
