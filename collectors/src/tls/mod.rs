//! tls collector: probes the TLS endpoints named in `[collectors.tls]` and reports,
//! per endpoint, which protocol versions and cipher suites the server accepts (each
//! offered alone with a hand-built ClientHello, so SSLv3 to TLS 1.3 and weak suites are
//! all detectable), the suite it picks for a current client, and its certificate
//! (names, dates, key, signature, host-name match, chain to the trust anchors).
//! It never judges against a TLS profile (the rules do), never completes a
//! handshake or sends application data, and never waits past its timeouts.

mod chain;
pub(crate) mod conn;
pub(crate) mod hello;

use crate::{Artifact, CollectContext, CollectError, Collector, Evidence};
use conn::{Connection, ProbeError, Target};
use hello::{legacy_suites, probe, suite_name, Answer, Version, TLS13_SUITES};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// The system trust stores tried in order when `roots_file` is not set: Debian and
/// Ubuntu, Fedora/RHEL, openSUSE, Alpine. The first that exists is read.
pub const DEFAULT_ROOTS_FILES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];
/// Suites the collector accepts from one server for one version before it stops
/// enumerating (a server accepting more is reported with the first ones).
const MAX_SUITES_PER_VERSION: usize = 64;

/// TLS endpoint probes.
pub struct Tls;

/// `[collectors.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Endpoints to probe. None by default: then there is nothing to judge and the
    /// tls rules are `not_applicable`.
    #[serde(default)]
    pub endpoints: Vec<EndpointSettings>,
    /// A PEM file (host path) of extra trust anchors, such as an internal CA, trusted
    /// besides the system roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The system trust store (host path, PEM bundle). Default: the first that exists
    /// of `/etc/ssl/certs/ca-certificates.crt` (Debian, Ubuntu),
    /// `/etc/pki/tls/certs/ca-bundle.crt` (Fedora, RHEL), `/etc/ssl/ca-bundle.pem`
    /// (openSUSE), `/etc/ssl/cert.pem` (Alpine).
    #[serde(default)]
    pub roots_file: Option<String>,
    /// Seconds to wait for a TCP connection to an endpoint (1-60, default 5).
    #[serde(default = "default_timeout")]
    pub connect_timeout_seconds: u64,
    /// Seconds to wait for an endpoint's answer to one probe (1-60, default 5). A peer
    /// that accepts and stays silent costs this once, then the endpoint is an error.
    #[serde(default = "default_timeout")]
    pub read_timeout_seconds: u64,
}

/// One endpoint to probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    /// `host:port` (`[::1]:443` for IPv6).
    pub address: String,
    /// The server name to send (SNI) and to check the certificate against. Default:
    /// the host of `address`.
    #[serde(default)]
    pub sni: Option<String>,
    /// `"smtp"` to upgrade a plain SMTP connection with STARTTLS first.
    #[serde(default)]
    pub starttls: Option<Starttls>,
}

/// Protocols upgraded with STARTTLS.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Starttls {
    /// SMTP (RFC 3207): greeting, EHLO, STARTTLS, then the TLS handshake.
    Smtp,
}

fn default_timeout() -> u64 {
    5
}

/// Parse and validate the settings, with a message that names the field.
pub fn parse_settings(settings: &Value) -> Result<TlsSettings, String> {
    let value = match settings {
        Value::Null => json!({}),
        v => v.clone(),
    };
    let parsed: TlsSettings = serde_json::from_value(value).map_err(|e| e.to_string())?;
    for (name, v) in [
        ("connect_timeout_seconds", parsed.connect_timeout_seconds),
        ("read_timeout_seconds", parsed.read_timeout_seconds),
    ] {
        if !(1..=60).contains(&v) {
            return Err(format!("{name} = {v}: expected 1 to 60 seconds"));
        }
    }
    for (i, ep) in parsed.endpoints.iter().enumerate() {
        let at = format!("endpoints[{i}]");
        split_address(&ep.address).map_err(|e| format!("{at}.address: {e}"))?;
        if let Some(sni) = &ep.sni {
            if sni.parse::<std::net::IpAddr>().is_ok()
                || rustls::pki_types::DnsName::try_from(sni.as_str()).is_err()
            {
                return Err(format!(
                    "{at}.sni = {sni:?}: expected a DNS host name such as \"www.example.org\""
                ));
            }
        }
    }
    for (name, path) in [
        ("ca_file", parsed.ca_file.as_deref()),
        ("roots_file", parsed.roots_file.as_deref()),
    ] {
        if let Some(p) = path {
            if !p.starts_with('/') {
                return Err(format!("{name} = {p:?}: expected an absolute path"));
            }
        }
    }
    Ok(parsed)
}

/// `(host, port)` of `host:port` or `[v6]:port`.
fn split_address(address: &str) -> Result<(String, u16), String> {
    let (host, port) = address.rsplit_once(':').ok_or_else(|| {
        format!("{address:?} has no port; write host:port, e.g. \"mail.example.org:25\"")
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{address:?} has no host"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{address:?}: port must be 1-65535"))?;
    Ok((host.to_string(), port))
}

impl Collector for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }
    fn version(&self) -> &'static str {
        // 2: suite_traits instead of weak_suites; which traits are weak is policy.
        "2"
    }
    fn watched_paths(&self, settings: &Value) -> Vec<PathBuf> {
        match parse_settings(settings) {
            Ok(s) => match s.roots_file {
                Some(roots) => vec![roots],
                None => DEFAULT_ROOTS_FILES.iter().map(|p| p.to_string()).collect(),
            }
            .into_iter()
            .chain(s.ca_file)
            .map(PathBuf::from)
            .collect(),
            Err(_) => Vec::new(),
        }
    }
    fn default_schedule(&self) -> &'static str {
        "17 * * * *"
    }
    fn check_settings(&self, settings: &Value) -> Result<(), String> {
        parse_settings(settings).map(|_| ())
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let settings = parse_settings(&ctx.settings).map_err(CollectError::Settings)?;
        let mut artifacts = Vec::new();
        let mut unavailable = Map::new();
        let mut anchors = chain::Anchors {
            anchors: Vec::new(),
        };
        let roots_file = match &settings.roots_file {
            Some(path) => path.clone(),
            None => {
                let mut found = None;
                for candidate in DEFAULT_ROOTS_FILES {
                    if ctx.root.metadata(candidate)?.is_some() {
                        found = Some(candidate.to_string());
                        break;
                    }
                }
                found.unwrap_or_else(|| DEFAULT_ROOTS_FILES[0].to_string())
            }
        };
        // The trust store (a 220 KB bundle of some 140 certificates) matters only for
        // endpoints; without any it is neither read nor parsed.
        let wanted = !settings.endpoints.is_empty();
        let roots = match wanted
            .then(|| ctx.root.read(&roots_file))
            .transpose()?
            .flatten()
        {
            _ if !wanted => Value::Null,
            Some(bytes) => {
                artifacts.push(hashed_artifact(&roots_file, "file", &bytes));
                let ders = crate::formats::x509::certificates_in(&bytes).map_err(|e| {
                    CollectError::Malformed {
                        path: roots_file.clone(),
                        line: 0,
                        reason: e,
                    }
                })?;
                json!(anchors.add_bundle(&ders))
            }
            None => {
                artifacts.push(Artifact::absent(&roots_file));
                json!(0)
            }
        };
        let mut ca_anchors = Value::Null;
        if let Some(ca) = &settings.ca_file {
            let bytes = ctx.root.read(ca)?.ok_or_else(|| CollectError::Unreadable {
                path: ca.clone(),
                reason: "missing (named by ca_file in [collectors.tls])".into(),
            })?;
            artifacts.push(hashed_artifact(ca, "file", &bytes));
            let ders = crate::formats::x509::certificates_in(&bytes).map_err(|e| {
                CollectError::Malformed {
                    path: ca.clone(),
                    line: 0,
                    reason: e,
                }
            })?;
            let added = anchors.add_bundle(&ders);
            if added == 0 {
                return Err(CollectError::Malformed {
                    path: ca.clone(),
                    line: 0,
                    reason: "no CA certificate usable as a trust anchor".into(),
                });
            }
            ca_anchors = json!(added);
        }
        let endpoints: Vec<Value> = settings
            .endpoints
            .iter()
            .map(|ep| {
                let (facts, artifact) = probe_endpoint(
                    ep,
                    &settings,
                    &anchors,
                    ctx.now.timestamp(),
                    &mut unavailable,
                );
                artifacts.push(artifact);
                facts
            })
            .collect();
        let facts = json!({
            "endpoints": endpoints,
            "trust": {
                "roots_file": roots_file,
                "roots": roots,
                "ca_file": settings.ca_file,
                "ca_anchors": ca_anchors,
            },
            "unavailable": unavailable,
        });
        Ok(Evidence { facts, artifacts })
    }
}

fn hashed_artifact(source: &str, kind: &str, bytes: &[u8]) -> Artifact {
    Artifact {
        source: source.into(),
        kind: kind.into(),
        sha256: Some(crate::sha256_hex(bytes)),
        excerpt: None,
        present: true,
        exit_status: None,
    }
}

/// Everything about one endpoint. When the endpoint cannot be probed (refused, silent,
/// not TLS), its entry has `error` and no `protocols`, so rules reading it are
/// `error`, never `pass`.
fn probe_endpoint(
    ep: &EndpointSettings,
    settings: &TlsSettings,
    anchors: &chain::Anchors,
    now: i64,
    unavailable: &mut Map<String, Value>,
) -> (Value, Artifact) {
    let (host, _) = split_address(&ep.address).unwrap_or_default();
    let host_is_ip = host.parse::<std::net::IpAddr>().is_ok();
    // Clients send SNI for names, never for IP addresses.
    let sni = ep.sni.clone().or((!host_is_ip).then(|| host.clone()));
    let check_name = sni.clone().unwrap_or(host);
    let target = Target {
        address: ep.address.clone(),
        starttls_smtp: ep.starttls == Some(Starttls::Smtp),
        connect_timeout: Duration::from_secs(settings.connect_timeout_seconds),
        read_timeout: Duration::from_secs(settings.read_timeout_seconds),
    };
    let mut entry = json!({
        "address": ep.address,
        "sni": ep.sni,
        "starttls": ep.starttls.map(|_| "smtp"),
    });
    let mut artifact = Artifact {
        source: format!(
            "tls://{}{}",
            ep.address,
            ep.sni
                .as_ref()
                .map(|s| format!(" (sni {s})"))
                .unwrap_or_default()
        ),
        kind: "network".into(),
        sha256: None,
        excerpt: None,
        present: false,
        exit_status: None,
    };
    let key = format!("endpoint {}", ep.address);
    let mut fail = |entry: &mut Value, e: ProbeError| {
        entry["error"] = json!(e.to_string());
        unavailable.insert(key.clone(), json!(e.to_string()));
    };
    let mut prober = Prober {
        target: &target,
        sni: sni.as_deref(),
        count: 0,
    };
    let mut protocols = Map::new();
    let mut suites = Map::new();
    let mut negotiated = Map::new();
    let mut chain: Option<Vec<Vec<u8>>> = None;
    for version in Version::ALL {
        let offer: Vec<u16> = if version == Version::Tls13 {
            TLS13_SUITES.to_vec()
        } else {
            legacy_suites()
        };
        let want_chain = chain.is_none() && version != Version::Tls13;
        match prober.accepted_suites(version, offer, want_chain) {
            Ok((accepted, got_chain)) => {
                protocols.insert(version.key().into(), json!(!accepted.is_empty()));
                negotiated.insert(
                    version.key().into(),
                    json!(accepted.first().map(|s| suite_name(*s))),
                );
                suites.insert(
                    version.key().into(),
                    json!(accepted.iter().map(|s| suite_name(*s)).collect::<Vec<_>>()),
                );
                if chain.is_none() {
                    chain = got_chain;
                }
            }
            Err(e) => {
                fail(&mut entry, e);
                return (entry, artifact);
            }
        }
    }
    artifact.present = true;
    entry["suite_traits"] = Value::Object(suite_traits(&suites));
    entry["protocols"] = Value::Object(protocols.clone());
    entry["suites"] = Value::Object(suites);
    entry["negotiated"] = Value::Object(negotiated);
    if chain.is_none() && protocols.get("tls1_3") == Some(&json!(true)) {
        chain = Connection::open(&target, prober.count + 1)
            .and_then(|mut c| chain::fetch_with_rustls(&mut c, &check_name, sni.is_some()))
            .map_err(|e| {
                unavailable.insert(
                    format!("{key} certificate"),
                    json!(format!("cannot fetch the certificate over TLS 1.3: {e}")),
                )
            })
            .ok();
    }
    match chain {
        Some(chain) if !chain.is_empty() => {
            artifact.sha256 = Some(crate::sha256_hex(&chain[0]));
            match crate::formats::x509::describe(&chain[0]) {
                Ok(mut cert) => {
                    cert["chain_length"] = json!(chain.len());
                    cert["hostname"] = json!(check_name);
                    cert["hostname_matches"] =
                        json!(chain::matches_name(&chain[0], &check_name).unwrap_or(false));
                    let trust = chain::verify_chain(&chain, anchors, now);
                    cert["trusted"] = json!(trust.is_ok());
                    cert["trust_error"] = json!(trust.err());
                    entry["certificate"] = cert;
                }
                Err(e) => {
                    unavailable.insert(format!("{key} certificate"), json!(e));
                }
            }
        }
        Some(_) => {
            entry["certificate"] = Value::Null;
        }
        None if protocols.values().any(|v| v == &json!(true)) => {
            unavailable
                .entry(format!("{key} certificate"))
                .or_insert(json!("the server sent no certificate in clear"));
        }
        None => {
            // Accepts no version at all: nothing to describe, and nothing to pass.
            unavailable.insert(
                format!("{key} certificate"),
                json!("the server accepted no protocol version"),
            );
        }
    }
    (entry, artifact)
}

/// Runs the probes of one endpoint, one connection each.
struct Prober<'a> {
    target: &'a Target,
    sni: Option<&'a str>,
    count: u64,
}

impl Prober<'_> {
    fn one(
        &mut self,
        version: Version,
        suites: &[u16],
        want_chain: bool,
    ) -> Result<Answer, ProbeError> {
        self.count += 1;
        let mut conn = Connection::open(self.target, self.count)?;
        probe(&mut conn, version, suites, self.sni, want_chain)
    }

    /// The suites the server accepts for `version`, in the order it picks them from
    /// a current client's preference list (so the first is what such a client gets),
    /// and the chain sent in clear with the first acceptance when asked for.
    #[allow(clippy::type_complexity)]
    fn accepted_suites(
        &mut self,
        version: Version,
        mut offer: Vec<u16>,
        want_chain: bool,
    ) -> Result<(Vec<u16>, Option<Vec<Vec<u8>>>), ProbeError> {
        let mut accepted = Vec::new();
        let mut chain = None;
        while !offer.is_empty() && accepted.len() < MAX_SUITES_PER_VERSION {
            match self.one(version, &offer, want_chain && accepted.is_empty())? {
                Answer::Accepted { suite, chain: c } if offer.contains(&suite) => {
                    if accepted.is_empty() {
                        chain = c;
                    }
                    accepted.push(suite);
                    offer.retain(|s| *s != suite);
                }
                Answer::Accepted { suite, .. } => {
                    return Err(ProbeError::NotTls(format!(
                        "the server picked {} for {}, which was not offered",
                        suite_name(suite),
                        version.key()
                    )))
                }
                Answer::Refused(why) => {
                    tracing::debug!(
                        address = %self.target.address,
                        version = version.key(),
                        "offer refused: {why}"
                    );
                    break;
                }
            }
        }
        Ok((accepted, chain))
    }
}

/// What each accepted suite is made of, by IANA name: its bulk cipher (`NULL`, `DES`,
/// `3DES`, `RC2`, `RC4`, `AES`, `CHACHA20_POLY1305`, ...), its mode (`CBC`, `CCM`,
/// `GCM`), `EXPORT` for export-grade suites and `ANON` for suites without server
/// authentication. Which of these are weak, and over which versions, is policy
/// (`tls_weak_suite_traits` in tls.toml); the collector only names them.
fn suite_traits(suites: &Map<String, Value>) -> Map<String, Value> {
    use tls_parser::{TlsCipherEnc as E, TlsCipherEncMode as M, TlsCipherSuite};
    let mut out = Map::new();
    for name in suites
        .values()
        .filter_map(|l| l.as_array())
        .flatten()
        .filter_map(|n| n.as_str())
    {
        let Some(s) = TlsCipherSuite::from_name(name) else {
            continue;
        };
        let enc = match s.enc {
            E::Null => "NULL",
            E::Des => "DES",
            E::TripleDes => "3DES",
            E::Rc2 => "RC2",
            E::Rc4 => "RC4",
            E::Aria => "ARIA",
            E::Idea => "IDEA",
            E::Seed => "SEED",
            E::Aes => "AES",
            E::Camellia => "CAMELLIA",
            E::Chacha20_Poly1305 => "CHACHA20_POLY1305",
            E::Sm4 => "SM4",
            E::Aegis => "AEGIS",
        };
        let mut traits = std::collections::BTreeSet::from([enc]);
        match s.enc_mode {
            M::Cbc => traits.insert("CBC"),
            M::Ccm => traits.insert("CCM"),
            M::Gcm => traits.insert("GCM"),
            M::Null => false,
        };
        if name.contains("EXPORT") {
            traits.insert("EXPORT");
        }
        if name.contains("_anon_") {
            traits.insert("ANON");
        }
        out.insert(name.to_string(), json!(traits));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_errors_name_the_field() {
        let err = |v: Value| parse_settings(&v).unwrap_err();
        assert!(err(json!({"endpoints": [{"address": "example.org"}]}))
            .contains("endpoints[0].address"));
        assert!(err(json!({"endpoints": [{"address": "h:0"}]})).contains("port must be"));
        assert!(
            err(json!({"endpoints": [{"address": "h:1", "starttls": "imap"}]})).contains("imap")
        );
        assert!(
            err(json!({"endpoints": [{"address": "h:1", "sni": "1.2.3.4"}]}))
                .contains("endpoints[0].sni")
        );
        assert!(err(json!({"endpoint": []})).contains("unknown field `endpoint`"));
        assert!(err(json!({"read_timeout_seconds": 0})).contains("read_timeout_seconds"));
        assert!(err(json!({"ca_file": "ca.pem"})).contains("absolute path"));
        let ok = parse_settings(&json!({"endpoints": [{"address": "[::1]:443", "sni": "a.example", "starttls": "smtp"}]})).unwrap();
        assert_eq!(ok.endpoints[0].starttls, Some(Starttls::Smtp));
        assert_eq!(ok.read_timeout_seconds, 5);
    }

    #[test]
    fn the_first_system_trust_store_that_exists_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let rhel = dir.path().join("etc/pki/tls/certs");
        std::fs::create_dir_all(&rhel).unwrap();
        let ca =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tls/ca.pem");
        std::fs::copy(ca, rhel.join("ca-bundle.crt")).unwrap();
        let ctx = CollectContext::new(
            crate::HostRoot::new(dir.path()),
            Value::Null,
            chrono::Utc::now(),
        );
        // Without endpoints the store is not even read.
        let ev = Tls.collect(&ctx).unwrap();
        assert_eq!(ev.facts["trust"]["roots"], Value::Null);
        assert_eq!(ev.facts["endpoints"], json!([]));
        assert!(ev.artifacts.is_empty());
        // With one (a closed loopback port) it is.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ctx = CollectContext::new(
            crate::HostRoot::new(dir.path()),
            json!({"endpoints": [{"address": format!("127.0.0.1:{port}")}]}),
            chrono::Utc::now(),
        );
        let ev = Tls.collect(&ctx).unwrap();
        assert_eq!(
            ev.facts["trust"]["roots_file"],
            "/etc/pki/tls/certs/ca-bundle.crt"
        );
        assert_eq!(ev.facts["trust"]["roots"], 1);
    }

    #[test]
    fn suite_traits_name_what_each_accepted_suite_is_made_of() {
        let mut suites = Map::new();
        suites.insert(
            "tls1_0".into(),
            json!(["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_NULL_SHA"]),
        );
        suites.insert(
            "tls1_2".into(),
            json!(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
        );
        assert_eq!(
            Value::Object(suite_traits(&suites)),
            json!({
                "TLS_RSA_WITH_3DES_EDE_CBC_SHA": ["3DES", "CBC"],
                "TLS_RSA_WITH_NULL_SHA": ["NULL"],
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": ["AES", "GCM"],
            })
        );
    }
}
