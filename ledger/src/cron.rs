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
        let variants = translate(&fields).map_err(|m| format!("invalid schedule `{text}`: {m}"))?;
        let schedules = variants
            .iter()
            .map(|v| {
                // The fields were checked above; the crate's message speaks of its
                // six-field form, so it is only a fallback.
                cron::Schedule::from_str(v).map_err(|e| {
                    let e = e.to_string();
                    format!(
                        "invalid schedule `{text}`: {}",
                        e.lines().last().unwrap_or("")
                    )
                })
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

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// One of the five fields as the operator writes it.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for `min`, `min + 1`, ... (months, weekdays).
    names: &'static [&'static str],
    /// How the names are written, for messages.
    names_hint: &'static str,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_hint: "",
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_hint: "",
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        names_hint: "",
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTH_NAMES,
        names_hint: " or jan-dec",
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &WEEKDAY_NAMES,
        names_hint: " or sun-sat, 0 and 7 = Sunday",
    },
];

impl Field {
    fn range(&self) -> String {
        format!("{}-{}{}", self.min, self.max, self.names_hint)
    }

    fn value(&self, token: &str) -> Result<u32, String> {
        if let Some(i) = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(token))
        {
            return Ok(self.min + i as u32);
        }
        let shown = if !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()) {
            token.to_string()
        } else {
            format!("`{token}`")
        };
        token
            .parse::<u32>()
            .ok()
            .filter(|n| (self.min..=self.max).contains(n))
            .ok_or_else(|| format!("{} must be {}, found {shown}", self.name, self.range()))
    }

    /// The values a field selects (`*`, `N`, `N-M`, `*/S`, `N-M/S`, `N/S`, lists).
    fn values(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut on = vec![false; self.max as usize + 1];
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step = s.parse::<u32>().ok().filter(|n| (1..=self.max).contains(n));
                    let step = step.ok_or_else(|| {
                        format!("{} step must be 1-{}, found `{s}`", self.name, self.max)
                    })?;
                    (r, step)
                }
                None => (item, 1),
            };
            let (start, end) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!("{} range `{range}` runs backwards", self.name));
                }
                (a, b)
            } else {
                let v = self.value(range)?;
                (v, if step > 1 { self.max } else { v })
            };
            for v in (start..=end).step_by(step as usize) {
                on[v as usize] = true;
            }
        }
        Ok((0..=self.max).filter(|v| on[*v as usize]).collect())
    }
}

fn list(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The most days a month can have (February: 29, in leap years).
fn max_days(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Check the five fields (with their own names and ranges, as the operator wrote them)
/// and return the six-field expressions the `cron` crate runs (seconds first, explicit
/// lists, weekdays 1-7 from Sunday): one, or two when day-of-month and day-of-week are
/// both restricted (Unix cron fires when EITHER matches). A schedule that can never
/// fire (`0 0 30 2 *`) is an error.
fn translate(fields: &[&str]) -> Result<Vec<String>, String> {
    let mut values = Vec::with_capacity(5);
    for (field, text) in FIELDS.iter().zip(fields) {
        values.push(field.values(text)?);
    }
    let as_cron = |i: usize| {
        if fields[i] == "*" {
            "*".to_string()
        } else {
            list(&values[i])
        }
    };
    let dow = if fields[4] == "*" {
        "*".to_string()
    } else {
        let mut days: Vec<u32> = values[4].iter().map(|d| d % 7 + 1).collect();
        days.sort_unstable();
        days.dedup();
        list(&days)
    };
    let dom_restricted = fields[2] != "*";
    let dow_restricted = fields[4] != "*";
    if dom_restricted && !dow_restricted {
        let fires = values[3]
            .iter()
            .any(|m| values[2].iter().any(|d| *d <= max_days(*m)));
        if !fires {
            return Err(format!(
                "it never fires: no month in `{}` has day {}",
                fields[3], fields[2]
            ));
        }
    }
    let (minute, hour, month) = (as_cron(0), as_cron(1), as_cron(3));
    Ok(if dom_restricted && dow_restricted {
        vec![
            format!("0 {minute} {hour} {} {month} *", as_cron(2)),
            format!("0 {minute} {hour} * {month} {dow}"),
        ]
    } else {
        vec![format!("0 {minute} {hour} {} {month} {dow}", as_cron(2))]
    })
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
            ("61 * * * *", "minute must be 0-59, found 61"),
            ("* 24 * * *", "hour must be 0-23, found 24"),
            ("0 0 32 * *", "day-of-month must be 1-31, found 32"),
            ("0 0 0 * *", "day-of-month must be 1-31, found 0"),
            ("0 0 * 13 *", "month must be 1-12 or jan-dec, found 13"),
            (
                "0 9 * * 8",
                "day-of-week must be 0-7 or sun-sat, 0 and 7 = Sunday, found 8",
            ),
            (
                "0 9 * * funday",
                "day-of-week must be 0-7 or sun-sat, 0 and 7 = Sunday, found `funday`",
            ),
            ("0 9 * * 5-1", "backwards"),
            ("*/0 * * * *", "minute step must be 1-59"),
            ("1,,2 * * * *", "found ``"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ] {
            let err = UnixCron::parse(expr).unwrap_err();
            assert!(err.contains(needle), "{expr}: {err}");
            assert!(
                !err.contains("less than"),
                "{expr}: the crate's message: {err}"
            );
        }
        // The edges are accepted.
        for expr in [
            "59 23 31 12 7",
            "0 0 29 2 *",
            "0 0 30 2 1",
            "0 0 1-31/10 jan-mar sun",
        ] {
            UnixCron::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        }
        // 29 February fires in leap years.
        let leap = UnixCron::parse("0 0 29 2 *").unwrap();
        assert_eq!(
            leap.next_after(&at("2026-11-23T00:00:00Z"))
                .unwrap()
                .to_rfc3339(),
            "2028-02-29T00:00:00+00:00"
        );
    }
}
