//! What changed between two sets of parameters, in words, for `rules/changes.json`
//! and the summary's policy changes.

use crate::body::PolicySnapshot;
use std::collections::BTreeMap;

/// What changed between two sets of parameters, in words.
pub fn diff_policies(old: &PolicySnapshot, new: &PolicySnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let old_rules: BTreeMap<&str, &str> = old
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.definition_sha256.as_str()))
        .collect();
    let new_rules: BTreeMap<&str, &str> = new
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.definition_sha256.as_str()))
        .collect();
    for (id, h) in &new_rules {
        match old_rules.get(id) {
            None => out.push(format!("rule {id} added ({h})")),
            Some(o) if o != h => out.push(format!("rule {id} redefined ({o} -> {h})")),
            _ => {}
        }
    }
    for id in old_rules.keys().filter(|id| !new_rules.contains_key(*id)) {
        out.push(format!("rule {id} removed"));
    }
    for (name, v) in &new.variables {
        match old.variables.get(name) {
            Some(o) if o.value == v.value => {}
            Some(o) => out.push(format!("variable {name}: {} -> {}", o.value, v.value)),
            None => out.push(format!("variable {name} = {}", v.value)),
        }
    }
    for (name, c) in &new.collectors {
        match old.collectors.get(name) {
            Some(o) if o == c => {}
            Some(o) => {
                if o.version != c.version {
                    out.push(format!(
                        "collector {name} version {} -> {}",
                        o.version, c.version
                    ));
                }
                if o.schedule != c.schedule || o.enabled != c.enabled {
                    out.push(format!(
                        "collector {name} schedule `{}`{} -> `{}`{}",
                        o.schedule,
                        if o.enabled { "" } else { " (disabled)" },
                        c.schedule,
                        if c.enabled { "" } else { " (disabled)" }
                    ));
                }
                if o.settings_sha256 != c.settings_sha256 {
                    out.push(format!("collector {name} settings changed"));
                }
            }
            None => out.push(format!("collector {name} added")),
        }
    }
    if old.waivers != new.waivers {
        out.push("waivers changed".into());
    }
    out
}
