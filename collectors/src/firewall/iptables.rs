//! iptables: `iptables-save` / `ip6tables-save` filter tables turned into input-hook
//! layers. Parses only; never runs the tools and never judges a port.

use super::{classify, Family, Layer, Opening, RuleMatch, Verdict};
use std::collections::BTreeSet;

pub(crate) fn parse_iptables_save(text: &str, family: Family) -> Vec<Layer> {
    let mut in_filter = false;
    let mut input_policy_drop = false;
    let mut has_input = false;
    let mut rules: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            in_filter = t == "filter";
            continue;
        }
        if !in_filter {
            continue;
        }
        if let Some(rest) = line.strip_prefix(":INPUT ") {
            has_input = true;
            input_policy_drop = rest.starts_with("DROP");
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let tokens: Vec<String> = rest.split_whitespace().map(String::from).collect();
            if let Some((chain, args)) = tokens.split_first() {
                rules.push((chain.clone(), args.to_vec()));
            }
        }
    }
    if !has_input || (!input_policy_drop && !rules.iter().any(|(c, _)| c == "INPUT")) {
        return Vec::new();
    }
    let mut openings = Vec::new();
    let mut default_drop = input_policy_drop;
    let mut seen = BTreeSet::new();
    walk_ipt_chain(
        &rules,
        "INPUT",
        &mut seen,
        &mut openings,
        &mut default_drop,
        true,
    );
    let name = if family == Family::V4 {
        "iptables"
    } else {
        "ip6tables"
    };
    vec![Layer {
        source: format!("{name} filter INPUT"),
        families: vec![family],
        default_drop,
        openings,
    }]
}

pub(super) fn walk_ipt_chain(
    rules: &[(String, Vec<String>)],
    chain: &str,
    seen: &mut BTreeSet<String>,
    openings: &mut Vec<Opening>,
    default_drop: &mut bool,
    base: bool,
) {
    if !seen.insert(chain.to_string()) {
        return;
    }
    let chain_rules: Vec<&Vec<String>> = rules
        .iter()
        .filter(|(c, _)| c == chain)
        .map(|(_, a)| a)
        .collect();
    for (i, args) in chain_rules.iter().enumerate() {
        let mut m = RuleMatch::new();
        let mut target = None;
        let mut k = 0;
        while k < args.len() {
            let a = args[k].as_str();
            let next = args.get(k + 1).map(String::as_str).unwrap_or("");
            match a {
                "-p" => {
                    m.proto = next.to_string();
                    k += 1;
                }
                "-s" | "-i" => {
                    m.from_any = false;
                    m.loopback |= a == "-i" && next == "lo";
                    k += 1;
                }
                // Multicast and broadcast destinations (ufw's mDNS, UPnP rules) and
                // source-port matches (DHCP replies) do not open a port to new
                // unicast connections.
                "-d" if is_group_address(next) => {
                    m.not_new = true;
                    k += 1;
                }
                "--sport" | "--sports" | "--source-port" => {
                    m.not_new = true;
                    k += 1;
                }
                "--dport" | "--dports" | "--destination-port" => {
                    // `! --dport 22` opens every other port.
                    let negated = k > 0 && args[k - 1] == "!";
                    m.ports = if negated { None } else { Some(ipt_ports(next)) };
                    k += 1;
                }
                "-j" | "-g" => {
                    target = Some(next.to_string());
                    k += 1;
                }
                "-m" => k += 1,
                "--ctstate" | "--state" | "--icmp-type" | "--icmpv6-type" => {
                    m.other_match = true;
                    k += 1;
                }
                "!" if matches!(next, "--dport" | "--dports" | "--destination-port") => {}
                "!" => m.other_match = true,
                _ if a.starts_with("--") => {
                    m.other_match = true;
                }
                _ => {}
            }
            k += 1;
        }
        let verdict = match target.as_deref() {
            Some("ACCEPT") => Verdict::Accept,
            Some("DROP") | Some("REJECT") => Verdict::Deny,
            // A jump taken only by loopback or reply traffic opens nothing new.
            Some(t) if !(m.loopback || m.not_new) && rules.iter().any(|(c, _)| c == t) => {
                walk_ipt_chain(rules, t, seen, openings, default_drop, false);
                Verdict::Other
            }
            _ => Verdict::Other,
        };
        let last = base && i + 1 == chain_rules.len();
        classify(m, verdict, last, openings, default_drop);
    }
}

/// A multicast or broadcast destination (`224.0.0.251/32`, `ff02::fb/128`).
pub(super) fn is_group_address(spec: &str) -> bool {
    let addr = spec.split('/').next().unwrap_or("");
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_multicast() || a.is_broadcast(),
        Ok(std::net::IpAddr::V6(a)) => a.is_multicast(),
        Err(_) => false,
    }
}

pub(super) fn ipt_ports(spec: &str) -> Vec<(u16, u16)> {
    spec.split(',')
        .filter_map(|p| {
            let (a, b) = p.split_once(':').unwrap_or((p, p));
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}
