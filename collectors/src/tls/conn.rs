//! Connections for the probes: TCP with a connect timeout, a deadline on every read
//! and write, and the SMTP STARTTLS preamble. Owns the rule that no probe waits
//! longer than its timeouts, so a peer that accepts and never answers costs one read
//! timeout, never a hang. It never interprets TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why an endpoint could not be probed at all (as opposed to refusing an offer).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("no answer within {0} s (the peer accepted the connection but stayed silent)")]
    Timeout(u64),
    #[error("{0}")]
    NotTls(String),
    #[error("STARTTLS failed: {0}")]
    Starttls(String),
    #[error("{0}")]
    Io(String),
}

/// How to reach one endpoint.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: String,
    pub starttls_smtp: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// One TCP connection carrying one probe.
pub struct Connection {
    stream: TcpStream,
    read_timeout: Duration,
    deadline: Instant,
    counter: u64,
}

impl Connection {
    /// Connect (trying each resolved address within the connect timeout) and, for SMTP,
    /// run the STARTTLS preamble. The read deadline covers the whole probe.
    pub fn open(target: &Target, counter: u64) -> Result<Connection, ProbeError> {
        let addrs: Vec<SocketAddr> = target
            .address
            .to_socket_addrs()
            .map_err(|e| ProbeError::Connect(format!("{}: {e}", target.address)))?
            .collect();
        let mut last = format!("{}: the name resolved to no address", target.address);
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, target.connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = format!(
                        "{addr}: no answer within {} s",
                        target.connect_timeout.as_secs()
                    )
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        let stream = stream.ok_or(ProbeError::Connect(last))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            stream,
            read_timeout: target.read_timeout,
            deadline: Instant::now() + target.read_timeout,
            counter,
        };
        if target.starttls_smtp {
            conn.smtp_starttls()?;
            conn.deadline = Instant::now() + target.read_timeout;
        }
        Ok(conn)
    }

    /// The underlying stream for the rustls handshake, its timeouts set to what is
    /// left of the probe's deadline.
    pub fn stream(&mut self) -> Result<&mut TcpStream, ProbeError> {
        let left = self.remaining()?;
        let _ = self.stream.set_read_timeout(Some(left));
        let _ = self.stream.set_write_timeout(Some(left));
        Ok(&mut self.stream)
    }

    /// The error for a probe that ran out of time.
    pub fn timed_out(&self) -> ProbeError {
        ProbeError::Timeout(self.read_timeout.as_secs())
    }

    /// Bytes for a ClientHello random. Not secret and not a key: probes never finish a
    /// handshake. Distinct per probe so servers see ordinary hellos.
    pub fn random(&self) -> [u8; 32] {
        use ring::rand::SecureRandom;
        let mut out = [0u8; 32];
        if ring::rand::SystemRandom::new().fill(&mut out).is_err() {
            // No system randomness: a hello still needs distinct bytes, not secret ones.
            let seed = format!("{}:{}", self.counter, std::process::id());
            let digest = crate::sha256_hex(seed.as_bytes());
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&digest[i * 2..i * 2 + 2], 16).unwrap_or(0);
            }
        }
        out
    }

    fn remaining(&self) -> Result<Duration, ProbeError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProbeError::Timeout(self.read_timeout.as_secs()));
        }
        Ok(left)
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        let left = self.remaining()?;
        let _ = self.stream.set_write_timeout(Some(left));
        self.stream
            .write_all(bytes)
            .map_err(|e| ProbeError::Io(format!("sending: {e}")))
    }

    /// Append what arrives to `buf`; 0 when the peer closed (or reset) the connection.
    pub fn receive(&mut self, buf: &mut Vec<u8>) -> Result<usize, ProbeError> {
        let left = self.remaining()?;
        let _ = self.stream.set_read_timeout(Some(left));
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 1 << 20 {
                    return Err(ProbeError::NotTls(
                        "the peer sent more than 1 MiB without finishing its hello".into(),
                    ));
                }
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(ProbeError::Timeout(self.read_timeout.as_secs()))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(ProbeError::Io(format!("reading: {e}"))),
        }
    }

    /// Read one SMTP reply (all its lines) and return its code.
    fn smtp_reply(&mut self) -> Result<(u16, String), ProbeError> {
        let mut buf = Vec::new();
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            // The reply ends with a line whose code is followed by a space.
            if let Some(last) = text.split("\r\n").filter(|l| !l.is_empty()).last() {
                if text.ends_with("\r\n") && last.len() >= 4 && last.as_bytes()[3] == b' ' {
                    let code = last[..3].parse().map_err(|_| {
                        ProbeError::Starttls(format!("not an SMTP reply: {last:?}"))
                    })?;
                    return Ok((code, last.to_string()));
                }
            }
            if buf.len() > 65536 {
                return Err(ProbeError::Starttls("SMTP reply longer than 64 KiB".into()));
            }
            if self.receive(&mut buf)? == 0 {
                return Err(ProbeError::Starttls(
                    "the server closed the connection during the SMTP dialogue".into(),
                ));
            }
        }
    }

    fn smtp_starttls(&mut self) -> Result<(), ProbeError> {
        let (code, line) = self.smtp_reply()?;
        if code != 220 {
            return Err(ProbeError::Starttls(format!("greeting was {line:?}")));
        }
        self.send(b"EHLO attestd.invalid\r\n")?;
        let (code, line) = self.smtp_reply()?;
        if code != 250 {
            return Err(ProbeError::Starttls(format!("EHLO answered {line:?}")));
        }
        self.send(b"STARTTLS\r\n")?;
        let (code, line) = self.smtp_reply()?;
        if code != 220 {
            return Err(ProbeError::Starttls(format!(
                "STARTTLS answered {line:?} (the server does not offer it)"
            )));
        }
        Ok(())
    }
}
