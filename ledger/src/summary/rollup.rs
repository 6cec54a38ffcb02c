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
                waivers: Vec::new(),
                exceptions: Vec::new(),
                result: String::new(),
            };
            let cols: BTreeSet<&String> = rule_ids.iter().map(|r| &rules[*r].collector).collect();
            for c in cols {
                s.collectors.push(c.clone());
                if let Some(cov) = collectors.get(c) {
                    s.scheduled_runs += cov.scheduled_runs;
                    s.runs += cov.runs;
                    s.covered_runs += cov.covered_runs;
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
            s.result = if s.runs == 0 {
                "no_evidence"
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
