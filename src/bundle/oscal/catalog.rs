//! `oscal/catalog-FW.json`: one framework as an OSCAL catalog, so that the control
//! ids of the plan and the results resolve. Made from `policies/frameworks/` (our own
//! names and paraphrases; never standard text): each control has its label, a
//! statement part (the paraphrase) and an objective part, which findings target.
//! ISO/IEC 27001:2013 controls have no text of their own here: the catalog names the
//! 2022 controls that replace them.

use super::{control_token, objective_id, Context, OSCAL_VERSION};
use crate::policy::catalog::{ISO2013, ISO2022};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// When the paraphrases in `policies/frameworks/` were last revised: a catalog's
/// `last-modified`, so that the same catalog is the same file (and hash) in every
/// bundle. A unit test ties it to the files' content.
pub const LAST_REVISED: &str = "2026-11-23T13:30:56Z";

/// The frameworks the bundle reports on that the catalog knows, in id order.
pub fn frameworks(cx: &Context) -> Vec<String> {
    let mut out: Vec<String> = cx
        .computed
        .controls
        .iter()
        .map(|c| control_token(&c.id).1)
        .filter(|fw| cx.catalog.frameworks.contains_key(fw) || fw == ISO2013)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A group id from its title (`CC6 Logical access` → `cc6-logical-access`).
fn group_id(title: &str) -> String {
    let mut id = String::new();
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            id.push(ch.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-').to_string();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        format!("g-{id}")
    } else {
        id
    }
}

fn control(label: &str, title: &str, statement: &str, objective: &str) -> Value {
    let token = control_token(label).0;
    json!({
        "id": token,
        "title": title,
        "props": [{"name": "label", "value": label}],
        "parts": [
            {"id": format!("{token}_smt"), "name": "statement", "prose": statement},
            {"id": objective_id(&token), "name": "objective", "prose": objective},
        ],
    })
}

/// The catalog document of framework `fw`.
pub fn document(cx: &Context, fw: &str) -> Value {
    let (title, version, note, groups) = if fw == ISO2013 {
        iso2013(cx)
    } else {
        let f = &cx.catalog.frameworks[fw];
        let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
        for c in &f.controls {
            let group = if c.group.is_empty() {
                "other".to_string()
            } else {
                c.group.clone()
            };
            let entry = control(
                &c.id,
                &c.name,
                &c.summary,
                &format!(
                    "Determine from the host's evidence that this holds: {}",
                    c.summary
                ),
            );
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, list)) => list.push(entry),
                None => groups.push((group, vec![entry])),
            }
        }
        (
            f.name.clone(),
            if f.version.is_empty() {
                "unversioned".to_string()
            } else {
                f.version.clone()
            },
            f.note.clone(),
            groups,
        )
    };
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(title, controls)| json!({"id": group_id(&title), "title": title, "controls": controls}))
        .collect();
    // The catalog's UUID follows its content, not the bundle: the same catalog has
    // the same UUID in every bundle.
    let content = serde_json::to_string(&groups).expect("JSON");
    let uuid = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!(
            "attestd-catalog:{fw}:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content.as_bytes()))
        )
        .as_bytes(),
    );
    json!({
        "catalog": {
            "uuid": uuid.to_string(),
            "metadata": {
                "title": format!("{title} (attestd's paraphrase)"),
                "last-modified": LAST_REVISED,
                "version": version,
                "oscal-version": OSCAL_VERSION,
                "remarks": format!("Control ids and numbering are the framework's; names and summaries are attestd's own words, not the standard's text. {note}").trim_end().to_string(),
            },
            "groups": groups,
        }
    })
}

/// The 2013 controls: the ids the 2022 catalog lists as equivalents, each naming
/// the 2022 controls that replace it, grouped by clause.
fn iso2013(cx: &Context) -> (String, String, String, Vec<(String, Vec<Value>)>) {
    let mut replaced_by: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    if let Some(f) = cx.catalog.frameworks.get(ISO2022) {
        for c in &f.controls {
            for old in &c.iso2013 {
                replaced_by
                    .entry(old.clone())
                    .or_default()
                    .push((c.id.clone(), c.name.clone()));
            }
        }
    }
    let mut ids: Vec<&String> = replaced_by.keys().collect();
    ids.sort_by_key(|i| crate::bundle::html::natural_key(i));
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for id in ids {
        let by = &replaced_by[id];
        let list = by
            .iter()
            .map(|(i, n)| format!("{i} ({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        let clause: String = id.split('.').take(2).collect::<Vec<_>>().join(".");
        let entry = control(
            id,
            &format!("ISO/IEC 27001:2013 control {id}"),
            &format!("Replaced in ISO/IEC 27001:2022 by {list}."),
            &format!("Determine from the host's evidence that the 2022 control(s) replacing it hold: {list}."),
        );
        let group = format!("Clause {clause}");
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, l)) => l.push(entry),
            None => groups.push((group, vec![entry])),
        }
    }
    (
        "ISO/IEC 27001:2013 Annex A (equivalents of the 2022 controls)".to_string(),
        "2013".to_string(),
        "Only the ids are the standard's; each control names the 2022 controls that replace it (ISO/IEC 27002:2022 correspondence).".to_string(),
        groups,
    )
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    /// Edited `policies/frameworks/`? Set `LAST_REVISED` to the date of the edit and
    /// this hash to the new one.
    #[test]
    fn last_revised_follows_the_framework_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/frameworks");
        let mut h = sha2::Sha256::new();
        for f in ["iso27001-2022.toml", "soc2.toml"] {
            h.update(std::fs::read(dir.join(f)).unwrap());
        }
        assert_eq!(
            hex::encode(h.finalize()),
            "92e88ebbcca68eebd5c62cba8f3ec3fa1191b69750a5b94744b3334b32e7e8ce",
            "policies/frameworks/ changed: update LAST_REVISED ({}) and this hash",
            super::LAST_REVISED
        );
    }
}
