//! The store: one SQLite file (WAL) holding the append-only, hash-chained ledger.
//!
//! Runs, evidence, verdict sets, drift events and policy snapshots (the rules,
//! variables and schedules in force) are all rows of the `ledger` table;
//! each row's body is canonical JSON. Evidence is content-addressed (an unchanged
//! observation is referenced, not stored again) and a collector's verdict set is only
//! stored when it changed. Triggers refuse UPDATE and DELETE; `verify` catches anyone
//! who goes around them. This module never evaluates rules and never observes the host.

pub mod attest;
pub mod ledger;
pub mod outbox;
pub mod period;
pub mod probes;
pub mod records;
pub mod segment;

pub use records::*;

use attestd_ledger::body::{ArtifactRecord, EvidenceRecord, Status};
use attestd_ledger::{Body, Row, RowKind};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use rusqlite_migration::{Migrations, M};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors from the store, with the database path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: {message}")]
    Other { path: String, message: String },
}

const SCHEMA_V1: &str = r#"
CREATE TABLE ledger (
    seq            INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    body           TEXT NOT NULL,
    prev_sha256    BLOB NOT NULL,
    content_sha256 BLOB NOT NULL,
    key            TEXT GENERATED ALWAYS AS (json_extract(body, '$.key')) VIRTUAL
);
CREATE INDEX ledger_kind_key ON ledger (kind, key, seq);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
    BEGIN SELECT RAISE(ABORT, 'the attestd ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
    BEGIN SELECT RAISE(ABORT, 'the attestd ledger is append-only'); END;
-- A cache derived from the ledger (never evidence): where each collector's latest run is.
CREATE TABLE collector_heads (
    collector   TEXT PRIMARY KEY,
    run_seq     INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    finished_at TEXT NOT NULL
) WITHOUT ROWID;
"#;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(SCHEMA_V1),
        M::up(outbox::SCHEMA_OUTBOX),
        M::up(probes::MIGRATION_PROBE_INDEX),
    ])
}

/// The page cache of each of the daemon's long-lived connections, in KiB.
pub const DAEMON_PAGE_CACHE_KIB: u32 = 256;

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating it and its directory if needed) and migrate.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Other {
                path: path.display().to_string(),
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let mut conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sqlite(path, e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| sqlite(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| sqlite(path, e))?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Other {
                path: path.display().to_string(),
                message: format!("cannot migrate the schema: {e}"),
            })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Open an existing database without writing to it.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Other {
                path: path.display().to_string(),
                message: "no such database; run `attestd run` (the daemon) or `attestd collect --db PATH` first".into(),
            });
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| sqlite(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| sqlite(path, e))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `open` for the daemon's long-lived connections (runs, each alert sink, each
    /// probe): their page cache is capped at `DAEMON_PAGE_CACHE_KIB`. They live for
    /// months and touch few pages per run; SQLite's default (2 MiB each) would fill up
    /// with old pages and stay resident.
    pub fn open_for_daemon(path: &Path) -> Result<Store, StoreError> {
        let store = Store::open(path)?;
        store
            .conn
            .pragma_update(None, "cache_size", -i64::from(DAEMON_PAGE_CACHE_KIB))
            .map_err(|e| sqlite(path, e))?;
        Ok(store)
    }

    /// The connection, for this module's own tests; everything else goes through the
    /// store's methods.
    #[cfg(test)]
    fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Store a finished run in one transaction: new evidence, changed verdict sets,
    /// drift events and the run row, then whatever `hook` appends inside the same
    /// transaction (the alerts the run raises). Either all of it is stored or none.
    pub fn record_run(
        &mut self,
        run: &RunInput,
        hook: &mut dyn RunHook,
    ) -> Result<RunOutcome, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let outcome = write_run(&tx, run).map_err(|e| sqlite(&path, e))?;
        let mut run_tx = RunTx {
            tx: &tx,
            path: &path,
        };
        hook.in_transaction(&mut run_tx, run, &outcome)?;
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(outcome)
    }

    /// The facts a collector returned in its latest successful observation.
    pub fn previous_facts(&self, collector: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let set = latest_verdict_set(&self.conn, collector).map_err(|e| sqlite(&self.path, e))?;
        let Some(seq) = set.and_then(|(_, s)| s.evidence) else {
            return Ok(None);
        };
        Ok(self.evidence(seq)?.map(|e| e.facts))
    }

    /// One row, as stored.
    pub fn row(&self, seq: i64) -> Result<Option<Row>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM ledger WHERE seq = ?1", ledger::ROW_COLUMNS),
                [seq],
                ledger::from_sql,
            )
            .optional()
            .map_err(|e| sqlite(&self.path, e))
    }

    /// The evidence row `seq` (none when there is no such row or it is of another kind).
    pub fn evidence(&self, seq: i64) -> Result<Option<EvidenceRecord>, StoreError> {
        match self.row(seq)? {
            Some(row) if row.kind == RowKind::Evidence => {
                row.decode().map(Some).map_err(|e| StoreError::Other {
                    path: self.path.display().to_string(),
                    message: e.to_string(),
                })
            }
            _ => Ok(None),
        }
    }

    /// The latest state of every collector that has run.
    pub fn current_state(&self) -> Result<Vec<CollectorState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT key FROM ledger WHERE kind = ?1 ORDER BY key")
            .map_err(|e| sqlite(&self.path, e))?;
        let collectors: Vec<String> = stmt
            .query_map([RowKind::Verdicts.as_str()], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        let mut out = Vec::new();
        for c in collectors {
            let Some((_, verdicts)) =
                latest_verdict_set(&self.conn, &c).map_err(|e| sqlite(&self.path, e))?
            else {
                continue;
            };
            let (last_run, last_run_at) = last_run_of(&self.conn, &c)
                .map_err(|e| sqlite(&self.path, e))?
                .unwrap_or_default();
            out.push(CollectorState {
                collector: c,
                last_run,
                last_run_at,
                verdicts,
            });
        }
        Ok(out)
    }

    /// Drift events, oldest first, optionally only for some rules and since a time.
    pub fn drift_events(
        &self,
        rules: Option<&[String]>,
        since: Option<&str>,
    ) -> Result<Vec<DriftEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM ledger WHERE kind = ?1 AND recorded_at >= ?2 ORDER BY seq")
            .map_err(|e| sqlite(&self.path, e))?;
        let bodies: Vec<String> = stmt
            .query_map(params![RowKind::Drift.as_str(), since.unwrap_or("")], |r| {
                r.get(0)
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<DriftEvent>(b).ok())
            .filter(|d| rules.is_none_or(|rs| rs.contains(&d.rule)))
            .collect())
    }

    /// Number of rows per kind.
    pub fn counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, COUNT(*) FROM ledger GROUP BY kind")
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .and_then(|rows| rows.collect::<Result<BTreeMap<_, _>, _>>())
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(rows)
    }

    /// Walk the hash chain.
    pub fn verify_chain(&self) -> Result<ledger::ChainReport, StoreError> {
        ledger::walk(&self.conn).map_err(|e| sqlite(&self.path, e))
    }

    /// The latest status of each rule, by rule id.
    pub fn current_statuses(&self) -> Result<BTreeMap<String, Status>, StoreError> {
        Ok(self
            .current_state()?
            .into_iter()
            .flat_map(|s| s.verdicts.results.into_iter().map(|v| (v.rule, v.status)))
            .collect())
    }
}

/// The rows of one run, inside the caller's transaction.
fn write_run(tx: &Transaction<'_>, run: &RunInput) -> rusqlite::Result<RunOutcome> {
    if let Some(policy) = &run.policy {
        let latest: Option<String> = tx
            .query_row(
                "SELECT key FROM ledger WHERE kind = ?1 ORDER BY seq DESC LIMIT 1",
                [RowKind::Policy.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if latest.as_deref() != Some(policy.key.as_str()) {
            ledger::append(tx, &run.started_at, policy)?;
        }
    }
    let mut drift = Vec::new();
    let mut new_evidence = 0;
    let mut entries = BTreeMap::new();
    for c in &run.collectors {
        let (evidence_seq, error) = match &c.outcome {
            Ok(evidence) => {
                let key = evidence.sha256();
                let existing: Option<i64> = tx
                    .query_row(
                        "SELECT seq FROM ledger WHERE kind = ?1 AND key = ?2 ORDER BY seq LIMIT 1",
                        params![RowKind::Evidence.as_str(), &key],
                        |r| r.get(0),
                    )
                    .optional()?;
                let seq = match existing {
                    Some(s) => s,
                    None => {
                        new_evidence += 1;
                        let record = EvidenceRecord {
                            key,
                            collector: c.collector.clone(),
                            collector_version: c.version.clone(),
                            collected_at: run.finished_at.clone(),
                            facts: evidence.facts.clone(),
                            artifacts: evidence.artifacts.iter().map(artifact_record).collect(),
                        };
                        ledger::append(tx, &run.finished_at, &record)?
                    }
                };
                (Some(seq), None)
            }
            Err(reason) => (None, Some(reason.clone())),
        };
        let set = VerdictSet {
            key: c.collector.clone(),
            collector: c.collector.clone(),
            evidence: evidence_seq,
            error: error.clone(),
            results: c.verdicts.clone(),
        };
        let previous = latest_verdict_set(tx, &c.collector)?;
        let previous_run = last_run_of(tx, &c.collector)?;
        let verdicts_seq = match &previous {
            Some((seq, prev)) if *prev == set => *seq,
            _ => ledger::append(tx, &run.finished_at, &set)?,
        };
        for v in &c.verdicts {
            let before = previous
                .as_ref()
                .and_then(|(_, p)| p.results.iter().find(|r| r.rule == v.rule));
            if before.map(|b| b.status) == Some(v.status) {
                continue;
            }
            let meta = run.rule_meta.get(&v.rule);
            let event = DriftEvent {
                key: v.rule.clone(),
                rule: v.rule.clone(),
                collector: c.collector.clone(),
                from: before.map(|b| b.status),
                to: v.status,
                at: run.finished_at.clone(),
                run: run.run_id.clone(),
                previous_run: previous_run.as_ref().map(|(id, _)| id.clone()),
                previous_at: previous_run.as_ref().map(|(_, at)| at.clone()),
                evidence_before: previous.as_ref().and_then(|(_, p)| p.evidence),
                evidence_after: evidence_seq,
                observed_before: before.map(|b| b.observed.clone()).unwrap_or_default(),
                observed_after: v.observed.clone(),
                expected: v.expected.clone(),
                reason: v.reason.clone(),
                controls: meta.map(|m| m.controls.clone()).unwrap_or_default(),
                severity: meta.map(|m| m.severity.clone()).unwrap_or_default(),
            };
            ledger::append(tx, &run.finished_at, &event)?;
            // A rule's first verdict is its baseline (kept as the row with
            // `from: null`), not drift: metrics, journal and alerts count changes only.
            if event.from.is_some() {
                drift.push(event);
            }
        }
        entries.insert(
            c.collector.clone(),
            RunCollectorEntry {
                evidence: evidence_seq,
                verdicts: verdicts_seq,
                error,
                duration_ms: c.duration_ms,
            },
        );
    }
    let record = RunRecord {
        key: run.run_id.clone(),
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        trigger: run.trigger.clone(),
        collectors: entries,
    };
    let run_seq = ledger::append(tx, &run.finished_at, &record)?;
    for name in record.collectors.keys() {
        tx.execute(
            "INSERT OR REPLACE INTO collector_heads (collector, run_seq, run_id, finished_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, run_seq, run.run_id, run.finished_at],
        )?;
    }
    Ok(RunOutcome {
        run_seq,
        drift,
        new_evidence,
    })
}

/// A collector's artifact as the evidence row stores it.
fn artifact_record(a: &attestd_collectors::Artifact) -> ArtifactRecord {
    ArtifactRecord {
        source: a.source.clone(),
        kind: a.kind.clone(),
        sha256: a.sha256.clone(),
        excerpt: a.excerpt.clone(),
        present: a.present,
        exit_status: a.exit_status,
    }
}

/// What a run's hook may do inside the run's transaction: append rows and update the
/// caches derived from them. Dropped before the transaction commits.
pub struct RunTx<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
}

impl RunTx<'_> {
    /// Append a typed row; returns its sequence number.
    pub fn append<B: Body>(&mut self, recorded_at: &str, body: &B) -> Result<i64, StoreError> {
        ledger::append(self.tx, recorded_at, body).map_err(|e| sqlite(self.path, e))
    }

    pub(crate) fn tx(&self) -> &Transaction<'_> {
        self.tx
    }

    pub(crate) fn path(&self) -> &Path {
        self.path
    }
}

/// Work done inside a run's transaction, after its rows are written (the alerts a run
/// raises are enqueued this way, so the store never needs to know about alerts).
pub trait RunHook {
    fn in_transaction(
        &mut self,
        tx: &mut RunTx<'_>,
        run: &RunInput,
        outcome: &RunOutcome,
    ) -> Result<(), StoreError>;
}

/// A run stored with nothing else in its transaction.
pub struct NoHook;

impl RunHook for NoHook {
    fn in_transaction(
        &mut self,
        _: &mut RunTx<'_>,
        _: &RunInput,
        _: &RunOutcome,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

fn latest_verdict_set(
    conn: &Connection,
    collector: &str,
) -> rusqlite::Result<Option<(i64, VerdictSet)>> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, body FROM ledger WHERE kind = ?1 AND key = ?2 ORDER BY seq DESC LIMIT 1",
            params![RowKind::Verdicts.as_str(), collector],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(seq, body)| serde_json::from_str(&body).ok().map(|s| (seq, s))))
}

/// `(run id, finished_at)` of the latest run that included `collector`.
fn last_run_of(conn: &Connection, collector: &str) -> rusqlite::Result<Option<(String, String)>> {
    conn.query_row(
        "SELECT run_id, finished_at FROM collector_heads WHERE collector = ?1",
        [collector],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_connections_keep_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let cache = |s: &Store| -> i64 {
            s.connection()
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(cache(&Store::open_for_daemon(&path).unwrap()), -256);
        // Commands (bundles, verify) keep SQLite's default.
        assert_eq!(cache(&Store::open(&path).unwrap()), -2000);
    }
}
