//! X.509 certificates as facts: describes one certificate (names, validity, key,
//! signature algorithm) and reads PEM or DER bundles. Shared by the `tls` and
//! `certificates` collectors. It never reads private keys (PEM blocks other than
//! CERTIFICATE are skipped unread) and never judges whether a certificate is good.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// The facts of one DER certificate, or why it cannot be parsed.
pub fn describe(der: &[u8]) -> Result<Value, String> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes of trailing data after the certificate",
            rest.len()
        ));
    }
    let (key_type, key_bits) = key_of(&cert);
    Ok(json!({
        "subject": cert.subject().to_string(),
        "issuer": cert.issuer().to_string(),
        "serial": cert.raw_serial_as_string(),
        "not_before": rfc3339(cert.validity().not_before.timestamp()),
        "not_after": rfc3339(cert.validity().not_after.timestamp()),
        "key_type": key_type,
        "key_bits": key_bits,
        "signature_algorithm": signature_name(&cert),
        "self_signed": cert.subject().as_raw() == cert.issuer().as_raw(),
        "is_ca": cert.is_ca(),
        "sha256": crate::sha256_hex(der),
    }))
}

fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ts.to_string())
}

fn key_of(cert: &X509Certificate<'_>) -> (&'static str, usize) {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA", rsa.key_size()),
        Ok(PublicKey::EC(ec)) => ("EC", ec.key_size()),
        Ok(PublicKey::DSA(_)) => ("DSA", 0),
        Ok(PublicKey::GostR3410(_)) | Ok(PublicKey::GostR3410_2012(_)) => ("GOST", 0),
        _ => {
            let oid = spki.algorithm.algorithm.to_id_string();
            match oid.as_str() {
                "1.3.101.112" => ("Ed25519", 256),
                "1.3.101.113" => ("Ed448", 456),
                _ => ("unknown", 0),
            }
        }
    }
}

fn signature_name(cert: &X509Certificate<'_>) -> String {
    let oid = &cert.signature_algorithm.algorithm;
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// The certificates in a file's bytes, in order: every CERTIFICATE block of a PEM file
/// (other blocks, such as private keys, are skipped without being decoded), or the
/// whole file as one DER certificate.
pub fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("PEM text is not UTF-8: {e}"))?;
    let mut out = Vec::new();
    let mut rest = text;
    let mut block = 0;
    while let Some(begin) = rest.find("-----BEGIN ") {
        block += 1;
        let after = &rest[begin + 11..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| format!("PEM block {block}: unterminated BEGIN line"))?;
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = rest[begin..]
            .find(&end_marker)
            .map(|e| begin + e + end_marker.len())
            .ok_or_else(|| format!("PEM block {block} ({label}): no END line"))?;
        if label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE" {
            let (_, pem) = x509_parser::pem::parse_x509_pem(&rest.as_bytes()[begin..end])
                .map_err(|e| format!("PEM block {block} ({label}): {e}"))?;
            out.push(pem.contents);
        }
        rest = &rest[end..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(describe(b"hello").unwrap_err().contains("not an X.509"));
        let err = certificates_in(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(err.contains("PEM block 1"), "{err}");
    }

    #[test]
    fn private_key_blocks_are_skipped() {
        let pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(certificates_in(pem).unwrap().is_empty());
    }
}
