//! Probe results in the ledger and the availability they add up to. Each probe is a
//! ledger row of kind `probe` (hash-chained like everything else) keyed by the probe's
//! name. Owns appending them and summarising a period: uptime, downtime, gaps and the
//! error budget. It never runs a probe and never judges a target.
//!
//! The arithmetic: a result stands for the time from its probe until the next result,
//! but for at most 1.5 × its interval (scheduling jitter). Time in the period that no
//! result stands for is a **gap** (attestd was not running or not probing): it is
//! neither uptime nor downtime. Availability = up / (up + down) over the measured time;
//! the error budget is (1 − target) × measured time, and what is left of it is that
//! minus the downtime.

use super::{ledger, sqlite, Store, StoreError};
use attestd_ledger::body::ProbeResult;
use attestd_ledger::RowKind;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rusqlite::params;
use serde::Serialize;

/// Index for reading one probe's rows by time (appended as a migration; migrations are
/// history and keep their text).
pub const MIGRATION_PROBE_INDEX: &str =
    "CREATE INDEX ledger_probe_time ON ledger (key, recorded_at) WHERE kind = 'probe';";

/// One probe's availability over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeSummary {
    pub name: String,
    pub target: String,
    pub from: String,
    pub to: String,
    /// Probe results in the period.
    pub probes: u64,
    pub failures: u64,
    /// Seconds some result stands for (up + down).
    pub measured_seconds: f64,
    pub downtime_seconds: f64,
    /// Seconds without any result: not downtime, missing evidence.
    pub gap_seconds: f64,
    /// up / measured × 100, to 0.001; absent when nothing was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    pub target_percent: f64,
    /// (1 − target) × measured time.
    pub error_budget_seconds: f64,
    /// The budget minus the downtime (negative when overspent).
    pub error_budget_left_seconds: f64,
    /// The newest result in the period: `{at, ok, error}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<serde_json::Value>,
}

impl Store {
    /// Append one probe result as a ledger row.
    pub fn record_probe(&mut self, result: &ProbeResult) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let seq = ledger::append(&tx, &result.at, result).map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(seq)
    }

    /// The names of every probe with rows, sorted.
    pub fn probe_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT key FROM ledger WHERE kind = ?1 ORDER BY key")
            .map_err(|e| sqlite(&self.path, e))?;
        let names = stmt
            .query_map([RowKind::Probe.as_str()], |r| r.get::<_, String>(0))
            .map_err(|e| sqlite(&self.path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))?;
        Ok(names)
    }

    /// Summarise probe `name` over [from, to) against `target_percent`.
    pub fn probe_summary(
        &self,
        name: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        target_percent: f64,
    ) -> Result<ProbeSummary, StoreError> {
        // Rows up to 1.5 hours before `from` may still stand for time inside the period
        // (the longest interval is an hour).
        let lookback = from - Duration::seconds(5400);
        let mut stmt = self
            .conn
            // The kind is written into the statement (not bound) so that SQLite can use
            // the partial index `ledger_probe_time`.
            .prepare_cached(&format!(
                "SELECT recorded_at, json_extract(body, '$.ok'), json_extract(body, '$.interval_seconds'),
                        json_extract(body, '$.target'), json_extract(body, '$.error')
                 FROM ledger WHERE kind = '{}' AND key = ?1 AND recorded_at >= ?2 AND recorded_at < ?3
                 ORDER BY recorded_at",
                RowKind::Probe
            ))
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = stmt
            .query_map(params![name, stamp(lookback), stamp(to)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(|e| sqlite(&self.path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sqlite(&self.path, e))?;
        let points: Vec<Point> = rows
            .iter()
            .filter_map(|(at, ok, interval, _, _)| {
                let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
                Some(Point {
                    at,
                    ok: *ok,
                    interval_seconds: *interval as f64,
                })
            })
            .collect();
        let mut s = summarise(&points, from, to, target_percent);
        s.name = name.to_string();
        if let Some((at, ok, _, target, error)) = rows.iter().rev().find(|r| r.0 >= stamp(from)) {
            s.target = target.clone();
            s.last = Some(serde_json::json!({"at": at, "ok": ok, "error": error}));
        } else if let Some(r) = rows.last() {
            s.target = r.3.clone();
        }
        Ok(s)
    }
}

/// One probe result for the arithmetic.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub interval_seconds: f64,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The arithmetic of the module comment, over points sorted by time.
pub fn summarise(
    points: &[Point],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    target_percent: f64,
) -> ProbeSummary {
    let secs = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_milliseconds() as f64 / 1000.0;
    let (mut up, mut down, mut probes, mut failures) = (0.0, 0.0, 0u64, 0u64);
    for (i, p) in points.iter().enumerate() {
        let mut end = p.at + Duration::milliseconds((p.interval_seconds * 1500.0) as i64);
        if let Some(next) = points.get(i + 1) {
            end = end.min(next.at);
        }
        let start = p.at.max(from);
        let end = end.min(to);
        if p.at >= from && p.at < to {
            probes += 1;
            failures += u64::from(!p.ok);
        }
        if end > start {
            if p.ok {
                up += secs(start, end);
            } else {
                down += secs(start, end);
            }
        }
    }
    let period = secs(from, to).max(0.0);
    let measured = up + down;
    let budget = (1.0 - target_percent / 100.0) * measured;
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    ProbeSummary {
        name: String::new(),
        target: String::new(),
        from: stamp(from),
        to: stamp(to),
        probes,
        failures,
        measured_seconds: round(measured),
        downtime_seconds: round(down),
        gap_seconds: round((period - measured).max(0.0)),
        availability_percent: (measured > 0.0).then(|| round(up / measured * 100.0)),
        target_percent,
        error_budget_seconds: round(budget),
        error_budget_left_seconds: round(budget - down),
        last: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn downtime_gaps_and_the_error_budget_add_up() {
        // A probe a minute for 30 days; 20 minutes down; the daemon stopped for 3 hours.
        let mut pts = Vec::new();
        for m in 0..(30 * 24 * 60) {
            if (1000..1180).contains(&m) {
                continue; // attestd not running: a gap, not downtime
            }
            pts.push(Point {
                at: t(m),
                ok: !(5000..5020).contains(&m),
                interval_seconds: 60.0,
            });
        }
        let s = summarise(&pts, t(0), t(30 * 24 * 60), 99.95);
        assert_eq!(s.downtime_seconds, 1200.0);
        // The last result before the gap stands for 1.5 intervals, then the gap starts.
        assert_eq!(s.gap_seconds, 180.0 * 60.0 - 30.0);
        let measured = 30.0 * 24.0 * 3600.0 - s.gap_seconds;
        assert_eq!(s.measured_seconds, measured);
        assert!((s.error_budget_seconds - 0.0005 * measured).abs() < 0.01);
        assert!(s.error_budget_left_seconds < 100.0 && s.error_budget_left_seconds > 0.0);
        assert_eq!(
            s.availability_percent,
            Some(((1.0 - 1200.0 / measured) * 100000.0_f64).round() / 1000.0)
        );
        assert_eq!(s.failures, 20);
    }

    #[test]
    fn nothing_measured_is_no_availability_not_zero() {
        let s = summarise(&[], t(0), t(60), 99.95);
        assert_eq!(s.availability_percent, None);
        assert_eq!(s.gap_seconds, 3600.0);
        assert_eq!(s.downtime_seconds, 0.0);
    }
}
