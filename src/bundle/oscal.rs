//! `oscal/assessment-results.json`: the period as NIST OSCAL 1.2 assessment-results,
//! one observation per evidence record and one finding per control. UUIDs are derived
//! (UUID v5) from the bundle's content, so the same ledger gives the same document.
//! Written in a stream. Never invents a result the summary does not hold.

use super::evidence::EvidenceEntry;
use attestd_ledger::summary::{Computed, Parameters};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use uuid::Uuid;

/// The OSCAL version written.
pub const OSCAL_VERSION: &str = "1.2.1";

fn uuid(ns: &Uuid, name: &str) -> String {
    Uuid::new_v5(ns, name.as_bytes()).to_string()
}

/// The control id as an OSCAL token (`soc2:CC6.1` → `cc6.1`) and its framework.
fn control_token(id: &str) -> (String, String) {
    match id.split_once(':') {
        Some((fw, c)) => (c.to_lowercase(), fw.to_string()),
        None => (id.to_lowercase(), String::new()),
    }
}

/// The OSCAL files of a bundle, under `oscal/`.
pub fn write_all(
    bundle: &Path,
    params: &Parameters,
    computed: &Computed,
    evidence: &[EvidenceEntry],
    bundle_id: &str,
    generated_at: &str,
    _catalog: &crate::policy::Catalog,
) -> std::io::Result<()> {
    write(
        &bundle.join(RESULTS_FILE),
        params,
        computed,
        evidence,
        bundle_id,
        generated_at,
    )
}

/// The assessment results, relative to the bundle.
pub const RESULTS_FILE: &str = "oscal/assessment-results.json";

/// A writer that only hashes.
struct Hasher(sha2::Sha256);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Each OSCAL file `write_all` writes and the SHA-256 of its bytes, computed
/// without writing (for `verify`).
pub fn documents(
    out: &mut Vec<(String, String)>,
    params: &Parameters,
    computed: &Computed,
    evidence: &[EvidenceEntry],
    bundle_id: &str,
    generated_at: &str,
    _catalog: &crate::policy::Catalog,
) -> std::io::Result<()> {
    let mut h = Hasher(sha2::Sha256::default());
    write_to(&mut h, params, computed, evidence, bundle_id, generated_at)?;
    out.push((
        RESULTS_FILE.to_string(),
        hex::encode(sha2::Digest::finalize(h.0)),
    ));
    Ok(())
}

/// Write the document to `path`.
pub fn write(
    path: &Path,
    params: &Parameters,
    computed: &Computed,
    evidence: &[EvidenceEntry],
    bundle_id: &str,
    generated_at: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("oscal/ has a parent"))?;
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    write_to(&mut w, params, computed, evidence, bundle_id, generated_at)?;
    w.flush()
}

/// Write the document to `w` (a file, or the hasher `verify` compares with).
pub fn write_to(
    mut w: impl Write,
    params: &Parameters,
    computed: &Computed,
    evidence: &[EvidenceEntry],
    bundle_id: &str,
    generated_at: &str,
) -> std::io::Result<()> {
    let ns = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("attestd-bundle:{bundle_id}").as_bytes(),
    );
    let controls: Vec<serde_json::Value> = computed
        .controls
        .iter()
        .map(|c| json!({"control-id": control_token(&c.id).0}))
        .collect();
    let head = json!({
        "uuid": uuid(&ns, "document"),
        "metadata": {
            "title": format!("attestd evidence for {} to {}", params.from, params.to),
            "last-modified": generated_at,
            "version": env!("CARGO_PKG_VERSION"),
            "oscal-version": OSCAL_VERSION,
            "remarks": "Produced by attestd from its hash-chained ledger. Control ids are given without their framework prefix; the framework is in each finding's props.",
        },
        "import-ap": {"href": "../summary.json"},
    });
    let mut head = head;
    let attested = computed.attestations.as_ref();
    if let Some(a) = attested {
        head["metadata"]["parties"] = super::attest::parties(a)
            .iter()
            .map(|p| json!({"uuid": uuid(&ns, &format!("party:{p}")), "type": "person", "name": p}))
            .collect::<Vec<_>>()
            .into();
    }
    let mut head_text = serde_json::to_string(&head)?;
    head_text.pop(); // reopen the object
    let result_head = json!({
        "uuid": uuid(&ns, "result"),
        "title": "Automated control tests",
        "description": format!("Every scheduled attestd run between {} and {}.", params.from, params.to),
        "start": params.from,
        "end": params.to,
        "reviewed-controls": {
            "control-selections": [ if controls.is_empty() { json!({"include-all": {}}) } else { json!({"include-controls": controls}) } ]
        },
    });
    let mut result_text = serde_json::to_string(&result_head)?;
    result_text.pop();
    write!(
        w,
        "{{\"assessment-results\":{head_text},\"results\":[{result_text}"
    )?;
    // OSCAL wants at least one item in each array: leave empty ones out.
    let attestation_obs: Vec<serde_json::Value> = attested
        .map(|a| super::attest::observations(a, &|name| uuid(&ns, name)))
        .unwrap_or_default();
    if !evidence.is_empty() || !attestation_obs.is_empty() {
        write!(w, ",\"observations\":[")?;
    }
    let mut by_collector: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Evidence an exception began or stood on: marked failing in its observation.
    let failing: std::collections::BTreeSet<i64> = computed
        .rules
        .values()
        .flat_map(|r| r.exceptions.iter())
        .filter_map(|x| x.evidence.as_ref().map(|e| e.seq))
        .collect();
    for (i, e) in evidence.iter().enumerate() {
        let id = uuid(&ns, &format!("evidence:{}", e.seq));
        let mut props = vec![
            json!({"name": "ledger-seq", "value": e.seq.to_string()}),
            json!({"name": "evidence-sha256", "value": e.sha256}),
        ];
        if failing.contains(&e.seq) {
            props.push(json!({"name": "verdict", "value": "fail", "remarks": "a rule failed on this evidence: an exception began here"}));
        }
        let obs = json!({
            "uuid": id,
            "title": format!("{} evidence {}", e.collector, &e.sha256[..12.min(e.sha256.len())]),
            "description": format!("Facts and artifacts the {} collector recorded at {} (ledger row {}, SHA-256 {}).", e.collector, e.collected_at, e.seq, e.sha256),
            "props": props,
            "methods": ["TEST"],
            "types": ["control-objective"],
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
        if i > 0 || !evidence.is_empty() {
            write!(w, ",")?;
        }
        writeln!(w)?;
        serde_json::to_writer(&mut w, obs)?;
    }
    if !evidence.is_empty() || !attestation_obs.is_empty() {
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
            .map(|x| uuid(&ns, &format!("exception:{}:{}", x.rule, x.first_seen)))
            .chain(
                c.gaps
                    .iter()
                    .map(|g| uuid(&ns, &format!("gap:{}:{}", g.collector, g.start))),
            )
            .collect();
        let status = match &c.not_tested_reason {
            // Not assessed: OSCAL's objective status has no third state, so the
            // reason `other` and a remark say that nothing tested it.
            Some(why) => json!({
                "state": "not-satisfied",
                "reason": "other",
                "remarks": format!("not assessed: attestd did not test this control in the period ({why})"),
            }),
            None => json!({
                "state": if satisfied { "satisfied" } else { "not-satisfied" },
                "reason": if satisfied { "pass" } else { "fail" },
            }),
        };
        let finding = json!({
            "uuid": uuid(&ns, &format!("finding:{}", c.id)),
            "title": format!("{} {}", c.id, c.name),
            "description": format!(
                "{} rule(s) tested this control: {} of {} scheduled runs left evidence ({:.2} %), {} gap(s), {} pass(es), {} failure(s), {} exception(s). Result: {}.",
                c.rules.len(), c.covered_runs, c.scheduled_runs, c.coverage_percent, c.gaps.len(), c.passes, c.failures, c.exceptions.len(), c.result
            ),
            "props": [
                {"name": "framework", "value": if framework.is_empty() { "unknown".to_string() } else { framework }},
                {"name": "result", "value": c.result},
            ],
            "target": {
                "type": "objective-id",
                "target-id": token,
                "status": status,
            },
        });
        let mut finding = finding;
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
    let mut risks = Vec::new();
    for r in computed.rules.values() {
        for x in &r.exceptions {
            risks.push(json!({
                "uuid": uuid(&ns, &format!("exception:{}:{}", x.rule, x.first_seen)),
                "title": format!("Exception: {} {}", x.rule, x.status),
                "description": format!("Rule {} was {} from {} to {} ({} s); observed {}, expected {}.", x.rule, x.status, x.first_seen, x.resolved_at.as_deref().unwrap_or(&params.to), x.duration_seconds, x.observed, x.expected),
                "statement": "A control objective was not met while attestd observed it.",
                "props": [
                    {"name": "kind", "value": "exception"},
                    {"name": "start", "value": x.first_seen},
                    {"name": "end", "value": x.resolved_at.clone().unwrap_or_else(|| params.to.clone())},
                    {"name": "duration-seconds", "value": x.duration_seconds.to_string()},
                    {"name": "open", "value": x.open.to_string()},
                ],
                "status": if x.open { "open" } else { "closed" },
            }));
        }
    }
    for (name, cov) in &computed.collectors {
        for g in &cov.gaps {
            risks.push(json!({
                "uuid": uuid(&ns, &format!("gap:{}:{}", name, g.start)),
                "title": format!("Gap in {} evidence", name),
                "description": format!("No evidence from {} between {} and {} ({} s, {} scheduled runs missed): {}: {}.", name, g.start, g.end, g.duration_seconds, g.missed_runs, g.cause, g.detail),
                "statement": "Scheduled tests left no evidence: the control was not observed in this time.",
                "props": [
                    {"name": "kind", "value": "gap"},
                    {"name": "start", "value": g.start},
                    {"name": "end", "value": g.end},
                    {"name": "duration-seconds", "value": g.duration_seconds.to_string()},
                ],
                "status": if g.ongoing { "open" } else { "closed" },
            }));
        }
    }
    if let Some(a) = attested {
        risks.extend(super::attest::risks(a, &|name| uuid(&ns, name)));
    }
    if !risks.is_empty() {
        write!(w, ",\"risks\":")?;
        serde_json::to_writer(&mut w, &risks)?;
    }
    writeln!(w, "}}]}}}}")?;
    w.flush()
}
