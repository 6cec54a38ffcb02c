//! The fleet bundle's coverage picture: each host's state on each day of the period
//! (absent, effective, an exception, a gap) from its computed summary, and the hosts ×
//! days SVG of index.html (no scripts). Reads the summary only; writes nothing.

use super::html_escape;
use attestd_ledger::summary::{parse_time, Computed};
use chrono::{DateTime, Utc};

/// Day states for the coverage picture.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Day {
    Absent,
    Effective,
    Exception,
    Gap,
}

/// A host's state on each of `days` days from `from`, between its enrolment and its
/// retirement (the spans' times are parsed once per host).
pub(super) fn day_states(
    enrolled_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
    c: &Computed,
    from: DateTime<Utc>,
    days: usize,
) -> Vec<Day> {
    type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let parse = |s: &str| parse_time(s).ok();
    let gaps: Vec<Span> = c
        .collectors
        .values()
        .flat_map(|k| k.gaps.iter())
        .map(|g| (parse(&g.start), parse(&g.end)))
        .collect();
    let exceptions: Vec<Span> = c
        .rules
        .values()
        .flat_map(|r| r.exceptions.iter())
        .map(|e| {
            (
                parse(&e.first_seen),
                e.resolved_at.as_deref().and_then(parse),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(days);
    for d in 0..days {
        let start = from + chrono::Duration::days(d as i64);
        let end = start + chrono::Duration::days(1);
        if enrolled_at >= end || retired_at.is_some_and(|r| r < start) {
            out.push(Day::Absent);
            continue;
        }
        let overlaps = |&(a, b): &Span| a.is_some_and(|a| a < end) && b.is_none_or(|b| b > start);
        out.push(if gaps.iter().any(overlaps) {
            Day::Gap
        } else if exceptions.iter().any(overlaps) {
            Day::Exception
        } else {
            Day::Effective
        });
    }
    out
}

pub(super) fn svg(hosts: &[(String, Vec<Day>)], from: DateTime<Utc>, days: usize) -> String {
    let (cw, ch, left, top) = (14usize, 14usize, 160usize, 40usize);
    let w = left + cw * days + 20;
    let h = top + ch * hosts.len() + 20;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"coverage of every host on every day\">\n"
    );
    for d in (0..days).step_by(7) {
        let date = (from + chrono::Duration::days(d as i64)).format("%Y-%m-%d");
        s += &format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"10\">{date}</text>\n",
            left + d * cw,
            top - 8
        );
    }
    for (i, (host, states)) in hosts.iter().enumerate() {
        let y = top + i * ch;
        s += &format!(
            "<text x=\"0\" y=\"{}\" font-size=\"10\">{}</text>\n",
            y + ch - 3,
            html_escape(host)
        );
        for (d, st) in states.iter().enumerate() {
            let (fill, label) = match st {
                Day::Absent => ("#dddddd", "not in the population"),
                Day::Effective => ("#2e7d32", "effective"),
                Day::Exception => ("#f9a825", "exception"),
                Day::Gap => ("#c62828", "gap"),
            };
            let date = (from + chrono::Duration::days(d as i64)).format("%Y-%m-%d");
            s += &format!(
                "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"><title>{} {date}: {label}</title></rect>\n",
                left + d * cw,
                cw - 1,
                ch - 1,
                html_escape(host)
            );
        }
    }
    s + "</svg>\n"
}
