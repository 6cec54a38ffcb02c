//! When each collector next runs: the daemon's timetable over the five-field Unix cron
//! schedules of `attestd_ledger::cron`. It never reads the clock: callers pass the
//! time, so tests inject it.

pub use attestd_ledger::cron::UnixCron;
use chrono::{DateTime, TimeZone};

/// When each collector next runs. Pure bookkeeping over times the caller passes in.
#[derive(Debug, Clone, Default)]
pub struct Timetable<Z: TimeZone> {
    next: std::collections::BTreeMap<String, (UnixCron, DateTime<Z>)>,
}

impl<Z: TimeZone> Timetable<Z> {
    /// A timetable whose first fire times are the first after `now`.
    pub fn new(schedules: impl IntoIterator<Item = (String, UnixCron)>, now: &DateTime<Z>) -> Self {
        let next = schedules
            .into_iter()
            .filter_map(|(name, cron)| cron.next_after(now).map(|t| (name, (cron, t))))
            .collect();
        Timetable { next }
    }

    /// The earliest next fire time, if any collector is scheduled.
    pub fn next_fire(&self) -> Option<DateTime<Z>> {
        self.next.values().map(|(_, t)| t.clone()).min()
    }

    /// The collectors due at `now` (fire time reached), each moved on to its next fire
    /// time after `now`. Missed fire times collapse into one run, as with cron.
    pub fn take_due(&mut self, now: &DateTime<Z>) -> Vec<String> {
        let mut due = Vec::new();
        for (name, (cron, at)) in self.next.iter_mut() {
            if *at <= *now {
                due.push(name.clone());
                if let Some(t) = cron.next_after(now) {
                    *at = t;
                }
            }
        }
        due
    }
}

#[cfg(test)]
mod timetable_tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn fires_each_collector_on_its_own_schedule() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T08:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut t = Timetable::new(
            [
                ("weekly".to_string(), UnixCron::parse("0 9 * * 1").unwrap()),
                (
                    "quarter".to_string(),
                    UnixCron::parse("*/15 * * * *").unwrap(),
                ),
            ],
            &start,
        );
        // Step an injected clock minute by minute through a week and record fires.
        let mut fires: Vec<(String, String)> = Vec::new();
        let mut now = start;
        while now < start + chrono::Duration::days(7) + chrono::Duration::minutes(2) {
            now += chrono::Duration::minutes(1);
            for name in t.take_due(&now) {
                fires.push((name, now.format("%a %H:%M").to_string()));
            }
        }
        let weekly: Vec<_> = fires
            .iter()
            .filter(|(n, _)| n == "weekly")
            .map(|(_, at)| at.as_str())
            .collect();
        assert_eq!(weekly, ["Mon 09:00", "Mon 09:00"]);
        let quarters = fires.iter().filter(|(n, _)| n == "quarter").count();
        // Monday 09:00 up to and including the next Monday 09:00.
        assert_eq!(quarters, 7 * 24 * 4 + 1);
        assert_eq!(t.next_fire().unwrap().format("%H:%M").to_string(), "09:15");
    }

    #[test]
    fn a_late_wakeup_runs_once_not_once_per_missed_slot() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut t = Timetable::new(
            [("c".to_string(), UnixCron::parse("*/5 * * * *").unwrap())],
            &start,
        );
        let late = start + chrono::Duration::minutes(31);
        assert_eq!(t.take_due(&late), vec!["c".to_string()]);
        assert!(t.take_due(&late).is_empty());
        assert_eq!(
            t.next_fire().unwrap().to_rfc3339(),
            "2026-11-23T10:35:00+00:00"
        );
    }
}
