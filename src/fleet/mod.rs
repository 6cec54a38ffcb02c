//! The host's side of the fleet: `attestd enroll` registers the host's Ed25519 key with
//! the server once, `attestd push` sends the ledger rows the server does not hold yet
//! (from the durable ledger, in batches, resuming from the head the server reports) and
//! records each signed receipt as a `receipt` row. Never sends the private key, never
//! rewrites a row, never links PostgreSQL code (the server is a separate crate).

mod blobs;

pub use crate::config::fleet::FleetSection;

use crate::bundle::signing::{key_dir, HostKey};
use crate::store::Store;
use attestd_ledger::body::Receipt;
use attestd_ledger::fleet::{
    push_message, EnrollRequest, EnrollResponse, HeadRequest, HeadResponse, PushRequest,
    PushResponse, Refusal, ENROLL_PATH, HEAD_PATH, PUSH_PATH,
};
use attestd_ledger::{Row, RowKind};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use std::path::{Path, PathBuf};

/// The server's witness key, saved at enrolment beside the database.
pub const WITNESS_FILE: &str = crate::bundle::receipts::WITNESS_FILE;
/// What enrolment recorded: server, host name, scope.
pub const ENROLLMENT_FILE: &str = "fleet-enrollment.json";

/// The recorded enrolment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Enrollment {
    pub server: String,
    pub host: String,
    pub scope: String,
    /// Enrolled as an organisation ledger: it uploads its attested files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub organisation: bool,
}

fn host_name(section: &FleetSection) -> String {
    section.host.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    })
}

fn client(section: &FleetSection) -> Result<reqwest::Client, String> {
    crate::crypto::install();
    let url = reqwest::Url::parse(&section.server)
        .map_err(|e| format!("[fleet] server = {:?}: {e}", section.server))?;
    let loopback = matches!(
        url.host_str(),
        Some("127.0.0.1" | "localhost" | "::1" | "[::1]")
    );
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(format!("[fleet] server = {:?}: the fleet server is reached over https (plain http only on loopback)", section.server));
    }
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(ca) = &section.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| format!("[fleet] ca_file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("[fleet] ca_file {}: {e}", ca.display()))?;
        b = b.tls_certs_only([cert]);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTPS client: {e}"))
}

/// Why a fleet request failed: a sentence, and the server's refusal code when it
/// refused.
#[derive(Debug, Clone)]
pub struct PushError {
    pub message: String,
    /// The server's refusal (`forked`, `gap`, `retired_host`, ...), if it answered one.
    pub refused: Option<String>,
}

impl PushError {
    /// Did the server refuse the host's history as forked?
    pub fn forked(&self) -> bool {
        self.refused.as_deref() == Some("forked")
    }
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for PushError {
    fn from(message: String) -> PushError {
        PushError {
            message,
            refused: None,
        }
    }
}

impl From<&str> for PushError {
    fn from(message: &str) -> PushError {
        PushError::from(message.to_string())
    }
}

/// How many times one request is retried after a 503 or 429 answer.
const OVERLOAD_RETRIES: u32 = 8;

/// `Retry-After` in seconds (the HTTP-date form is not used by the fleet server).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn post<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    section: &FleetSection,
    path: &str,
    body: &Q,
) -> Result<A, PushError> {
    let url = format!("{}{path}", section.server.trim_end_matches('/'));
    let mut attempt = 0u32;
    let r = loop {
        let r = client
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::error_text::with_causes(&e)))?;
        // An overloaded server (503, 429) says when to come back: wait that long
        // (capped, with a little spread so many hosts do not return at once) and retry,
        // a few times, before the push fails and the pusher's own backoff takes over.
        let status = r.status();
        let busy = status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        if !busy || attempt >= OVERLOAD_RETRIES {
            break r;
        }
        attempt += 1;
        let secs = retry_after(r.headers()).unwrap_or(2).clamp(1, 60);
        let spread = u64::from(fastrand::u16(..500));
        tracing::info!(
            url,
            status = status.as_u16(),
            retry_in_secs = secs,
            attempt,
            "fleet: server busy; retrying"
        );
        tokio::time::sleep(std::time::Duration::from_millis(secs * 1000 + spread)).await;
    };
    let status = r.status();
    let text = r
        .text()
        .await
        .map_err(|e| format!("{url}: {}", crate::error_text::with_causes(&e)))?;
    if !status.is_success() {
        return Err(match serde_json::from_str::<Refusal>(&text) {
            Ok(f) => PushError {
                message: format!("{url}: refused ({}): {}", f.refused, f.message),
                refused: Some(f.refused),
            },
            Err(_) => format!("{url}: HTTP {status}").into(),
        });
    }
    Ok(serde_json::from_str(&text)
        .map_err(|e| format!("{url}: not an answer of the fleet server: {e}"))?)
}

/// Enrol this host with a one-use token; saves the witness key and the enrolment.
pub async fn enroll(
    section: &FleetSection,
    database: &Path,
    token: &str,
) -> Result<Enrollment, String> {
    let key = HostKey::load_or_create(database)?;
    let client = client(section)?;
    let req = EnrollRequest {
        token: token.to_string(),
        host: host_name(section),
        public_key: key.public_pem(),
    };
    let ans: EnrollResponse = post(&client, section, ENROLL_PATH, &req)
        .await
        .map_err(|e| e.message)?;
    VerifyingKey::from_public_key_pem(ans.witness_key.trim())
        .map_err(|e| format!("the server's witness key is not an Ed25519 key: {e}"))?;
    let dir = key_dir(database);
    std::fs::write(dir.join(WITNESS_FILE), &ans.witness_key)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let enrollment = Enrollment {
        server: section.server.clone(),
        host: ans.host,
        scope: ans.scope,
        organisation: ans.organisation,
    };
    let path = dir.join(ENROLLMENT_FILE);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&enrollment).expect("json"),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(enrollment)
}

/// What one `push` did.
#[derive(Debug, Default)]
pub struct PushReport {
    pub pushes: u64,
    pub rows: u64,
    /// The last receipted head: (seq, head).
    pub receipted: Option<(i64, String)>,
}

fn rows_from(store: &Store, from: i64, limit: usize) -> Result<Vec<Row>, String> {
    store.rows_from(from, limit).map_err(|e| e.to_string())
}

fn last_seq(store: &Store) -> Result<i64, String> {
    store.last_seq().map_err(|e| e.to_string())
}

fn witness_key(database: &Path) -> Result<(VerifyingKey, PathBuf), String> {
    let path = key_dir(database).join(WITNESS_FILE);
    let pem = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}; run `attestd enroll --token TOKEN` first",
            path.display()
        )
    })?;
    let k = VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((k, path))
}

/// Push every row the server does not hold, batch by batch, and record each receipt.
/// Rows that are only receipts are not pushed on their own (they go with the next run's
/// rows), so pushing reaches a fixed point.
pub async fn push(
    section: &FleetSection,
    store: &Store,
    database: &Path,
) -> Result<PushReport, PushError> {
    let key = HostKey::load_or_create(database)?;
    let (witness, witness_path) = witness_key(database)?;
    let client = client(section)?;
    let host = host_name(section);
    let organisation = std::fs::read(key_dir(database).join(ENROLLMENT_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<Enrollment>(&b).ok())
        .is_some_and(|e| e.organisation);
    let mut report = PushReport::default();
    let mut last_receipt: Option<Receipt> = None;
    loop {
        let head: HeadResponse = post(
            &client,
            section,
            HEAD_PATH,
            &HeadRequest { host: host.clone() },
        )
        .await?;
        let local_last = last_seq(store)?;
        // Re-send the row the server holds last, so it can tell a rewritten history.
        let from = head.seq.min(local_last).max(1);
        let rows = rows_from(store, from, section.batch_rows.max(2))?;
        let new: Vec<&Row> = rows.iter().filter(|r| r.seq > head.seq).collect();
        // A ledger that ends before, or differs at, the head the server witnessed is
        // pushed anyway: the server records the fork (the host cannot hide it).
        let diverged = local_last < head.seq
            || rows.first().is_some_and(|r| {
                r.seq == head.seq && r.chain_out().as_deref() != Some(head.head.as_str())
            });
        if !diverged && new.is_empty() {
            break;
        }
        if !diverged
            && new.iter().all(|r| r.kind == RowKind::Receipt)
            && rows.len() < section.batch_rows.max(2)
        {
            break;
        }
        if organisation {
            blobs::upload(&client, &section.server, &host, &key, database, &new).await?;
        }
        let last = rows.last().ok_or("the ledger is empty")?;
        let chain = last.chain_out().ok_or("a ledger row's hash is not hex")?;
        let signature = hex::encode(key.sign(&push_message(&host, last.seq, &chain)));
        let req = PushRequest {
            host: host.clone(),
            rows: rows.clone(),
            signature,
        };
        let ans: PushResponse = post(&client, section, PUSH_PATH, &req).await?;
        check_receipt(&ans.receipt, &host, last.seq, &chain, &witness)
            .map_err(|e| format!("{e} (witness key {})", witness_path.display()))?;
        report.pushes += 1;
        report.rows += ans.stored;
        report.receipted = Some((ans.receipt.seq, ans.receipt.head.clone()));
        last_receipt = Some(ans.receipt);
        if rows.len() < section.batch_rows.max(2) {
            break;
        }
    }
    // The last receipt goes into the ledger (the server's log holds every one); it is
    // pushed with the next rows.
    if let Some(r) = last_receipt {
        let now = crate::clock::rfc3339(crate::clock::now());
        store.append_one(&now, &r).map_err(|e| e.to_string())?;
    }
    Ok(report)
}

/// A receipt must be for this host and head, and signed by the witness key.
pub fn check_receipt(
    r: &Receipt,
    host: &str,
    seq: i64,
    head: &str,
    witness: &VerifyingKey,
) -> Result<(), String> {
    if r.host != host || r.seq != seq || r.head != head {
        return Err(format!(
            "the server's receipt is for {} row {} head {}, not for what was pushed",
            r.host, r.seq, r.head
        ));
    }
    let sig = hex::decode(&r.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or("the receipt's signature is not an Ed25519 signature")?;
    witness.verify(&r.message(), &sig).map_err(|_| {
        "the receipt's signature does not verify with the server's witness key".to_string()
    })
}

/// The rule an alert about a refused (forked) history names.
pub const FORK_RULE: &str = "fleet.witnessed_chain";

/// Raise a push the server refused as forked through the host's alert sinks: an
/// `alert` row (critical, log-protection controls) queued for every sink its route
/// admits. Raised once: while the newest alert about [`FORK_RULE`] is still open, a
/// later refusal raises nothing more. None when no sink is configured or nothing new
/// was raised.
pub fn raise_fork(
    store: &Store,
    alerts: &crate::alert::AlertsSection,
    host: &str,
    error: &PushError,
) -> Result<Option<crate::alert::AlertRecord>, String> {
    use crate::alert::{AlertItem, AlertRecord, ItemKind};
    if alerts.sinks.is_empty() || !error.forked() {
        return Ok(None);
    }
    let open = store
        .recent_alerts(200)
        .map_err(|e| e.to_string())?
        .iter()
        .flat_map(|a| a.items.iter())
        .find(|i| i.rule == FORK_RULE)
        .is_some_and(|i| i.kind != ItemKind::Resolved);
    if open {
        return Ok(None);
    }
    let now = crate::clock::rfc3339(crate::clock::now());
    let items = vec![AlertItem {
        kind: ItemKind::Failing,
        rule: FORK_RULE.into(),
        title: "The fleet server refused this host's ledger: its history no longer continues the chain the server witnessed".into(),
        collector: "fleet".into(),
        status: attestd_ledger::body::Status::Fail,
        severity: "critical".into(),
        controls: vec![
            "soc2:CC7.2".into(),
            "iso27001-2022:A.8.15".into(),
            "iso27001-2013:A.12.4.2".into(),
        ],
        observed: serde_json::Value::String(error.message.clone()),
        expected: "every push continues the chain the server holds for this host".into(),
        reason: Some("forked".into()),
        remediation: "The ledger was truncated, restored from an old copy or rewritten: find out who changed it and when; the server keeps the witnessed history and the incident (attestd-server hosts shows the host as forked).".into(),
        failing_since: Some(now.clone()),
        consecutive_failures: 1,
    }];
    let routes = crate::alert::route(&items, alerts);
    if routes.is_empty() {
        return Ok(None);
    }
    let record = AlertRecord {
        key: uuid::Uuid::now_v7().to_string(),
        host: host.to_string(),
        run: "fleet-push".into(),
        created_at: now,
        items,
        routes,
        test: false,
    };
    store
        .enqueue_alert_now(&record)
        .map_err(|e| e.to_string())?;
    tracing::error!(host, alert = %record.key, "fleet: the server refused this host's ledger as forked; alert raised");
    Ok(Some(record))
}

/// The host name pushes are made under.
pub fn push_host(section: &FleetSection) -> String {
    host_name(section)
}

/// The database a fleet command works on.
pub fn database(explicit: Option<&Path>, config: &crate::config::Config) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| config.database.clone())
        .unwrap_or_else(crate::paths::default_database)
}

/// The daemon's pusher: a thread of its own (own SQLite connection, own runtime) that
/// pushes every `push_interval_secs`, and after a failure retries with a doubling
/// backoff from 5 s up to the interval (at most an hour), so a server that was down
/// gets the backlog soon after it is back. Nothing is lost while it fails: the rows stay
/// in the durable ledger. None when there is no `[fleet]` section.
pub fn spawn_pusher(
    section: Option<FleetSection>,
    alerts: crate::alert::AlertsSection,
    database: &Path,
) -> Option<std::thread::JoinHandle<()>> {
    let section = section?;
    let database = database.to_path_buf();
    std::thread::Builder::new()
        .name("fleet-push".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                tracing::error!("fleet: cannot start the push runtime");
                return;
            };
            let interval = std::time::Duration::from_secs(section.push_interval_secs.clamp(1, 86_400));
            let mut backoff = std::time::Duration::from_secs(5).min(interval);
            loop {
                let result = Store::open(&database)
                    .map_err(|e| PushError::from(e.to_string()))
                    .and_then(|store| {
                        rt.block_on(push(&section, &store, &database)).inspect_err(|e| {
                            if let Err(a) = raise_fork(&store, &alerts, &host_name(&section), e) {
                                tracing::error!(error = %a, "fleet: cannot raise the fork alert");
                            }
                        })
                    });
                let wait = match result {
                    Ok(r) => {
                        if r.rows > 0 {
                            tracing::info!(rows = r.rows, pushes = r.pushes, "fleet: pushed");
                        }
                        backoff = std::time::Duration::from_secs(5).min(interval);
                        interval
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "fleet: push failed");
                        let w = backoff;
                        backoff = (backoff * 2).min(interval.max(std::time::Duration::from_secs(5))).min(std::time::Duration::from_secs(3600));
                        w
                    }
                };
                std::thread::sleep(wait);
            }
        })
        .map_err(|e| tracing::error!(error = %e, "fleet: cannot start the pusher"))
        .ok()
}
