//! Ledger rows as a bundle sees them, and the two places they stream from: the SQLite
//! database (when building a bundle) and a bundle's `ledger.json` (when verifying one).
//! Owns the selection of rows that cover a period: the contiguous run of rows inside
//! it, plus the earlier "anchor" rows it refers to (the policy and verdict sets in
//! force at its start, the last run before it, evidence stored earlier and referenced
//! again). Never loads a whole period into memory and never writes to the database.

use crate::store::ledger::{chain_hash, content_hash};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One ledger row, its body exactly as stored (the hash covers these bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub seq: i64,
    pub kind: String,
    pub recorded_at: String,
    pub body: String,
    /// Lowercase hex.
    pub prev_sha256: String,
    /// Lowercase hex.
    pub content_sha256: String,
}

impl Row {
    /// Does the content hash match the row?
    pub fn content_ok(&self) -> bool {
        hex::encode(content_hash(
            self.seq,
            &self.kind,
            &self.recorded_at,
            &self.body,
        )) == self.content_sha256
    }

    /// The chain hash this row hands to the next one.
    pub fn chain_out(&self) -> Option<String> {
        let prev = hex::decode(&self.prev_sha256).ok()?;
        let content = hex::decode(&self.content_sha256).ok()?;
        Some(hex::encode(chain_hash(&prev, &content)))
    }
}

/// Which rows cover a period.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Selection {
    /// First and last row recorded inside the period (none when the period is empty).
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Earlier rows the period refers to, ascending.
    pub anchors: Vec<i64>,
}

/// Find the rows that cover `[from, to)` (RFC 3339 strings, compared as stored).
pub fn select(conn: &Connection, from: &str, to: &str) -> rusqlite::Result<Selection> {
    let first_seq: Option<i64> = conn.query_row(
        "SELECT MIN(seq) FROM ledger WHERE recorded_at >= ?1 AND recorded_at < ?2",
        params![from, to],
        |r| r.get(0),
    )?;
    let last_seq: Option<i64> = conn.query_row(
        "SELECT MAX(seq) FROM ledger WHERE recorded_at >= ?1 AND recorded_at < ?2",
        params![from, to],
        |r| r.get(0),
    )?;
    // Anchors are rows before the period: before its first row, or (an empty
    // period) before the first row recorded after it.
    let before: i64 = match first_seq {
        Some(s) => s,
        None => conn
            .query_row(
                "SELECT MIN(seq) FROM ledger WHERE recorded_at >= ?1",
                [from],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .unwrap_or(i64::MAX),
    };
    let mut anchors = BTreeSet::new();
    // The policy in force at the start.
    if let Some(seq) = conn
        .query_row(
            "SELECT MAX(seq) FROM ledger WHERE kind = 'policy' AND seq < ?1",
            [before],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten()
    {
        anchors.insert(seq);
    }
    // For every collector ever seen: the last run before the period that included it,
    // and the verdict set and evidence that run pointed at.
    let collectors: Vec<String> = conn
        .prepare("SELECT DISTINCT key FROM ledger WHERE kind = 'verdicts' AND seq < ?1")?
        .query_map([before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for c in &collectors {
        let path = format!("$.collectors.\"{}\"", c.replace('"', ""));
        let run: Option<(i64, String)> = conn
            .query_row(
                "SELECT seq, body FROM ledger WHERE kind = 'run' AND seq < ?1 AND json_type(body, ?2) IS NOT NULL ORDER BY seq DESC LIMIT 1",
                params![before, path],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, body)) = run {
            anchors.insert(seq);
            if let Ok(record) = serde_json::from_str::<crate::store::RunRecord>(&body) {
                if let Some(entry) = record.collectors.get(c) {
                    anchors.insert(entry.verdicts);
                    if let Some(e) = entry.evidence {
                        anchors.insert(e);
                    }
                }
            }
        }
    }
    // Evidence stored before the period and referenced by runs or verdict sets in it
    // (unchanged evidence is stored once and referenced again).
    if let (Some(a), Some(b)) = (first_seq, last_seq) {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT json_extract(j.value, '$.evidence') FROM ledger, json_each(ledger.body, '$.collectors') AS j \
             WHERE ledger.kind = 'run' AND ledger.seq BETWEEN ?1 AND ?2",
        )?;
        let refs = stmt.query_map(params![a, b], |r| r.get::<_, Option<i64>>(0))?;
        for r in refs {
            if let Some(seq) = r? {
                if seq < a {
                    anchors.insert(seq);
                }
            }
        }
    }
    Ok(Selection {
        first_seq,
        last_seq,
        anchors: anchors.into_iter().collect(),
    })
}

/// Call `f` for every selected row in order: anchors first, then the period's rows.
pub fn stream(
    conn: &Connection,
    selection: &Selection,
    mut f: impl FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    let sql = "SELECT seq, kind, recorded_at, body, prev_sha256, content_sha256 FROM ledger WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq";
    let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
    let mut emit = |a: i64, b: i64, f: &mut dyn FnMut(Row) -> Result<(), String>| {
        let mut rows = stmt.query(params![a, b]).map_err(|e| e.to_string())?;
        while let Some(r) = rows.next().map_err(|e| e.to_string())? {
            let row = Row {
                seq: r.get(0).map_err(|e| e.to_string())?,
                kind: r.get(1).map_err(|e| e.to_string())?,
                recorded_at: r.get(2).map_err(|e| e.to_string())?,
                body: r.get(3).map_err(|e| e.to_string())?,
                prev_sha256: hex::encode(r.get::<_, Vec<u8>>(4).map_err(|e| e.to_string())?),
                content_sha256: hex::encode(r.get::<_, Vec<u8>>(5).map_err(|e| e.to_string())?),
            };
            f(row)?;
        }
        Ok::<(), String>(())
    };
    for &a in &selection.anchors {
        emit(a, a, &mut f)?;
    }
    if let (Some(a), Some(b)) = (selection.first_seq, selection.last_seq) {
        emit(a, b, &mut f)?;
    }
    Ok(())
}
