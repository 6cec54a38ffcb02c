//! Everything the server keeps, in PostgreSQL: migrations (refinery), tokens, hosts,
//! rows, pushes, receipts and incidents. Stateless across instances: every decision
//! (is this push the continuation of the stored head? which receipt comes next in the
//! log?) is made inside one transaction under PostgreSQL advisory locks, so two
//! instances on one database agree. Only ever INSERTs and SELECTs (the schema refuses
//! anything else); never holds a host's state in memory between requests.

use crate::check::{Refused, Segment};
use crate::witness::Witness;
use attestd_ledger::body::Receipt;
use attestd_ledger::{ChainWalk, GENESIS};
use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Advisory lock key for the server's receipt log (one writer at a time, any instance).
const RECEIPT_LOG_LOCK: i64 = 0x6174_7465_7374_6431;

/// A pool of connections to the fleet database.
pub fn pool(url: &str, size: usize) -> anyhow::Result<Pool> {
    let pg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| anyhow::anyhow!("database URL {url:?}: {e}"))?;
    let mgr = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(mgr).max_size(size).build()?)
}

/// Apply every migration not yet applied; returns how many ran.
pub async fn migrate(url: &str) -> anyhow::Result<usize> {
    let (mut client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {url:?}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(report.applied_migrations().len())
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Create a one-use enrolment token for `scope`; returns the token (stored only hashed).
/// An `organisation` token enrols an organisation ledger (see `org`).
pub async fn token_create(
    pool: &Pool,
    scope: &str,
    expires: Option<DateTime<Utc>>,
    organisation: bool,
) -> anyhow::Result<String> {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("atk_{}", hex::encode(raw));
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    tx.execute(
        "INSERT INTO tokens (token_sha256, scope, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[&token_hash(&token), &scope, &Utc::now(), &expires],
    )
    .await?;
    if organisation {
        tx.execute(
            "INSERT INTO organisation_tokens (token_sha256) VALUES ($1)",
            &[&token_hash(&token)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(token)
}

/// Server-side failures that are not the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

/// The outcome of a request: refused (client's fault) or failed (server's).
pub enum Outcome<T> {
    Ok(T),
    Refused(Refused),
}

/// Enrol a host with a one-use token; returns its scope and whether the token made it
/// an organisation ledger.
pub async fn enroll(
    pool: &Pool,
    token: &str,
    host: &str,
    public_key: &str,
) -> Result<Outcome<(String, bool)>, DbError> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let h = token_hash(token);
    let Some(row) = tx
        .query_opt(
            "SELECT scope, expires_at FROM tokens WHERE token_sha256 = $1",
            &[&h],
        )
        .await?
    else {
        return Ok(Outcome::Refused(Refused::new(
            "token_unknown",
            "this enrolment token was never issued by this server",
        )));
    };
    let scope: String = row.get(0);
    let expires: Option<DateTime<Utc>> = row.get(1);
    if expires.is_some_and(|e| e <= Utc::now()) {
        return Ok(Outcome::Refused(Refused::new(
            "token_expired",
            "this enrolment token has expired",
        )));
    }
    if tx
        .query_opt("SELECT host FROM token_uses WHERE token_sha256 = $1", &[&h])
        .await?
        .is_some()
    {
        return Ok(Outcome::Refused(Refused::new(
            "token_used",
            "this enrolment token was already used: tokens are one-use",
        )));
    }
    if tx
        .query_opt("SELECT 1 FROM hosts WHERE host = $1", &[&host])
        .await?
        .is_some()
    {
        return Ok(Outcome::Refused(Refused::new(
            "host_exists",
            format!("a host named {host:?} is already enrolled"),
        )));
    }
    let organisation = tx
        .query_opt(
            "SELECT 1 FROM organisation_tokens WHERE token_sha256 = $1",
            &[&h],
        )
        .await?
        .is_some();
    let now = Utc::now();
    // A concurrent use of the same token or name fails on the primary key and the
    // transaction stores nothing.
    let inserted = async {
        tx.execute(
            "INSERT INTO token_uses (token_sha256, host, used_at) VALUES ($1, $2, $3)",
            &[&h, &host, &now],
        )
        .await?;
        tx.execute(
            "INSERT INTO hosts (host, scope, public_key, enrolled_at) VALUES ($1, $2, $3, $4)",
            &[&host, &scope, &public_key, &now],
        )
        .await?;
        if organisation {
            tx.execute(
                "INSERT INTO organisation_ledgers (host, enrolled_at) VALUES ($1, $2)",
                &[&host, &now],
            )
            .await?;
        }
        tx.commit().await
    }
    .await;
    match inserted {
        Ok(()) => Ok(Outcome::Ok((scope, organisation))),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            Ok(Outcome::Refused(Refused::new(
                "token_used",
                "this token or host name was used concurrently",
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// A host's enrolment as the push path needs it.
pub struct HostInfo {
    pub public_key: String,
    pub retired: bool,
    /// An organisation ledger (attestation rows only, see `org`).
    pub organisation: bool,
}

pub async fn host_info(pool: &Pool, host: &str) -> Result<Option<HostInfo>, DbError> {
    let c = pool.get().await?;
    let row = c
        .query_opt(
            "SELECT h.public_key, r.retired_at IS NOT NULL, o.host IS NOT NULL FROM hosts h \
             LEFT JOIN host_retirements r ON r.host = h.host \
             LEFT JOIN organisation_ledgers o ON o.host = h.host WHERE h.host = $1",
            &[&host],
        )
        .await?;
    Ok(row.map(|r| HostInfo {
        public_key: r.get(0),
        retired: r.get(1),
        organisation: r.get(2),
    }))
}

/// The last stored row of a host: (seq, chain value after it).
async fn stored_head(
    c: &impl deadpool_postgres::GenericClient,
    host: &str,
) -> Result<(i64, String), DbError> {
    let row = c
        .query_opt(
            "SELECT seq, prev_sha256, content_sha256 FROM ledger_rows WHERE host = $1 ORDER BY seq DESC LIMIT 1",
            &[&host],
        )
        .await?;
    Ok(match row {
        None => (0, hex::encode(GENESIS)),
        Some(r) => {
            let prev = hex::decode(r.get::<_, String>(1)).unwrap_or_default();
            let content = hex::decode(r.get::<_, String>(2)).unwrap_or_default();
            (
                r.get(0),
                hex::encode(attestd_ledger::chain_hash(&prev, &content)),
            )
        }
    })
}

pub async fn head(pool: &Pool, host: &str) -> Result<(i64, String), DbError> {
    let c = pool.get().await?;
    stored_head(&c, host).await
}

/// Store a checked, authenticated segment if it continues the stored chain, and issue
/// a receipt; a segment that contradicts stored rows is recorded as an incident.
pub async fn push(
    pool: &Pool,
    witness: &Witness,
    seg: &Segment,
) -> Result<Outcome<(u64, Receipt)>, DbError> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&seg.host],
    )
    .await?;
    let (last, head) = stored_head(&tx, &seg.host).await?;
    let first = seg.rows[0].seq;
    if first > last + 1 {
        return Ok(Outcome::Refused(Refused::new(
            "gap",
            format!(
                "the server holds {} up to row {last}; this push starts at row {first}: send rows {}..{} first",
                seg.host,
                last + 1,
                first - 1
            ),
        )));
    }
    // Rows the server already holds must be the same rows.
    let overlap: Vec<_> = seg.rows.iter().filter(|r| r.seq <= last).collect();
    let mut fork: Option<(i64, String)> = None;
    if !overlap.is_empty() {
        let stored = tx
            .query(
                "SELECT seq, prev_sha256, content_sha256 FROM ledger_rows WHERE host = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                &[&seg.host, &overlap[0].seq, &overlap[overlap.len() - 1].seq],
            )
            .await?;
        for (r, s) in overlap.iter().zip(stored.iter()) {
            let (sp, sc): (String, String) = (s.get(1), s.get(2));
            if r.prev_sha256 != sp || r.content_sha256 != sc {
                fork = Some((r.seq, format!(
                    "row {} differs from the row {} pushed before: the host's history was rewritten",
                    r.seq, seg.host
                )));
                break;
            }
        }
    }
    let new: Vec<_> = seg.rows.iter().filter(|r| r.seq > last).collect();
    let seg_last = seg.rows[seg.rows.len() - 1].seq;
    if fork.is_none() && seg_last < last {
        fork = Some((seg_last, format!(
            "{}'s ledger ends at row {seg_last}, before row {last} the server already witnessed: it was truncated",
            seg.host
        )));
    }
    if fork.is_none() && !new.is_empty() {
        let mut walk = ChainWalk::continuing(last, &head);
        new.iter().for_each(|r| walk.row(r));
        if let Some(b) = walk.first_break() {
            fork = Some((b.seq, format!(
                "row {} does not continue the chain the server holds for {} (row {last}, head {head}): the host's history was rewritten or truncated",
                b.seq, seg.host
            )));
        }
    }
    let now = Utc::now();
    if let Some((seq, reason)) = fork {
        drop(tx);
        let c2 = pool.get().await?;
        c2.execute(
            "INSERT INTO incidents (host, at, seq, reason, claimed_head) VALUES ($1, $2, $3, $4, $5)",
            &[&seg.host, &now, &seq, &reason, &seg.head],
        )
        .await?;
        tracing::error!(host = %seg.host, seq, "forked: {reason}");
        return Ok(Outcome::Refused(Refused::new("forked", reason)));
    }
    if new.is_empty() {
        // A resend of rows already stored: answer with the receipt for the stored head.
        let r = tx
            .query_opt(
                "SELECT log_seq, seq, head, received_at, log_prev, signature FROM receipts WHERE host = $1 ORDER BY log_seq DESC LIMIT 1",
                &[&seg.host],
            )
            .await?;
        if let Some(r) = r {
            return Ok(Outcome::Ok((
                0,
                Receipt {
                    host: seg.host.clone(),
                    log_seq: r.get(0),
                    seq: r.get(1),
                    head: r.get(2),
                    received_at: r.get(3),
                    log_prev: r.get(4),
                    signature: r.get(5),
                },
            )));
        }
    }
    if !new.is_empty() {
        let stmt = tx
            .prepare(
                "INSERT INTO ledger_rows (host, seq, kind, recorded_at, body, prev_sha256, content_sha256, received_at) \
                 SELECT $1, * , $8 FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
            )
            .await?;
        let seqs: Vec<i64> = new.iter().map(|r| r.seq).collect();
        let kinds: Vec<&str> = new.iter().map(|r| r.kind.as_str()).collect();
        let recs: Vec<&str> = new.iter().map(|r| r.recorded_at.as_str()).collect();
        let bodies: Vec<&str> = new.iter().map(|r| r.body.as_str()).collect();
        let prevs: Vec<&str> = new.iter().map(|r| r.prev_sha256.as_str()).collect();
        let contents: Vec<&str> = new.iter().map(|r| r.content_sha256.as_str()).collect();
        tx.execute(
            &stmt,
            &[
                &seg.host, &seqs, &kinds, &recs, &bodies, &prevs, &contents, &now,
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO pushes (host, first_seq, last_seq, head, signature, received_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&seg.host, &new[0].seq, &new[new.len() - 1].seq, &seg.head, &seg.signature, &now],
        )
        .await?;
    }
    // The receipt log: one writer at a time across instances.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RECEIPT_LOG_LOCK])
        .await?;
    let prev = tx
        .query_opt(
            "SELECT log_seq, log_head FROM receipts ORDER BY log_seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let (log_seq, log_prev) = match prev {
        Some(r) => (r.get::<_, i64>(0) + 1, r.get::<_, String>(1)),
        None => (1, hex::encode(GENESIS)),
    };
    let last_row = seg.rows.last().expect("rows");
    let mut receipt = Receipt {
        host: seg.host.clone(),
        seq: last_row.seq,
        head: seg.head.clone(),
        received_at: ts(now),
        log_seq,
        log_prev,
        signature: String::new(),
    };
    witness.sign(&mut receipt);
    tx.execute(
        "INSERT INTO receipts (log_seq, host, seq, head, received_at, log_prev, log_head, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&receipt.log_seq, &receipt.host, &receipt.seq, &receipt.head, &receipt.received_at, &receipt.log_prev, &receipt.log_chain_out(), &receipt.signature],
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Ok((new.len() as u64, receipt)))
}

/// One host as `attestd-server hosts` lists it.
#[derive(Debug, serde::Serialize)]
pub struct HostLine {
    pub host: String,
    pub scope: String,
    pub enrolled: String,
    pub retired: Option<String>,
    pub last_push: Option<String>,
    pub seq: i64,
    pub head: Option<String>,
    pub state: &'static str,
    pub incidents: i64,
    /// `host`, or `organisation` for an organisation ledger (state `organisation`:
    /// it pushes when someone records something, so it is never late).
    pub ledger: &'static str,
}

pub async fn hosts(
    pool: &Pool,
    late_after: i64,
    not_reporting_after: i64,
) -> Result<Vec<HostLine>, DbError> {
    let c = pool.get().await?;
    let rows = c
        .query(
            "SELECT h.host, h.scope, h.enrolled_at, r.retired_at, \
               (SELECT max(received_at) FROM pushes p WHERE p.host = h.host), \
               (SELECT seq FROM receipts x WHERE x.host = h.host ORDER BY log_seq DESC LIMIT 1), \
               (SELECT head FROM receipts x WHERE x.host = h.host ORDER BY log_seq DESC LIMIT 1), \
               (SELECT count(*) FROM incidents i WHERE i.host = h.host), \
               EXISTS (SELECT 1 FROM organisation_ledgers o WHERE o.host = h.host) \
             FROM hosts h LEFT JOIN host_retirements r ON r.host = h.host ORDER BY h.host",
            &[],
        )
        .await?;
    let now = Utc::now();
    Ok(rows
        .iter()
        .map(|r| {
            let enrolled: DateTime<Utc> = r.get(2);
            let retired: Option<DateTime<Utc>> = r.get(3);
            let last: Option<DateTime<Utc>> = r.get(4);
            let incidents: i64 = r.get(7);
            let organisation: bool = r.get(8);
            let age = (now - last.unwrap_or(enrolled)).num_seconds();
            let state = if incidents > 0 {
                "forked"
            } else if retired.is_some() {
                "retired"
            } else if organisation {
                "organisation"
            } else if age > not_reporting_after || last.is_none() && age > late_after {
                "not_reporting"
            } else if age > late_after {
                "late"
            } else {
                "reporting"
            };
            HostLine {
                host: r.get(0),
                scope: r.get(1),
                enrolled: ts(enrolled),
                retired: retired.map(ts),
                last_push: last.map(ts),
                seq: r.get::<_, Option<i64>>(5).unwrap_or(0),
                head: r.get(6),
                state,
                incidents,
                ledger: if organisation { "organisation" } else { "host" },
            }
        })
        .collect())
}

/// Retire a host: it can push no more and leaves the population after this instant.
pub async fn retire(pool: &Pool, host: &str) -> Result<Outcome<()>, DbError> {
    let c = pool.get().await?;
    if c.query_opt("SELECT 1 FROM hosts WHERE host = $1", &[&host])
        .await?
        .is_none()
    {
        return Ok(Outcome::Refused(Refused::new(
            "unknown_host",
            format!("no host named {host:?} is enrolled"),
        )));
    }
    match c
        .execute(
            "INSERT INTO host_retirements (host, retired_at) VALUES ($1, $2)",
            &[&host, &Utc::now()],
        )
        .await
    {
        Ok(_) => Ok(Outcome::Ok(())),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            Ok(Outcome::Refused(Refused::new(
                "retired_host",
                format!("{host} is already retired"),
            )))
        }
        Err(e) => Err(e.into()),
    }
}
