//! Five-field Unix cron schedules, as operators write them, on top of the `cron` crate.
//! Lives in the ledger crate because every summary of a period (host and fleet
//! bundles, and `verify`) counts the runs a schedule in force asked for.
//!
//! Owns the translation (the crate wants a seconds field and numbers weekdays 1-7 from
//! Sunday; Unix cron numbers them 0-7 with 0 and 7 both Sunday) and Unix cron's rule
//! that a job with both day-of-month and day-of-week restricted runs when EITHER
//! matches. It never reads the clock: callers pass the time, so tests inject it.

use chrono::{DateTime, TimeZone};
use std::str::FromStr;

/// A parsed Unix cron expression.
#[derive(Debug, Clone)]
pub struct UnixCron {
    text: String,
    /// One schedule, or two when day-of-month and day-of-week are both restricted
    /// (the job fires on the earlier of the two).
    schedules: Vec<cron::Schedule>,
}

const WEEKDAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl UnixCron {
    /// Parse `*/15 * * * *`, `0 9 * * 1`, `30 2 1 * *`, or a macro such as `@daily`.
    pub fn parse(text: &str) -> Result<UnixCron, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "invalid schedule `{text}`: expected five fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        let dow =
            translate_weekdays(fields[4]).map_err(|m| format!("invalid schedule `{text}`: {m}"))?;
        let dom_restricted = fields[2] != "*";
        let dow_restricted = fields[4] != "*";
        let mut variants = Vec::new();
        if dom_restricted && dow_restricted {
            variants.push(format!(
                "0 {} {} {} {} *",
                fields[0], fields[1], fields[2], fields[3]
            ));
            variants.push(format!(
                "0 {} {} * {} {}",
                fields[0], fields[1], fields[3], dow
            ));
        } else {
            variants.push(format!(
                "0 {} {} {} {} {}",
                fields[0], fields[1], fields[2], fields[3], dow
            ));
        }
        let schedules = variants
            .iter()
            .map(|v| {
                cron::Schedule::from_str(v).map_err(|e| format!("invalid schedule `{text}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UnixCron {
            text: text.to_string(),
            schedules,
        })
    }

    /// The expression as the operator wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first fire time strictly after `after`, in `after`'s time zone.
    pub fn next_after<Z: TimeZone>(&self, after: &DateTime<Z>) -> Option<DateTime<Z>> {
        self.schedules
            .iter()
            .filter_map(|s| s.after(after).next())
            .min()
    }
}

/// Rewrite a Unix day-of-week field (0-7, names, ranges, steps, lists) as the explicit
/// list of days the `cron` crate understands (1 = Sunday ... 7 = Saturday).
fn translate_weekdays(field: &str) -> Result<String, String> {
    if field == "*" {
        return Ok("*".into());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step `{s}` in day-of-week"))?,
            ),
            None => (item, 1),
        };
        let (start, end) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            (weekday_number(a)?, weekday_number(b)?)
        } else {
            let d = weekday_number(range)?;
            (d, if step > 1 { 7 } else { d })
        };
        if start > end {
            return Err(format!("day-of-week range `{range}` runs backwards"));
        }
        for d in (start..=end).step_by(step) {
            days[d % 7] = true;
        }
    }
    Ok(days
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(d, _)| (d + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

fn weekday_number(token: &str) -> Result<usize, String> {
    if let Ok(n) = token.parse::<usize>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!("day-of-week `{n}` is out of range 0-7"))
        };
    }
    WEEKDAY_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(token))
        .ok_or_else(|| format!("`{token}` is not a day of the week (0-7 or sun..sat)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Utc, Weekday};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, after: &str) -> String {
        UnixCron::parse(expr)
            .unwrap()
            .next_after(&at(after))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn monday_is_one_and_sunday_is_zero_or_seven() {
        // 2026-11-23 is a Monday.
        assert_eq!(at("2026-11-23T00:00:00Z").weekday(), Weekday::Mon);
        assert_eq!(
            next("0 9 * * 1", "2026-11-23T09:00:00Z"),
            "2026-11-30T09:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * 1", "2026-11-22T12:00:00Z"),
            "2026-11-23T09:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * 0", "2026-11-23T00:00:00Z"),
            "2026-11-29T09:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * 7", "2026-11-23T00:00:00Z"),
            "2026-11-29T09:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * sat", "2026-11-23T00:00:00Z"),
            "2026-11-28T09:00:00+00:00"
        );
        // Weekdays only: Friday 09:00 is followed by Monday 09:00.
        assert_eq!(
            next("0 9 * * 1-5", "2026-11-27T09:00:00Z"),
            "2026-11-30T09:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * * 5-7", "2026-11-23T00:00:00Z"),
            "2026-11-27T09:00:00+00:00"
        );
    }

    #[test]
    fn steps_and_macros() {
        assert_eq!(
            next("*/15 * * * *", "2026-11-23T10:07:30Z"),
            "2026-11-23T10:15:00+00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-11-23T10:45:00Z"),
            "2026-11-23T11:00:00+00:00"
        );
        assert_eq!(
            next("@daily", "2026-11-23T10:00:00Z"),
            "2026-11-24T00:00:00+00:00"
        );
        assert_eq!(
            next("@weekly", "2026-11-23T10:00:00Z"),
            "2026-11-29T00:00:00+00:00"
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_as_in_unix_cron() {
        // The 1st of the month OR any Monday: from Tuesday 2026-11-24 the 1st of
        // December (a Tuesday) comes after Monday the 30th.
        assert_eq!(
            next("0 0 1 * 1", "2026-11-24T00:00:00Z"),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 1 * 1", "2026-11-30T00:00:00Z"),
            "2026-12-01T00:00:00+00:00"
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for (expr, needle) in [
            ("* * * *", "five fields"),
            ("61 * * * *", "invalid schedule"),
            ("0 9 * * 8", "out of range"),
            ("0 9 * * funday", "not a day"),
            ("0 9 * * 5-1", "backwards"),
        ] {
            let err = UnixCron::parse(expr).unwrap_err();
            assert!(err.contains(needle), "{expr}: {err}");
        }
    }
}
