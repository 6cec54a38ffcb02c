//! The documented range of every number an operator can write in the config, checked
//! on the parsed document before any typed deserialization, so an out-of-range, negative,
//! fractional or mistyped number is refused at load with `file:line: `key`: range`.
//!
//! Owns `RANGES`, the one table of numeric keys (the daemon's, each collector's, the
//! `[alerts]` section's and its sinks'); docs/configuration.md lists the same table and a
//! test keeps the two equal. Downstream code may rely on a loaded config's numbers being
//! inside these ranges (durations built from them cannot overflow), but still uses
//! checked arithmetic. It never reads files and never interprets a value beyond its range.

use crate::location::{FileError, LineIndex};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One numeric key and the whole numbers it accepts.
#[derive(Debug, Clone, Copy)]
pub struct NumberRange {
    /// The key as a pattern: `.`-separated segments, `*` for any one key, `exec:*` for any
    /// plugin, `[]` after a key for every element of its array.
    pub key: &'static str,
    pub min: i64,
    pub max: i64,
    /// What the number counts, and what a special value means.
    pub unit: &'static str,
}

const fn r(key: &'static str, min: i64, max: i64, unit: &'static str) -> NumberRange {
    NumberRange {
        key,
        min,
        max,
        unit,
    }
}

/// Every number in the config. Keep docs/configuration.md ("Numeric ranges") in step:
/// `tests/config_ranges.rs` compares them.
pub const RANGES: &[NumberRange] = &[
    r("daemon.collector_timeout_seconds", 1, 3600, "seconds"),
    r("collectors.*.timeout_seconds", 1, 3600, "seconds"),
    r("collectors.exec:*.max_output_bytes", 1, 67_108_864, "bytes"),
    r(
        "collectors.availability.probes[].timeout_seconds",
        1,
        300,
        "seconds, at most interval_seconds",
    ),
    r(
        "collectors.availability.probes[].interval_seconds",
        1,
        3600,
        "seconds",
    ),
    r(
        "collectors.availability.probes[].expected_status",
        100,
        599,
        "an HTTP status",
    ),
    r(
        "collectors.backup.repositories[].timeout_seconds",
        1,
        3600,
        "seconds",
    ),
    r("collectors.tls.connect_timeout_seconds", 1, 60, "seconds"),
    r("collectors.tls.read_timeout_seconds", 1, 60, "seconds"),
    r("alerts.consecutive_failures", 1, 1000, "runs"),
    r("alerts.consecutive_failures_by_severity.*", 1, 1000, "runs"),
    r("alerts.consecutive_failures_by_rule.*", 1, 1000, "runs"),
    r(
        "alerts.renotify_minutes",
        0,
        525_600,
        "minutes, 0 = never; at most a year",
    ),
    r(
        "alerts.retry_initial_seconds",
        1,
        86_400,
        "seconds, at most retry_max_seconds",
    ),
    r("alerts.retry_max_seconds", 1, 86_400, "seconds"),
    r("alerts.timeout_seconds", 1, 300, "seconds"),
    r("alerts.sinks.*.port", 1, 65_535, "a TCP port"),
    r("attest.reminder_days", 1, 365, "days ahead"),
];

/// One step of a key path in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index,
}

fn pattern_steps(pattern: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for seg in pattern.split('.') {
        match seg.strip_suffix("[]") {
            Some(key) => {
                steps.push(Step::Key(key));
                steps.push(Step::Index);
            }
            None => steps.push(Step::Key(seg)),
        }
    }
    steps
}

fn step_matches(pattern: &Step<'_>, actual: &Step<'_>) -> bool {
    match (pattern, actual) {
        (Step::Index, Step::Index) => true,
        (Step::Key("*"), Step::Key(_)) => true,
        (Step::Key(p), Step::Key(a)) => match p.strip_suffix('*') {
            Some(prefix) => a.starts_with(prefix),
            None => p == a,
        },
        _ => false,
    }
}

/// The range whose pattern is exactly this path, if any.
fn range_for(path: &[Step<'_>]) -> Option<&'static NumberRange> {
    // A specific pattern wins over a wildcard one (`collectors.tls...` over `collectors.*`).
    RANGES
        .iter()
        .filter(|r| {
            let steps = pattern_steps(r.key);
            steps.len() == path.len() && steps.iter().zip(path).all(|(p, a)| step_matches(p, a))
        })
        .min_by_key(|r| r.key.matches('*').count())
}

/// `a.b[2].c`, quoting keys that are not bare.
fn display_path(keys: &[String]) -> String {
    let mut out = String::new();
    for k in keys {
        if k.starts_with('[') {
            out.push_str(k);
            continue;
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(k);
    }
    out
}

/// Describe a value that is not a whole number in range.
fn found(value: &DeValue<'_>) -> String {
    match value {
        DeValue::Integer(i) => {
            let digits = i.as_str();
            match i.radix() {
                10 => digits.to_string(),
                16 => format!("0x{digits}"),
                8 => format!("0o{digits}"),
                _ => format!("0b{digits}"),
            }
        }
        DeValue::Float(f) => format!("{} (a fraction; write a whole number)", f.as_str()),
        DeValue::String(s) => format!("the string {s:?} (write the number without quotes)"),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(_) => "a date".into(),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// Check every numeric key of a config document, `doc` parsed from `text`, against
/// `RANGES`.
pub fn check(file: &str, text: &str, doc: &DeTable<'_>) -> Result<(), FileError> {
    let lines = LineIndex::new(text);
    let mut steps = Vec::new();
    let mut keys = Vec::new();
    walk_table(doc, &mut steps, &mut keys, &|key, range, value| {
        Err(FileError {
            file: file.to_string(),
            line: lines.line_of_span(&value.span()),
            field: key,
            message: format!(
                "must be a whole number from {} to {} ({}), found {}",
                range.min,
                range.max,
                range.unit,
                found(value.get_ref())
            ),
        })
    })
}

type Report<'r> = dyn Fn(String, &NumberRange, &Spanned<DeValue<'_>>) -> Result<(), FileError> + 'r;

fn walk_table<'a>(
    table: &'a DeTable<'a>,
    steps: &mut Vec<Step<'a>>,
    keys: &mut Vec<String>,
    report: &Report<'_>,
) -> Result<(), FileError> {
    for (k, v) in table.iter() {
        steps.push(Step::Key(k.get_ref().as_ref()));
        keys.push(k.get_ref().to_string());
        walk_value(v, steps, keys, report)?;
        keys.pop();
        steps.pop();
    }
    Ok(())
}

fn walk_value<'a>(
    value: &'a Spanned<DeValue<'a>>,
    steps: &mut Vec<Step<'a>>,
    keys: &mut Vec<String>,
    report: &Report<'_>,
) -> Result<(), FileError> {
    if let Some(range) = range_for(steps) {
        let ok = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .is_ok_and(|n| (range.min..=range.max).contains(&n)),
            _ => false,
        };
        return if ok {
            Ok(())
        } else {
            report(display_path(keys), range, value)
        };
    }
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, steps, keys, report),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                steps.push(Step::Index);
                keys.push(format!("[{i}]"));
                walk_value(item, steps, keys, report)?;
                keys.pop();
                steps.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The documented ranges as the Markdown table rows in docs/configuration.md.
pub fn markdown_rows() -> Vec<String> {
    RANGES
        .iter()
        .map(|r| format!("| `{}` | {} | {} | {} |", r.key, r.min, r.max, r.unit))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> FileError {
        check_text(text).unwrap_err()
    }

    #[test]
    fn out_of_range_numbers_name_line_key_and_range() {
        let e = err("[alerts]\n\nrenotify_minutes = 1000000000000000\n");
        assert_eq!((e.line, e.field.as_str()), (3, "alerts.renotify_minutes"));
        assert!(e.message.contains("from 0 to 525600"), "{e}");
        let e = err("[alerts]\nrenotify_minutes = -1\n");
        assert!(e.message.contains("found -1"), "{e}");
        let e =
            err("[collectors.ssh]\nschedule = \"@daily\"\ntimeout_seconds = 9223372036854775807\n");
        assert_eq!(
            (e.line, e.field.as_str()),
            (3, "collectors.ssh.timeout_seconds")
        );
        let e = err("[daemon]\ncollector_timeout_seconds = 0\n");
        assert!(e.to_string().starts_with("a.toml:2: `daemon.collector_timeout_seconds`: must be a whole number from 1 to 3600"), "{e}");
        let e = err("[collectors.availability]\nprobes = [\n  { name = \"a\", url = \"http://x\" },\n  { name = \"b\", url = \"http://y\", interval_seconds = 1.5 },\n]\n");
        assert_eq!(
            (e.line, e.field.as_str()),
            (4, "collectors.availability.probes[1].interval_seconds")
        );
        assert!(e.message.contains("a fraction"), "{e}");
        let e = err("[alerts.consecutive_failures_by_rule]\n\"ssh.root_login\" = \"3\"\n");
        assert_eq!(
            e.field,
            "alerts.consecutive_failures_by_rule.ssh.root_login"
        );
        assert!(e.message.contains("without quotes"), "{e}");
        let e = err("[collectors.\"exec:x\"]\nmax_output_bytes = 0x7fffffffffffffff\n");
        assert!(e.message.contains("0x7fffffffffffffff"), "{e}");
        let e = err("[collectors.tls]\nread_timeout_seconds = 61\n");
        assert!(e.message.contains("from 1 to 60"), "{e}");
    }

    #[test]
    fn numbers_in_range_and_other_keys_pass() {
        check_text(
            "[daemon]\ncollector_timeout_seconds = 3600\n[alerts]\nrenotify_minutes = 0\n[alerts.sinks.m]\ntype = \"email\"\nport = 465\n[variables]\npassword_min_length = 99999999999\n",
        )
        .unwrap();
    }

    fn check_text(text: &str) -> Result<(), FileError> {
        check("a.toml", text, DeTable::parse(text).unwrap().get_ref())
    }

    #[test]
    fn specific_patterns_win_over_wildcards() {
        let path = pattern_steps("collectors.tls.read_timeout_seconds");
        assert_eq!(range_for(&path).unwrap().max, 60);
        let path = pattern_steps("collectors.ssh.timeout_seconds");
        assert_eq!(range_for(&path).unwrap().max, 3600);
    }
}
