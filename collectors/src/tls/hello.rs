//! One TLS handshake probe: a hand-built ClientHello offering exactly one protocol
//! version and a chosen list of cipher suites, and the server's answer parsed with
//! `tls-parser` (ServerHello, Certificate, Alert). Hand-built because rustls cannot
//! offer SSLv3, TLS 1.0 or 1.1 nor weak suites, and detecting those is the point.
//! A probe never completes a handshake, never sends application data and never
//! decides whether what the server accepted is acceptable.

use super::conn::{Connection, ProbeError};
use tls_parser::{
    parse_tls_extensions, parse_tls_message_handshake, parse_tls_raw_record, TlsCipherKx,
    TlsCipherMac, TlsCipherSuite, TlsExtension, TlsMessage, TlsMessageHandshake, CIPHERS,
};

/// A protocol version this collector can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    pub const ALL: [Version; 5] = [
        Version::Tls13,
        Version::Tls12,
        Version::Tls11,
        Version::Tls10,
        Version::Ssl3,
    ];

    /// The fact key.
    pub fn key(self) -> &'static str {
        match self {
            Version::Ssl3 => "ssl3",
            Version::Tls10 => "tls1_0",
            Version::Tls11 => "tls1_1",
            Version::Tls12 => "tls1_2",
            Version::Tls13 => "tls1_3",
        }
    }

    fn wire(self) -> u16 {
        match self {
            Version::Ssl3 => 0x0300,
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
            Version::Tls13 => 0x0304,
        }
    }
}

/// The TLS 1.3 suites (RFC 8446 and its AEAD additions).
pub const TLS13_SUITES: [u16; 5] = [0x1301, 0x1302, 0x1303, 0x1304, 0x1305];

/// Every suite of the IANA registry (as tls-parser knows it) usable before TLS 1.3,
/// strongest first the way a current client orders them: ECDHE, then DHE, then the
/// rest; AEAD before CBC; larger keys first. Signalling values are left out.
pub fn legacy_suites() -> Vec<u16> {
    let mut suites: Vec<&TlsCipherSuite> = CIPHERS
        .values()
        .filter(|s| !TLS13_SUITES.contains(&s.id.0) && s.id.0 != 0x00ff && s.id.0 != 0x5600)
        .collect();
    suites.sort_by_key(|s| {
        let kx = match s.kx {
            TlsCipherKx::Ecdhe => 0,
            TlsCipherKx::Dhe => 1,
            _ => 2,
        };
        let aead = if s.mac == TlsCipherMac::Aead { 0 } else { 1 };
        (kx, aead, std::cmp::Reverse(s.enc_size), s.id.0)
    });
    suites.into_iter().map(|s| s.id.0).collect()
}

/// The IANA name of a suite, or its number when unknown.
pub fn suite_name(id: u16) -> String {
    TlsCipherSuite::from_id(id)
        .map(|s| s.name.to_string())
        .unwrap_or_else(|| format!("0x{id:04X}"))
}

/// What the server answered to one ClientHello.
#[derive(Debug)]
pub enum Answer {
    /// A ServerHello for the offered version, with the suite it picked and, when asked
    /// for and sent in clear (TLS 1.2 and older), the certificate chain (DER).
    Accepted {
        suite: u16,
        chain: Option<Vec<Vec<u8>>>,
    },
    /// An alert, a ServerHello for another version, or a closed connection.
    Refused(String),
}

/// Offer `version` with `suites` over a fresh connection and read the answer.
pub fn probe(
    conn: &mut Connection,
    version: Version,
    suites: &[u16],
    sni: Option<&str>,
    want_chain: bool,
) -> Result<Answer, ProbeError> {
    conn.send(&client_hello(version, suites, sni, conn.random()))?;
    let mut reader = AnswerReader::new(version, want_chain);
    loop {
        if let Some(answer) = reader.step()? {
            return Ok(answer);
        }
        if conn.receive(&mut reader.records)? == 0 {
            return Ok(reader.end());
        }
    }
}

/// Reads a server's answer to one ClientHello from the bytes received so far: whole
/// records, then whole handshake messages, until the answer is known. Pure (no I/O),
/// so the parsing of what a peer sends can be tested and fuzzed on its own.
pub(crate) struct AnswerReader {
    version: Version,
    want_chain: bool,
    /// Bytes received and not yet parsed as records.
    pub(crate) records: Vec<u8>,
    handshake: Vec<u8>,
    accepted: Option<u16>,
}

impl AnswerReader {
    pub(crate) fn new(version: Version, want_chain: bool) -> Self {
        AnswerReader {
            version,
            want_chain,
            records: Vec::new(),
            handshake: Vec::new(),
            accepted: None,
        }
    }

    /// The answer when the peer closed the connection.
    pub(crate) fn end(&self) -> Answer {
        match self.accepted {
            Some(suite) => Answer::Accepted { suite, chain: None },
            None => {
                Answer::Refused("the server closed the connection without a ServerHello".into())
            }
        }
    }

    /// Parse what has arrived; `Some` once the answer is known, `None` to wait for more.
    pub(crate) fn step(&mut self) -> Result<Option<Answer>, ProbeError> {
        let (version, want_chain) = (self.version, self.want_chain);
        let records = &mut self.records;
        let handshake = &mut self.handshake;
        // Whole records first; a partial one waits for more bytes. A record starts with
        // a known content type and major version 3; anything else (an SMTP banner, an
        // HTTP answer) is not TLS, whatever its length field would claim.
        loop {
            let bad_type = records.first().is_some_and(|t| !(20..=24).contains(t));
            let bad_major = records.get(1).is_some_and(|m| *m != 3);
            if bad_type || bad_major {
                return Err(ProbeError::NotTls(format!(
                    "the peer answered with something that is not TLS (first bytes {:?})",
                    String::from_utf8_lossy(&records[..records.len().min(24)])
                )));
            }
            match parse_tls_raw_record(records) {
                Ok((rest, record)) => {
                    let consumed = records.len() - rest.len();
                    match record.hdr.record_type.0 {
                        21 => {
                            let desc = record.data.get(1).copied().unwrap_or(0);
                            return Ok(Some(Answer::Refused(format!(
                                "alert {}",
                                tls_parser::TlsAlertDescription(desc)
                            ))));
                        }
                        22 => handshake.extend_from_slice(record.data),
                        // ChangeCipherSpec (TLS 1.3 middlebox compatibility) and others.
                        _ => {}
                    }
                    records.drain(..consumed);
                }
                Err(tls_parser::Err::Incomplete(_)) => break,
                Err(_) => {
                    return Err(ProbeError::NotTls(format!(
                        "the peer answered with something that is not TLS (first bytes {:?})",
                        String::from_utf8_lossy(&records[..records.len().min(24)])
                    )))
                }
            }
        }
        // Whole handshake messages next.
        while handshake.len() >= 4 {
            let len = u32::from_be_bytes([0, handshake[1], handshake[2], handshake[3]]) as usize;
            if handshake.len() < 4 + len {
                break;
            }
            let message: Vec<u8> = handshake.drain(..4 + len).collect();
            let parsed = parse_tls_message_handshake(&message)
                .map_err(|e| ProbeError::NotTls(format!("unparsable handshake message: {e}")))?;
            match parsed.1 {
                TlsMessage::Handshake(TlsMessageHandshake::ServerHello(hello)) => {
                    let chosen = match hello.ext.map(parse_tls_extensions) {
                        Some(Ok((_, exts))) => exts
                            .iter()
                            .find_map(|e| match e {
                                TlsExtension::SupportedVersions(v) => v.first().map(|v| v.0),
                                _ => None,
                            })
                            .unwrap_or(hello.version.0),
                        _ => hello.version.0,
                    };
                    if chosen != version.wire() {
                        return Ok(Some(Answer::Refused(format!(
                            "the server chose version 0x{chosen:04x} instead"
                        ))));
                    }
                    // TLS 1.3 encrypts everything after ServerHello (a HelloRetryRequest
                    // also says the version and suite are accepted).
                    if !want_chain || version == Version::Tls13 {
                        return Ok(Some(Answer::Accepted {
                            suite: hello.cipher.0,
                            chain: None,
                        }));
                    }
                    self.accepted = Some(hello.cipher.0);
                }
                TlsMessage::Handshake(TlsMessageHandshake::Certificate(cert)) => {
                    if let Some(suite) = self.accepted {
                        let chain = cert.cert_chain.iter().map(|c| c.data.to_vec()).collect();
                        return Ok(Some(Answer::Accepted {
                            suite,
                            chain: Some(chain),
                        }));
                    }
                }
                TlsMessage::Handshake(TlsMessageHandshake::ServerDone(_)) => {
                    if let Some(suite) = self.accepted {
                        // Anonymous suites send no certificate.
                        return Ok(Some(Answer::Accepted {
                            suite,
                            chain: Some(Vec::new()),
                        }));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// The bytes of a ClientHello record offering exactly `version`.
pub fn client_hello(
    version: Version,
    suites: &[u16],
    sni: Option<&str>,
    random: [u8; 32],
) -> Vec<u8> {
    let legacy_version = version.wire().min(0x0303);
    let mut body = Vec::new();
    body.extend_from_slice(&legacy_version.to_be_bytes());
    body.extend_from_slice(&random);
    // A 32-byte session id, as TLS 1.3 clients send for middlebox compatibility.
    body.push(32);
    body.extend_from_slice(&random);
    let mut suite_bytes: Vec<u8> = suites.iter().flat_map(|s| s.to_be_bytes()).collect();
    if version != Version::Tls13 {
        // TLS_EMPTY_RENEGOTIATION_INFO_SCSV: we would do secure renegotiation.
        suite_bytes.extend_from_slice(&[0x00, 0xff]);
    }
    body.extend_from_slice(&(suite_bytes.len() as u16).to_be_bytes());
    body.extend_from_slice(&suite_bytes);
    body.extend_from_slice(&[1, 0]); // compression: null only
    if version != Version::Ssl3 {
        let ext = extensions(version, sni, random);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
    }
    let mut handshake = vec![1u8]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let record_version: u16 = if version == Version::Ssl3 {
        0x0300
    } else {
        0x0301
    };
    let mut record = vec![22u8];
    record.extend_from_slice(&record_version.to_be_bytes());
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

fn extensions(version: Version, sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ext = |kind: u16, data: &[u8]| {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    };
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut data = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        data.push(0); // host_name
        data.extend_from_slice(&(name.len() as u16).to_be_bytes());
        data.extend_from_slice(name);
        ext(0x0000, &data);
    }
    // supported_groups: x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048..4096.
    let groups: [u16; 8] = [
        0x001d, 0x0017, 0x0018, 0x0019, 0x001e, 0x0100, 0x0101, 0x0102,
    ];
    ext(0x000a, &list16(&groups));
    ext(0x000b, &[1, 0]); // ec_point_formats: uncompressed
    if matches!(version, Version::Tls12 | Version::Tls13) {
        // signature_algorithms: ECDSA, RSA-PSS, EdDSA, RSA PKCS#1, then SHA-1 forms.
        let algs: [u16; 14] = [
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0401, 0x0501, 0x0601,
            0x0203, 0x0201, 0x0202,
        ];
        ext(0x000d, &list16(&algs));
    }
    ext(0x0017, &[]); // extended_master_secret
    if version == Version::Tls13 {
        ext(0x002b, &[2, 0x03, 0x04]); // supported_versions: TLS 1.3 only
        ext(0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
                              // key_share: x25519 with 32 bytes that are a valid public value for any peer.
        let mut share = Vec::new();
        share.extend_from_slice(&36u16.to_be_bytes());
        share.extend_from_slice(&0x001du16.to_be_bytes());
        share.extend_from_slice(&32u16.to_be_bytes());
        share.extend_from_slice(&random);
        ext(0x0033, &share);
    }
    out
}

fn list16(items: &[u16]) -> Vec<u8> {
    let mut data = ((items.len() * 2) as u16).to_be_bytes().to_vec();
    for i in items {
        data.extend_from_slice(&i.to_be_bytes());
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hellos_parse_back_with_the_offered_version() {
        for version in Version::ALL {
            let suites = if version == Version::Tls13 {
                TLS13_SUITES.to_vec()
            } else {
                legacy_suites()
            };
            let bytes = client_hello(version, &suites, Some("example.org"), [7; 32]);
            let (rest, record) = tls_parser::parse_tls_plaintext(&bytes).unwrap();
            assert!(rest.is_empty());
            match &record.msg[0] {
                TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => {
                    assert_eq!(ch.version.0, version.wire().min(0x0303));
                    assert!(ch.ciphers.len() >= suites.len());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn strongest_suites_are_offered_first() {
        let suites = legacy_suites();
        assert!(suites.len() > 100);
        assert!(
            suite_name(suites[0]).starts_with("TLS_ECDHE_"),
            "{}",
            suite_name(suites[0])
        );
        assert!(
            suite_name(suites[0]).contains("GCM")
                || suite_name(suites[0]).contains("CHACHA")
                || suite_name(suites[0]).contains("CCM")
        );
    }
}
