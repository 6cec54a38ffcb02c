//! nftables: `nft -j list ruleset` JSON turned into input-hook layers. Parses only;
//! never runs nft and never judges a port.

use super::{classify, Family, Layer, Opening, RuleMatch, Verdict};
use serde_json::Value;
use std::collections::BTreeSet;

pub(crate) fn parse_nft(text: &str) -> Result<Vec<Layer>, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("not the JSON nft -j prints: {e}"))?;
    let items = doc["nftables"]
        .as_array()
        .ok_or("no `nftables` array in the output")?;
    let chains: Vec<&Value> = items.iter().filter_map(|i| i.get("chain")).collect();
    let rules: Vec<&Value> = items.iter().filter_map(|i| i.get("rule")).collect();
    let mut layers = Vec::new();
    for chain in chains.iter().filter(|c| c["hook"] == "input") {
        let family = chain["family"].as_str().unwrap_or("");
        let families = match family {
            "inet" => vec![Family::V4, Family::V6],
            "ip" => vec![Family::V4],
            "ip6" => vec![Family::V6],
            _ => continue, // netdev/arp/bridge input hooks are not the host's IP input
        };
        if chain["type"] != "filter" {
            continue;
        }
        let table = chain["table"].as_str().unwrap_or("");
        let name = chain["name"].as_str().unwrap_or("");
        let mut openings = Vec::new();
        let mut default_drop = chain["policy"] == "drop";
        let mut seen = BTreeSet::new();
        walk_nft_chain(
            &rules,
            family,
            table,
            name,
            &mut seen,
            &mut openings,
            &mut default_drop,
            true,
        );
        layers.push(Layer {
            source: format!("nftables {family} {table} {name}"),
            families,
            default_drop,
            openings,
        });
    }
    Ok(layers)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn walk_nft_chain(
    rules: &[&Value],
    family: &str,
    table: &str,
    chain: &str,
    seen: &mut BTreeSet<String>,
    openings: &mut Vec<Opening>,
    default_drop: &mut bool,
    base: bool,
) {
    if !seen.insert(chain.to_string()) {
        return;
    }
    let chain_rules: Vec<&&Value> = rules
        .iter()
        .filter(|r| r["family"] == family && r["table"] == table && r["chain"] == chain)
        .collect();
    for (i, rule) in chain_rules.iter().enumerate() {
        let exprs = rule["expr"].as_array().cloned().unwrap_or_default();
        let mut m = RuleMatch::new();
        let mut verdict = Verdict::Other;
        for e in &exprs {
            if let Some(cond) = e.get("match") {
                let left = &cond["left"];
                let right = &cond["right"];
                let op = cond["op"].as_str();
                if let Some(p) = left.get("payload") {
                    match p["field"].as_str() {
                        Some("dport") => {
                            if let Some(pr) = p["protocol"].as_str() {
                                if pr == "tcp" || pr == "udp" {
                                    m.proto = pr.into();
                                }
                            }
                            // `dport != 22` opens every other port.
                            m.ports = match op {
                                Some("==") | Some("in") | None => Some(nft_ports(right)),
                                _ => None,
                            };
                        }
                        Some("saddr") => m.from_any = false,
                        Some("sport") => m.not_new = true,
                        _ => m.other_match = true,
                    }
                } else if let Some(meta) = left.get("meta") {
                    match meta["key"].as_str() {
                        Some("iifname") | Some("iif") => {
                            // Loopback traffic never comes from another host.
                            if right == "lo" {
                                m.loopback = true;
                            }
                            m.from_any = false
                        }
                        Some("l4proto") => match right.as_str() {
                            Some(p @ ("tcp" | "udp")) => m.proto = p.into(),
                            // icmp and friends have no ports: not an opening.
                            _ => m.other_match = true,
                        },
                        _ => m.other_match = true,
                    }
                } else if left.get("ct").is_some() {
                    // ct state established,related: replies, not new connections.
                    m.other_match = true;
                } else {
                    m.other_match = true;
                }
            }
            if e.get("accept").is_some() {
                verdict = Verdict::Accept;
            } else if e.get("drop").is_some() || e.get("reject").is_some() {
                verdict = Verdict::Deny;
            }
            for v in ["jump", "goto"] {
                if let Some(t) = e.get(v).and_then(|j| j["target"].as_str()) {
                    walk_nft_chain(rules, family, table, t, seen, openings, default_drop, false);
                }
            }
        }
        let last = base && i + 1 == chain_rules.len();
        classify(m, verdict, last, openings, default_drop);
    }
}

pub(super) fn nft_ports(right: &Value) -> Vec<(u16, u16)> {
    let one = |v: &Value| -> Option<(u16, u16)> {
        if let Some(n) = v.as_u64() {
            return Some((n as u16, n as u16));
        }
        if let Some(r) = v.get("range").and_then(|r| r.as_array()) {
            let a = r.first()?.as_u64()? as u16;
            let b = r.get(1)?.as_u64()? as u16;
            return Some((a, b));
        }
        None
    };
    if let Some(set) = right.get("set").and_then(|s| s.as_array()) {
        set.iter().filter_map(one).collect()
    } else {
        one(right).into_iter().collect()
    }
}
