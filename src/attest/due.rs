//! What is due: per expectation of the shipped catalog, whether the control has a
//! counting attestation and when the next one falls due or it expires (`due`); per
//! attestation, the reminders within a horizon (`reminders`). Pure functions of the
//! attestation summary and `today`; they never read the store or the clock.

use super::expect::Expectation;
use attestd_ledger::body::{parse_day, Recurrence};
use attestd_ledger::summary::AttestationEntry;
use chrono::NaiveDate;
use serde::Serialize;

/// One expectation's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueItem {
    pub control: String,
    pub kinds: Vec<String>,
    pub every: Option<String>,
    /// `missing`, `overdue`, `expired`, `due_soon`, `expiring`, `ok` or
    /// `not_applicable`.
    pub status: String,
    /// The latest counting attestation.
    pub last: Option<String>,
    pub last_effective: Option<String>,
    /// When the next one is due, or the latest expires (the earlier).
    pub due: Option<String>,
    pub owner: Option<String>,
    pub note: String,
}

fn counting(e: &AttestationEntry) -> bool {
    e.counts_as_evidence && !e.not_applicable
}

fn next_due(e: &AttestationEntry) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let to = parse_day(&e.effective_to).ok();
    let due = match (to, e.every) {
        (Some(t), Some(r)) => Some(r.add(t, 1)),
        _ => None,
    };
    let exp = e.expires.as_deref().and_then(|x| parse_day(x).ok());
    (due, exp)
}

/// The state of each expectation whose control starts with `framework:` (all when
/// none), on `today`, with `horizon_days` of warning.
pub fn due(
    expectations: &[Expectation],
    entries: &[AttestationEntry],
    today: NaiveDate,
    horizon_days: i64,
    framework: Option<&str>,
) -> Vec<DueItem> {
    let soon = today + chrono::Duration::days(horizon_days);
    let mut out = Vec::new();
    for x in expectations {
        if let Some(f) = framework {
            if !x.control.starts_with(&format!("{f}:")) {
                continue;
            }
        }
        let kinds: Vec<String> = x.kinds.iter().map(|k| k.as_str().to_string()).collect();
        let latest = entries
            .iter()
            .filter(|e| counting(e) && e.controls.contains(&x.control) && x.kinds.contains(&e.kind))
            .max_by(|a, b| a.effective_to.cmp(&b.effective_to).then(a.seq.cmp(&b.seq)));
        let mut item = DueItem {
            control: x.control.clone(),
            kinds,
            every: x.every.map(|r| r.as_str().to_string()),
            status: String::new(),
            last: None,
            last_effective: None,
            due: None,
            owner: None,
            note: x.note.clone(),
        };
        let Some(e) = latest else {
            let na = entries.iter().any(|e| {
                e.not_applicable && e.counts_as_evidence && e.controls.contains(&x.control)
            });
            item.status = if na { "not_applicable" } else { "missing" }.into();
            out.push(item);
            continue;
        };
        item.last = Some(e.id.clone());
        item.last_effective = Some(e.effective_to.clone());
        item.owner = Some(e.owner.clone());
        let (own_due, exp) = next_due(e);
        let due = match (own_due, x.every) {
            (Some(d), _) => Some(d),
            (None, Some(r)) => parse_day(&e.effective_to).ok().map(|t| r.add(t, 1)),
            (None, None) => None,
        };
        let (date, by_expiry) = match (due, exp) {
            (Some(d), Some(x)) if x < d => (Some(x), true),
            (Some(d), _) => (Some(d), false),
            (None, Some(x)) => (Some(x), true),
            (None, None) => (None, false),
        };
        item.due = date.map(|d| d.to_string());
        item.status = match date {
            Some(d) if d <= today => {
                if by_expiry {
                    "expired"
                } else {
                    "overdue"
                }
            }
            Some(d) if d <= soon => {
                if by_expiry {
                    "expiring"
                } else {
                    "due_soon"
                }
            }
            _ => "ok",
        }
        .into();
        out.push(item);
    }
    out
}

/// A reminder for one attestation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reminder {
    pub attestation: String,
    pub title: String,
    pub kind: String,
    pub controls: Vec<String>,
    pub owner: String,
    /// `due` (the next occurrence) or `expires`.
    pub reason: String,
    pub date: String,
    /// The date is today or past.
    pub overdue: bool,
}

impl Reminder {
    /// Once per attestation, reason and date.
    pub fn key(&self) -> String {
        format!("attest:{}:{}:{}", self.attestation, self.reason, self.date)
    }
}

/// Attestations that fall due or expire on or before `today + horizon_days` and that
/// no later counting attestation of the same kind and a shared control renews.
pub fn reminders(
    entries: &[AttestationEntry],
    today: NaiveDate,
    horizon_days: i64,
) -> Vec<Reminder> {
    let soon = today + chrono::Duration::days(horizon_days);
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| counting(e)) {
        let renewed = entries.iter().any(|o| {
            counting(o)
                && o.id != e.id
                && o.kind == e.kind
                && o.controls.iter().any(|c| e.controls.contains(c))
                && o.effective_to > e.effective_to
        });
        if renewed {
            continue;
        }
        let (due, exp) = next_due(e);
        for (reason, date) in [("due", due), ("expires", exp)] {
            let Some(d) = date else { continue };
            if d > soon {
                continue;
            }
            out.push(Reminder {
                attestation: e.id.clone(),
                title: e.title.clone(),
                kind: e.kind.as_str().into(),
                controls: e.controls.clone(),
                owner: e.owner.clone(),
                reason: reason.into(),
                date: d.to_string(),
                overdue: d <= today,
            });
        }
    }
    out
}

/// `1y`, `6mo`, `3mo`, `1mo`.
pub fn parse_every(s: &str) -> Option<Recurrence> {
    Recurrence::parse(s)
}
