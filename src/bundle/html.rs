//! `index.html`: the period for people. One self-contained page (inline CSS and SVG,
//! no scripts, no external assets, works offline): per control a timeline of its
//! rules' pass/fail bands with gaps in evidence shaded, the exceptions with their
//! durations, and for ISO/IEC 27001 a statement-of-applicability table. Derived only
//! from the computed summary; it never reads the ledger. When the period holds
//! attestations, `attest` renders the statement of applicability from the summary's
//! and adds the attestations, recurring occurrences and expiries.

mod attest;

use crate::policy::Catalog;
use attestd_ledger::summary::{Band, Computed, ControlSummary, Parameters};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// What the page shows besides the summary.
pub struct PageInfo<'a> {
    pub hostname: &'a str,
    pub fingerprint: &'a str,
    pub generated_at: &'a str,
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Exact to the second: `3 min 57 s`, `2 d 4 h 0 min 5 s`, `45 s`.
pub fn duration(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86400,
        (seconds % 86400) / 3600,
        (seconds % 3600) / 60,
        seconds % 60,
    );
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} d"));
    }
    if d > 0 || h > 0 {
        parts.push(format!("{h} h"));
    }
    if d > 0 || h > 0 || m > 0 {
        parts.push(format!("{m} min"));
    }
    parts.push(format!("{s} s"));
    parts.join(" ")
}

/// Control ids in natural order: `A.8.2` before `A.8.18`, `CC6.1` before `CC10.1`.
pub fn natural_key(id: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut num: Option<u64> = None;
    for ch in id.chars() {
        match ch.to_digit(10) {
            Some(d) => num = Some(num.unwrap_or(0) * 10 + d as u64),
            None => {
                if let Some(n) = num.take() {
                    out.push((std::mem::take(&mut text), n));
                }
                text.push(ch);
            }
        }
    }
    out.push((text, num.unwrap_or(0)));
    out
}

fn result_words(c: &ControlSummary) -> String {
    match c.not_tested_reason.as_deref() {
        Some("no_rule_applicable") => "not tested: no rule applied to this host".into(),
        Some("collector_never_ran") => "not tested: its collector never ran".into(),
        Some("all_runs_in_gaps") => "not tested: every run failed to observe".into(),
        Some(other) => format!("not tested: {other}"),
        None => c.result.replace('_', " "),
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.9em}\
th{background:#f2f2f2}.effective{color:#1a7f37}.exceptions,.exceptions_and_gaps{color:#b42318}.gaps{color:#b54708}.not_tested{color:#57606a;font-style:italic}.open{font-weight:bold;color:#b42318}.resolved{color:#57606a}\
section{margin-top:2.5em;border-top:2px solid #ddd}code{background:#f5f5f5;padding:0 .2em}.legend span{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}";

fn color(status: &str) -> &'static str {
    match status {
        "pass" => "#2da44e",
        "fail" => "#cf222e",
        "error" => "#e16f24",
        "waived" => "#8250df",
        "not_applicable" => "#afb8c1",
        _ => "#eaeef2",
    }
}

struct Scale {
    from: DateTime<Utc>,
    span: f64,
    x0: f64,
    width: f64,
}

impl Scale {
    fn x(&self, t: &str) -> f64 {
        let t = attestd_ledger::summary::parse_time(t).unwrap_or(self.from);
        self.x0 + ((t - self.from).num_seconds() as f64 / self.span).clamp(0.0, 1.0) * self.width
    }
}

fn timeline(out: &mut String, c: &ControlSummary, computed: &Computed, p: &Parameters) {
    let from = attestd_ledger::summary::parse_time(&p.from).expect("checked");
    let to = attestd_ledger::summary::parse_time(&p.to).expect("checked");
    let scale = Scale {
        from,
        span: ((to - from).num_seconds().max(1)) as f64,
        x0: 220.0,
        width: 760.0,
    };
    let row_h = 22.0;
    let height = 30.0 + row_h * c.rules.len().max(1) as f64 + 20.0;
    // Rule names get the room they need (monospace-ish estimate), the bands the rest.
    let label = c.rules.iter().map(|r| r.len()).max().unwrap_or(10) as f64 * 7.0 + 10.0;
    let scale = Scale {
        x0: label,
        width: (1000.0 - label).max(400.0),
        ..scale
    };
    let svg_width = scale.x0 + scale.width + 10.0;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"{svg_width:.0}\" height=\"{height}\" role=\"img\" aria-label=\"timeline of {}\">",
        esc(&c.id)
    );
    for (i, rule) in c.rules.iter().enumerate() {
        let y = 20.0 + row_h * i as f64;
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 14.0,
            esc(rule)
        );
        let bands: &[Band] = computed
            .rules
            .get(rule)
            .map(|r| r.timeline.as_slice())
            .unwrap_or(&[]);
        for b in bands {
            let (x1, x2) = (scale.x(&b.from), scale.x(&b.to));
            let _ = write!(
                out,
                "<rect class=\"band {}\" x=\"{x1:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"{}\" fill=\"{}\"><title>{}: {} from {} to {}</title></rect>",
                esc(&b.status),
                (x2 - x1).max(0.5),
                row_h - 4.0,
                color(&b.status),
                esc(rule),
                esc(&b.status),
                esc(&b.from),
                esc(&b.to)
            );
        }
    }
    let bottom = 20.0 + row_h * c.rules.len().max(1) as f64;
    for g in &c.gaps {
        let (x1, x2) = (scale.x(&g.start), scale.x(&g.end));
        let _ = write!(
            out,
            "<rect class=\"gap\" x=\"{x1:.2}\" y=\"16\" width=\"{:.2}\" height=\"{}\" fill=\"url(#gap-hatch)\"><title>gap in {} evidence: {} to {} ({}), {}</title></rect>",
            (x2 - x1).max(1.0),
            bottom - 16.0,
            esc(&g.collector),
            esc(&g.start),
            esc(&g.end),
            duration(g.duration_seconds),
            esc(&g.cause)
        );
    }
    // A time axis for any length: about eight ticks at a round step.
    let span = (to - from).num_seconds().max(1);
    const STEPS: [i64; 14] = [
        60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or(2592000);
    let first = (from.timestamp() + step - 1).div_euclid(step) * step;
    let mut t = first;
    while t <= to.timestamp() {
        let dt = DateTime::<Utc>::from_timestamp(t, 0).expect("in range");
        let x = scale.x(&crate::clock::rfc3339(dt));
        let label = if step >= 2592000 {
            dt.format("%Y-%m-%d").to_string()
        } else if step >= 86400 {
            dt.format("%m-%d").to_string()
        } else if span > 86400 {
            dt.format("%m-%d %H:%M").to_string()
        } else {
            dt.format("%H:%M").to_string()
        };
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x:.2}\" x2=\"{x:.2}\" y1=\"16\" y2=\"{bottom}\" stroke=\"#d0d7de\"/><text class=\"tick-label\" x=\"{x:.2}\" y=\"{}\" font-size=\"10\">{label}</text>",
            bottom + 14.0
        );
        t += step;
    }
    let _ = (p, computed);
    out.push_str("</svg>");
}

/// The whole page.
pub fn render(p: &Parameters, computed: &Computed, catalog: &Catalog, info: &PageInfo) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>attestd evidence: {} {} to {}</title><style>{CSS}</style></head><body>",
        esc(info.hostname),
        esc(&p.from),
        esc(&p.to)
    );
    let _ = write!(
        o,
        "<h1>Control evidence for {}</h1><p id=\"period\">Period: <b>{}</b> to <b>{}</b> (end exclusive). Generated {} by attestd {}. Signed with key <code>{}</code>.</p>",
        esc(info.hostname),
        esc(&p.from),
        esc(&p.to),
        esc(info.generated_at),
        env!("CARGO_PKG_VERSION"),
        esc(info.fingerprint)
    );
    // The answer an auditor looks for first.
    let mut controls: Vec<&ControlSummary> = computed.controls.iter().collect();
    controls.sort_by_key(|c| natural_key(&c.id));
    let n = |r: &str| controls.iter().filter(|c| c.result == r).count();
    let open: Vec<&attestd_ledger::summary::Exception> = computed
        .rules
        .values()
        .flat_map(|r| r.exceptions.iter())
        .filter(|e| e.open)
        .collect();
    let _ = write!(
        o,
        "<p id=\"answer\">From <b>{}</b> to <b>{}</b> on host <b>{}</b>, attestd tested <b>{}</b> controls: <b class=\"effective\">{} effective</b>, <b class=\"exceptions\">{} with exceptions</b>, <b class=\"gaps\">{} with gaps in evidence</b>, <b class=\"exceptions_and_gaps\">{} with both</b>, <b class=\"not_tested\">{} not tested</b>. {}</p>",
        esc(&p.from),
        esc(&p.to),
        esc(info.hostname),
        controls.len(),
        n("effective"),
        n("exceptions"),
        n("gaps"),
        n("exceptions_and_gaps"),
        n("not_tested"),
        if open.is_empty() {
            "No exception was open at the end of the period.".to_string()
        } else {
            format!(
                "Open at the end of the period: {}.",
                open.iter()
                    .map(|e| format!("<code>{}</code> ({} since {})", esc(&e.rule), esc(&e.status), esc(&e.first_seen)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if let Some(a) = &computed.attestations {
        attest::answer(&mut o, a);
    }
    let _ = write!(
        o,
        "<p id=\"verify-hint\">Verify this bundle: <code>sha256sum -c SHA256SUMS</code> and <code>openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig</code>, or <code>attestd verify .</code>; then compare the key's fingerprint, <code>openssl pkey -pubin -in signing-key.pub.pem -outform DER | sha256sum</code> (<code>{}</code>), with <code>attestd key show</code> run on the host itself, received through another channel than this bundle.</p>",
        esc(info.fingerprint)
    );
    o.push_str("<p class=\"legend\">Legend:<span style=\"background:#2da44e\"></span>pass<span style=\"background:#cf222e\"></span>fail<span style=\"background:#e16f24\"></span>error<span style=\"background:#8250df\"></span>waived<span style=\"background:#afb8c1\"></span>not applicable<span style=\"background:#eaeef2\"></span>no data<span style=\"background:repeating-linear-gradient(45deg,#57606a 0 3px,#fff 3px 6px)\"></span>gap in evidence</p>");
    // The hatch that shades gaps, shared by every timeline.
    o.push_str("<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs><pattern id=\"gap-hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"#24292f\" fill-opacity=\"0.55\"/></pattern></defs></svg>");
    o.push_str("<h2>Controls</h2><table id=\"controls\"><tr><th>Control</th><th>Name</th><th>Result</th><th>Coverage</th><th>Scheduled runs</th><th>Runs</th><th>Gaps</th><th>Passes</th><th>Failures</th><th>Exceptions</th></tr>");
    for c in &controls {
        let _ = write!(
            o,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{:.2} %</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.id),
            esc(&c.name),
            esc(&c.result),
            esc(&result_words(c)),
            c.coverage_percent,
            c.scheduled_runs,
            c.runs,
            c.gaps.len(),
            c.passes,
            c.failures,
            c.exceptions.len()
        );
    }
    o.push_str("</table>");
    for c in controls.iter().copied() {
        let extra = if c.runs > c.scheduled_runs {
            format!(
                " {} run(s) beyond the {} scheduled: runs triggered by a watched file, by hand or at a start count as evidence too.",
                c.runs - c.scheduled_runs,
                c.scheduled_runs
            )
        } else {
            String::new()
        };
        let _ = write!(
            o,
            "<section id=\"{}\"><h2>{} {}</h2><p class=\"{}\">Result: {}.</p><p>Tested by {} from collector(s) {}: {} of {} scheduled runs left evidence (<b>{:.2} %</b>); {} pass(es), {} failure(s), {} error(s), {} waived.{}</p>",
            esc(&c.id),
            esc(&c.id),
            esc(&c.name),
            esc(&c.result),
            esc(&result_words(c)),
            c.rules.iter().map(|r| format!("<code>{}</code>", esc(r))).collect::<Vec<_>>().join(", "),
            esc(&c.collectors.join(", ")),
            c.covered_runs,
            c.scheduled_runs,
            c.coverage_percent,
            c.passes,
            c.failures,
            c.errors,
            c.waived,
            extra
        );
        timeline(&mut o, c, computed, p);
        if c.exceptions.is_empty() {
            o.push_str("<p>No exceptions.</p>");
        } else {
            o.push_str("<h3>Exceptions</h3><table class=\"exception-list\"><tr><th>State</th><th>Rule</th><th>Status</th><th>First seen</th><th>Resolved at</th><th>Duration</th><th>Observed</th><th>Expected</th><th>Alerts sent / delivered</th></tr>");
            for e in &c.exceptions {
                let (class, mark) = if e.open {
                    ("open", "&#9888; open")
                } else {
                    ("resolved", "&#10003; resolved")
                };
                let _ = write!(
                    o,
                    "<tr class=\"exception {class}\"><td class=\"{class}\">{mark}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
                    esc(&e.rule),
                    esc(&e.status),
                    esc(&e.first_seen),
                    esc(e.resolved_at.as_deref().unwrap_or("open at period end")),
                    duration(e.duration_seconds),
                    esc(&e.observed.to_string()),
                    esc(&e.expected),
                    e.alerts_sent,
                    e.alerts_delivered
                );
            }
            o.push_str("</table>");
        }
        if !c.gaps.is_empty() {
            o.push_str("<h3>Gaps in evidence</h3><table class=\"gap-list\"><tr><th>Collector</th><th>From</th><th>To</th><th>Duration</th><th>Missed runs</th><th>Cause</th></tr>");
            for g in &c.gaps {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}: {}</td></tr>",
                    esc(&g.collector),
                    esc(&g.start),
                    esc(&g.end),
                    duration(g.duration_seconds),
                    g.missed_runs,
                    esc(&g.cause),
                    esc(&g.detail)
                );
            }
            o.push_str("</table>");
        }
        if !c.waivers.is_empty() {
            o.push_str("<h3>Waivers in force</h3><table><tr><th>Rule</th><th>Reason</th><th>Approver</th><th>Expires</th><th>Seen</th></tr>");
            for w in &c.waivers {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td></tr>",
                    esc(&w.rule),
                    esc(&w.reason),
                    esc(&w.approver),
                    esc(&w.expires),
                    esc(&w.first_seen),
                    esc(&w.last_seen)
                );
            }
            o.push_str("</table>");
        }
        o.push_str("</section>");
    }
    let iso = crate::policy::catalog::ISO2022;
    if let Some(a) = &computed.attestations {
        attest::soa(&mut o, a, computed);
        attest::sections(&mut o, a);
    } else if p.framework.as_deref().is_none_or(|f| f == iso) {
        if let Some(fw) = catalog.frameworks.get(iso) {
            o.push_str("<section id=\"soa\"><h2>Statement of applicability (ISO/IEC 27001:2022 Annex A)</h2><p>Applicable here means tested on this host by attestd; controls it does not test are assessed by other means.</p><table id=\"soa-table\"><tr><th>Control</th><th>Name</th><th>Applicable</th><th>How it is tested</th><th>Result</th></tr>");
            for entry in &fw.controls {
                let id = format!("{iso}:{}", entry.id);
                let found = computed.controls.iter().find(|c| c.id == id);
                let (applicable, how, result) = match found {
                    Some(c) if c.result == "not_tested" => (
                        "not tested here",
                        format!("attestd rules {} (none tested it)", c.rules.join(", ")),
                        c.result.clone(),
                    ),
                    Some(c) => (
                        "yes",
                        format!("attestd rules {}", c.rules.join(", ")),
                        c.result.clone(),
                    ),
                    None => (
                        "not tested by attestd",
                        "outside this tool".to_string(),
                        "-".into(),
                    ),
                };
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                    esc(&entry.id),
                    esc(&entry.name),
                    applicable,
                    esc(&how),
                    esc(&result),
                    esc(&found.map(result_words).unwrap_or(result.clone()))
                );
            }
            o.push_str("</table></section>");
        }
    }
    if !computed.samples.is_empty() {
        o.push_str("<section id=\"samples\"><h2>Sampled days</h2><ul>");
        for s in &computed.samples {
            let _ = write!(
                o,
                "<li><a href=\"evidence/samples/{}.json\">{}</a>: {} run(s)</li>",
                esc(&s.date),
                esc(&s.date),
                s.runs.len()
            );
        }
        o.push_str("</ul></section>");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_sort_naturally_and_durations_are_exact() {
        let mut ids = vec!["A.8.18", "A.8.2", "A.5.30", "A.8.1", "CC10.1", "CC6.1"];
        ids.sort_by_key(|i| natural_key(i));
        assert_eq!(
            ids,
            ["A.5.30", "A.8.1", "A.8.2", "A.8.18", "CC6.1", "CC10.1"]
        );
        assert_eq!(duration(237), "3 min 57 s");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(86400), "1 d 0 h 0 min 0 s");
        assert_eq!(duration(3 * 3600), "3 h 0 min 0 s");
    }
}
