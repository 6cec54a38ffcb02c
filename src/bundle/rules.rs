//! `rules/`: the parameters that produced the evidence (the auditor's IPE test): every
//! set of rule definitions, variables, collector versions and schedules in force
//! during the period, each with its hash, and when and how they changed. Taken from
//! the ledger's `policy` rows, so it is what was in force, not what is configured
//! now. Never evaluates a rule.

use crate::store::PolicySnapshot;
use attestd_ledger::summary::PolicyChange;
use attestd_ledger::{Row, RowKind};
use serde::Serialize;
use std::path::Path;

/// Policy rows seen while streaming.
#[derive(Default)]
pub struct Collector {
    pub policies: Vec<(i64, String, PolicySnapshot)>,
}

impl Collector {
    pub fn row(&mut self, row: &Row) -> Result<(), String> {
        if row.kind == RowKind::Policy {
            let p: PolicySnapshot = row.decode().map_err(|e| e.to_string())?;
            self.policies.push((row.seq, row.recorded_at.clone(), p));
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct IndexEntry<'a> {
    file: String,
    ledger_seq: Option<i64>,
    recorded_at: Option<&'a str>,
    in_force_until: Option<&'a str>,
    policy_sha256: &'a str,
    rules: Vec<RuleLine<'a>>,
}

#[derive(Serialize)]
struct RuleLine<'a> {
    id: &'a str,
    definition_sha256: &'a str,
}

/// rules/index.json, rules/changes.json and one file per policy in force, as
/// (relative path, bytes): what `write` writes and `verify` recomputes.
pub fn documents(
    seen: &Collector,
    changes: &[PolicyChange],
) -> serde_json::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut index = Vec::new();
    for (i, (seq, at, p)) in seen.policies.iter().enumerate() {
        let file = format!("rules/policy-{seq}-{}.json", &p.key[..12.min(p.key.len())]);
        out.push((file.clone(), pretty(p)?));
        index.push(IndexEntry {
            file,
            ledger_seq: Some(*seq),
            recorded_at: Some(at),
            in_force_until: seen.policies.get(i + 1).map(|(_, t, _)| t.as_str()),
            policy_sha256: &p.key,
            rules: lines(p),
        });
    }
    out.push(("rules/index.json".into(), pretty(&index)?));
    out.push(("rules/changes.json".into(), pretty(&changes)?));
    Ok(out)
}

/// Write rules/: every document of `documents`.
pub fn write(bundle: &Path, seen: &Collector, changes: &[PolicyChange]) -> std::io::Result<()> {
    std::fs::create_dir_all(bundle.join("rules"))?;
    for (file, bytes) in documents(seen, changes)? {
        std::fs::write(bundle.join(file), bytes)?;
    }
    Ok(())
}

fn lines(p: &PolicySnapshot) -> Vec<RuleLine<'_>> {
    p.rules
        .iter()
        .map(|r| RuleLine {
            id: &r.id,
            definition_sha256: &r.definition_sha256,
        })
        .collect()
}

fn pretty<T: Serialize + ?Sized>(v: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(v)?;
    out.push(b'\n');
    Ok(out)
}
