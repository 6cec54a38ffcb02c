//! Period selects: the rows that cover a period, and the rows in force at an instant.
//! A period is the contiguous run of rows recorded inside it plus the earlier
//! "anchor" rows it refers to (the policy and verdict sets in force at its start, the
//! last run before it, evidence stored earlier and referenced again); the state at an
//! instant is the same anchors, taken before the first row recorded after it. Every
//! attestation and review row before the period is an anchor too. Rows are
//! streamed in sequence order, never loaded whole; this module never writes.

use super::ledger::{from_sql, ROW_COLUMNS};
use super::{sqlite, Store, StoreError};
use attestd_ledger::body::{RunRecord, Status, VerdictSet};
use attestd_ledger::{Row, RowKind};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
fn select(conn: &Connection, from: &str, to: &str) -> rusqlite::Result<Selection> {
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
    let mut anchors = anchors_before(conn, before)?;
    // Attestations and their reviews recorded earlier may be in force in the period
    // (few rows: all of them, so revisions and review trails stay whole).
    let mut stmt =
        conn.prepare_cached("SELECT seq FROM ledger WHERE kind IN (?1, ?2) AND seq < ?3")?;
    let earlier = stmt.query_map(
        params![
            RowKind::Attestation.as_str(),
            RowKind::AttestationReview.as_str(),
            before
        ],
        |r| r.get::<_, i64>(0),
    )?;
    for seq in earlier {
        anchors.insert(seq?);
    }
    // Evidence stored before the period and referenced by runs or verdict sets in it
    // (unchanged evidence is stored once and referenced again).
    if let (Some(a), Some(b)) = (first_seq, last_seq) {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT json_extract(j.value, '$.evidence') FROM ledger, json_each(ledger.body, '$.collectors') AS j \
             WHERE ledger.kind = ?3 AND ledger.seq BETWEEN ?1 AND ?2",
        )?;
        let refs = stmt.query_map(params![a, b, RowKind::Run.as_str()], |r| {
            r.get::<_, Option<i64>>(0)
        })?;
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

/// The rows in force just before row `before`: the latest policy row, and for every
/// collector ever seen, its last run and the verdict set and evidence that run
/// pointed at.
fn anchors_before(conn: &Connection, before: i64) -> rusqlite::Result<BTreeSet<i64>> {
    let mut anchors = BTreeSet::new();
    if let Some(seq) = conn
        .query_row(
            "SELECT MAX(seq) FROM ledger WHERE kind = ?1 AND seq < ?2",
            params![RowKind::Policy.as_str(), before],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten()
    {
        anchors.insert(seq);
    }
    let collectors: Vec<String> = conn
        .prepare("SELECT DISTINCT key FROM ledger WHERE kind = ?1 AND seq < ?2")?
        .query_map(params![RowKind::Verdicts.as_str(), before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for c in &collectors {
        let path = format!("$.collectors.\"{}\"", c.replace('"', ""));
        let run: Option<(i64, String)> = conn
            .query_row(
                "SELECT seq, body FROM ledger WHERE kind = ?1 AND seq < ?2 AND json_type(body, ?3) IS NOT NULL ORDER BY seq DESC LIMIT 1",
                params![RowKind::Run.as_str(), before, path],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, body)) = run {
            anchors.insert(seq);
            if let Ok(record) = serde_json::from_str::<RunRecord>(&body) {
                if let Some(entry) = record.collectors.get(c) {
                    anchors.insert(entry.verdicts);
                    if let Some(e) = entry.evidence {
                        anchors.insert(e);
                    }
                    anchors.extend(failure_onsets(conn, entry.verdicts, before)?);
                }
            }
        }
    }
    Ok(anchors)
}

/// For every rule failing (or in error) in verdict set `verdicts`, the `drift` row
/// where that failure began: the first change to fail or error after its last change
/// to anything else, before row `before`. The period's exceptions that began earlier
/// are first seen there, not at the last run before the period.
fn failure_onsets(conn: &Connection, verdicts: i64, before: i64) -> rusqlite::Result<Vec<i64>> {
    let body: Option<String> = conn
        .query_row("SELECT body FROM ledger WHERE seq = ?1", [verdicts], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(set) = body.and_then(|b| serde_json::from_str::<VerdictSet>(&b).ok()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT MIN(seq) FROM ledger WHERE kind = ?1 AND key = ?2 AND seq < ?3 \
         AND json_extract(body, '$.to') IN ('fail', 'error') AND seq > COALESCE(( \
           SELECT MAX(seq) FROM ledger WHERE kind = ?1 AND key = ?2 AND seq < ?3 \
           AND json_extract(body, '$.to') NOT IN ('fail', 'error')), 0)",
    )?;
    for v in set
        .results
        .iter()
        .filter(|v| matches!(v.status, Status::Fail | Status::Error))
    {
        let seq: Option<i64> = stmt
            .query_row(params![RowKind::Drift.as_str(), &v.rule, before], |r| {
                r.get(0)
            })?;
        out.extend(seq);
    }
    Ok(out)
}

/// Call `f` for every selected row in order: anchors first, then the period's rows.
fn stream(
    conn: &Connection,
    selection: &Selection,
    mut f: impl FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM ledger WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq");
    let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
    let mut emit = |a: i64, b: i64, f: &mut dyn FnMut(Row) -> Result<(), String>| {
        let mut rows = stmt.query(params![a, b]).map_err(|e| e.to_string())?;
        while let Some(r) = rows.next().map_err(|e| e.to_string())? {
            f(from_sql(r).map_err(|e| e.to_string())?)?;
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

impl Store {
    /// The rows that cover `[from, to)` (RFC 3339, compared as stored).
    pub fn period(&self, from: &str, to: &str) -> Result<Selection, StoreError> {
        select(&self.conn, from, to).map_err(|e| sqlite(&self.path, e))
    }

    /// The rows in force at `at` (inclusive): the anchors of whatever follows it.
    pub fn in_force_at(&self, at: &str) -> Result<Selection, StoreError> {
        let run = || -> rusqlite::Result<Selection> {
            let before: i64 = self
                .conn
                .query_row(
                    "SELECT MIN(seq) FROM ledger WHERE recorded_at > ?1",
                    [at],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .unwrap_or(i64::MAX);
            Ok(Selection {
                first_seq: None,
                last_seq: None,
                anchors: anchors_before(&self.conn, before)?.into_iter().collect(),
            })
        };
        run().map_err(|e| sqlite(&self.path, e))
    }

    /// Call `f` for every selected row in order: anchors first, then the period's
    /// rows. `f`'s error stops the stream and is returned.
    pub fn stream_rows(
        &self,
        selection: &Selection,
        f: impl FnMut(Row) -> Result<(), String>,
    ) -> Result<(), String> {
        stream(&self.conn, selection, f)
    }
}
