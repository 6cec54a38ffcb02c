//! Coverage and gap arithmetic for one collector: the runs its schedules in force
//! asked for, the ones that left evidence, and the spans in which none did (gaps, with
//! their cause). Fed times in order; holds one open slot and one open gap.

use super::model::Gap;
use super::ts;
use crate::cron::UnixCron;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;

pub(super) struct CollectorTrack {
    pub(super) schedule: Option<UnixCron>,
    /// The zone the schedule is evaluated in (the host's, as recorded).
    pub(super) zone: Tz,
    pub(super) schedules: BTreeSet<String>,
    pub(super) slot: Option<DateTime<Utc>>,
    pub(super) covered: bool,
    pub(super) next_fire: Option<DateTime<Utc>>,
    pub(super) scheduled: u64,
    pub(super) covered_count: u64,
    pub(super) runs: u64,
    pub(super) error_runs: u64,
    pub(super) last_evidence: Option<DateTime<Utc>>,
    pub(super) slot_errors: Vec<String>,
    pub(super) gap: Option<OpenGap>,
    pub(super) gaps: Vec<Gap>,
}

pub(super) struct OpenGap {
    pub(super) start: DateTime<Utc>,
    pub(super) missed: u64,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
}

/// `part` of `whole` in percent, to two decimals; 0 when nothing was asked for.
pub(super) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    ((part as f64) * 10000.0 / (whole as f64)).round() / 100.0
}

pub(super) fn next_fire(cron: &UnixCron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.next_after(&after.with_timezone(&zone))
        .map(|t| t.with_timezone(&Utc))
}

impl CollectorTrack {
    pub(super) fn new() -> CollectorTrack {
        CollectorTrack {
            schedule: None,
            zone: chrono_tz::UTC,
            schedules: BTreeSet::new(),
            slot: None,
            covered: false,
            next_fire: None,
            scheduled: 0,
            covered_count: 0,
            runs: 0,
            error_runs: 0,
            last_evidence: None,
            slot_errors: Vec::new(),
            gap: None,
            gaps: Vec::new(),
        }
    }

    /// Schedule `cron` in `zone` from `at` on (none: not scheduled).
    pub(super) fn set_schedule(&mut self, cron: Option<UnixCron>, zone: Tz, at: DateTime<Utc>) {
        let same = match (&self.schedule, &cron) {
            (Some(a), Some(b)) => a.as_str() == b.as_str() && self.zone == zone,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        // The new schedule's first fire time at or after `at`.
        let base = at - chrono::Duration::seconds(1);
        self.next_fire = cron.as_ref().and_then(|c| next_fire(c, zone, base));
        self.schedule = cron;
        self.zone = zone;
    }

    /// Close every slot whose successor starts at or before `t` (and before `to`).
    pub(super) fn advance(&mut self, t: DateTime<Utc>, to: DateTime<Utc>, from: DateTime<Utc>) {
        self.advance_while(to, from, |nf| nf <= t);
    }

    /// Open the slots of fire times strictly before `t`: a schedule that changes at
    /// `t` owns a fire time at `t`.
    pub(super) fn advance_before(
        &mut self,
        t: DateTime<Utc>,
        to: DateTime<Utc>,
        from: DateTime<Utc>,
    ) {
        self.advance_while(to, from, |nf| nf < t);
    }

    pub(super) fn advance_while(
        &mut self,
        to: DateTime<Utc>,
        from: DateTime<Utc>,
        more: impl Fn(DateTime<Utc>) -> bool,
    ) {
        while let Some(nf) = self.next_fire {
            if !more(nf) || nf >= to {
                break;
            }
            self.close_slot(from);
            if let Some(c) = &self.schedule {
                if !self.schedules.contains(c.as_str()) {
                    self.schedules.insert(c.as_str().to_string());
                }
            }
            self.slot = Some(nf);
            self.covered = false;
            self.scheduled += 1;
            self.next_fire = self
                .schedule
                .as_ref()
                .and_then(|c| next_fire(c, self.zone, nf));
        }
    }

    pub(super) fn close_slot(&mut self, from: DateTime<Utc>) {
        if self.slot.is_none() {
            return;
        }
        if self.covered {
            self.covered_count += 1;
        } else {
            let start = self.last_evidence.unwrap_or(from).max(from);
            let gap = self.gap.get_or_insert(OpenGap {
                start,
                missed: 0,
                errors: 0,
                first_error: None,
            });
            gap.missed += 1;
        }
        let errors = std::mem::take(&mut self.slot_errors);
        if let Some(gap) = &mut self.gap {
            gap.errors += errors.len() as u64;
            if gap.first_error.is_none() {
                gap.first_error = errors.into_iter().next();
            }
        }
        self.slot = None;
    }

    /// A run at `at` (already advanced to) that left evidence: it covers the open slot
    /// and ends any gap. `others_ran_before` is the last run of any collector before it.
    pub(super) fn evidence(
        &mut self,
        name: &str,
        at: DateTime<Utc>,
        trigger: &str,
        others_ran_before: Option<DateTime<Utc>>,
    ) {
        self.runs += 1;
        if self.slot.is_some_and(|s| at >= s) {
            self.covered = true;
        }
        let others = match (others_ran_before, self.gap.as_ref()) {
            (Some(o), Some(g)) => o > g.start,
            _ => false,
        };
        self.finish_gap(name, at, false, Some(trigger), others);
        self.last_evidence = Some(at);
    }

    /// A run that could not observe: it counts, but covers nothing.
    pub(super) fn error(&mut self, reason: &str) {
        self.runs += 1;
        self.error_runs += 1;
        self.slot_errors.push(reason.to_string());
    }

    /// Close the period at `to`: the remaining slots, and any gap still open (ongoing).
    /// `last_any_run` is the last run of any collector in the period.
    pub(super) fn close(
        &mut self,
        name: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        last_any_run: Option<DateTime<Utc>>,
    ) {
        self.advance(to, to, from);
        self.close_slot(from);
        let others = match (last_any_run, self.gap.as_ref()) {
            (Some(o), Some(g)) => o > g.start,
            _ => false,
        };
        self.finish_gap(name, to, true, None, others);
    }

    pub(super) fn finish_gap(
        &mut self,
        name: &str,
        end: DateTime<Utc>,
        ongoing: bool,
        closing_trigger: Option<&str>,
        others_ran: bool,
    ) {
        let Some(g) = self.gap.take() else { return };
        let (cause, detail) = if g.errors > 0 {
            (
                "collector_error",
                format!(
                    "{} run(s) could not observe: {}",
                    g.errors,
                    g.first_error.unwrap_or_default()
                ),
            )
        } else if closing_trigger == Some("start") {
            (
                "attestd_down",
                format!("attestd was not running; it started again at {}", ts(end)),
            )
        } else if !others_ran {
            (
                "attestd_down",
                if ongoing {
                    "no collector ran until the end of the period".to_string()
                } else {
                    "no collector ran in this span".to_string()
                },
            )
        } else {
            (
                "not_run",
                "attestd ran other collectors but not this one".to_string(),
            )
        };
        self.gaps.push(Gap {
            collector: name.to_string(),
            start: ts(g.start),
            end: ts(end),
            duration_seconds: (end - g.start).num_seconds(),
            missed_runs: g.missed,
            cause: cause.to_string(),
            detail,
            ongoing,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        super::super::parse_time(s).unwrap()
    }

    /// Two hours of a quarter-hourly collector (aligned in every zone whose offset is
    /// a whole number of quarter hours).
    fn track(runs: &[(&str, Option<&str>, &str)]) -> CollectorTrack {
        let (from, to) = (t("2026-01-01T00:00:00Z"), t("2026-01-01T02:00:00Z"));
        let mut c = CollectorTrack::new();
        c.set_schedule(
            Some(UnixCron::parse("*/15 * * * *").unwrap()),
            chrono_tz::UTC,
            from,
        );
        let mut last_any = None;
        for (at, error, trigger) in runs {
            let at = t(at);
            c.advance(at, to, from);
            match error {
                None => c.evidence("c", at, trigger, last_any),
                Some(e) => c.error(e),
            }
            last_any = Some(at);
        }
        c.close("c", from, to, last_any);
        c
    }

    #[test]
    fn every_slot_covered_is_full_coverage_and_no_gap() {
        let runs: Vec<String> = (0..8)
            .map(|i| format!("2026-01-01T{:02}:{:02}:05Z", i / 4, (i % 4) * 15))
            .collect();
        let c = track(
            &runs
                .iter()
                .map(|r| (r.as_str(), None, "schedule"))
                .collect::<Vec<_>>(),
        );
        assert_eq!((c.scheduled, c.covered_count, c.runs), (8, 8, 8));
        assert_eq!(percent(c.covered_count, c.scheduled), 100.0);
        assert!(c.gaps.is_empty(), "{:?}", c.gaps);
    }

    #[test]
    fn a_stop_is_one_gap_from_the_last_evidence_to_the_next() {
        let c = track(&[
            ("2026-01-01T00:00:05Z", None, "start"),
            ("2026-01-01T00:15:05Z", None, "schedule"),
            ("2026-01-01T01:30:02Z", None, "start"),
            ("2026-01-01T01:45:05Z", None, "schedule"),
        ]);
        assert_eq!((c.scheduled, c.covered_count), (8, 4));
        assert_eq!(percent(c.covered_count, c.scheduled), 50.0);
        assert_eq!(c.gaps.len(), 1, "{:?}", c.gaps);
        let g = &c.gaps[0];
        assert_eq!(
            (g.start.as_str(), g.end.as_str()),
            ("2026-01-01T00:15:05Z", "2026-01-01T01:30:02Z")
        );
        assert_eq!(g.duration_seconds, 4497);
        assert_eq!(
            (g.missed_runs, g.cause.as_str(), g.ongoing),
            (4, "attestd_down", false)
        );
    }

    #[test]
    fn errors_cover_nothing_and_name_their_cause() {
        let c = track(&[
            ("2026-01-01T00:00:05Z", None, "start"),
            (
                "2026-01-01T00:15:05Z",
                Some("cannot read /etc/login.defs"),
                "schedule",
            ),
            ("2026-01-01T00:30:05Z", None, "schedule"),
        ]);
        assert_eq!((c.runs, c.error_runs), (3, 1));
        let causes: Vec<_> = c
            .gaps
            .iter()
            .map(|g| (g.cause.as_str(), g.ongoing))
            .collect();
        assert_eq!(causes, [("collector_error", false), ("attestd_down", true)]);
        assert!(c.gaps[0].detail.contains("cannot read /etc/login.defs"));
        // The period ends two hours in: the last evidence at 00:30 leaves 5 slots open.
        assert_eq!(c.gaps[1].missed_runs, 5);
        assert_eq!(c.gaps[1].end, "2026-01-01T02:00:00Z");
    }

    #[test]
    fn percent_rounds_to_two_places_and_is_zero_when_nothing_was_asked() {
        assert_eq!(percent(89, 96), 92.71);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 3), 33.33);
    }

    #[test]
    fn schedules_fire_in_the_zone_recorded_not_the_local_one() {
        let nine = UnixCron::parse("0 9 * * *").unwrap();
        let after = t("2026-01-01T00:00:00Z");
        let kathmandu: Tz = "Asia/Kathmandu".parse().unwrap();
        let st_johns: Tz = "America/St_Johns".parse().unwrap();
        assert_eq!(
            next_fire(&nine, kathmandu, after),
            Some(t("2026-01-01T03:15:00Z"))
        );
        assert_eq!(
            next_fire(&nine, st_johns, after),
            Some(t("2026-01-01T12:30:00Z"))
        );
        assert_eq!(
            next_fire(&nine, chrono_tz::UTC, after),
            Some(t("2026-01-01T09:00:00Z"))
        );
    }
}
