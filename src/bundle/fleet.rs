//! `attestd verify FLEET_BUNDLE`: checks a bundle made by `attestd-server bundle`
//! without trusting the server. Every file against SHA256SUMS and the witness key's
//! signature over it; per host, its chain re-walked (content hashes and links), every
//! push signature checked with the host's key and every receipt with the witness key,
//! each against the chain value of the row it names (a bundle cut before a witnessed
//! head, or a history rewritten after it, fails), and its summary recomputed by the
//! ledger crate's `summary::Analyzer` with `host_not_reporting` gaps (one
//! implementation with the server); the per-control roll-up recomputed; the server's
//! receipt log re-chained. Names each failure; never repairs anything.

use super::ledger::{self, ChainCheck, Section};
use super::receipts::signature_ok;
use super::signing;
use super::verify::{Check, Report};
use attestd_ledger::body::Receipt;
use attestd_ledger::fleet::{mark_not_reporting, push_message, roll_up, FLEET_BUNDLE_FORMAT};
use attestd_ledger::summary::{Analyzer, LedgerAlerts, Parameters};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

fn check(name: &str, problems: Vec<String>, detail: String) -> Check {
    Check {
        name: name.into(),
        ok: problems.is_empty(),
        problems,
        detail,
    }
}

/// Is this directory a fleet bundle?
pub fn is_fleet_bundle(dir: &Path) -> bool {
    dir.join("fleet.json").is_file()
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{} line {}, column {}: {e}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            e.line(),
            e.column()
        )
    })
}

fn jsonl<T: serde::de::DeserializeOwned>(path: &Path, rel: &str) -> Result<Vec<T>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{rel}: {e}"))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| format!("{rel} line {}: {e}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| format!("{rel} line {}: {e}", i + 1))?);
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct Push {
    seq: i64,
    head: String,
    signature: String,
    received_at: String,
}

#[derive(serde::Deserialize)]
struct LogEntry {
    log_head: String,
    #[serde(flatten)]
    receipt: Receipt,
}

/// Verify a fleet bundle directory; `expected_key` pins the witness key (PEM file or
/// `SHA256:` fingerprint).
pub fn verify(dir: &Path, shown: &str, expected_key: Option<&str>) -> Report {
    let mut checks = Vec::new();
    let (sums, text) = super::verify::check_sums(dir);
    checks.push(sums);
    let mut problems = Vec::new();
    let mut fingerprint = None;
    let witness: Option<VerifyingKey> = match std::fs::read_to_string(dir.join("witness.pub.pem"))
        .map_err(|e| format!("witness.pub.pem: {e}"))
        .and_then(|p| signing::parse_public(&p).map_err(|e| format!("witness.pub.pem: {e}")))
    {
        Ok(k) => Some(k),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if let (Some(k), Some(sums)) = (&witness, &text) {
        let fp = signing::fingerprint(k);
        match std::fs::read(dir.join("SHA256SUMS.sig")) {
            Ok(sig) => {
                if let Err(e) = signing::verify(k, sums, &sig) {
                    problems.push(format!(
                        "SHA256SUMS.sig: {e} (SHA256SUMS changed, or signed by another key)"
                    ));
                }
            }
            Err(e) => problems.push(format!("SHA256SUMS.sig: {e}")),
        }
        if let Some(pin) = expected_key {
            match super::verify::pinned_fingerprint("--key", pin) {
                Ok(w) if w == fp => {}
                Ok(w) => problems.push(format!(
                    "signed by witness key {fp}, not the expected {w}: the bundle was made or re-signed by another server"
                )),
                Err(e) => problems.push(e),
            }
        }
        fingerprint = Some(fp);
    }
    checks.push(check(
        "signature",
        problems,
        format!(
            "the fleet server's witness key {}",
            fingerprint.as_deref().unwrap_or("-")
        ),
    ));
    let fleet = match read_json(&dir.join("fleet.json")) {
        Ok(f) if f["format"] == FLEET_BUNDLE_FORMAT => f,
        Ok(f) => {
            checks.push(check(
                "fleet",
                vec![format!(
                    "fleet.json: format {} is not {FLEET_BUNDLE_FORMAT}",
                    f["format"]
                )],
                String::new(),
            ));
            return report(shown, fingerprint, checks);
        }
        Err(e) => {
            checks.push(check("fleet", vec![e], String::new()));
            return report(shown, fingerprint, checks);
        }
    };
    let to = fleet["to"].as_str().unwrap_or_default().to_string();
    let mut rollup = BTreeMap::new();
    let mut assessed = Vec::new();
    let population = fleet["population"].as_array().cloned().unwrap_or_default();
    let mut dirs = Vec::new();
    for member in &population {
        let host = member["host"].as_str().unwrap_or_default();
        let rel = member["dir"].as_str().unwrap_or_default();
        if rel.contains("..") || !rel.starts_with("hosts/") {
            checks.push(check(
                &format!("host {host}"),
                vec![format!("fleet.json: dir `{rel}` leaves hosts/")],
                String::new(),
            ));
            continue;
        }
        dirs.push(rel.trim_start_matches("hosts/").to_string());
        checks.push(verify_host(
            &dir.join(rel),
            rel,
            host,
            &to,
            witness.as_ref(),
            &mut rollup,
            &mut assessed,
        ));
    }
    // Every host directory is in the population.
    let mut extra = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("hosts")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !dirs.contains(&name) {
                extra.push(format!("hosts/{name}: not in fleet.json's population"));
            }
        }
    }
    let recomputed: Vec<_> = rollup.values().collect();
    let stated = read_json(&dir.join("controls.json")).unwrap_or_default();
    if stated != serde_json::to_value(&recomputed).expect("JSON") {
        extra.push(
            "controls.json: the per-control roll-up does not recompute from the hosts' rows".into(),
        );
    }
    checks.push(verify_oscal(dir, &fleet, &assessed, population.len()));
    checks.push(check(
        "roll-up",
        extra,
        format!(
            "{} controls over {} hosts recomputed",
            recomputed.len(),
            population.len()
        ),
    ));
    checks.push(verify_log(dir, witness.as_ref()));
    report(shown, fingerprint, checks)
}

fn report(shown: &str, fingerprint: Option<String>, checks: Vec<Check>) -> Report {
    Report {
        bundle: shown.to_string(),
        ok: checks.iter().all(|c| c.ok),
        signing_key_fingerprint: fingerprint,
        checks,
        controls: BTreeMap::new(),
    }
}

pub(super) fn verify_host(
    hdir: &Path,
    rel: &str,
    host: &str,
    to: &str,
    witness: Option<&VerifyingKey>,
    rollup: &mut BTreeMap<String, attestd_ledger::fleet::ControlRollup>,
    assessed: &mut Vec<Assessed>,
) -> Check {
    let name = format!("host {host}");
    let mut problems = Vec::new();
    let key = match std::fs::read_to_string(hdir.join("signing-key.pub.pem"))
        .map_err(|e| e.to_string())
        .and_then(|p| signing::parse_public(&p))
    {
        Ok(k) => k,
        Err(e) => {
            return check(
                &name,
                vec![format!("{rel}/signing-key.pub.pem: {e}")],
                String::new(),
            )
        }
    };
    let summary = match read_json(&hdir.join("summary.json")) {
        Ok(s) => s,
        Err(e) => return check(&name, vec![format!("{rel}/{e}")], String::new()),
    };
    let params: Parameters = match serde_json::from_value(summary["parameters"].clone()) {
        Ok(p) => p,
        Err(e) => {
            return check(
                &name,
                vec![format!("{rel}/summary.json: parameters: {e}")],
                String::new(),
            )
        }
    };
    let pushes: Vec<Push> = match jsonl(&hdir.join("pushes.jsonl"), &format!("{rel}/pushes.jsonl"))
    {
        Ok(p) => p,
        Err(e) => return check(&name, vec![e], String::new()),
    };
    let receipts: Vec<Receipt> = match jsonl(
        &hdir.join("receipts.jsonl"),
        &format!("{rel}/receipts.jsonl"),
    ) {
        Ok(r) => r,
        Err(e) => return check(&name, vec![e], String::new()),
    };
    // Sequence number -> (what, head) the row's chain value must be.
    let mut want: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for p in &pushes {
        let sig = hex::decode(&p.signature)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok());
        if sig.is_none_or(|s| key.verify(&push_message(host, p.seq, &p.head), &s).is_err()) {
            problems.push(format!(
                "{rel}/pushes.jsonl: the push up to row {} received {} is not signed by the host's key",
                p.seq, p.received_at
            ));
        }
        want.entry(p.seq).or_default().push((
            format!("the host signed its push up to row {}", p.seq),
            p.head.clone(),
        ));
    }
    for r in &receipts {
        if r.host != host {
            problems.push(format!(
                "{rel}/receipts.jsonl: receipt {} is for host {}, not {host}",
                r.log_seq, r.host
            ));
        }
        if !witness.is_some_and(|k| signature_ok(r, k)) {
            problems.push(format!(
                "{rel}/receipts.jsonl: receipt {} (row {}, received {}): its signature does not verify with the witness key",
                r.log_seq, r.seq, r.received_at
            ));
        }
        want.entry(r.seq).or_default().push((
            format!(
                "the fleet server witnessed row {} at {} (receipt {})",
                r.seq, r.received_at, r.log_seq
            ),
            r.head.clone(),
        ));
    }
    let names = |_: &str| None::<String>;
    let alerts = LedgerAlerts::default();
    let mut analyzer = match Analyzer::new(params.clone(), &names, &alerts) {
        Ok(a) => a,
        Err(e) => {
            return check(
                &name,
                vec![format!("{rel}/summary.json: parameters: {e}")],
                String::new(),
            )
        }
    };
    let mut chain = ChainCheck::default();
    let mut first = None;
    let mut last_recorded: Option<String> = None;
    let mut matched = 0usize;
    let mut analysis = Vec::new();
    let header = ledger::read(&hdir.join("ledger.json"), &mut |section, row| {
        if section == Section::Anchor {
            chain.anchor(&row);
            return;
        }
        first.get_or_insert(row.seq);
        chain.row(&row);
        if let Some(w) = want.remove(&row.seq) {
            let out = row.chain_out();
            for (what, head) in w {
                matched += 1;
                if out.as_deref() != Some(head.as_str()) {
                    analysis.push(format!(
                        "{rel}/ledger.json: row {} ends the chain at {}, but {what} with chain value {head}: the history was rewritten",
                        row.seq,
                        out.as_deref().unwrap_or("-")
                    ));
                }
            }
        }
        last_recorded = Some(row.recorded_at.clone());
        alerts.observe(&row);
        if let Err(e) = analyzer.row(&row) {
            analysis.push(format!("{rel}/ledger.json: {e}"));
        }
    });
    match header {
        Ok(h) => {
            chain.finish(&h, first);
            problems.extend(chain.problems.drain(..).map(|p| format!("{rel}/{p}")));
        }
        Err(e) => problems.push(e),
    }
    problems.extend(analysis);
    for (seq, w) in &want {
        for (what, _) in w {
            problems.push(format!(
                "{rel}/ledger.json: ends before row {seq}, but {what}: rows were removed from the end"
            ));
        }
    }
    let mut computed = analyzer.finish();
    mark_not_reporting(&mut computed, last_recorded.as_deref(), to);
    let recomputed = serde_json::to_value(&computed).expect("JSON");
    if summary["computed"] != recomputed {
        problems.push(format!(
            "{rel}/summary.json: does not recompute from the host's ledger rows (edited after it was made)"
        ));
    }
    if summary["host"] != host {
        problems.push(format!("{rel}/summary.json: host is not {host}"));
    }
    roll_up(rollup, &computed);
    let summary_of = computed.controls.len();
    assessed.push((params, host.to_string(), rel.to_string(), computed));
    check(
        &name,
        problems,
        format!(
            "{} rows re-walked, {} push signature(s) and {} receipt(s) checked, {matched} witnessed head(s) match, {} controls recomputed",
            chain.rows,
            pushes.len(),
            receipts.len(),
            summary_of
        ),
    )
}

/// A host as the fleet's OSCAL results recompute it: the parameters of its summary,
/// its name, its directory in the bundle and its recomputed summary.
pub(super) type Assessed = (
    Parameters,
    String,
    String,
    attestd_ledger::summary::Computed,
);

/// `oscal/assessment-results.json` recomputed from the hosts' recomputed summaries
/// (`attestd_ledger::oscal::fleet`) and compared with the file.
fn verify_oscal(
    dir: &Path,
    fleet: &serde_json::Value,
    assessed: &[Assessed],
    population: usize,
) -> Check {
    use attestd_ledger::oscal::fleet::{Results, RESULTS_FILE};
    let mut problems = Vec::new();
    let stated = read_json(&dir.join(RESULTS_FILE));
    match (&stated, assessed.first()) {
        (Err(e), _) => problems.push(e.clone()),
        (Ok(_), None) => problems.push(format!(
            "{RESULTS_FILE}: no host summary recomputed to check it against"
        )),
        (Ok(stated), Some((params, ..))) => {
            // Fed host by host, as the server does, without copying any summary.
            let mut results = Results::new(params, fleet["scope"].as_str());
            for (_, host, dir, computed) in assessed {
                results.add_host(params, host, dir, computed);
            }
            let recomputed = results.finish(
                params,
                fleet["generated_at"].as_str().unwrap_or_default(),
                fleet["attestd_server_version"].as_str().unwrap_or_default(),
            );
            if *stated != recomputed {
                problems.push(format!(
                    "{RESULTS_FILE}: does not recompute from the hosts' summaries (edited after it was made)"
                ));
            }
        }
    }
    check(
        "oscal",
        problems,
        format!("{RESULTS_FILE}: {population} subject(s), recomputed from the hosts' rows"),
    )
}

fn verify_log(dir: &Path, witness: Option<&VerifyingKey>) -> Check {
    let entries: Vec<LogEntry> = match jsonl(&dir.join("receipt-log.jsonl"), "receipt-log.jsonl") {
        Ok(e) => e,
        Err(e) => return check("receipt log", vec![e], String::new()),
    };
    let mut problems = Vec::new();
    let mut prev: Option<(i64, String)> = None;
    for e in &entries {
        let r = &e.receipt;
        if !witness.is_some_and(|k| signature_ok(r, k)) {
            problems.push(format!(
                "receipt-log.jsonl: entry {}: its signature does not verify with the witness key",
                r.log_seq
            ));
        }
        if r.log_chain_out() != e.log_head {
            problems.push(format!(
                "receipt-log.jsonl: entry {}: its log chain value does not follow from its content",
                r.log_seq
            ));
        }
        if let Some((seq, head)) = &prev {
            if r.log_seq != seq + 1 {
                problems.push(format!(
                    "receipt-log.jsonl: entry {} follows entry {seq}: entries are missing",
                    r.log_seq
                ));
            } else if &r.log_prev != head {
                problems.push(format!(
                    "receipt-log.jsonl: entry {} does not carry the chain value of entry {seq}",
                    r.log_seq
                ));
            }
        }
        prev = Some((r.log_seq, e.log_head.clone()));
    }
    check(
        "receipt log",
        problems,
        format!(
            "{} receipts of the period re-chained and their signatures verified",
            entries.len()
        ),
    )
}
