//! `controls.csv` and `exceptions.csv`: the summary flattened for the auditor's
//! spreadsheet, one row per control and one per exception. Derived only from the
//! computed summary, so `verify` regenerates them and compares bytes.

use attestd_ledger::summary::Computed;

/// controls.csv as bytes.
pub fn controls(c: &Computed) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "control",
        "name",
        "result",
        "rules",
        "collectors",
        "scheduled_runs",
        "runs",
        "covered_runs",
        "coverage_percent",
        "gaps",
        "gap_seconds",
        "passes",
        "failures",
        "errors",
        "waived",
        "not_applicable",
        "exceptions",
        "waivers",
        "not_tested_reason",
    ])?;
    for s in &c.controls {
        w.write_record([
            s.id.clone(),
            s.name.clone(),
            s.result.clone(),
            s.rules.join(" "),
            s.collectors.join(" "),
            s.scheduled_runs.to_string(),
            s.runs.to_string(),
            s.covered_runs.to_string(),
            format!("{:.2}", s.coverage_percent),
            s.gaps.len().to_string(),
            s.gap_seconds.to_string(),
            s.passes.to_string(),
            s.failures.to_string(),
            s.errors.to_string(),
            s.waived.to_string(),
            s.not_applicable.to_string(),
            s.exceptions.len().to_string(),
            s.waivers.len().to_string(),
            s.not_tested_reason.clone().unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// exceptions.csv as bytes: every exception of every rule, with the controls it
/// affects, and every gap in evidence.
pub fn exceptions(c: &Computed) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "kind",
        "rule",
        "collector",
        "controls",
        "status",
        "first_seen",
        "resolved_at",
        "duration_seconds",
        "open",
        "observed",
        "expected",
        "cause",
        "evidence_sha256",
        "alerts_sent",
        "alerts_delivered",
    ])?;
    for (id, r) in &c.rules {
        for e in &r.exceptions {
            w.write_record([
                "exception".to_string(),
                id.clone(),
                e.collector.clone(),
                r.controls.join(" "),
                e.status.clone(),
                e.first_seen.clone(),
                e.resolved_at.clone().unwrap_or_default(),
                e.duration_seconds.to_string(),
                e.open.to_string(),
                e.observed.to_string(),
                e.expected.clone(),
                e.reason.clone().unwrap_or_default(),
                e.evidence
                    .as_ref()
                    .map(|x| x.sha256.clone())
                    .unwrap_or_default(),
                e.alerts_sent.to_string(),
                e.alerts_delivered.to_string(),
            ])?;
        }
    }
    for (name, cov) in &c.collectors {
        for g in &cov.gaps {
            let controls: Vec<&str> = c
                .controls
                .iter()
                .filter(|s| s.collectors.contains(name))
                .map(|s| s.id.as_str())
                .collect();
            w.write_record([
                "gap".to_string(),
                String::new(),
                name.clone(),
                controls.join(" "),
                "gap".into(),
                g.start.clone(),
                if g.ongoing {
                    String::new()
                } else {
                    g.end.clone()
                },
                g.duration_seconds.to_string(),
                g.ongoing.to_string(),
                format!("{} scheduled runs missed", g.missed_runs),
                String::new(),
                format!("{}: {}", g.cause, g.detail),
                String::new(),
                String::new(),
                String::new(),
            ])?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
