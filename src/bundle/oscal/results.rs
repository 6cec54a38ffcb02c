//! `oscal/assessment-results.json`: the period as OSCAL assessment results, importing
//! the plan: one observation per evidence record (made by attestd, the plan's tool,
//! about the host, the plan's subject; the rules that failed on it marked), one
//! finding per control (targeting the control's objective in its catalog), and every
//! exception and gap as a risk of its own with start, end and duration. Written in a
//! stream: a year of evidence never sits in memory as JSON values.

use super::{control_token, objective_id, plan, Context, Ids};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;

/// Write the document to `w` (a file, or the hasher `verify` compares with).
pub fn write_to(mut w: impl Write, cx: &Context) -> std::io::Result<()> {
    let (params, computed) = (cx.params, cx.computed);
    let ids = Ids::new(cx.bundle_id);
    let catalogs = super::catalog::frameworks(cx);
    let origins = json!([{"actors": [{"type": "tool", "actor-uuid": ids.tool()}]}]);
    let head = json!({
        "uuid": ids.of("document"),
        "metadata": {
            "title": format!("attestd evidence for {} to {}", params.from, params.to),
            "last-modified": cx.generated_at,
            "version": env!("CARGO_PKG_VERSION"),
            "oscal-version": super::OSCAL_VERSION,
            "remarks": "Produced by attestd from its hash-chained ledger. Control ids resolve into the catalogs beside this file (linked from the plan's reviewed controls); the framework is also in each finding's props.",
        },
        "import-ap": {"href": "assessment-plan.json"},
    });
    let mut head = head;
    let attested = computed.attestations.as_ref();
    if let Some(a) = attested {
        // The people who asserted attestations: the origins of their observations.
        head["metadata"]["parties"] = crate::bundle::attest::parties(a)
            .iter()
            .map(|p| json!({"uuid": ids.of(&format!("party:{p}")), "type": "person", "name": p}))
            .collect::<Vec<_>>()
            .into();
    }
    let mut head_text = serde_json::to_string(&head)?;
    head_text.pop(); // reopen the object
    let result_head = json!({
        "uuid": ids.of("result"),
        "title": "Automated control tests",
        "description": format!("Every scheduled attestd run between {} and {}.", params.from, params.to),
        "start": params.from,
        "end": params.to,
        "reviewed-controls": plan::reviewed_controls(cx, &catalogs),
    });
    let mut result_text = serde_json::to_string(&result_head)?;
    result_text.pop();
    write!(
        w,
        "{{\"assessment-results\":{head_text},\"results\":[{result_text}"
    )?;
    // OSCAL wants at least one item in each array: leave empty ones out.
    let attestation_obs: Vec<serde_json::Value> = attested
        .map(|a| crate::bundle::attest::observations(a, &|name| ids.of(name)))
        .unwrap_or_default();
    if !cx.evidence.is_empty() || !attestation_obs.is_empty() {
        write!(w, ",\"observations\":[")?;
    }
    let mut by_collector: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let subjects = plan::subjects(&ids);
    for (i, e) in cx.evidence.iter().enumerate() {
        let id = ids.of(&format!("evidence:{}", e.seq));
        let mut props = vec![
            json!({"name": "ledger-seq", "value": e.seq.to_string()}),
            json!({"name": "evidence-sha256", "value": e.sha256}),
        ];
        let failed = cx.failing.by_evidence.get(&e.seq);
        for (rule, status) in failed.into_iter().flatten() {
            props.push(json!({
                "name": "failed-rule",
                "value": rule,
                "class": status,
                "remarks": format!("rule {rule} was {status} on this evidence in a run of the period"),
            }));
        }
        let obs = json!({
            "uuid": id,
            "title": format!("{} evidence {}", e.collector, &e.sha256[..12.min(e.sha256.len())]),
            "description": format!("Facts and artifacts the {} collector recorded at {} (ledger row {}, SHA-256 {}){}.", e.collector, e.collected_at, e.seq, e.sha256,
                if failed.is_some_and(|f| !f.is_empty()) { "; a rule failed on it (props failed-rule)" } else { "" }),
            "props": props,
            "methods": ["TEST"],
            "types": ["control-objective"],
            "origins": origins,
            "subjects": subjects,
            "collected": e.collected_at,
            "relevant-evidence": [{
                "href": format!("../{}", e.file),
                "description": format!("The line with \"seq\":{} in {}.", e.seq, e.file),
            }],
        });
        if i > 0 {
            write!(w, ",")?;
        }
        writeln!(w)?;
        serde_json::to_writer(&mut w, &obs)?;
        by_collector
            .entry(e.collector.as_str())
            .or_default()
            .push(id);
    }
    for (i, obs) in attestation_obs.iter().enumerate() {
        if i > 0 || !cx.evidence.is_empty() {
            write!(w, ",")?;
        }
        writeln!(w)?;
        serde_json::to_writer(&mut w, obs)?;
    }
    if !cx.evidence.is_empty() || !attestation_obs.is_empty() {
        write!(w, "\n]")?;
    }
    if !computed.controls.is_empty() {
        write!(w, ",\"findings\":[")?;
    }
    for (i, c) in computed.controls.iter().enumerate() {
        let (token, framework) = control_token(&c.id);
        // Related observations are written as they are listed: a year of evidence
        // would otherwise sit in memory as JSON values, once per control.
        let related: Vec<&String> = c
            .collectors
            .iter()
            .flat_map(|col| by_collector.get(col.as_str()).into_iter().flatten())
            .collect();
        let satisfied = c.result == "effective";
        let risk_ids: Vec<String> = c
            .exceptions
            .iter()
            .map(|x| ids.of(&format!("exception:{}:{}", x.rule, x.first_seen)))
            .chain(
                c.gaps
                    .iter()
                    .map(|g| ids.of(&format!("gap:{}:{}", g.collector, g.start))),
            )
            .collect();
        let mut target = json!({
            "type": "objective-id",
            "target-id": objective_id(&token),
        });
        match &c.not_tested_reason {
            // Not assessed: OSCAL's objective status can only say satisfied or
            // not-satisfied, and neither is true, so no determination is given;
            // the remark says why.
            Some(why) => {
                target["remarks"] = format!(
                    "not assessed: attestd did not test this control in the period ({why})"
                )
                .into();
            }
            None => {
                target["status"] = json!({
                    "state": if satisfied { "satisfied" } else { "not-satisfied" },
                    "reason": if satisfied { "pass" } else { "fail" },
                });
            }
        }
        let mut props = vec![
            json!({"name": "framework", "value": if framework.is_empty() { "unknown".to_string() } else { framework }}),
            json!({"name": "result", "value": c.result}),
        ];
        if let Some(why) = &c.not_tested_reason {
            props.push(json!({"name": "not-tested-reason", "value": why}));
        }
        let mut finding = json!({
            "uuid": ids.of(&format!("finding:{}", c.id)),
            "title": format!("{} {}", c.id, c.name),
            "description": format!(
                "{} rule(s) tested this control: {} of {} scheduled runs left evidence ({:.2} %), {} gap(s), {} pass(es), {} failure(s), {} exception(s). Result: {}.",
                c.rules.len(), c.covered_runs, c.scheduled_runs, c.coverage_percent, c.gaps.len(), c.passes, c.failures, c.exceptions.len(), c.result
            ),
            "props": props,
            "origins": origins,
            "target": target,
        });
        if !risk_ids.is_empty() {
            finding["related-risks"] = risk_ids
                .iter()
                .map(|u| json!({"risk-uuid": u}))
                .collect::<Vec<_>>()
                .into();
        }
        if i > 0 {
            write!(w, ",")?;
        }
        writeln!(w)?;
        let mut text = serde_json::to_string(&finding)?;
        if !related.is_empty() {
            text.pop(); // reopen the object
            write!(w, "{text},\"related-observations\":[")?;
            for (k, u) in related.iter().enumerate() {
                // UUIDs are hex digits and dashes: nothing to escape.
                let sep = if k > 0 { "," } else { "" };
                write!(w, "{sep}{{\"observation-uuid\":\"{u}\"}}")?;
            }
            write!(w, "]}}")?;
        } else {
            w.write_all(text.as_bytes())?;
        }
    }
    if !computed.controls.is_empty() {
        write!(w, "\n]")?;
    }
    // Every exception and gap as a risk of its own, with start, end and duration.
    let observed: std::collections::HashSet<i64> = cx.evidence.iter().map(|e| e.seq).collect();
    let mut risks = Vec::new();
    for r in computed.rules.values() {
        for x in &r.exceptions {
            let end = x.resolved_at.clone().unwrap_or_else(|| params.to.clone());
            let mut risk = json!({
                "uuid": ids.of(&format!("exception:{}:{}", x.rule, x.first_seen)),
                "title": format!("Exception: {} {}", x.rule, x.status),
                "description": format!("Rule {} was {} from {} to {} ({} s); observed {}, expected {}.", x.rule, x.status, x.first_seen, end, x.duration_seconds, x.observed, x.expected),
                "statement": "A control objective was not met while attestd observed it.",
                "props": [
                    {"name": "kind", "value": "exception"},
                    {"name": "rule", "value": x.rule},
                    {"name": "start", "value": x.first_seen},
                    {"name": "end", "value": end},
                    {"name": "duration-seconds", "value": x.duration_seconds.to_string()},
                    {"name": "open", "value": x.open.to_string()},
                ],
                "status": if x.open { "open" } else { "closed" },
                "origins": origins,
            });
            // The evidence it began on, when that record is in the bundle.
            if let Some(e) = x.evidence.as_ref().filter(|e| observed.contains(&e.seq)) {
                risk["related-observations"] =
                    json!([{"observation-uuid": ids.of(&format!("evidence:{}", e.seq))}]);
            }
            risks.push(risk);
        }
    }
    for (name, cov) in &computed.collectors {
        for g in &cov.gaps {
            risks.push(json!({
                "uuid": ids.of(&format!("gap:{}:{}", name, g.start)),
                "title": format!("Gap in {} evidence", name),
                "description": format!("No evidence from {} between {} and {} ({} s, {} scheduled runs missed): {}: {}.", name, g.start, g.end, g.duration_seconds, g.missed_runs, g.cause, g.detail),
                "statement": "Scheduled tests left no evidence: the control was not observed in this time.",
                "props": [
                    {"name": "kind", "value": "gap"},
                    {"name": "collector", "value": name},
                    {"name": "start", "value": g.start},
                    {"name": "end", "value": g.end},
                    {"name": "duration-seconds", "value": g.duration_seconds.to_string()},
                    {"name": "cause", "value": g.cause},
                ],
                "status": if g.ongoing { "open" } else { "closed" },
                "origins": origins,
            }));
        }
    }
    if let Some(a) = attested {
        risks.extend(crate::bundle::attest::risks(a, &|name| ids.of(name)));
    }
    if !risks.is_empty() {
        write!(w, ",\"risks\":")?;
        serde_json::to_writer(&mut w, &risks)?;
    }
    writeln!(w, "}}]}}}}")?;
    w.flush()
}
