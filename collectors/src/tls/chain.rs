//! The peer's certificate chain: fetching it over TLS 1.3 (where it is encrypted, so
//! rustls does the handshake and a recording verifier keeps the chain and stops), and
//! checking it against trust anchors with webpki (path to a root, validity at the run
//! time, server-auth usage) and against the expected host name. Never links OpenSSL;
//! never trusts the chain for anything but producing facts.

use super::conn::{Connection, ProbeError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};

/// Trust anchors parsed from PEM bundles (the system roots and `ca_file`).
pub struct Anchors {
    pub anchors: Vec<TrustAnchor<'static>>,
}

impl Anchors {
    /// Add every certificate of a PEM bundle that webpki accepts as an anchor; returns
    /// how many were added.
    pub fn add_bundle(&mut self, ders: &[Vec<u8>]) -> usize {
        let before = self.anchors.len();
        for der in ders {
            let cert = CertificateDer::from(der.as_slice());
            if let Ok(anchor) = webpki::anchor_from_trusted_cert(&cert) {
                self.anchors.push(anchor.to_owned());
            }
        }
        self.anchors.len() - before
    }
}

/// Whether the chain leads from `chain[0]` to one of the anchors at `now`, and why not.
pub fn verify_chain(chain: &[Vec<u8>], anchors: &Anchors, now: i64) -> Result<(), String> {
    let leaf = chain.first().ok_or("the server sent no certificate")?;
    let leaf = CertificateDer::from(leaf.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| format!("leaf: {e}"))?;
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    if anchors.anchors.is_empty() {
        return Err("no trust anchors were found".into());
    }
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors.anchors,
        &intermediates,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64)),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| error_name(&e))
}

/// webpki's error without its fields: `CertExpired { time, not_after }` carries the run
/// time, which would make the fact change on every run.
fn error_name(e: &webpki::Error) -> String {
    let text = format!("{e:?}");
    text.split([' ', '(', '{'])
        .next()
        .unwrap_or(&text)
        .to_string()
}

/// Whether the leaf is valid for `name` (a DNS name or an IP address), checked the way
/// TLS clients do: against the subjectAltName entries.
pub fn matches_name(leaf: &[u8], name: &str) -> Result<bool, String> {
    let leaf = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| format!("leaf: {e}"))?;
    let server_name =
        ServerName::try_from(name).map_err(|_| format!("`{name}` is not a host name"))?;
    Ok(ee.verify_is_valid_for_subject_name(&server_name).is_ok())
}

/// Fetch the chain with a TLS 1.2/1.3 handshake by rustls, stopped as soon as the
/// certificate arrives.
pub fn fetch_with_rustls(
    conn: &mut Connection,
    server_name: &str,
    send_sni: bool,
) -> Result<Vec<Vec<u8>>, ProbeError> {
    let recorder = Arc::new(Recorder::default());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Io(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.enable_sni = send_sni;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| ProbeError::Io(format!("`{server_name}` is not a host name")))?;
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| ProbeError::Io(e.to_string()))?;
    let mut reason = String::from("handshake ended");
    for _ in 0..64 {
        if recorder.chain.lock().map(|c| c.is_some()).unwrap_or(false) {
            break;
        }
        match tls.complete_io(conn.stream()?) {
            Ok((0, 0)) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(conn.timed_out());
            }
            Err(e) => {
                reason = e.to_string();
                break;
            }
        }
    }
    let chain = recorder.chain.lock().ok().and_then(|mut c| c.take());
    chain.ok_or_else(|| ProbeError::NotTls(format!("no certificate received: {reason}")))
}

/// Keeps the chain the server presented and ends the handshake there.
#[derive(Debug, Default)]
struct Recorder {
    chain: Mutex<Option<Vec<Vec<u8>>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        if let Ok(mut slot) = self.chain.lock() {
            *slot = Some(chain);
        }
        // The chain is all we came for; stop before any key is used.
        Err(rustls::Error::General("certificate recorded".into()))
    }
    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not used".into()))
    }
    fn verify_tls13_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not used".into()))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
