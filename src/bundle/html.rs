//! `index.html`: the period for people. One self-contained page (inline CSS and SVG,
//! no scripts, no external assets, works offline): per control a timeline of its
//! rules' pass/fail bands with gaps in evidence shaded, the exceptions with their
//! durations, and for ISO/IEC 27001 a statement-of-applicability table. Derived only
//! from the computed summary; it never reads the ledger.

use crate::policy::Catalog;
use attestd_ledger::summary::{Band, Computed, ControlSummary, Parameters};
use chrono::{DateTime, Datelike, Utc};
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

/// `3 h 0 min`, `2 d 4 h`, `45 s`.
pub fn duration(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86400,
        (seconds % 86400) / 3600,
        (seconds % 3600) / 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.9em}\
th{background:#f2f2f2}.effective{color:#1a7f37}.exceptions,.exceptions_and_gaps{color:#b42318}.gaps,.no_evidence{color:#b54708}\
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
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"1000\" height=\"{height}\" role=\"img\" aria-label=\"timeline of {}\">",
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
    // Month ticks (or day ticks for short periods).
    let days = (to - from).num_days();
    let mut t = from.date_naive();
    let last = to.date_naive();
    while t <= last {
        let tick = if days > 62 { t.day() == 1 } else { true };
        if tick {
            let dt = t.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            if dt >= from && dt < to {
                let x = scale.x(&crate::clock::rfc3339(dt));
                let label = if days > 62 {
                    t.format("%Y-%m").to_string()
                } else {
                    t.format("%m-%d").to_string()
                };
                let _ = write!(
                    out,
                    "<line x1=\"{x:.2}\" x2=\"{x:.2}\" y1=\"16\" y2=\"{bottom}\" stroke=\"#d0d7de\"/><text x=\"{x:.2}\" y=\"{}\" font-size=\"10\">{label}</text>",
                    bottom + 14.0
                );
            }
        }
        t = t.succ_opt().expect("date");
    }
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
    o.push_str("<p>Verify this bundle: <code>sha256sum -c SHA256SUMS</code> and <code>openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig</code>, or <code>attestd verify .</code></p>");
    o.push_str("<p class=\"legend\">Legend:<span style=\"background:#2da44e\"></span>pass<span style=\"background:#cf222e\"></span>fail<span style=\"background:#e16f24\"></span>error<span style=\"background:#8250df\"></span>waived<span style=\"background:#afb8c1\"></span>not applicable<span style=\"background:#eaeef2\"></span>no data<span style=\"background:repeating-linear-gradient(45deg,#57606a 0 3px,#fff 3px 6px)\"></span>gap in evidence</p>");
    // The hatch that shades gaps, shared by every timeline.
    o.push_str("<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs><pattern id=\"gap-hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"#24292f\" fill-opacity=\"0.55\"/></pattern></defs></svg>");
    o.push_str("<h2>Controls</h2><table id=\"controls\"><tr><th>Control</th><th>Name</th><th>Result</th><th>Coverage</th><th>Scheduled runs</th><th>Runs</th><th>Gaps</th><th>Passes</th><th>Failures</th><th>Exceptions</th></tr>");
    for c in &computed.controls {
        let _ = write!(
            o,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{:.2} %</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.id),
            esc(&c.name),
            esc(&c.result),
            esc(&c.result),
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
    for c in &computed.controls {
        let _ = write!(
            o,
            "<section id=\"{}\"><h2>{} {}</h2><p>Tested by {} from collector(s) {}: {} of {} scheduled runs left evidence (<b>{:.2} %</b>); {} pass(es), {} failure(s), {} error(s), {} waived.</p>",
            esc(&c.id),
            esc(&c.id),
            esc(&c.name),
            c.rules.iter().map(|r| format!("<code>{}</code>", esc(r))).collect::<Vec<_>>().join(", "),
            esc(&c.collectors.join(", ")),
            c.covered_runs,
            c.scheduled_runs,
            c.coverage_percent,
            c.passes,
            c.failures,
            c.errors,
            c.waived
        );
        timeline(&mut o, c, computed, p);
        if c.exceptions.is_empty() {
            o.push_str("<p>No exceptions.</p>");
        } else {
            o.push_str("<h3>Exceptions</h3><table class=\"exception-list\"><tr><th>Rule</th><th>Status</th><th>First seen</th><th>Resolved at</th><th>Duration</th><th>Observed</th><th>Expected</th><th>Alerts sent / delivered</th></tr>");
            for e in &c.exceptions {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
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
    if p.framework.as_deref().is_none_or(|f| f == iso) {
        if let Some(fw) = catalog.frameworks.get(iso) {
            o.push_str("<section id=\"soa\"><h2>Statement of applicability (ISO/IEC 27001:2022 Annex A)</h2><p>Applicable here means tested on this host by attestd; controls it does not test are assessed by other means.</p><table id=\"soa-table\"><tr><th>Control</th><th>Name</th><th>Applicable</th><th>How it is tested</th><th>Result</th></tr>");
            for entry in &fw.controls {
                let id = format!("{iso}:{}", entry.id);
                let found = computed.controls.iter().find(|c| c.id == id);
                let (applicable, how, result) = match found {
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
                    esc(&result)
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
