//! The delivery worker: takes pending alerts from the store's outbox and sends them
//! through the sinks, one task per sink so a slow or broken sink never holds up the
//! others. Each sink receives its alerts in order of creation; a failure is retried
//! with exponential backoff and jitter (the alerts behind it wait), a 4xx that cannot
//! succeed is marked failed with its reason, and every attempt is recorded as a ledger
//! row. An alert is marked delivered only after the receiver accepted it; a stop in the
//! middle of a send leaves it pending, so after a restart it is sent again (receivers
//! drop duplicates by the idempotency key). It never plans alerts.

use super::sink::{SendContext, SendError, SinkConfig};
use super::{AlertsSection, AttemptOutcome, AttemptRecord, Message};
use crate::clock::rfc3339;
use crate::store::outbox::{AttemptResult, QueuedDelivery};
use crate::store::{Store, StoreError};
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Deliveries taken from the queue (and recorded) at a time.
const BATCH: usize = 100;

/// The wait before retry number `attempt` (1-based): initial × 2^(attempt-1), capped,
/// then scaled by a random factor in [0.5, 1.0) so many hosts do not retry in step.
pub fn backoff(attempt: u32, section: &AlertsSection) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let base = section
        .retry_initial_seconds
        .saturating_mul(1u64 << exp)
        .min(section.retry_max_seconds) as f64;
    // `from_secs_f64` panics on a value beyond Duration's range; a day is the config's bound.
    Duration::try_from_secs_f64((base * (0.5 + fastrand::f64() * 0.5)).max(1.0))
        .unwrap_or(Duration::from_secs(86_400))
}

/// What one pass over a sink did.
#[derive(Debug, Default, Clone)]
pub struct BatchReport {
    pub delivered: usize,
    pub retry: usize,
    pub failed: usize,
    /// The oldest pending alert is waiting for a retry (nothing more to do now).
    pub blocked: bool,
}

impl BatchReport {
    pub fn attempts(&self) -> usize {
        self.delivered + self.retry + self.failed
    }
}

/// Send up to one batch of due alerts to one sink, in order, and record every attempt.
/// Stops at the first failure that will be retried (order is kept) or when `stop`
/// turns true (a send in flight is abandoned and stays pending).
pub async fn deliver_batch(
    store: &mut Store,
    name: &str,
    sink: &SinkConfig,
    ctx: &SendContext,
    section: &AlertsSection,
    stop: Option<&mut watch::Receiver<bool>>,
) -> Result<BatchReport, StoreError> {
    let now = rfc3339(crate::clock::now());
    let due = tokio::task::block_in_place(|| store.due_deliveries(name, &now, BATCH))?;
    let mut report = BatchReport::default();
    let mut results = Vec::new();
    let mut stop = stop;
    for q in due {
        let msg = Message::for_sink(&q.alert, name);
        let outcome = match stop.as_deref_mut() {
            Some(stop) => {
                tokio::select! {
                    r = sink.send(ctx, &msg) => r,
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            None => sink.send(ctx, &msg).await,
        };
        let (record, keep_going) = attempt_record(&q, outcome, section);
        log_attempt(&q, &record);
        match record.outcome {
            AttemptOutcome::Delivered => report.delivered += 1,
            AttemptOutcome::Retry => report.retry += 1,
            AttemptOutcome::Failed => report.failed += 1,
        }
        results.push(AttemptResult {
            alert_seq: q.alert_seq,
            record,
        });
        if !keep_going {
            report.blocked = true;
            break;
        }
    }
    tokio::task::block_in_place(|| store.record_attempts(&results))?;
    Ok(report)
}

fn attempt_record(
    q: &QueuedDelivery,
    outcome: Result<super::sink::Sent, SendError>,
    section: &AlertsSection,
) -> (AttemptRecord, bool) {
    let attempt = q.attempts + 1;
    let now = crate::clock::now();
    let mut rec = AttemptRecord {
        key: q.alert.key.clone(),
        sink: q.sink.clone(),
        attempt,
        at: rfc3339(now),
        outcome: AttemptOutcome::Delivered,
        status: None,
        error: None,
        next_attempt_at: None,
    };
    match outcome {
        Ok(sent) => {
            rec.status = sent.status;
            (rec, true)
        }
        Err(e) if e.retry => {
            // Checked: the config bounds the backoff to a day, but no value may panic.
            let next = chrono::TimeDelta::from_std(backoff(attempt, section))
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(now + chrono::TimeDelta::days(1));
            rec.outcome = AttemptOutcome::Retry;
            rec.status = e.status;
            rec.error = Some(e.message);
            rec.next_attempt_at = Some(rfc3339(next));
            (rec, false)
        }
        Err(e) => {
            rec.outcome = AttemptOutcome::Failed;
            rec.status = e.status;
            rec.error = Some(format!(
                "{} (not retried: fix the sink's configuration)",
                e.message
            ));
            (rec, true)
        }
    }
}

fn log_attempt(q: &QueuedDelivery, r: &AttemptRecord) {
    match r.outcome {
        AttemptOutcome::Delivered => tracing::info!(
            alert = %q.alert.key, sink = %q.sink, attempt = r.attempt,
            status = r.status.unwrap_or(0), "alert delivered"
        ),
        AttemptOutcome::Retry => tracing::warn!(
            alert = %q.alert.key, sink = %q.sink, attempt = r.attempt,
            error = r.error.as_deref().unwrap_or(""),
            next_attempt_at = r.next_attempt_at.as_deref().unwrap_or(""),
            "alert delivery failed; will retry"
        ),
        AttemptOutcome::Failed => tracing::error!(
            alert = %q.alert.key, sink = %q.sink, attempt = r.attempt,
            error = r.error.as_deref().unwrap_or(""),
            "alert delivery failed permanently; giving up"
        ),
    }
}

/// Deliver everything due now through every configured sink (for `attestd alerts
/// deliver`): returns each sink's totals.
pub async fn deliver_all_due(
    store: &mut Store,
    section: &AlertsSection,
) -> Result<Vec<(String, BatchReport)>, StoreError> {
    let ctx = SendContext::new(Duration::from_secs(section.timeout_seconds));
    let mut out = Vec::new();
    for (name, sink) in &section.sinks {
        let mut total = BatchReport::default();
        loop {
            let r = deliver_batch(store, name, sink, &ctx, section, None).await?;
            total.delivered += r.delivered;
            total.retry += r.retry;
            total.failed += r.failed;
            if r.blocked || r.attempts() == 0 {
                total.blocked = r.blocked;
                break;
            }
        }
        out.push((name.clone(), total));
    }
    Ok(out)
}

/// The running delivery worker of the daemon: one task per sink.
pub struct Worker {
    stop: watch::Sender<bool>,
    wake: watch::Sender<u64>,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl Worker {
    /// Start one delivery task per configured sink (none if there are no sinks).
    pub fn start(db: &Path, section: &AlertsSection) -> Worker {
        let (stop, stop_rx) = watch::channel(false);
        let (wake, wake_rx) = watch::channel(0u64);
        let mut tasks = JoinSet::new();
        let section = Arc::new(section.clone());
        for (name, sink) in &section.sinks {
            tasks.spawn(sink_loop(
                db.to_path_buf(),
                name.clone(),
                sink.clone(),
                section.clone(),
                wake_rx.clone(),
                stop_rx.clone(),
            ));
        }
        Worker {
            stop,
            wake,
            tasks,
            grace: Duration::from_secs(5),
        }
    }

    /// New alerts were written: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Stop every task after its current send, recording what was sent.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, all).await.is_err() {
            tracing::warn!("alert delivery did not stop in time; unsent alerts stay pending");
            self.tasks.abort_all();
        }
    }
}

async fn sink_loop(
    db: PathBuf,
    name: String,
    sink: SinkConfig,
    section: Arc<AlertsSection>,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut store = match tokio::task::block_in_place(|| Store::open_for_daemon(&db)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(sink = %name, error = %e, "alert delivery cannot open the database");
            return;
        }
    };
    let ctx = SendContext::new(Duration::from_secs(section.timeout_seconds));
    tracing::info!(sink = %name, r#type = sink.type_name(), "alert sink ready");
    loop {
        if *stop.borrow() {
            return;
        }
        let report = match deliver_batch(&mut store, &name, &sink, &ctx, &section, Some(&mut stop))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(sink = %name, error = %e, "alert delivery: database error; retrying in 5 s");
                BatchReport {
                    blocked: true,
                    ..Default::default()
                }
            }
        };
        if report.attempts() > 0 && !report.blocked {
            continue;
        }
        let wait = tokio::task::block_in_place(|| store.next_due(&name))
            .ok()
            .flatten()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| {
                (t.with_timezone(&Utc) - crate::clock::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(200))
            })
            .unwrap_or(Duration::from_secs(30))
            .min(Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.changed() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Send a test message through each sink (or only `only`) directly, without the
/// outbox; returns each sink's result.
pub async fn test_sinks(
    section: &AlertsSection,
    host: &str,
    only: Option<&str>,
) -> Vec<(String, Result<super::sink::Sent, SendError>)> {
    let ctx = SendContext::new(Duration::from_secs(section.timeout_seconds));
    let id = uuid::Uuid::now_v7().to_string();
    let msg = Message {
        id: id.clone(),
        host: host.to_string(),
        run: "test".into(),
        created_at: rfc3339(crate::clock::now()),
        items: vec![],
        test: true,
    };
    let mut out = Vec::new();
    for (name, sink) in &section.sinks {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        out.push((name.clone(), sink.send(&ctx, &msg).await));
    }
    out
}
