//! Listening TCP sockets of the live host, asked of the kernel through netlink
//! `sock_diag` (what `ss -lt` uses) instead of read from `/proc/net/tcp{,6}`.
//!
//! Why: to print `/proc/net/tcp` the kernel walks every bucket of its established-
//! connections hash, which is sized by memory, not by connections. On a 24 GiB host each
//! of the two files took 7–9 ms of kernel time with two sockets open, most of a
//! firewall collection. A `sock_diag` dump asking only for `LISTEN` walks the listening
//! hash alone.
//!
//! Owns the request and the decoding of the answers into addresses and ports. It only
//! reads (a dump request on a netlink socket of its own); it never decides what a
//! listener means, and a failure is returned for the caller to fall back on `/proc`.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};
use std::net::IpAddr;

/// More answers than this is not a listening table: the dump is abandoned.
const MAX_SOCKETS: usize = 65_536;

/// The local address and port of every listening TCP socket of `family` (IPv4 when
/// `v6` is false), in the kernel's order.
pub(super) fn tcp_listeners(v6: bool) -> std::io::Result<Vec<(IpAddr, u16)>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;

    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: if v6 { AF_INET6 } else { AF_INET },
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::LISTEN,
            socket_id: if v6 {
                SocketId::new_v6()
            } else {
                SocketId::new_v4()
            },
        })
        .into(),
    );
    request.finalize();
    let mut sent = vec![0; request.buffer_len()];
    request.serialize(&mut sent[..]);
    socket.send(&sent, 0)?;

    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut out = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0)?;
        if size == 0 {
            return Err(bad("the kernel closed the dump before its end".into()));
        }
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buffer[offset..size])
                .map_err(|e| bad(format!("undecodable sock_diag answer: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    let id = &response.header.socket_id;
                    out.push((id.source_address, id.source_port));
                    if out.len() > MAX_SOCKETS {
                        return Err(bad(format!("more than {MAX_SOCKETS} listening sockets")));
                    }
                }
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(match e.code {
                        Some(code) => std::io::Error::from_raw_os_error(-code.get()),
                        None => bad("sock_diag acknowledged without answering".into()),
                    })
                }
                _ => {}
            }
            if length == 0 {
                return Err(bad("a sock_diag answer of length 0".into()));
            }
            offset += length;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_listening_here_is_in_the_dump_and_a_closed_one_is_not() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        let found = tcp_listeners(false).unwrap();
        assert!(
            found.contains(&("127.0.0.1".parse().unwrap(), port)),
            "{found:?}"
        );
        // A connected (not listening) socket is not reported.
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let client_port = client.local_addr().unwrap().port();
        let found = tcp_listeners(false).unwrap();
        assert!(!found.iter().any(|(_, p)| *p == client_port), "{found:?}");
        drop(v4);
        let found = tcp_listeners(false).unwrap();
        assert!(!found.iter().any(|(_, p)| *p == port), "{found:?}");
        // IPv6, where the host has it.
        if let Ok(v6) = std::net::TcpListener::bind("[::1]:0") {
            let port = v6.local_addr().unwrap().port();
            let found = tcp_listeners(true).unwrap();
            assert!(found.contains(&("::1".parse().unwrap(), port)), "{found:?}");
        }
    }

    /// The listening sockets `/proc/net/tcp{,6}` lists (state `0A`), decoded as
    /// `listeners` decodes them.
    fn from_proc(v6: bool) -> std::collections::BTreeSet<(IpAddr, u16)> {
        let (file, family) = if v6 {
            ("/proc/net/tcp6", super::super::Family::V6)
        } else {
            ("/proc/net/tcp", super::super::Family::V4)
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.get(3) != Some(&"0A") {
                    return None;
                }
                let (addr, port) = f[1].split_once(':')?;
                let (address, _, _) = super::super::listeners::decode_addr(addr, family)?;
                Some((address.parse().ok()?, u16::from_str_radix(port, 16).ok()?))
            })
            .collect()
    }

    #[test]
    fn the_dump_lists_what_proc_net_tcp_lists() {
        let _held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        for v6 in [false, true] {
            // Other tests open and close listeners meanwhile: equal on one of a few tries.
            let mut last = None;
            let equal = (0..20).any(|_| {
                let dump: std::collections::BTreeSet<_> =
                    tcp_listeners(v6).unwrap().into_iter().collect();
                let proc = from_proc(v6);
                let same = dump == proc;
                last = Some((dump, proc));
                same
            });
            assert!(equal, "v6 {v6}: sock_diag and /proc differ: {last:?}");
        }
    }
}
