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

pub(crate) mod iptables;
mod listeners;
pub(crate) mod nft;
mod sock_diag;
pub(crate) mod ufw;

use iptables::parse_iptables_save;
use listeners::read_listeners;
use nft::parse_nft;
use ufw::parse_ufw;

use crate::probe::{run_tool, ToolRun};
use crate::{Artifact, CollectContext, CollectError, Collector, Command, Evidence, HostRoot};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Incoming packet filter and exposed listeners.
pub struct Firewall;

const NFT: &[&str] = &["/usr/sbin/nft", "/sbin/nft"];
const IPTABLES_SAVE: &[&str] = &["/usr/sbin/iptables-save", "/sbin/iptables-save"];
const IP6TABLES_SAVE: &[&str] = &["/usr/sbin/ip6tables-save", "/sbin/ip6tables-save"];
const UFW: &[&str] = &["/usr/sbin/ufw", "/sbin/ufw"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
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
pub(crate) struct Layer {
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

#[cfg(test)]
mod tests {
    use super::listeners::decode_addr;
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
