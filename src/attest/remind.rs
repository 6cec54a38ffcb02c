//! Reminders as alerts: each attestation falling due or expiring within the horizon
//! (`[attest] reminder_days`) becomes one `alert` row through the existing outbox and
//! sinks, once per attestation, reason and date (the alert's key), naming the owner.
//! Time comes from the caller's clock; it never sends (the delivery worker does).

use super::due::{reminders, Reminder};
use crate::alert::AlertPolicy;
use crate::store::Store;
use attestd_ledger::body::{AlertItem, AlertRecord, ItemKind, Status};
use attestd_ledger::summary::attestation_summary;
use chrono::{DateTime, Utc};

/// The alert item for a reminder.
pub fn item(r: &Reminder) -> AlertItem {
    let what = match (r.reason.as_str(), r.overdue) {
        ("due", true) => "was due",
        ("due", false) => "falls due",
        (_, true) => "expired",
        _ => "expires",
    };
    AlertItem {
        kind: ItemKind::AttestationDue,
        rule: format!("attest:{}", r.attestation),
        title: format!(
            "{} ({}) {what} on {}; owner: {}",
            r.title, r.kind, r.date, r.owner
        ),
        collector: "attest".into(),
        status: if r.overdue { Status::Fail } else { Status::Pass },
        severity: "medium".into(),
        controls: r.controls.clone(),
        observed: serde_json::json!({
            "attestation": r.attestation,
            "reason": r.reason,
            "date": r.date,
            "owner": r.owner,
        }),
        expected: format!("a new {} attestation by {}", r.kind, r.date),
        reason: None,
        remediation: format!(
            "{} records the next one: attestd attest add --kind {} --control {} --title ... --effective DATE (or attest supersede {} to correct this one)",
            r.owner,
            r.kind,
            r.controls.join(" --control "),
            r.attestation
        ),
        failing_since: None,
        consecutive_failures: 0,
    }
}

/// Enqueue the reminders due at `now` within `horizon_days`; returns those enqueued
/// now (earlier ones with the same key are not sent again). Nothing when `policy` is
/// none (no sink configured).
pub fn enqueue(
    store: &mut Store,
    policy: Option<&AlertPolicy>,
    now: DateTime<Utc>,
    horizon_days: i64,
) -> Result<Vec<Reminder>, String> {
    let Some(policy) = policy else {
        return Ok(Vec::new());
    };
    let rows = store.attestation_rows().map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let end = now + chrono::Duration::seconds(1);
    let summary = attestation_summary(&rows, DateTime::<Utc>::MIN_UTC, end, &[])?;
    let mut sent = Vec::new();
    let created = crate::clock::rfc3339(now);
    for r in reminders(&summary.attestations, now.date_naive(), horizon_days) {
        let items = vec![item(&r)];
        let routes = crate::alert::route(&items, &policy.section);
        let record = AlertRecord {
            key: r.key(),
            host: policy.host.clone(),
            run: format!("attest-reminder:{}", now.date_naive()),
            created_at: created.clone(),
            items,
            routes,
            test: false,
        };
        if store.enqueue_reminder(&record).map_err(|e| e.to_string())? {
            sent.push(r);
        }
    }
    Ok(sent)
}
