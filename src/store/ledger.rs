//! The `ledger` table: appending typed rows and reading rows back, through the ledger
//! crate's hashes and chain walk (the formulas live there, once). Owns the SQL of the
//! chain; it never rewrites a row.

use attestd_ledger::{Body, ChainBreak, ChainWalk, Row, RowKind, GENESIS};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// The columns of a row, in the order [`from_sql`] reads them.
pub const ROW_COLUMNS: &str = "seq, kind, recorded_at, body, prev_sha256, content_sha256";

/// Append one typed row inside the caller's transaction; returns its sequence number.
pub fn append<B: Body>(tx: &Transaction<'_>, recorded_at: &str, body: &B) -> rusqlite::Result<i64> {
    append_text(tx, B::KIND, recorded_at, body.to_body())
}

/// Append a row whose canonical body text is already made.
pub fn append_text(
    tx: &Transaction<'_>,
    kind: RowKind,
    recorded_at: &str,
    body: String,
) -> rusqlite::Result<i64> {
    let last: Option<(i64, Vec<u8>, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, prev_sha256, content_sha256 FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((s, p, c)) => (s + 1, attestd_ledger::chain_hash(&p, &c)),
        None => (1, GENESIS),
    };
    let content = attestd_ledger::content_hash(seq, kind, recorded_at, &body);
    tx.execute(
        "INSERT INTO ledger (seq, kind, recorded_at, body, prev_sha256, content_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, kind.as_str(), recorded_at, body, &prev[..], &content[..]],
    )?;
    Ok(seq)
}

/// A row read with [`ROW_COLUMNS`]. A kind this version does not know is an error
/// naming the row (a newer attestd wrote it).
pub fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let seq: i64 = r.get(0)?;
    let kind: String = r.get(1)?;
    let kind = RowKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("ledger row {seq} has kind `{kind}`, which this version of attestd does not know; upgrade attestd").into(),
        )
    })?;
    Ok(Row {
        seq,
        kind,
        recorded_at: r.get(2)?,
        body: r.get(3)?,
        prev_sha256: hex::encode(r.get::<_, Vec<u8>>(4)?),
        content_sha256: hex::encode(r.get::<_, Vec<u8>>(5)?),
    })
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
pub fn walk(conn: &Connection) -> rusqlite::Result<ChainReport> {
    let mut stmt = conn.prepare(&format!("SELECT {ROW_COLUMNS} FROM ledger ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut walk = ChainWalk::from_genesis();
    while let Some(r) = rows.next()? {
        walk.row(&from_sql(r)?);
    }
    Ok(ChainReport {
        rows: walk.rows(),
        head_sha256: walk.head().unwrap_or_default().to_string(),
        first_break: walk.first_break().cloned(),
    })
}
