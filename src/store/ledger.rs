//! The hash chain. Every ledger row carries the SHA-256 of its content (sequence number,
//! kind, time and canonical JSON body) and the chain hash of the row before it
//! (`SHA-256(prev_sha256 || content_sha256)` of that row). Owns appending and walking
//! the chain; it never rewrites a row.

use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

/// The chain value before the first row.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// SHA-256 of one row's content.
pub fn content_hash(seq: i64, kind: &str, recorded_at: &str, body: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    h.update(kind.as_bytes());
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

/// Append one row inside the caller's transaction; returns its sequence number.
pub fn append(
    tx: &Transaction<'_>,
    kind: &str,
    recorded_at: &str,
    body: &serde_json::Value,
) -> rusqlite::Result<i64> {
    let last: Option<(i64, Vec<u8>, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, prev_sha256, content_sha256 FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((s, p, c)) => (s + 1, chain_hash(&p, &c)),
        None => (1, GENESIS),
    };
    let body_text = serde_json::to_string(body).expect("JSON serializes");
    let content = content_hash(seq, kind, recorded_at, &body_text);
    tx.execute(
        "INSERT INTO ledger (seq, kind, recorded_at, body, prev_sha256, content_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, kind, recorded_at, body_text, &prev[..], &content[..]],
    )?;
    Ok(seq)
}

/// The first thing wrong with the chain, if anything.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Result of walking the whole chain.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainReport {
    pub rows: u64,
    /// Chain hash after the last row (what the next row would carry), lowercase hex.
    pub head_sha256: String,
    pub first_break: Option<ChainBreak>,
}

/// Walk every row in order, recomputing hashes.
pub fn walk(conn: &rusqlite::Connection) -> rusqlite::Result<ChainReport> {
    let mut stmt = conn.prepare(
        "SELECT seq, kind, recorded_at, body, prev_sha256, content_sha256 FROM ledger ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut expected_prev = GENESIS;
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    let mut first_break = None;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let kind: String = r.get(1)?;
        let at: String = r.get(2)?;
        let body: String = r.get(3)?;
        let prev: Vec<u8> = r.get(4)?;
        let content: Vec<u8> = r.get(5)?;
        count += 1;
        if first_break.is_none() {
            let problem = if seq != expected_seq {
                Some(format!(
                    "row {seq} follows row {}: rows {expected_seq}..{} are missing (deleted)",
                    expected_seq - 1,
                    seq - 1
                ))
            } else if content != content_hash(seq, &kind, &at, &body) {
                Some(format!(
                    "row {seq} ({kind}) was edited: its content no longer matches its SHA-256"
                ))
            } else if prev != expected_prev {
                Some(format!(
                    "row {seq} ({kind}) does not carry the hash of the row before it"
                ))
            } else {
                None
            };
            if let Some(reason) = problem {
                first_break = Some(ChainBreak { seq, reason });
            }
        }
        expected_prev = chain_hash(&prev, &content);
        expected_seq = seq + 1;
    }
    Ok(ChainReport {
        rows: count,
        head_sha256: hex::encode(expected_prev),
        first_break,
    })
}
