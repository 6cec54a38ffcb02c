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

#[cfg(test)]
mod tests {
    use super::*;
    use attestd_ledger::body::AttestationKind;

    fn entry(
        id: &str,
        kind: AttestationKind,
        on: &str,
        every: Option<Recurrence>,
    ) -> AttestationEntry {
        AttestationEntry {
            id: id.into(),
            seq: 1,
            recorded_at: format!("{on}T00:00:00Z"),
            kind,
            title: id.into(),
            controls: vec!["soc2:CC6.3".into()],
            effective_from: on.into(),
            effective_to: on.into(),
            expires: None,
            every,
            performed_by: None,
            owner: "alice".into(),
            recorded_by: "root".into(),
            files: vec![],
            supersedes: None,
            superseded_by: None,
            not_applicable: false,
            review: "pending".into(),
            reviews: vec![],
            counts_as_evidence: true,
            in_force: true,
        }
    }

    fn day(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    #[test]
    fn expectations_are_missing_overdue_due_soon_expired_or_ok() {
        let x = vec![Expectation {
            control: "soc2:CC6.3".into(),
            kinds: vec![AttestationKind::AccessReview],
            every: Some(Recurrence::Quarterly),
            note: String::new(),
        }];
        let status = |entries: &[AttestationEntry], today: &str| {
            due(&x, entries, day(today), 14, Some("soc2"))[0]
                .status
                .clone()
        };
        assert_eq!(status(&[], "2026-01-01"), "missing");
        let e = entry("a", AttestationKind::AccessReview, "2026-01-10", None);
        assert_eq!(status(std::slice::from_ref(&e), "2026-02-01"), "ok");
        assert_eq!(status(std::slice::from_ref(&e), "2026-04-01"), "due_soon");
        assert_eq!(status(std::slice::from_ref(&e), "2026-04-10"), "overdue");
        let mut expiring = e.clone();
        expiring.expires = Some("2026-02-15".into());
        assert_eq!(
            status(std::slice::from_ref(&expiring), "2026-02-05"),
            "expiring"
        );
        assert_eq!(
            status(std::slice::from_ref(&expiring), "2026-02-15"),
            "expired"
        );
        // Another kind, a rejected one, or another framework does not count.
        let other = entry("b", AttestationKind::Training, "2026-01-10", None);
        assert_eq!(status(&[other], "2026-02-01"), "missing");
        let mut rejected = e.clone();
        rejected.counts_as_evidence = false;
        assert_eq!(status(&[rejected], "2026-02-01"), "missing");
        assert!(due(&x, &[], day("2026-01-01"), 14, Some("iso27001-2022")).is_empty());
    }

    #[test]
    fn a_renewed_attestation_reminds_no_one() {
        let old = entry(
            "old",
            AttestationKind::AccessReview,
            "2026-01-10",
            Some(Recurrence::Quarterly),
        );
        let r = reminders(std::slice::from_ref(&old), day("2026-04-01"), 14);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].reason.as_str(), r[0].date.as_str(), r[0].overdue),
            ("due", "2026-04-10", false)
        );
        assert_eq!(r[0].key(), "attest:old:due:2026-04-10");
        let new = entry(
            "new",
            AttestationKind::AccessReview,
            "2026-04-05",
            Some(Recurrence::Quarterly),
        );
        assert!(reminders(&[old, new], day("2026-04-06"), 14).is_empty());
    }
}
