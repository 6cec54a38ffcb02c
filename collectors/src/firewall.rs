//! firewall collector: the host's packet filter for incoming traffic and the sockets it
//! is meant to protect.
//!
//! It reads the nftables ruleset (`nft -j list ruleset`), the iptables filter tables
//! (`iptables-save`, `ip6tables-save`) and `ufw status verbose`, turns every chain on the
//! input hook into a *layer* (its default and the ports its accept rules open, to whom),
//! and compares the layers with the listening sockets in `/proc/net/{tcp,tcp6,udp,udp6}`
//! (read through the host root), so that a listener reachable from anywhere without a
//! rule naming its port is reported by name. Packets cross every base chain of a hook,
//! so a listener is reachable only when every layer of its address family lets it in.
//!
//! It never judges which ports may be open and never changes the ruleset.

use crate::probe::{run_tool, ToolRun};
use crate::{Artifact, CollectContext, CollectError, Collector, Command, Evidence, HostRoot};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Incoming packet filter and exposed listeners.
pub struct Firewall;

const NFT: &[&str] = &["/usr/sbin/nft", "/sbin/nft"];
const IPTABLES_SAVE: &[&str] = &["/usr/sbin/iptables-save", "/sbin/iptables-save"];
const IP6TABLES_SAVE: &[&str] = &["/usr/sbin/ip6tables-save", "/sbin/ip6tables-save"];
const UFW: &[&str] = &["/usr/sbin/ufw", "/sbin/ufw"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// What one accept rule lets in.
#[derive(Debug, Clone)]
struct Opening {
    /// `tcp`, `udp` or `any`.
    proto: String,
    /// Inclusive port ranges; `None` means every port.
    ports: Option<Vec<(u16, u16)>>,
    /// False when the rule matches source addresses or an input interface.
    from_any: bool,
}

/// One chain on the input hook (or an iptables INPUT chain) with what it lets in.
#[derive(Debug, Clone)]
struct Layer {
    source: String,
    families: Vec<Family>,
    default_drop: bool,
    openings: Vec<Opening>,
}

/// What one rule matches, read from either nft JSON or iptables-save arguments.
#[derive(Debug)]
struct RuleMatch {
    /// `tcp`, `udp` or `any`.
    proto: String,
    /// Destination ports; `None` means every port (no match, or a negated one).
    ports: Option<Vec<(u16, u16)>>,
    /// False when the rule matches source addresses or an input interface.
    from_any: bool,
    /// Any other condition (connection state, ICMP type, ...).
    other_match: bool,
    /// Traffic on the loopback interface, which never comes from another host.
    loopback: bool,
    /// Replies or group traffic (source ports, multicast): never a new connection.
    not_new: bool,
}

impl RuleMatch {
    fn new() -> RuleMatch {
        RuleMatch {
            proto: "any".to_string(),
            ports: None,
            from_any: true,
            other_match: false,
            loopback: false,
            not_new: false,
        }
    }
}

/// A rule's verdict, whichever tool wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Deny,
    Other,
}

/// Add what one rule means to its layer: an accept that lets new connections in is an
/// opening; an unconditional drop or reject as the last rule of a base chain is a
/// default-deny written as a rule.
fn classify(
    m: RuleMatch,
    verdict: Verdict,
    last_of_base_chain: bool,
    openings: &mut Vec<Opening>,
    default_drop: &mut bool,
) {
    if m.loopback || m.not_new {
        return;
    }
    match verdict {
        Verdict::Accept if m.ports.is_some() || !m.other_match => openings.push(Opening {
            proto: m.proto,
            ports: m.ports,
            from_any: m.from_any,
        }),
        Verdict::Deny
            if last_of_base_chain
                && m.ports.is_none()
                && !m.other_match
                && m.from_any
                && m.proto == "any" =>
        {
            *default_drop = true
        }
        _ => {}
    }
}

impl Collector for Firewall {
    fn name(&self) -> &'static str {
        "firewall"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&["/etc/nftables.conf", "/etc/ufw", "/etc/iptables"])
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let root = &ctx.root;
        let mut artifacts = Vec::new();
        let mut layers = Vec::new();
        let mut tools = Map::new();

        match Command::locate(root, NFT) {
            None => {
                tools.insert("nft".into(), json!(false));
            }
            Some(nft) => {
                tools.insert("nft".into(), json!(true));
                let out = ran(
                    root,
                    Command::new(&nft).args(["-j", "list", "ruleset"]),
                    &mut artifacts,
                )?;
                let found = parse_nft(&out.stdout).map_err(|r| CollectError::Malformed {
                    path: out.command_line(),
                    line: 0,
                    reason: r,
                })?;
                layers.extend(found);
            }
        }
        for (key, candidates, family) in [
            ("iptables_save", IPTABLES_SAVE, Family::V4),
            ("ip6tables_save", IP6TABLES_SAVE, Family::V6),
        ] {
            match Command::locate(root, candidates) {
                None => {
                    tools.insert(key.into(), json!(false));
                }
                Some(prog) => {
                    tools.insert(key.into(), json!(true));
                    let out = ran(root, Command::new(&prog), &mut artifacts)?;
                    let found = parse_iptables_save(&out.stdout, family);
                    if !found.is_empty() {
                        // iptables-nft keeps its rules in nftables tables `ip filter` /
                        // `ip6 filter`, partly as xtables matches nft -j cannot show;
                        // its own view of them replaces nft's.
                        if out.stdout.contains("(nf_tables)") {
                            let fam = if family == Family::V4 { "ip" } else { "ip6" };
                            let dup = format!("nftables {fam} filter INPUT");
                            layers.retain(|l| l.source != dup);
                        }
                        layers.extend(found);
                    }
                }
            }
        }
        let mut backends: Vec<&str> = Vec::new();
        for l in &layers {
            let b = l.source.split(' ').next().unwrap_or("");
            if !backends.contains(&b) {
                backends.push(b);
            }
        }
        let ufw = match Command::locate(root, UFW) {
            None => {
                tools.insert("ufw".into(), json!(false));
                Value::Null
            }
            Some(prog) => {
                tools.insert("ufw".into(), json!(true));
                let out = ran(
                    root,
                    Command::new(&prog).args(["status", "verbose"]),
                    &mut artifacts,
                )?;
                parse_ufw(&out.stdout)
            }
        };

        let listeners = read_listeners(root, &mut artifacts)?;
        let mut listener_facts = Vec::new();
        let mut unfiltered = Vec::new();
        let mut loopback_only = 0;
        for l in &listeners {
            if l.loopback {
                loopback_only += 1;
                continue;
            }
            let families: &[Family] = match (l.family, l.wildcard) {
                (Family::V6, true) => &[Family::V4, Family::V6],
                (f, _) => std::slice::from_ref(match f {
                    Family::V4 => &Family::V4,
                    Family::V6 => &Family::V6,
                }),
            };
            let mut exposure = "blocked";
            let mut named = false;
            for fam in families {
                let (e, n) = exposure_of(&layers, *fam, &l.proto, l.port);
                named |= n;
                exposure = worse(exposure, e);
            }
            let id = match l.family {
                Family::V4 => format!("{}/{}:{}", l.proto, l.address, l.port),
                Family::V6 => format!("{}/[{}]:{}", l.proto, l.address, l.port),
            };
            if exposure == "any" && !named {
                unfiltered.push(Value::String(id.clone()));
            }
            listener_facts.push(json!({
                "proto": l.proto, "address": l.address, "port": l.port,
                "exposure": exposure, "named_by_rule": named,
            }));
        }
        let default_drop = |fam: Family| {
            layers
                .iter()
                .any(|l| l.families.contains(&fam) && l.default_drop)
        };
        let mut open_to_any = BTreeSet::new();
        for layer in &layers {
            for o in layer.openings.iter().filter(|o| o.from_any) {
                open_to_any.insert(describe(o));
            }
        }
        let facts = json!({
            "tools": tools,
            "backends": backends,
            "ruleset_loaded": !layers.is_empty(),
            "input_default_drop": {"ipv4": default_drop(Family::V4), "ipv6": default_drop(Family::V6)},
            "layers": layers.iter().map(|l| json!({
                "source": l.source,
                "families": l.families.iter().map(|f| match f { Family::V4 => "ipv4", Family::V6 => "ipv6" }).collect::<Vec<_>>(),
                "default_drop": l.default_drop,
                "openings": l.openings.iter().map(|o| json!({"rule": describe(o), "from_any": o.from_any})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "open_to_any": open_to_any.into_iter().collect::<Vec<_>>(),
            "open_to_any_ports": layers.iter().flat_map(|l| l.openings.iter())
                .filter(|o| o.from_any)
                .flat_map(|o| o.ports.clone().unwrap_or_default())
                .flat_map(|(a, b)| (a..=b).take(1024).map(i64::from))
                .collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>(),
            "opens_all_ports_to_any": layers.iter().any(|l| !l.default_drop || l.openings.iter().any(|o| o.from_any && o.ports.is_none())),
            "ufw": ufw,
            "listeners": listener_facts,
            "loopback_listeners": loopback_only,
            "unfiltered_listeners": unfiltered,
        });
        Ok(Evidence { facts, artifacts })
    }
}

/// Run a tool that `locate` found; a failure or non-zero exit is an error naming it.
fn ran(
    root: &HostRoot,
    cmd: Command,
    artifacts: &mut Vec<Artifact>,
) -> Result<crate::CommandOutput, CollectError> {
    match run_tool(root, cmd, artifacts).map_err(CollectError::Other)? {
        ToolRun::Ran(out) if out.success() && !out.truncated => Ok(out),
        ToolRun::Ran(out) if out.truncated => Err(CollectError::Other(format!(
            "`{}` printed more than the output limit",
            out.command_line()
        ))),
        ToolRun::Ran(out) => Err(CollectError::Other(out.failure_reason())),
        ToolRun::NotInstalled => Err(CollectError::Other("tool vanished while running".into())),
    }
}

fn worse(a: &'static str, b: &'static str) -> &'static str {
    let rank = |e: &str| match e {
        "any" => 2,
        "restricted" => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// How a packet to `proto/port` of family `fam` fares across every layer of that family:
/// `any`, `restricted` or `blocked`, and whether some accept rule names the port.
fn exposure_of(layers: &[Layer], fam: Family, proto: &str, port: u16) -> (&'static str, bool) {
    let mut exposure = "any";
    let mut named = false;
    for layer in layers.iter().filter(|l| l.families.contains(&fam)) {
        let matching: Vec<&Opening> = layer
            .openings
            .iter()
            .filter(|o| o.proto == "any" || o.proto == proto)
            .filter(|o| {
                o.ports
                    .as_ref()
                    .is_none_or(|r| r.iter().any(|(a, b)| *a <= port && port <= *b))
            })
            .collect();
        named |= matching.iter().any(|o| o.ports.is_some());
        let here = if matching.iter().any(|o| o.from_any) || !layer.default_drop {
            "any"
        } else if !matching.is_empty() {
            "restricted"
        } else {
            "blocked"
        };
        // Every layer must let the packet in; the most restrictive one decides.
        exposure = match (exposure, here) {
            (_, "blocked") | ("blocked", _) => "blocked",
            (_, "restricted") | ("restricted", _) => "restricted",
            _ => "any",
        };
    }
    (exposure, named)
}

fn describe(o: &Opening) -> String {
    let ports = match &o.ports {
        None => "all".to_string(),
        Some(r) => r
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    };
    format!("{}/{}", o.proto, ports)
}

// ---------- nftables ----------

fn parse_nft(text: &str) -> Result<Vec<Layer>, String> {
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
fn walk_nft_chain(
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

fn nft_ports(right: &Value) -> Vec<(u16, u16)> {
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

// ---------- iptables-save ----------

fn parse_iptables_save(text: &str, family: Family) -> Vec<Layer> {
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

fn walk_ipt_chain(
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
fn is_group_address(spec: &str) -> bool {
    let addr = spec.split('/').next().unwrap_or("");
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_multicast() || a.is_broadcast(),
        Ok(std::net::IpAddr::V6(a)) => a.is_multicast(),
        Err(_) => false,
    }
}

fn ipt_ports(spec: &str) -> Vec<(u16, u16)> {
    spec.split(',')
        .filter_map(|p| {
            let (a, b) = p.split_once(':').unwrap_or((p, p));
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

// ---------- ufw ----------

fn parse_ufw(text: &str) -> Value {
    let active = text
        .lines()
        .find_map(|l| l.strip_prefix("Status:"))
        .map(|s| s.trim() == "active");
    let default_incoming = text
        .lines()
        .find_map(|l| l.strip_prefix("Default:"))
        .and_then(|d| {
            d.split(',')
                .find(|p| p.contains("(incoming)"))
                .map(|p| p.replace("(incoming)", "").trim().to_string())
        });
    json!({"active": active, "default_incoming": default_incoming})
}

// ---------- listening sockets ----------

struct Listener {
    proto: String,
    family: Family,
    address: String,
    port: u16,
    loopback: bool,
    wildcard: bool,
}

fn read_listeners(
    root: &HostRoot,
    artifacts: &mut Vec<Artifact>,
) -> Result<Vec<Listener>, CollectError> {
    let mut out = Vec::new();
    let mut any_table = false;
    for (file, proto, family) in [
        ("/proc/net/tcp", "tcp", Family::V4),
        ("/proc/net/tcp6", "tcp", Family::V6),
        ("/proc/net/udp", "udp", Family::V4),
        ("/proc/net/udp6", "udp", Family::V6),
    ] {
        let Some(text) = root.read_text(file)? else {
            continue;
        };
        any_table = true;
        // The tables change with every connection; the artifact names the source only.
        artifacts.push(Artifact {
            source: file.into(),
            kind: "kernel".into(),
            sha256: None,
            excerpt: None,
            present: true,
            exit_status: None,
        });
        let mut seen = BTreeSet::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let malformed = |reason: &str| CollectError::Malformed {
                path: file.into(),
                line: i + 1,
                reason: reason.into(),
            };
            if f.len() < 4 {
                return Err(malformed("expected `sl local_address rem_address st ...`"));
            }
            let listening = if proto == "tcp" {
                f[3] == "0A"
            } else {
                f[3] == "07"
            };
            if !listening {
                continue;
            }
            let (addr_hex, port_hex) = f[1]
                .split_once(':')
                .ok_or_else(|| malformed("local address without a port"))?;
            let port = u16::from_str_radix(port_hex, 16)
                .map_err(|_| malformed("port is not hexadecimal"))?;
            if port == 0 {
                continue;
            }
            let (address, loopback, wildcard) = decode_addr(addr_hex, family)
                .ok_or_else(|| malformed("address is not hexadecimal of the right length"))?;
            if !seen.insert((address.clone(), port)) {
                continue;
            }
            out.push(Listener {
                proto: proto.into(),
                family,
                address,
                port,
                loopback,
                wildcard,
            });
        }
    }
    if !any_table {
        return Err(CollectError::Unreadable {
            path: "/proc/net/tcp".into(),
            reason: "missing: the root has no socket tables".into(),
        });
    }
    out.sort_by(|a, b| (&a.proto, a.port, &a.address).cmp(&(&b.proto, b.port, &b.address)));
    Ok(out)
}

/// The kernel prints addresses as 32-bit words in host (little-endian) byte order.
fn decode_addr(hex: &str, family: Family) -> Option<(String, bool, bool)> {
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let words = words?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match family {
        Family::V4 if bytes.len() == 4 => {
            let a = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            Some((a.to_string(), a.is_loopback(), a.is_unspecified()))
        }
        Family::V6 if bytes.len() == 16 => {
            let arr: [u8; 16] = bytes.try_into().ok()?;
            let a = Ipv6Addr::from(arr);
            let loop4 = a.to_ipv4_mapped().is_some_and(|v| v.is_loopback());
            Some((a.to_string(), a.is_loopback() || loop4, a.is_unspecified()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kernel_addresses() {
        assert_eq!(decode_addr("0100007F", Family::V4).unwrap().0, "127.0.0.1");
        assert!(decode_addr("00000000", Family::V4).unwrap().2);
        let (a, lo, _) = decode_addr("00000000000000000000000001000000", Family::V6).unwrap();
        assert_eq!((a.as_str(), lo), ("::1", true));
    }

    #[test]
    fn iptables_policy_and_ports() {
        let text = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -s 10.0.0.0/8 -p tcp -m multiport --dports 5432,6000:6010 -j ACCEPT\nCOMMIT\n";
        let layers = parse_iptables_save(text, Family::V4);
        assert!(layers[0].default_drop);
        assert_eq!(exposure_of(&layers, Family::V4, "tcp", 22), ("any", true));
        assert_eq!(
            exposure_of(&layers, Family::V4, "tcp", 6005),
            ("restricted", true)
        );
        assert_eq!(
            exposure_of(&layers, Family::V4, "tcp", 8080),
            ("blocked", false)
        );
        let negated = parse_iptables_save(
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp ! --dport 22 -j ACCEPT\nCOMMIT\n",
            Family::V4,
        );
        assert_eq!(
            exposure_of(&negated, Family::V4, "tcp", 8080),
            ("any", false)
        );
        // IPv6 has no layer here: wide open.
        assert_eq!(
            exposure_of(&layers, Family::V6, "tcp", 8080),
            ("any", false)
        );
    }

    #[test]
    fn nft_jumps_are_followed_and_a_final_drop_rule_is_a_default_deny() {
        let text = r#"{"nftables": [
            {"chain": {"family": "ip", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
            {"chain": {"family": "ip", "table": "t", "name": "services"}},
            {"rule": {"family": "ip", "table": "t", "chain": "in", "expr": [{"jump": {"target": "services"}}]}},
            {"rule": {"family": "ip", "table": "t", "chain": "in", "expr": [{"drop": null}]}},
            {"rule": {"family": "ip", "table": "t", "chain": "services", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [8000, 8010]}}}, {"accept": null}]}}
        ]}"#;
        let layers = parse_nft(text).unwrap();
        assert_eq!(layers.len(), 1);
        assert!(layers[0].default_drop);
        assert_eq!(layers[0].families, vec![Family::V4]);
        assert_eq!(exposure_of(&layers, Family::V4, "tcp", 8005), ("any", true));
        assert_eq!(
            exposure_of(&layers, Family::V4, "tcp", 8011),
            ("blocked", false)
        );
        assert!(parse_nft("not json").is_err());
    }

    #[test]
    fn a_final_drop_of_one_protocol_is_not_a_default_deny_in_either_tool() {
        let ipt = parse_iptables_save(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j DROP\nCOMMIT\n",
            Family::V4,
        );
        assert!(!ipt[0].default_drop);
        let nft = parse_nft(
            r#"{"nftables": [
            {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"drop": null}]}}
        ]}"#,
        )
        .unwrap();
        assert!(!nft[0].default_drop);
        // UDP still passes: nothing filters it.
        assert_eq!(exposure_of(&nft, Family::V4, "udp", 53), ("any", false));
    }
}
