//! Listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}`, read through the host root;
//! on the live host the TCP ones come from the kernel's `sock_diag` (`super::sock_diag`,
//! far cheaper than the kernel printing `/proc/net/tcp`), with the file as the fallback.
//! Observes only; never decides whether a listener may be reachable.

use super::Family;
use crate::{Artifact, CollectError, HostRoot};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) struct Listener {
    pub(super) proto: String,
    pub(super) family: Family,
    pub(super) address: String,
    pub(super) port: u16,
    pub(super) loopback: bool,
    pub(super) wildcard: bool,
}

pub(super) fn read_listeners(
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
        if proto == "tcp" && root.is_live() {
            match super::sock_diag::tcp_listeners(family == Family::V6) {
                Ok(found) => {
                    any_table = true;
                    artifacts.push(table_artifact(format!(
                        "netlink sock_diag (the sockets of {file})"
                    )));
                    let mut table = Table::new(&mut out, proto, family);
                    for (ip, port) in found {
                        let (address, loopback, wildcard) = classify(ip);
                        table.add(address, port, loopback, wildcard);
                    }
                    continue;
                }
                Err(e) => tracing::debug!(file, error = %e, "sock_diag failed; reading the file"),
            }
        }
        let Some(text) = root.read_text(file)? else {
            continue;
        };
        any_table = true;
        artifacts.push(table_artifact(file.into()));
        let mut table = Table::new(&mut out, proto, family);
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
            let (address, loopback, wildcard) = decode_addr(addr_hex, family)
                .ok_or_else(|| malformed("address is not hexadecimal of the right length"))?;
            table.add(address, port, loopback, wildcard);
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

/// A socket table's artifact: the tables change with every connection, so it names
/// the source only.
fn table_artifact(source: String) -> Artifact {
    Artifact {
        source,
        kind: "kernel".into(),
        sha256: None,
        excerpt: None,
        present: true,
        exit_status: None,
    }
}

/// The listeners of one table (protocol and family), each address and port once, port
/// 0 (not bound yet) left out.
struct Table<'a> {
    out: &'a mut Vec<Listener>,
    proto: &'static str,
    family: Family,
    seen: BTreeSet<(String, u16)>,
}

impl<'a> Table<'a> {
    fn new(out: &'a mut Vec<Listener>, proto: &'static str, family: Family) -> Table<'a> {
        Table {
            out,
            proto,
            family,
            seen: BTreeSet::new(),
        }
    }

    fn add(&mut self, address: String, port: u16, loopback: bool, wildcard: bool) {
        if port == 0 || !self.seen.insert((address.clone(), port)) {
            return;
        }
        self.out.push(Listener {
            proto: self.proto.into(),
            family: self.family,
            address,
            port,
            loopback,
            wildcard,
        });
    }
}

/// The kernel prints addresses as 32-bit words in host (little-endian) byte order.
pub(super) fn decode_addr(hex: &str, family: Family) -> Option<(String, bool, bool)> {
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let words = words?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match family {
        Family::V4 if bytes.len() == 4 => Some(classify(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        )))),
        Family::V6 if bytes.len() == 16 => {
            let arr: [u8; 16] = bytes.try_into().ok()?;
            Some(classify(IpAddr::V6(Ipv6Addr::from(arr))))
        }
        _ => None,
    }
}

/// An address as printed in facts, and whether it is loopback (an IPv4-mapped one
/// included) or the wildcard.
fn classify(ip: IpAddr) -> (String, bool, bool) {
    match ip {
        IpAddr::V4(a) => (a.to_string(), a.is_loopback(), a.is_unspecified()),
        IpAddr::V6(a) => {
            let loop4 = a.to_ipv4_mapped().is_some_and(|v| v.is_loopback());
            (a.to_string(), a.is_loopback() || loop4, a.is_unspecified())
        }
    }
}
