//! Attestations over a period, computed once from the `attestation` and
//! `attestation_review` rows (bundle and `verify` both call this): which attestations
//! were in force and their review trail, each recurring control's expected occurrences
//! met or missed (a miss is a gap), expiries not renewed in time (exceptions, from the
//! expiry day), and the statement of applicability over the controls asked for.
//!
//! Rules an auditor can check by hand:
//! - An attestation counts as evidence unless its latest review rejected it or a later
//!   revision supersedes it. Unreviewed ones count and say `pending`.
//! - It is in force in the period when its effective span starts before the period ends
//!   and it has not expired before the period starts.
//! - A recurring series (one control, one kind, the shortest `every` among its counting
//!   attestations) expects one occurrence per interval counted from the period start; an
//!   occurrence is met by a counting attestation whose effective span touches it. An
//!   interval that ends after the period is `not_yet_due` when unmet, never a gap.
//! - An expiry inside the period that no other counting attestation of the same kind and
//!   control covers is an exception from that day until the next one takes effect.
//!
//! Never reads a store or the clock.

use super::ts;
use crate::body::{
    parse_day, AttachedFile, Attestation, AttestationKind, AttestationReview, Recurrence,
};
use crate::{Row, RowKind};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One review in an attestation's trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub seq: i64,
    pub recorded_at: String,
    pub decision: String,
    pub by: String,
    pub reason: String,
    pub recorded_by: String,
}

/// One attestation revision in the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttestationEntry {
    pub id: String,
    pub seq: i64,
    pub recorded_at: String,
    pub kind: AttestationKind,
    pub title: String,
    pub controls: Vec<String>,
    pub effective_from: String,
    pub effective_to: String,
    pub expires: Option<String>,
    pub every: Option<Recurrence>,
    pub performed_by: Option<String>,
    pub owner: String,
    pub recorded_by: String,
    pub files: Vec<AttachedFile>,
    pub supersedes: Option<String>,
    pub superseded_by: Option<String>,
    pub not_applicable: bool,
    /// `pending`, `approved` or `rejected` (the latest review).
    pub review: String,
    pub reviews: Vec<ReviewEntry>,
    /// Not rejected and not superseded.
    pub counts_as_evidence: bool,
    /// Its effective span and validity touch the period.
    pub in_force: bool,
}

/// One expected occurrence of a recurring control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// First and last day of the interval (inclusive).
    pub from: String,
    pub to: String,
    /// `met`, `missed` (a gap) or `not_yet_due` (the interval ends after the period).
    pub status: String,
    /// The attestations that met it.
    pub attestations: Vec<String>,
}

/// A recurring control: one control, one kind, its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub control: String,
    pub kind: AttestationKind,
    pub every: Recurrence,
    pub expected: u64,
    pub met: u64,
    pub missed: u64,
    pub occurrences: Vec<Occurrence>,
}

/// An expired attestation not renewed in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttestationException {
    pub control: String,
    pub kind: AttestationKind,
    pub attestation: String,
    /// The expiry day: the exception starts at 00:00 UTC that day.
    pub from: String,
    /// When a renewal took effect; none while it lasts to the period end.
    pub until: Option<String>,
    pub duration_seconds: i64,
    pub open: bool,
}

/// One control in the statement of applicability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applicability {
    pub control: String,
    pub name: String,
    /// `tested`, `attested`, `both`, `not_applicable` or `not_evidenced`.
    pub source: String,
    /// The tested result (`effective`, `exceptions`, ...), when attestd tested it.
    pub tested_result: Option<String>,
    /// Counting attestations in force for it.
    pub attestations: Vec<String>,
    /// For `not_applicable`: the attestation that justifies it and its title.
    pub justification: Option<String>,
    /// Missed occurrences and expiry exceptions of its attestations.
    pub gaps: u64,
    pub exceptions: u64,
}

/// What summary.json's `computed.attestations` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttestationSummary {
    pub attestations: Vec<AttestationEntry>,
    pub series: Vec<Series>,
    pub exceptions: Vec<AttestationException>,
    pub applicability: Vec<Applicability>,
}

/// Collects the attestation rows of a bundle (all recorded before the period end).
#[derive(Default)]
pub(super) struct AttestTrack {
    records: Vec<(i64, String, Attestation)>,
    reviews: Vec<(i64, String, AttestationReview)>,
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

impl AttestTrack {
    pub(super) fn row(&mut self, row: &Row) -> Result<(), String> {
        match row.kind {
            RowKind::Attestation => {
                let a: Attestation = row.decode().map_err(|e| e.to_string())?;
                self.records.push((row.seq, row.recorded_at.clone(), a));
            }
            RowKind::AttestationReview => {
                let r: AttestationReview = row.decode().map_err(|e| e.to_string())?;
                self.reviews.push((row.seq, row.recorded_at.clone(), r));
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.reviews.is_empty()
    }

    /// The summary over `[from, to)`. `controls` are the statement's controls with
    /// their names; `tested` maps a control to its tested result.
    pub(super) fn finish(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        controls: &[(String, String)],
        tested: &BTreeMap<String, String>,
    ) -> AttestationSummary {
        let mut superseded_by: BTreeMap<&str, &str> = BTreeMap::new();
        for (_, _, a) in &self.records {
            if let Some(old) = &a.supersedes {
                superseded_by.entry(old.as_str()).or_insert(a.key.as_str());
            }
        }
        let mut entries: Vec<AttestationEntry> = Vec::new();
        for (seq, at, a) in &self.records {
            let reviews: Vec<ReviewEntry> = self
                .reviews
                .iter()
                .filter(|(_, _, r)| r.key == a.key)
                .map(|(s, t, r)| ReviewEntry {
                    seq: *s,
                    recorded_at: t.clone(),
                    decision: r.decision.as_str().into(),
                    by: r.by.clone(),
                    reason: r.reason.clone(),
                    recorded_by: r.recorded_by.clone(),
                })
                .collect();
            let review = reviews
                .last()
                .map(|r| r.decision.clone())
                .unwrap_or_else(|| "pending".into());
            let sup = superseded_by.get(a.key.as_str()).map(|s| s.to_string());
            let start = parse_day(&a.effective.from).map(day_start).unwrap_or(to);
            let expired_before = a
                .expires
                .as_deref()
                .and_then(|e| parse_day(e).ok())
                .is_some_and(|e| day_start(e) <= from);
            entries.push(AttestationEntry {
                id: a.key.clone(),
                seq: *seq,
                recorded_at: at.clone(),
                kind: a.kind,
                title: a.title.clone(),
                controls: a.controls.clone(),
                effective_from: a.effective.from.clone(),
                effective_to: a.effective.to.clone(),
                expires: a.expires.clone(),
                every: a.every,
                performed_by: a.performed_by.clone(),
                owner: a.owner_name().to_string(),
                recorded_by: a.recorded_by.clone(),
                files: a.files.clone(),
                supersedes: a.supersedes.clone(),
                counts_as_evidence: review != "rejected" && sup.is_none(),
                superseded_by: sup,
                not_applicable: a.not_applicable,
                review,
                reviews,
                in_force: start < to && !expired_before,
            });
        }
        // Keep what is in force and every revision linked to it.
        let mut keep: BTreeSet<String> = entries
            .iter()
            .filter(|e| e.in_force)
            .map(|e| e.id.clone())
            .collect();
        loop {
            let before = keep.len();
            for e in &entries {
                let linked = e.supersedes.as_ref().is_some_and(|s| keep.contains(s))
                    || e.superseded_by.as_ref().is_some_and(|s| keep.contains(s));
                if linked {
                    keep.insert(e.id.clone());
                }
            }
            if keep.len() == before {
                break;
            }
        }
        entries.retain(|e| keep.contains(&e.id));

        let counting: Vec<&AttestationEntry> = entries
            .iter()
            .filter(|e| e.counts_as_evidence && e.in_force && !e.not_applicable)
            .collect();
        let series = series(&counting, from, to);
        let exceptions = expiries(&counting, from, to);

        let mut applicability = Vec::new();
        for (control, name) in controls {
            let atts: Vec<String> = counting
                .iter()
                .filter(|e| e.controls.contains(control))
                .map(|e| e.id.clone())
                .collect();
            let tested_result = tested.get(control).cloned();
            let is_tested = tested_result.as_deref().is_some_and(|r| r != "not_tested");
            let na = entries.iter().find(|e| {
                e.not_applicable
                    && e.counts_as_evidence
                    && e.in_force
                    && e.controls.contains(control)
            });
            let source = match (is_tested, !atts.is_empty()) {
                (true, true) => "both",
                (true, false) => "tested",
                (false, true) => "attested",
                (false, false) if na.is_some() => "not_applicable",
                _ => "not_evidenced",
            };
            let gaps = series
                .iter()
                .filter(|s| &s.control == control)
                .map(|s| s.missed)
                .sum();
            let exc = exceptions.iter().filter(|x| &x.control == control).count() as u64;
            applicability.push(Applicability {
                control: control.clone(),
                name: name.clone(),
                source: source.into(),
                tested_result,
                attestations: atts,
                justification: na
                    .filter(|_| source == "not_applicable")
                    .map(|e| format!("{}: {}", e.id, e.title)),
                gaps,
                exceptions: exc,
            });
        }
        AttestationSummary {
            attestations: entries,
            series,
            exceptions,
            applicability,
        }
    }
}

/// The same summary straight from attestation rows, without a bundle's other rows (for
/// `attest list` and reminders): `tested` is empty, so no control counts as tested.
pub fn attestation_summary<'r>(
    rows: impl IntoIterator<Item = &'r Row>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    controls: &[(String, String)],
) -> Result<AttestationSummary, String> {
    let mut track = AttestTrack::default();
    for r in rows {
        track.row(r)?;
    }
    Ok(track.finish(from, to, controls, &BTreeMap::new()))
}

fn span(e: &AttestationEntry) -> Option<(NaiveDate, NaiveDate)> {
    Some((
        parse_day(&e.effective_from).ok()?,
        parse_day(&e.effective_to).ok()?,
    ))
}

/// Every (control, kind) with a recurring counting attestation: its occurrences.
fn series(counting: &[&AttestationEntry], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Series> {
    let mut every: BTreeMap<(String, AttestationKind), Recurrence> = BTreeMap::new();
    for e in counting {
        if let Some(r) = e.every {
            for c in &e.controls {
                every
                    .entry((c.clone(), e.kind))
                    .and_modify(|x| {
                        if r.months() < x.months() {
                            *x = r
                        }
                    })
                    .or_insert(r);
            }
        }
    }
    let start = from.date_naive();
    let mut out = Vec::new();
    for ((control, kind), r) in every {
        let mut s = Series {
            control: control.clone(),
            kind,
            every: r,
            expected: 0,
            met: 0,
            missed: 0,
            occurrences: Vec::new(),
        };
        let mut i = 0;
        loop {
            let a = r.add(start, i);
            let b = r.add(start, i + 1); // exclusive
            if day_start(a) >= to {
                break;
            }
            let met: Vec<String> = counting
                .iter()
                .filter(|e| e.kind == kind && e.controls.contains(&control))
                .filter(|e| span(e).is_some_and(|(x, y)| x < b && y >= a))
                .map(|e| e.id.clone())
                .collect();
            let cut = day_start(b) > to;
            let status = if !met.is_empty() {
                "met"
            } else if cut {
                "not_yet_due"
            } else {
                "missed"
            };
            if status != "not_yet_due" {
                s.expected += 1;
            }
            match status {
                "met" => s.met += 1,
                "missed" => s.missed += 1,
                _ => {}
            }
            s.occurrences.push(Occurrence {
                from: a.to_string(),
                to: b.pred_opt().unwrap_or(b).to_string(),
                status: status.into(),
                attestations: met,
            });
            i += 1;
        }
        out.push(s);
    }
    out
}

/// Expiries inside the period that nothing of the same kind and control covers.
fn expiries(
    counting: &[&AttestationEntry],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<AttestationException> {
    let mut out: BTreeMap<(String, AttestationKind, NaiveDate), AttestationException> =
        BTreeMap::new();
    for e in counting {
        let Some(exp) = e.expires.as_deref().and_then(|x| parse_day(x).ok()) else {
            continue;
        };
        let at = day_start(exp);
        if at < from || at >= to {
            continue;
        }
        for c in &e.controls {
            let same: Vec<&&AttestationEntry> = counting
                .iter()
                .filter(|o| o.kind == e.kind && o.controls.contains(c) && o.id != e.id)
                .collect();
            let valid_at = |o: &AttestationEntry, d: NaiveDate| {
                let start = parse_day(&o.effective_from).ok();
                let end = o.expires.as_deref().and_then(|x| parse_day(x).ok());
                start.is_some_and(|s| s <= d) && end.is_none_or(|x| d < x)
            };
            if same.iter().any(|o| valid_at(o, exp)) {
                continue;
            }
            let renewal = same
                .iter()
                .filter_map(|o| parse_day(&o.effective_from).ok())
                .filter(|s| *s > exp)
                .min()
                .map(day_start)
                .filter(|t| *t < to);
            let end = renewal.unwrap_or(to);
            out.entry((c.clone(), e.kind, exp))
                .or_insert(AttestationException {
                    control: c.clone(),
                    kind: e.kind,
                    attestation: e.id.clone(),
                    from: exp.to_string(),
                    until: renewal.map(ts),
                    duration_seconds: (end - at).num_seconds(),
                    open: renewal.is_none(),
                });
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Effective;
    use crate::Body;

    fn att(key: &str, kind: AttestationKind, day: &str, every: Option<Recurrence>) -> Attestation {
        Attestation {
            key: key.into(),
            kind,
            title: key.into(),
            controls: vec!["iso27001-2022:A.5.18".into()],
            effective: Effective {
                from: day.into(),
                to: day.into(),
            },
            expires: None,
            every,
            performed_by: None,
            owner: None,
            recorded_by: "root".into(),
            files: vec![],
            supersedes: None,
            not_applicable: false,
        }
    }

    fn row<B: Body>(seq: i64, b: &B) -> Row {
        Row::new(
            seq,
            B::KIND,
            "2025-01-01T00:00:00Z",
            b.to_body(),
            &crate::GENESIS,
        )
    }

    fn t(s: &str) -> DateTime<Utc> {
        super::super::parse_time(s).unwrap()
    }

    #[test]
    fn one_missed_quarter_is_one_gap() {
        let mut track = AttestTrack::default();
        for (i, d) in ["2025-02-10", "2025-05-03", "2025-11-20"]
            .iter()
            .enumerate()
        {
            let a = att(
                &format!("q{i}"),
                AttestationKind::AccessReview,
                d,
                Some(Recurrence::Quarterly),
            );
            track.row(&row(i as i64 + 1, &a)).unwrap();
        }
        let s = track.finish(
            t("2025-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(s.series.len(), 1);
        let series = &s.series[0];
        assert_eq!((series.expected, series.met, series.missed), (4, 3, 1));
        let missed: Vec<_> = series
            .occurrences
            .iter()
            .filter(|o| o.status == "missed")
            .map(|o| (o.from.as_str(), o.to.as_str()))
            .collect();
        assert_eq!(missed, [("2025-07-01", "2025-09-30")]);
    }

    #[test]
    fn an_expiry_without_renewal_is_an_exception_from_that_day() {
        let mut track = AttestTrack::default();
        let mut a = att("t1", AttestationKind::Training, "2024-07-01", None);
        a.expires = Some("2025-07-01".into());
        track.row(&row(1, &a)).unwrap();
        let mut b = att("t2", AttestationKind::Training, "2025-09-01", None);
        b.expires = Some("2026-09-01".into());
        track.row(&row(2, &b)).unwrap();
        let s = track.finish(
            t("2025-01-01T00:00:00Z"),
            t("2026-01-01T00:00:00Z"),
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(s.exceptions.len(), 1, "{:?}", s.exceptions);
        let x = &s.exceptions[0];
        assert_eq!(x.from, "2025-07-01");
        assert_eq!(x.until.as_deref(), Some("2025-09-01T00:00:00Z"));
        assert_eq!(x.duration_seconds, 62 * 86400);
        assert!(!x.open);
    }
}
