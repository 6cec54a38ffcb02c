//! `attestd verify BUNDLE`: checks a bundle without trusting whoever made it.
//! Every file against SHA256SUMS (and no file unlisted), the Ed25519 signature over
//! SHA256SUMS, the ledger rows re-walked against the chain head, every evidence record
//! against its ledger row, and the summary, CSVs and samples recomputed from the rows.
//! Names each failure; never repairs anything.

use super::ledger::{self, ChainCheck, Section};
use super::{list_files, sha256_file, signing};
use crate::policy::Catalog;
use attestd_ledger::summary::{Analyzer, Computed, Parameters};
use attestd_ledger::RowKind;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub problems: Vec<String>,
    pub detail: String,
}

/// The verdict on a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bundle: String,
    pub ok: bool,
    pub signing_key_fingerprint: Option<String>,
    pub checks: Vec<Check>,
    /// Controls by recomputed result (`effective`, `exceptions`, `gaps`,
    /// `exceptions_and_gaps`, `not_tested`).
    pub controls: BTreeMap<String, u64>,
}

/// Verify a bundle directory or .tar.gz. `expected_key` pins the signer: a PEM file
/// or a `SHA256:...` fingerprint (from `attestd key show` on the host).
pub fn verify(
    path: &Path,
    expected_key: Option<&str>,
    catalog: &Catalog,
) -> Result<Report, String> {
    verify_with(path, expected_key, None, catalog)
}

/// [`verify`], also pinning the fleet server's witness key (a PEM file or a `SHA256:`
/// fingerprint) that the bundle's receipts must be signed with.
pub fn verify_with(
    path: &Path,
    expected_key: Option<&str>,
    witness_key: Option<&str>,
    catalog: &Catalog,
) -> Result<Report, String> {
    // Re-judging evaluates CEL for every verdict of the period: start the deep stack
    // it needs once here, so each judgement runs in place instead of on a new thread.
    crate::policy::cel_bounds::on_deep_stack(|| {
        verify_here(path, expected_key, witness_key, catalog)
    })
}

fn verify_here(
    path: &Path,
    expected_key: Option<&str>,
    witness_key: Option<&str>,
    catalog: &Catalog,
) -> Result<Report, String> {
    let _extracted;
    let dir: PathBuf = if path.is_dir() {
        path.to_path_buf()
    } else if path.is_file() {
        let tmp =
            tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
        archive
            .unpack(tmp.path())
            .map_err(|e| {
                format!(
                    "{}: not a readable .tar.gz bundle ({e}); to check a database's chain use `attestd verify --db {}`",
                    path.display(),
                    path.display()
                )
            })?;
        let inner = std::fs::read_dir(tmp.path())
            .map_err(|e| e.to_string())?
            .flatten()
            .find(|e| e.path().join("SHA256SUMS").exists())
            .map(|e| e.path())
            .ok_or_else(|| format!("{}: no bundle inside (no SHA256SUMS)", path.display()))?;
        _extracted = tmp;
        inner
    } else {
        return Err(format!(
            "{}: no such bundle (a directory or .tar.gz)",
            path.display()
        ));
    };
    if super::fleet::is_fleet_bundle(&dir) {
        let mut report = super::fleet::verify(&dir, &path.display().to_string(), expected_key);
        super::fleet_org::verify(&dir, catalog, &mut report);
        return Ok(report);
    }
    let mut checks = Vec::new();
    let (sums_check, sums_text) = check_sums(&dir);
    checks.push(sums_check);
    let (sig_check, fingerprint) = check_signature(&dir, sums_text.as_deref(), expected_key);
    checks.push(sig_check);
    let (contents, tally) = check_contents(&dir, catalog, fingerprint.as_deref(), witness_key);
    checks.extend(contents);
    Ok(Report {
        bundle: path.display().to_string(),
        ok: checks.iter().all(|c| c.ok),
        signing_key_fingerprint: fingerprint,
        checks,
        controls: tally,
    })
}

fn check(name: &str, problems: Vec<String>, detail: String) -> Check {
    Check {
        name: name.into(),
        ok: problems.is_empty(),
        problems,
        detail,
    }
}

pub(super) fn check_sums(dir: &Path) -> (Check, Option<Vec<u8>>) {
    let text = match std::fs::read(dir.join("SHA256SUMS")) {
        Ok(t) => t,
        Err(e) => {
            return (
                check(
                    "SHA256SUMS",
                    vec![format!("SHA256SUMS: {e}")],
                    String::new(),
                ),
                None,
            )
        }
    };
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for (i, line) in String::from_utf8_lossy(&text).lines().enumerate() {
        let Some((digest, file)) = line.split_once("  ") else {
            problems.push(format!("SHA256SUMS line {}: not `HASH  FILE`", i + 1));
            continue;
        };
        listed.insert(file.to_string());
        let p = dir.join(file);
        if file.contains("..") || file.starts_with('/') {
            problems.push(format!(
                "SHA256SUMS line {}: path `{file}` leaves the bundle",
                i + 1
            ));
            continue;
        }
        match sha256_file(&p) {
            Ok(d) if d == digest => {}
            Ok(_) => problems.push(format!(
                "{file}: changed (its SHA-256 no longer matches SHA256SUMS)"
            )),
            Err(e) => problems.push(format!("{file}: listed in SHA256SUMS but unreadable: {e}")),
        }
    }
    if let Ok(files) = list_files(dir) {
        for f in files.iter().filter(|f| !listed.contains(*f)) {
            problems.push(format!(
                "{f}: not listed in SHA256SUMS (added after signing)"
            ));
        }
    }
    let n = listed.len();
    (
        check("SHA256SUMS", problems, format!("{n} files")),
        Some(text),
    )
}

fn check_signature(
    dir: &Path,
    sums: Option<&[u8]>,
    expected: Option<&str>,
) -> (Check, Option<String>) {
    let name = "signature";
    let Some(sums) = sums else {
        return (
            check(
                name,
                vec!["nothing to check: SHA256SUMS is missing".into()],
                String::new(),
            ),
            None,
        );
    };
    let pem = match std::fs::read_to_string(dir.join(signing::PUBLIC_FILE)) {
        Ok(p) => p,
        Err(e) => {
            return (
                check(
                    name,
                    vec![format!("{}: {e}", signing::PUBLIC_FILE)],
                    String::new(),
                ),
                None,
            )
        }
    };
    let key = match signing::parse_public(&pem) {
        Ok(k) => k,
        Err(e) => {
            return (
                check(
                    name,
                    vec![format!("{}: {e}", signing::PUBLIC_FILE)],
                    String::new(),
                ),
                None,
            )
        }
    };
    let fp = signing::fingerprint(&key);
    let mut problems = Vec::new();
    match std::fs::read(dir.join("SHA256SUMS.sig")) {
        Ok(sig) => {
            if let Err(e) = signing::verify(&key, sums, &sig) {
                problems.push(format!(
                    "SHA256SUMS.sig: {e} (re-signed with another key, or SHA256SUMS changed)"
                ));
            }
        }
        Err(e) => problems.push(format!("SHA256SUMS.sig: {e}")),
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("SHA256SUMS.minisig")) {
        if let Err(e) = signing::verify_minisign(&key, sums, &text) {
            problems.push(format!("SHA256SUMS.minisig: {e}"));
        }
    }
    let mut detail = format!("Ed25519 key {fp}");
    match expected {
        Some(exp) => {
            match pinned_fingerprint("--key", exp) {
                Ok(w) if w == fp => detail.push_str(" (the expected key)"),
                Ok(w) => problems.push(format!(
                    "signed by key {fp}, not the expected {w}: the bundle was re-signed by someone else"
                )),
                Err(e) => problems.push(e),
            }
        }
        None => detail
            .push_str("; compare it with `attestd key show` on the host, or pass --key to pin it"),
    }
    (check(name, problems, detail), Some(fp))
}

/// The fingerprint a pinned key names: a `SHA256:` fingerprint as given, or the
/// fingerprint of the public key in a PEM file.
pub fn pinned_fingerprint(flag: &str, pin: &str) -> Result<String, String> {
    if pin.starts_with("SHA256:") {
        Ok(pin.to_string())
    } else {
        std::fs::read_to_string(pin)
            .map_err(|e| format!("{flag} {pin}: {e}"))
            .and_then(|t| {
                signing::parse_public(&t)
                    .map(|k| signing::fingerprint(&k))
                    .map_err(|e| format!("{flag} {pin}: {e}"))
            })
    }
}

fn check_contents(
    dir: &Path,
    catalog: &Catalog,
    fingerprint: Option<&str>,
    witness_key: Option<&str>,
) -> (Vec<Check>, BTreeMap<String, u64>) {
    let tally = BTreeMap::new();
    let out = check_contents_inner(dir, catalog, fingerprint, witness_key);
    match out {
        Ok((checks, tally)) => (checks, tally),
        Err(checks) => (checks, tally),
    }
}

type Contents = Result<(Vec<Check>, BTreeMap<String, u64>), Vec<Check>>;

fn check_contents_inner(
    dir: &Path,
    catalog: &Catalog,
    fingerprint: Option<&str>,
    witness_key: Option<&str>,
) -> Contents {
    let mut out = Vec::new();
    let summary: serde_json::Value = match std::fs::read(dir.join("summary.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            out.push(check(
                "summary",
                vec![format!("summary.json: {e}")],
                String::new(),
            ));
            return Err(out);
        }
    };
    let params: Parameters = match serde_json::from_value(summary["parameters"].clone()) {
        Ok(p) => p,
        Err(e) => {
            out.push(check(
                "summary",
                vec![format!("summary.json: parameters: {e}")],
                String::new(),
            ));
            return Err(out);
        }
    };
    // One pass over ledger.json: chain, evidence bodies' hashes, recomputation.
    let names = super::control_name(catalog);
    let alerts = attestd_ledger::summary::LedgerAlerts::default();
    let mut analyzer = match Analyzer::new(params.clone(), &names, &alerts) {
        Ok(a) => a.with_applicability(super::attest::applicability_controls(catalog)),
        Err(e) => {
            out.push(check(
                "summary",
                vec![format!("summary.json: parameters: {e}")],
                String::new(),
            ));
            return Err(out);
        }
    };
    let mut chain = ChainCheck::default();
    let mut rejudge = super::rejudge::Rejudge::new(
        attestd_ledger::summary::parse_time(&params.from).unwrap_or_default(),
        attestd_ledger::summary::parse_time(&params.to).unwrap_or_default(),
    );
    let mut failing = super::oscal::Failing::new(
        attestd_ledger::summary::parse_time(&params.from).unwrap_or_default(),
        attestd_ledger::summary::parse_time(&params.to).unwrap_or_default(),
    );
    let mut entries = Vec::new();
    let mut policies = super::rules::Collector::default();
    let mut first_period: Option<i64> = None;
    let mut evidence_bodies: HashMap<i64, [u8; 32]> = HashMap::new();
    let mut policy_bodies: HashMap<i64, serde_json::Value> = HashMap::new();
    let mut anchors_seen = Vec::new();
    let mut analysis_problems = Vec::new();
    let mut receipts = super::receipts::Check::load(dir, witness_key);
    let header = ledger::read(&dir.join("ledger.json"), &mut |section, row| {
        receipts.row(&row, section == Section::Period);
        match section {
            Section::Anchor => {
                chain.anchor(&row);
                anchors_seen.push(row.seq);
            }
            Section::Period => {
                first_period.get_or_insert(row.seq);
                chain.row(&row);
            }
        }
        if row.kind == RowKind::Evidence {
            evidence_bodies.insert(row.seq, Sha256::digest(row.body.as_bytes()).into());
        }
        if row.kind == RowKind::Policy {
            policy_bodies.insert(row.seq, serde_json::from_str(&row.body).unwrap_or_default());
        }
        alerts.observe(&row);
        rejudge.row(&row);
        failing.row(&row);
        entries.extend(super::evidence::Writer::entry(&row));
        if let Err(e) = policies.row(&row) {
            analysis_problems.push(format!("ledger.json: row {}: {e}", row.seq));
        }
        if analysis_problems.is_empty() {
            if let Err(e) = analyzer.row(&row) {
                analysis_problems.push(format!("ledger.json: {e}"));
            }
        }
    });
    match header {
        Ok(h) => {
            chain.finish(&h, first_period);
            if anchors_seen != h.anchor_seqs {
                chain.problems.push(
                    "ledger.json: the anchor rows differ from the header's list (removed or added)"
                        .into(),
                );
            }
            out.push(check(
                "ledger",
                std::mem::take(&mut chain.problems),
                format!(
                    "{} period rows re-walked, {} anchors; chain head {}",
                    chain.rows,
                    anchors_seen.len(),
                    h.period_head.as_deref().unwrap_or("-")
                ),
            ));
        }
        Err(e) => {
            out.push(check("ledger", vec![e], String::new()));
            return Err(out);
        }
    }
    let (problems, detail) = receipts.finish();
    out.push(check("receipts", problems, detail));
    out.push(check_evidence(dir, &evidence_bodies));
    out.push(check_rules(dir, &policy_bodies));
    out.push(check(
        "verdicts",
        std::mem::take(&mut rejudge.problems),
        format!(
            "{} verdicts re-judged on their evidence with the rules in force{}",
            rejudge.judged,
            if rejudge.without_parameters > 0 {
                format!(
                    "; {} collector runs recorded before any parameters could not be",
                    rejudge.without_parameters
                )
            } else {
                String::new()
            }
        ),
    ));
    let computed = analyzer.finish();
    let mut problems = analysis_problems;
    if problems.is_empty() {
        problems.extend(compare_summary(dir, &summary, &computed));
        problems.extend(super::attest::check(dir, computed.attestations.as_ref()));
        problems.extend(compare_derived(
            dir,
            &summary,
            &params,
            &computed,
            catalog,
            fingerprint,
            &entries,
            &failing,
            &policies,
        ));
    }
    let mut tally = BTreeMap::new();
    for c in &computed.controls {
        *tally.entry(c.result.clone()).or_default() += 1;
    }
    out.push(check(
        "summary",
        problems,
        format!(
            "{} controls, {} runs recomputed from the ledger rows (and CSVs, samples, rules/changes.json, host.json, index.html, oscal/)",
            computed.controls.len(),
            computed.runs
        ),
    ));
    Ok((out, tally))
}

/// host.json, index.html, rules/ and oscal/ recomputed from the summary recomputed
/// from the rows, compared byte for byte. Only the host's identity (host.json's
/// `host`), the time the bundle was made and the maker's version are taken as
/// stated: nothing in the ledger says them.
#[allow(clippy::too_many_arguments)]
fn compare_derived(
    dir: &Path,
    summary: &serde_json::Value,
    params: &Parameters,
    computed: &Computed,
    catalog: &Catalog,
    fingerprint: Option<&str>,
    entries: &[super::evidence::EvidenceEntry],
    failing: &super::oscal::Failing,
    policies: &super::rules::Collector,
) -> Vec<String> {
    let mut problems = Vec::new();
    let host: Option<serde_json::Value> = std::fs::read(dir.join("host.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let identity: Option<crate::host::HostIdentity> = host
        .as_ref()
        .and_then(|h| serde_json::from_value(h["host"].clone()).ok());
    let Some(identity) = identity else {
        return vec!["host.json: unreadable, or without its `host` identity".into()];
    };
    let generated_at = summary["generated_at"].as_str().unwrap_or_default();
    let version = summary["attestd_version"].as_str().unwrap_or_default();
    let derived = super::Derived {
        params,
        computed,
        catalog,
        identity: &identity,
        fingerprint: fingerprint.unwrap_or_default(),
        generated_at,
        attestd_version: version,
    };
    let mut expected: Vec<(String, Vec<u8>)> = derived
        .documents()
        .into_iter()
        .map(|(f, b)| (f.to_string(), b))
        .collect();
    match super::rules::documents(policies, &computed.policy_changes) {
        Ok(docs) => expected.extend(docs),
        Err(e) => problems.push(format!("rules/: {e}")),
    }
    for (file, bytes) in &expected {
        if std::fs::read(dir.join(file)).ok().as_ref() != Some(bytes) {
            problems.push(format!(
                "{file}: does not match what the ledger rows give (edited after it was made)"
            ));
        }
    }
    let mut oscal = Vec::new();
    let bundle_id = derived.bundle_id();
    if let Err(e) =
        super::oscal::documents(&mut oscal, &derived.oscal(entries, failing, &bundle_id))
    {
        problems.push(format!("oscal/: {e}"));
    }
    // Nothing in oscal/ that the rows do not give (a planted catalog, say).
    let expected_oscal: std::collections::BTreeSet<&str> =
        oscal.iter().map(|(f, _)| f.as_str()).collect();
    for e in std::fs::read_dir(dir.join("oscal"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let file = format!("oscal/{}", e.file_name().to_string_lossy());
        if !expected_oscal.contains(file.as_str()) {
            problems.push(format!(
                "{file}: not a file the ledger rows give (added after the bundle was made)"
            ));
        }
    }
    for (file, digest) in oscal {
        if sha256_file(&dir.join(&file)).ok().as_deref() != Some(digest.as_str()) {
            problems.push(format!(
                "{file}: does not match what the ledger rows give (edited after it was made)"
            ));
        }
    }
    problems
}

fn check_evidence(dir: &Path, bodies: &HashMap<i64, [u8; 32]>) -> Check {
    let mut problems = Vec::new();
    let mut records = 0u64;
    let mut seen = BTreeSet::new();
    let edir = dir.join("evidence");
    let files: Vec<PathBuf> = std::fs::read_dir(&edir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    for file in files {
        let name = format!(
            "evidence/{}",
            file.file_name().unwrap_or_default().to_string_lossy()
        );
        let Ok(f) = std::fs::File::open(&file) else {
            problems.push(format!("{name}: unreadable"));
            continue;
        };
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let Ok(line) = line else {
                problems.push(format!("{name} line {}: not text", i + 1));
                break;
            };
            records += 1;
            let parsed: Result<super::evidence::EvidenceLine, _> = serde_json::from_str(&line);
            let Ok(rec) = parsed else {
                problems.push(format!("{name} line {}: not an evidence record", i + 1));
                continue;
            };
            seen.insert(rec.seq);
            let text = serde_json::to_string(&rec.evidence).expect("JSON");
            let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            match bodies.get(&rec.seq) {
                Some(d) if *d == digest => {}
                Some(_) => problems.push(format!(
                    "{name} line {} (ledger row {}): the evidence differs from the ledger row it claims to be",
                    i + 1,
                    rec.seq
                )),
                None => problems.push(format!(
                    "{name} line {}: ledger row {} is not an evidence row of this bundle",
                    i + 1,
                    rec.seq
                )),
            }
            // The evidence hash itself: SHA-256 of the canonical facts and artifacts.
            let recomputed =
                serde_json::from_value::<attestd_collectors::Evidence>(serde_json::json!({
                    "facts": rec.evidence["facts"],
                    "artifacts": rec.evidence["artifacts"],
                }))
                .map(|e| e.sha256());
            if recomputed.ok().as_deref() != rec.evidence["key"].as_str() {
                problems.push(format!(
                    "{name} line {} (ledger row {}): facts and artifacts no longer hash to the recorded evidence SHA-256",
                    i + 1,
                    rec.seq
                ));
            }
        }
    }
    for seq in bodies.keys().filter(|s| !seen.contains(*s)) {
        problems.push(format!(
            "evidence row {seq} of ledger.json is missing from evidence/"
        ));
    }
    check(
        "evidence",
        problems,
        format!("{records} evidence records match their ledger rows"),
    )
}

/// Every parameter set in rules/ is the `policy` row it names, and every `policy`
/// row of the bundle is in rules/.
fn check_rules(dir: &Path, policies: &HashMap<i64, serde_json::Value>) -> Check {
    let mut problems = Vec::new();
    let index: Vec<serde_json::Value> = match std::fs::read(dir.join("rules/index.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            return check(
                "rules",
                vec![format!("rules/index.json: {e}")],
                String::new(),
            )
        }
    };
    let mut listed = BTreeSet::new();
    for entry in &index {
        let file = entry["file"].as_str().unwrap_or_default();
        let Some(seq) = entry["ledger_seq"].as_i64() else {
            continue; // the current parameters, for a ledger without policy rows
        };
        listed.insert(seq);
        let stated: Option<serde_json::Value> = std::fs::read(dir.join(file))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match policies.get(&seq) {
            Some(body) if Some(body) == stated.as_ref() => {}
            Some(_) => problems.push(format!("{file}: differs from ledger row {seq}")),
            None => problems.push(format!(
                "{file}: ledger row {seq} is not a policy row of this bundle"
            )),
        }
    }
    for seq in policies.keys().filter(|s| !listed.contains(*s)) {
        problems.push(format!(
            "rules/: the parameters of ledger row {seq} are missing"
        ));
    }
    check(
        "rules",
        problems,
        format!("{} parameter set(s) match their ledger rows", listed.len()),
    )
}

fn compare_summary(dir: &Path, summary: &serde_json::Value, computed: &Computed) -> Vec<String> {
    let mut problems = Vec::new();
    let recomputed = serde_json::to_value(computed).expect("JSON");
    let stated = &summary["computed"];
    for key in [
        "collectors",
        "rules",
        "controls",
        "policy_changes",
        "samples",
        "runs",
        "evidence_rows",
        "attestations",
    ] {
        if stated[key] != recomputed[key] {
            problems.push(format!(
                "summary.json: `{key}` does not recompute from the ledger rows{}",
                first_difference(&stated[key], &recomputed[key], key)
                    .map(|d| format!(" (first difference at {d})"))
                    .unwrap_or_default()
            ));
        }
    }
    for (file, bytes) in [
        ("controls.csv", super::csv::controls(computed).ok()),
        ("exceptions.csv", super::csv::exceptions(computed).ok()),
    ] {
        if std::fs::read(dir.join(file)).ok() != bytes {
            problems.push(format!(
                "{file}: does not match the summary recomputed from the ledger rows"
            ));
        }
    }
    for s in &computed.samples {
        let file = format!("evidence/samples/{}.json", s.date);
        let stated: Option<serde_json::Value> = std::fs::read(dir.join(&file))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if stated != Some(serde_json::to_value(s).expect("JSON")) {
            problems.push(format!(
                "{file}: does not match the runs recorded in the ledger rows"
            ));
        }
    }
    problems
}

fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value::*;
    match (a, b) {
        (Object(x), Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (x.get(k).unwrap_or(&Null), y.get(k).unwrap_or(&Null));
                if va != vb {
                    return first_difference(va, vb, &format!("{path}.{k}"));
                }
            }
            None
        }
        (Array(x), Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let (va, vb) = (x.get(i).unwrap_or(&Null), y.get(i).unwrap_or(&Null));
                if va != vb {
                    return first_difference(va, vb, &format!("{path}[{i}]"));
                }
            }
            None
        }
        _ if a != b => Some(format!("{path}: stated {a}, recomputed {b}")),
        _ => None,
    }
}
