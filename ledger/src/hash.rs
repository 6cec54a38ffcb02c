//! Content and chain hashes. A row's content hash is the SHA-256 of its sequence number
//! (8 bytes, big-endian), kind, a zero byte, recording time, a zero byte and body text;
//! the chain hash a row hands to the next is `SHA-256(prev || content)`. These formulas
//! are the on-disk format of every attestd ledger: never change them.

use crate::RowKind;
use sha2::{Digest, Sha256};

/// The chain value before the first row.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// SHA-256 of one row's content.
pub fn content_hash(seq: i64, kind: RowKind, recorded_at: &str, body: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    h.update(kind.as_str().as_bytes());
    h.update([0]);
    h.update(recorded_at.as_bytes());
    h.update([0]);
    h.update(body.as_bytes());
    h.finalize().into()
}

/// The chain hash a row hands to the next one.
pub fn chain_hash(prev: &[u8], content: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(content);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formulas_are_the_stored_format() {
        // Values computed by attestd before the ledger became a crate.
        let c = content_hash(1, RowKind::Run, "2026-01-01T00:00:00Z", "{}");
        let mut h = Sha256::new();
        h.update(1i64.to_be_bytes());
        h.update(b"run\x002026-01-01T00:00:00Z\x00{}");
        assert_eq!(c, <[u8; 32]>::from(h.finalize()));
        let chained = chain_hash(&GENESIS, &c);
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(c);
        assert_eq!(chained, <[u8; 32]>::from(h.finalize()));
    }
}
