//! The per-control roll-up: a control's rules and collectors over the period, and
//! the one status an auditor reads for it.

use super::analyzer::Analyzer;
use super::coverage::percent;
use super::model::*;
use std::collections::{BTreeMap, BTreeSet};

impl Analyzer<'_> {
    pub(super) fn wanted(&self, control: &str) -> bool {
        if !self.params.controls.is_empty() {
            return self.params.controls.iter().any(|c| c == control);
        }
        match &self.params.framework {
            Some(f) => control.starts_with(&format!("{f}:")),
            // ISO 27001:2013 equivalents only when asked for by --control.
            None => !control.starts_with(super::ISO2013),
        }
    }

    pub(super) fn roll_up(
        &self,
        rules: &BTreeMap<String, RuleSummary>,
        collectors: &BTreeMap<String, CollectorCoverage>,
    ) -> Vec<ControlSummary> {
        let mut by_control: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for (id, r) in rules {
            for c in &r.controls {
                if self.wanted(c) {
                    by_control.entry(c.clone()).or_default().push(id);
                }
            }
        }
        for c in &self.params.controls {
            by_control.entry(c.clone()).or_default();
        }
        let mut out = Vec::new();
        for (control, rule_ids) in by_control {
            let mut s = ControlSummary {
                id: control.clone(),
                name: (self.catalog_name)(&control).unwrap_or_default(),
                rules: rule_ids.iter().map(|r| r.to_string()).collect(),
                collectors: Vec::new(),
                scheduled_runs: 0,
                runs: 0,
                covered_runs: 0,
                coverage_percent: 0.0,
                passes: 0,
                failures: 0,
                errors: 0,
                waived: 0,
                not_applicable: 0,
                gaps: Vec::new(),
                gap_seconds: 0,
                waivers: Vec::new(),
                exceptions: Vec::new(),
                result: String::new(),
                not_tested_reason: None,
            };
            let mut observed_runs = 0;
            let cols: BTreeSet<&String> = rule_ids.iter().map(|r| &rules[*r].collector).collect();
            for c in cols {
                s.collectors.push(c.clone());
                if let Some(cov) = collectors.get(c) {
                    s.scheduled_runs += cov.scheduled_runs;
                    s.runs += cov.runs;
                    s.covered_runs += cov.covered_runs;
                    observed_runs += cov.runs - cov.error_runs;
                    s.gaps.extend(cov.gaps.iter().cloned());
                }
            }
            for r in &rule_ids {
                let rs = &rules[*r];
                let n = |k: &str| rs.evaluations.get(k).copied().unwrap_or(0);
                s.passes += n("pass");
                s.failures += n("fail");
                s.errors += n("error");
                s.waived += n("waived");
                s.not_applicable += n("not_applicable");
                s.waivers.extend(rs.waivers.iter().cloned());
                s.exceptions.extend(rs.exceptions.iter().cloned());
            }
            s.gaps
                .sort_by(|a, b| a.start.cmp(&b.start).then(a.collector.cmp(&b.collector)));
            s.exceptions
                .sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.rule.cmp(&b.rule)));
            s.coverage_percent = percent(s.covered_runs, s.scheduled_runs);
            s.gap_seconds = union_seconds(&s.gaps);
            let judged = s.passes + s.failures + s.errors + s.waived;
            s.not_tested_reason = if s.runs == 0 {
                Some("collector_never_ran")
            } else if observed_runs == 0 {
                Some("all_runs_in_gaps")
            } else if judged == 0 {
                Some("no_rule_applicable")
            } else {
                None
            }
            .map(String::from);
            s.result = if s.not_tested_reason.is_some() {
                "not_tested"
            } else {
                match (!s.exceptions.is_empty(), !s.gaps.is_empty()) {
                    (false, false) => "effective",
                    (true, false) => "exceptions",
                    (false, true) => "gaps",
                    (true, true) => "exceptions_and_gaps",
                }
            }
            .into();
            out.push(s);
        }
        out
    }
}

/// Seconds covered by at least one of `gaps` (overlapping gaps of several collectors
/// count once).
pub(super) fn union_seconds(gaps: &[Gap]) -> i64 {
    let mut spans: Vec<(i64, i64)> = gaps
        .iter()
        .filter_map(|g| {
            let a = super::parse_time(&g.start).ok()?.timestamp();
            let b = super::parse_time(&g.end).ok()?.timestamp();
            Some((a, b.max(a)))
        })
        .collect();
    spans.sort();
    let mut total = 0;
    let mut current: Option<(i64, i64)> = None;
    for (a, b) in spans {
        match current {
            Some((ca, cb)) if a <= cb => current = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                current = Some((a, b));
            }
            None => current = Some((a, b)),
        }
    }
    if let Some((ca, cb)) = current {
        total += cb - ca;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(collector: &str, start: &str, end: &str) -> Gap {
        Gap {
            collector: collector.into(),
            start: start.into(),
            end: end.into(),
            duration_seconds: 0,
            missed_runs: 1,
            cause: "attestd_down".into(),
            detail: String::new(),
            ongoing: false,
        }
    }

    #[test]
    fn overlapping_gaps_of_several_collectors_count_once() {
        let same = [
            gap("a", "2026-01-01T00:00:00Z", "2026-01-01T00:09:26Z"),
            gap("b", "2026-01-01T00:00:00Z", "2026-01-01T00:09:26Z"),
            gap("c", "2026-01-01T00:00:00Z", "2026-01-01T00:09:26Z"),
        ];
        assert_eq!(union_seconds(&same), 566);
        let apart = [
            gap("a", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
            gap("b", "2026-01-01T00:30:00Z", "2026-01-01T02:00:00Z"),
            gap("c", "2026-01-01T03:00:00Z", "2026-01-01T03:00:10Z"),
        ];
        assert_eq!(union_seconds(&apart), 7210);
        assert_eq!(union_seconds(&[]), 0);
    }
}
