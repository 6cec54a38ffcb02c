//! Checking a pushed segment before anything is stored: the body parses, every row kind
//! is known, every content hash and in-segment link holds, and the host's signature
//! over the segment's head verifies. Pure functions: no database, no network; the
//! continuity with what the server holds is checked in `db` with [`ChainWalk`].

use attestd_ledger::fleet::push_message;
use attestd_ledger::{ChainWalk, Row, RowKind};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Deserialize;

/// Why a request is refused: a stable code (also a metrics label) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

impl Refused {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refused {
        Refused {
            code,
            message: message.into(),
        }
    }
}

/// Every refusal code, for metrics.
pub const CODES: &[&str] = &[
    "malformed",
    "oversized",
    "unknown_kind",
    "too_many_rows",
    "bad_hash",
    "unknown_host",
    "retired_host",
    "bad_signature",
    "gap",
    "forked",
    "token_unknown",
    "token_used",
    "token_expired",
    "host_exists",
    "overloaded",
    "organisation_kind",
    "missing_blob",
    "not_organisation",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    seq: i64,
    kind: String,
    recorded_at: String,
    body: String,
    prev_sha256: String,
    content_sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPush {
    host: String,
    rows: Vec<RawRow>,
    signature: String,
}

/// A parsed push whose rows are internally consistent (not yet authenticated).
#[derive(Debug)]
pub struct Segment {
    pub host: String,
    pub rows: Vec<Row>,
    pub signature: String,
    /// Chain value after the last row.
    pub head: String,
}

/// Parse a push body and check the segment on its own.
pub fn parse_push(body: &[u8], max_rows: usize) -> Result<Segment, Refused> {
    let raw: RawPush = serde_json::from_slice(body)
        .map_err(|e| Refused::new("malformed", format!("the push body is not a push: {e}")))?;
    if raw.host.is_empty() {
        return Err(Refused::new("malformed", "the push names no host"));
    }
    if raw.rows.is_empty() {
        return Err(Refused::new("malformed", "the push carries no rows"));
    }
    if raw.rows.len() > max_rows {
        return Err(Refused::new(
            "too_many_rows",
            format!(
                "the push carries {} rows; this server takes at most {max_rows} per push",
                raw.rows.len()
            ),
        ));
    }
    let mut rows = Vec::with_capacity(raw.rows.len());
    for r in raw.rows {
        let kind = RowKind::parse(&r.kind).ok_or_else(|| {
            Refused::new(
                "unknown_kind",
                format!(
                    "row {}: kind {:?} is not a ledger row kind this server knows",
                    r.seq, r.kind
                ),
            )
        })?;
        let hexy = |s: &str| {
            s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        if !hexy(&r.prev_sha256) || !hexy(&r.content_sha256) {
            return Err(Refused::new(
                "malformed",
                format!("row {}: hashes must be 64 lowercase hex digits", r.seq),
            ));
        }
        if r.seq < 1 {
            return Err(Refused::new(
                "malformed",
                format!("row {}: sequence numbers start at 1", r.seq),
            ));
        }
        rows.push(Row {
            seq: r.seq,
            kind,
            recorded_at: r.recorded_at,
            body: r.body,
            prev_sha256: r.prev_sha256,
            content_sha256: r.content_sha256,
        });
    }
    let mut walk = ChainWalk::from_any();
    rows.iter().for_each(|r| walk.row(r));
    if let Some(b) = walk.first_break() {
        let code = if b.reason.contains("missing") || b.reason.contains("comes where") {
            "malformed"
        } else {
            "bad_hash"
        };
        return Err(Refused::new(code, b.reason.clone()));
    }
    let head = walk.head().unwrap_or_default().to_string();
    Ok(Segment {
        host: raw.host,
        rows,
        signature: raw.signature,
        head,
    })
}

/// Parse a host's public key (SubjectPublicKeyInfo PEM).
pub fn public_key(pem: &str) -> Result<VerifyingKey, Refused> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| Refused::new("malformed", format!("not an Ed25519 public key: {e}")))
}

/// Check the host's signature over the segment's head.
pub fn check_signature(seg: &Segment, key: &VerifyingKey) -> Result<(), Refused> {
    let last = seg.rows.last().expect("a segment has rows");
    let bad = || {
        Refused::new(
            "bad_signature",
            format!(
                "the signature over row {} (head {}) does not verify with {}'s enrolled key",
                last.seq, seg.head, seg.host
            ),
        )
    };
    let bytes = hex::decode(&seg.signature).map_err(|_| bad())?;
    let sig = Signature::from_slice(&bytes).map_err(|_| bad())?;
    key.verify(&push_message(&seg.host, last.seq, &seg.head), &sig)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestd_ledger::GENESIS;
    use ed25519_dalek::{Signer, SigningKey};

    fn rows(n: i64) -> Vec<Row> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let r = Row::new(
                    seq,
                    RowKind::Run,
                    "2026-01-01T00:00:00Z",
                    format!("{{\"n\":{seq}}}"),
                    &prev,
                );
                prev = r.chain_out_bytes().unwrap();
                r
            })
            .collect()
    }

    fn push(rows: &[Row], key: &SigningKey) -> Vec<u8> {
        let last = rows.last().unwrap();
        let sig = key.sign(&push_message("h1", last.seq, &last.chain_out().unwrap()));
        serde_json::to_vec(&serde_json::json!({
            "host": "h1", "rows": rows, "signature": hex::encode(sig.to_bytes())
        }))
        .unwrap()
    }

    #[test]
    fn a_good_segment_passes_and_every_bad_one_is_named() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let vk = key.verifying_key();
        let r = rows(3);
        let seg = parse_push(&push(&r, &key), 10).unwrap();
        assert_eq!(seg.head, r[2].chain_out().unwrap());
        check_signature(&seg, &vk).unwrap();

        let other = SigningKey::from_bytes(&[8; 32]);
        let seg = parse_push(&push(&r, &other), 10).unwrap();
        assert_eq!(
            check_signature(&seg, &vk).unwrap_err().code,
            "bad_signature"
        );

        let mut edited = r.clone();
        edited[1].body = "{\"n\":9}".into();
        assert_eq!(
            parse_push(&push(&edited, &key), 10).unwrap_err().code,
            "bad_hash"
        );

        assert_eq!(
            parse_push(&push(&r, &key), 2).unwrap_err().code,
            "too_many_rows"
        );
        assert_eq!(parse_push(b"{not json", 10).unwrap_err().code, "malformed");
        let text = String::from_utf8(push(&r, &key))
            .unwrap()
            .replacen("\"run\"", "\"mystery\"", 1);
        assert_eq!(
            parse_push(text.as_bytes(), 10).unwrap_err().code,
            "unknown_kind"
        );
        let gap = vec![r[0].clone(), r[2].clone()];
        assert_eq!(
            parse_push(&push(&gap, &key), 10).unwrap_err().code,
            "malformed"
        );
    }
}
