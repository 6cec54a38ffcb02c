//! `attestd verify` of a fleet bundle's organisation members and its statement of
//! applicability: each `organisations/NAME/` re-checked with the same code as a host
//! member (chain, push signatures, receipts, heads, summary recomputed), every row of
//! a kind an organisation ledger may hold, every attested file present and hashing to
//! its name and no other file beside them; then `applicability.json` and
//! `applicability.csv` recomputed by `attestd_ledger::org::fleet_applicability` from
//! the organisation summaries and the host summaries (which the host checks recompute
//! from their rows). Names each failure; never repairs anything.

use super::verify::{Check, Report};
use crate::policy::Catalog;
use attestd_ledger::org::{applicability_csv, applicability_json, fleet_applicability};
use attestd_ledger::summary::{AttestationSummary, Computed};
use std::path::Path;

fn read(path: &Path) -> Result<serde_json::Value, String> {
    std::fs::read(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display())))
}

fn computed(path: &Path) -> Result<Computed, String> {
    let s = read(path)?;
    serde_json::from_value(s["computed"].clone()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Add the organisation checks to a fleet bundle's report.
pub fn verify(dir: &Path, catalog: &Catalog, report: &mut Report) {
    let fleet = read(&dir.join("fleet.json")).unwrap_or_default();
    let to = fleet["to"].as_str().unwrap_or_default().to_string();
    let witness = std::fs::read_to_string(dir.join("witness.pub.pem"))
        .ok()
        .and_then(|p| super::signing::parse_public(&p).ok());
    let mut orgs: Vec<(String, AttestationSummary)> = Vec::new();
    for m in fleet["organisations"].as_array().into_iter().flatten() {
        let name = m["organisation"].as_str().unwrap_or_default().to_string();
        let rel = m["dir"].as_str().unwrap_or_default().to_string();
        if rel.contains("..") || !rel.starts_with("organisations/") {
            report.checks.push(Check {
                name: format!("organisation {name}"),
                ok: false,
                problems: vec![format!("fleet.json: dir `{rel}` leaves organisations/")],
                detail: String::new(),
            });
            continue;
        }
        let odir = dir.join(&rel);
        let mut rollup = Default::default();
        let mut c = super::fleet::verify_host(
            &odir,
            &rel,
            &name,
            &to,
            witness.as_ref(),
            &mut rollup,
            &mut Vec::new(),
        );
        c.name = format!("organisation {name}");
        let _ = super::ledger::read(&odir.join("ledger.json"), &mut |_, row| {
            if let Err(e) = attestd_ledger::org::check_row(&row) {
                c.problems.push(format!("{rel}/ledger.json: {e}"));
            }
        });
        match computed(&odir.join("summary.json")) {
            Ok(s) => {
                if let Some(a) = s.attestations {
                    c.problems.extend(
                        super::attest::check(&odir, Some(&a))
                            .into_iter()
                            .filter(|p| !p.starts_with(super::attest::APPLICABILITY_CSV))
                            .map(|p| format!("{rel}/{p}")),
                    );
                    orgs.push((name.clone(), a));
                }
            }
            Err(e) => c.problems.push(e),
        }
        c.ok = c.problems.is_empty();
        report.checks.push(c);
    }
    let json_path = dir.join("applicability.json");
    let mut problems = Vec::new();
    let mut hosts: Vec<(String, Computed)> = Vec::new();
    for m in fleet["population"].as_array().into_iter().flatten() {
        let rel = m["dir"].as_str().unwrap_or_default();
        match computed(&dir.join(rel).join("summary.json")) {
            Ok(c) => hosts.push((m["host"].as_str().unwrap_or_default().to_string(), c)),
            Err(e) => problems.push(e),
        }
    }
    let any = !orgs.is_empty() || hosts.iter().any(|(_, h)| h.attestations.is_some());
    if !any {
        if json_path.exists() || dir.join("applicability.csv").exists() {
            problems.push("applicability.json: present but no ledger holds attestations".into());
        }
    } else {
        let controls: Vec<(String, String)> = super::attest::applicability_controls(catalog)
            .into_iter()
            .filter(|(c, _)| {
                fleet["framework"]
                    .as_str()
                    .is_none_or(|f| c.starts_with(&format!("{f}:")))
            })
            .collect();
        let org_refs: Vec<&AttestationSummary> = orgs.iter().map(|(_, a)| a).collect();
        let names: Vec<&str> = orgs.iter().map(|(n, _)| n.as_str()).collect();
        let host_refs: Vec<(&str, &Computed)> =
            hosts.iter().map(|(h, c)| (h.as_str(), c)).collect();
        let fc = fleet_applicability(&controls, &org_refs, &host_refs);
        if read(&json_path).ok() != Some(applicability_json(&names, &fc)) {
            problems.push(
                "applicability.json: does not recompute from the organisation and host summaries"
                    .into(),
            );
        }
        if std::fs::read(dir.join("applicability.csv")).ok()
            != Some(applicability_csv(&fc).into_bytes())
        {
            problems.push(
                "applicability.csv: does not recompute from the organisation and host summaries"
                    .into(),
            );
        }
    }
    report.checks.push(Check {
        name: "applicability".into(),
        ok: problems.is_empty(),
        problems,
        detail: format!(
            "{} organisation ledger(s), {} hosts",
            orgs.len(),
            hosts.len()
        ),
    });
    report.ok = report.checks.iter().all(|c| c.ok);
}
