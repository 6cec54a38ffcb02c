//! Attestations in a bundle: their files copied in by content
//! (`attestations/files/<sha256>`, so SHA256SUMS and `sha256sum -c` cover them),
//! `applicability.csv` (the statement of applicability flattened), their OSCAL
//! observations (entity-asserted: methods EXAMINE or INTERVIEW, the origin a party,
//! never the tool) and risks (missed occurrences, expiries). Everything is derived
//! from the ledger crate's `AttestationSummary`, the same at build and at `verify`;
//! present only when the period's rows hold attestations.

use crate::attest::blobs::BlobStore;
use crate::policy::Catalog;
use attestd_ledger::summary::AttestationSummary;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

/// Where attested files go in a bundle.
pub const FILES_DIR: &str = "attestations/files";
/// The statement of applicability as CSV.
pub const APPLICABILITY_CSV: &str = "applicability.csv";

/// Every SOC 2 and ISO 27001:2022 control of the catalog, with its name: the statement
/// of applicability's rows.
pub fn applicability_controls(catalog: &Catalog) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for fw in [
        crate::policy::catalog::SOC2,
        crate::policy::catalog::ISO2022,
    ] {
        if let Some(f) = catalog.frameworks.get(fw) {
            for c in &f.controls {
                out.push((format!("{fw}:{}", c.id), c.name.clone()));
            }
        }
    }
    out
}

/// The SHA-256 of every file the summary's attestations carry.
fn referenced(a: &AttestationSummary) -> BTreeSet<String> {
    a.attestations
        .iter()
        .flat_map(|e| e.files.iter().map(|f| f.sha256.clone()))
        .collect()
}

/// Copy each attested file from the blob store into the bundle; the error names a blob
/// that is missing or no longer hashes to its name.
pub fn copy_files(dir: &Path, a: &AttestationSummary, blobs: &BlobStore) -> Result<usize, String> {
    let files = referenced(a);
    if files.is_empty() {
        return Ok(0);
    }
    let out = dir.join(FILES_DIR);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for sha in &files {
        let src = blobs.path(sha);
        let digest = super::sha256_file(&src).map_err(|e| {
            format!(
                "attested file {sha}: {} ({e}); the blob store beside the database must keep every attested file",
                src.display()
            )
        })?;
        if &digest != sha {
            return Err(format!(
                "attested file {}: its content changed in the blob store (SHA-256 {digest}, recorded {sha})",
                src.display()
            ));
        }
        std::fs::copy(&src, out.join(sha)).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    Ok(files.len())
}

/// applicability.csv as bytes.
pub fn applicability_csv(a: &AttestationSummary) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "control",
        "name",
        "source",
        "tested_result",
        "attestations",
        "justification",
        "missed_occurrences",
        "expiry_exceptions",
    ])?;
    for r in &a.applicability {
        w.write_record([
            r.control.clone(),
            r.name.clone(),
            r.source.clone(),
            r.tested_result.clone().unwrap_or_default(),
            r.attestations.join(" "),
            r.justification.clone().unwrap_or_default(),
            r.gaps.to_string(),
            r.exceptions.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// Write the derived attestation files (applicability.csv).
pub fn write(dir: &Path, a: &AttestationSummary) -> Result<(), String> {
    let csv = applicability_csv(a).map_err(|e| format!("{APPLICABILITY_CSV}: {e}"))?;
    std::fs::write(dir.join(APPLICABILITY_CSV), csv)
        .map_err(|e| format!("{}: {e}", dir.join(APPLICABILITY_CSV).display()))
}

/// `verify`: every attested file is in the bundle and hashes to what its ledger row
/// says, no other file sits beside them, and applicability.csv recomputes.
pub fn check(dir: &Path, a: Option<&AttestationSummary>) -> Vec<String> {
    let mut problems = Vec::new();
    let files_dir = dir.join(FILES_DIR);
    let Some(a) = a else {
        if files_dir.exists() || dir.join(APPLICABILITY_CSV).exists() {
            problems.push(
                "attestations/: files present but the ledger rows hold no attestation".into(),
            );
        }
        return problems;
    };
    let wanted = referenced(a);
    for sha in &wanted {
        match super::sha256_file(&files_dir.join(sha)) {
            Ok(d) if &d == sha => {}
            Ok(_) => problems.push(format!(
                "{FILES_DIR}/{sha}: edited: it no longer hashes to the SHA-256 its attestation row records"
            )),
            Err(e) => problems.push(format!(
                "{FILES_DIR}/{sha}: missing ({e}); an attestation row refers to it"
            )),
        }
    }
    if let Ok(rd) = std::fs::read_dir(&files_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !wanted.contains(&name) {
                problems.push(format!(
                    "{FILES_DIR}/{name}: no attestation of the bundle refers to it"
                ));
            }
        }
    }
    if std::fs::read(dir.join(APPLICABILITY_CSV)).ok() != applicability_csv(a).ok() {
        problems.push(format!(
            "{APPLICABILITY_CSV}: does not match the statement of applicability recomputed from the ledger rows"
        ));
    }
    problems
}

/// Who asserted what: the performer (else the recorder) of each attestation and each
/// approver, sorted.
pub fn parties(a: &AttestationSummary) -> Vec<String> {
    let mut out = BTreeSet::new();
    for e in &a.attestations {
        out.insert(asserted_by(e).to_string());
        for r in &e.reviews {
            out.insert(r.by.clone());
        }
    }
    out.into_iter().collect()
}

fn asserted_by(e: &attestd_ledger::summary::AttestationEntry) -> &str {
    e.performed_by.as_deref().unwrap_or(&e.recorded_by)
}

/// One OSCAL observation per attestation revision: entity-asserted, EXAMINE when files
/// back it, INTERVIEW when only a person's statement does; the origin is the party.
pub fn observations(
    a: &AttestationSummary,
    uuid: &dyn Fn(&str) -> String,
) -> Vec<serde_json::Value> {
    a.attestations
        .iter()
        .map(|e| {
            let party = uuid(&format!("party:{}", asserted_by(e)));
            let mut props = vec![
                json!({"name": "assertion", "value": "entity-asserted"}),
                json!({"name": "attestation-id", "value": e.id}),
                json!({"name": "attestation-kind", "value": e.kind.as_str()}),
                json!({"name": "ledger-seq", "value": e.seq.to_string()}),
                json!({"name": "review", "value": e.review}),
                json!({"name": "counts-as-evidence", "value": e.counts_as_evidence.to_string()}),
            ];
            if let Some(s) = &e.superseded_by {
                props.push(json!({"name": "superseded-by", "value": s}));
            }
            let mut obs = json!({
                "uuid": uuid(&format!("attestation:{}", e.id)),
                "title": format!("Attestation {}: {}", e.id, e.title),
                "description": format!(
                    "{} attested by {} for {} (effective {}..{}), recorded by {} at {} (ledger row {}); review: {}.",
                    e.kind.as_str(), asserted_by(e), e.controls.join(", "), e.effective_from, e.effective_to, e.recorded_by, e.recorded_at, e.seq, e.review
                ),
                "props": props,
                "methods": [if e.files.is_empty() { "INTERVIEW" } else { "EXAMINE" }],
                "types": ["control-objective"],
                "origins": [{"actors": [{"type": "party", "actor-uuid": party}]}],
                "collected": e.recorded_at,
            });
            if !e.files.is_empty() {
                obs["relevant-evidence"] = e
                    .files
                    .iter()
                    .map(|f| {
                        json!({
                            "href": format!("../{FILES_DIR}/{}", f.sha256),
                            "description": format!("{} ({}, {} bytes, SHA-256 {})", f.name, f.media_type, f.size, f.sha256),
                        })
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
            obs
        })
        .collect()
}

/// Missed occurrences and expiry exceptions as OSCAL risks.
pub fn risks(a: &AttestationSummary, uuid: &dyn Fn(&str) -> String) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for s in &a.series {
        for o in s.occurrences.iter().filter(|o| o.status == "missed") {
            out.push(json!({
                "uuid": uuid(&format!("attest-gap:{}:{}:{}", s.control, s.kind.as_str(), o.from)),
                "title": format!("Missed {} for {}", s.kind.as_str(), s.control),
                "description": format!("No {} attestation for {} between {} and {} (expected every {}).", s.kind.as_str(), s.control, o.from, o.to, s.every.as_str()),
                "statement": "A recurring organisational control left no attestation in this interval.",
                "props": [
                    {"name": "kind", "value": "gap"},
                    {"name": "start", "value": o.from},
                    {"name": "end", "value": o.to},
                ],
                "status": "open",
            }));
        }
    }
    for x in &a.exceptions {
        out.push(json!({
            "uuid": uuid(&format!("attest-expired:{}:{}:{}", x.control, x.attestation, x.from)),
            "title": format!("Expired {} for {}", x.kind.as_str(), x.control),
            "description": format!("Attestation {} expired on {} and was not renewed until {} ({} s).", x.attestation, x.from, x.until.as_deref().unwrap_or("the period end"), x.duration_seconds),
            "statement": "An attested control lapsed: its attestation expired before a new one took effect.",
            "props": [
                {"name": "kind", "value": "exception"},
                {"name": "start", "value": x.from},
                {"name": "duration-seconds", "value": x.duration_seconds.to_string()},
                {"name": "open", "value": x.open.to_string()},
            ],
            "status": if x.open { "open" } else { "closed" },
        }));
    }
    out
}
