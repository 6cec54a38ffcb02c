//! certificates collector: the X.509 certificates in PEM and DER files under the
//! configured directories (default `/etc/ssl/certs/local` and `/etc/letsencrypt/live`),
//! read through the HostRoot: subject, issuer, validity dates, key type and size,
//! signature algorithm. Dates are reported as dates, never as "days left", so an
//! unchanged file gives identical facts every run; rules compare them with the run
//! time. Never reads private keys (key files are skipped by name, and non-certificate
//! PEM blocks are not decoded) and never judges a certificate.

use crate::{Artifact, CollectContext, CollectError, Collector, Evidence};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Certificate files on disk.
pub struct Certificates;

/// Directories searched when the config names none.
pub const DEFAULT_PATHS: [&str; 2] = ["/etc/ssl/certs/local", "/etc/letsencrypt/live"];
/// File name endings read as certificates.
const EXTENSIONS: [&str; 4] = [".pem", ".crt", ".cer", ".der"];
/// Directory levels walked below each path.
const MAX_DEPTH: usize = 6;
/// Certificate files read at most per run; more is an error, not a silent cut.
const MAX_FILES: usize = 2000;

/// `[collectors.certificates]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesSettings {
    /// Directories or files (absolute host paths) holding certificates. Directories
    /// are walked (6 levels); files ending in .pem, .crt, .cer or .der are read, files
    /// that look like private keys (`*.key`, `privkey*`) never.
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
}

fn default_paths() -> Vec<String> {
    DEFAULT_PATHS.iter().map(|p| p.to_string()).collect()
}

fn parse_settings(settings: &Value) -> Result<CertificatesSettings, String> {
    let value = match settings {
        Value::Null => json!({}),
        v => v.clone(),
    };
    let parsed: CertificatesSettings = serde_json::from_value(value).map_err(|e| e.to_string())?;
    for (i, p) in parsed.paths.iter().enumerate() {
        if !p.starts_with('/') {
            return Err(format!("paths[{i}] = {p:?}: expected an absolute path"));
        }
    }
    Ok(parsed)
}

impl Collector for Certificates {
    fn name(&self) -> &'static str {
        "certificates"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, settings: &Value) -> Vec<PathBuf> {
        parse_settings(settings)
            .map(|s| s.paths.into_iter().map(PathBuf::from).collect())
            .unwrap_or_default()
    }
    fn default_schedule(&self) -> &'static str {
        "23 */6 * * *"
    }
    fn check_settings(&self, settings: &Value) -> Result<(), String> {
        parse_settings(settings).map(|_| ())
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let settings = parse_settings(&ctx.settings).map_err(CollectError::Settings)?;
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for path in &settings.paths {
            let present = ctx.root.metadata(path)?.is_some();
            paths.push(json!({"path": path, "present": present}));
            if present {
                walk(ctx, path, 0, &mut files)?;
            }
        }
        files.sort();
        files.dedup();
        if files.len() > MAX_FILES {
            return Err(CollectError::Other(format!(
                "more than {MAX_FILES} certificate files under {}; name narrower paths in [collectors.certificates]",
                settings.paths.join(", ")
            )));
        }
        let mut certificates = Vec::new();
        let mut artifacts = Vec::new();
        let mut unavailable = Map::new();
        let mut skipped = Vec::new();
        for file in &files {
            match read_file(ctx, file) {
                Ok(None) => skipped.push(file.clone()),
                Ok(Some((sha256, certs))) => {
                    artifacts.push(Artifact {
                        source: file.clone(),
                        kind: "file".into(),
                        sha256: Some(sha256),
                        excerpt: None,
                        present: true,
                        exit_status: None,
                    });
                    for (index, mut cert) in certs.into_iter().enumerate() {
                        cert["file"] = json!(file);
                        cert["index"] = json!(index);
                        certificates.push(cert);
                    }
                }
                Err(reason) => {
                    unavailable.insert(file.clone(), json!(reason));
                }
            }
        }
        let mut facts = json!({
            "paths": paths,
            "files": files.len(),
            "skipped_without_certificates": skipped,
            "unavailable": unavailable,
        });
        // One unreadable file makes `certificates` unknown as a whole: a rule over all
        // certificates must not pass while one of them could not be read.
        if unavailable.is_empty() {
            facts["certificates"] = json!(certificates);
        }
        Ok(Evidence { facts, artifacts })
    }
}

fn looks_like_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".key") || lower.starts_with("privkey") || lower.contains("private")
}

/// Collect certificate file paths under `path` (a file or a directory).
fn walk(
    ctx: &CollectContext,
    path: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), CollectError> {
    let Some(meta) = ctx.root.metadata(path)? else {
        // A dangling symlink or a file that vanished: name it, so it is not silently
        // skipped.
        out.push(path.to_string());
        return Ok(());
    };
    if meta.is_dir() {
        if depth >= MAX_DEPTH || out.len() > MAX_FILES {
            return Ok(());
        }
        let mut names = ctx.root.list_dir(path)?.unwrap_or_default();
        names.sort();
        for name in names {
            if looks_like_key(&name) {
                continue;
            }
            let child = format!("{}/{name}", path.trim_end_matches('/'));
            let is_dir = ctx.root.metadata(&child)?.is_some_and(|m| m.is_dir());
            let lower = name.to_ascii_lowercase();
            if is_dir || EXTENSIONS.iter().any(|e| lower.ends_with(e)) {
                walk(ctx, &child, depth + 1, out)?;
            }
        }
    } else {
        out.push(path.to_string());
    }
    Ok(())
}

/// A file's SHA-256 and the facts of each certificate in it.
type FileCertificates = (String, Vec<Value>);

/// Read one file and describe its certificates, or say why it cannot be. `None` for a
/// PEM file that holds no certificate but other blocks (a key or parameters): it is
/// skipped, and never hashed or quoted. The file is opened as a `CertificateFile`, so
/// a combined certificate-and-key file is read, but only its certificate blocks leave
/// the redactor.
fn read_file(ctx: &CollectContext, file: &str) -> Result<Option<FileCertificates>, String> {
    match ctx.root.metadata(file) {
        Ok(Some(m)) if !m.is_file() => {
            return Err("not a regular file".into());
        }
        Ok(None) => return Err("missing (a dangling symlink?)".into()),
        Err(e) => return Err(e.to_string()),
        Ok(Some(_)) => {}
    }
    let read = ctx
        .root
        .read_sensitive(file, crate::Sensitive::CertificateFile, |bytes| {
            let ders = crate::formats::x509::certificates_in(bytes)?;
            let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
            Ok::<_, String>((crate::sha256_hex(bytes), ders, is_pem))
        });
    let (sha256, ders, is_pem) = match read {
        Ok(Some(r)) => r?,
        Ok(None) => return Err("missing".into()),
        Err(e) => return Err(e.to_string()),
    };
    if ders.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (i, der) in ders.iter().enumerate() {
        let what = if is_pem {
            format!("certificate {}", i + 1)
        } else {
            "neither PEM (no -----BEGIN line) nor a DER certificate".to_string()
        };
        out.push(crate::formats::x509::describe(der).map_err(|e| format!("{what}: {e}"))?);
    }
    Ok(Some((sha256, out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostRoot;
    use chrono::TimeZone;

    fn ctx(dir: &std::path::Path) -> CollectContext {
        CollectContext {
            root: HostRoot::new(dir),
            settings: Value::Null,
            previous_facts: None,
            measurements: None,
            now: chrono::Utc
                .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
                .unwrap(),
        }
    }

    #[test]
    fn no_directories_means_no_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let ev = Certificates.collect(&ctx(dir.path())).unwrap();
        assert_eq!(ev.facts["certificates"], json!([]));
        assert_eq!(ev.facts["paths"][0]["present"], false);
    }

    #[test]
    fn garbage_makes_the_certificate_list_unknown_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("etc/ssl/certs/local");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(local.join("junk.pem"), "not a certificate at all").unwrap();
        std::fs::write(local.join("server.key"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let ev = Certificates.collect(&ctx(dir.path())).unwrap();
        assert!(ev.facts.get("certificates").is_none());
        let reason = ev.facts["unavailable"]["/etc/ssl/certs/local/junk.pem"]
            .as_str()
            .unwrap();
        assert!(reason.contains("not an X.509 certificate"), "{reason}");
        // The key file was never read.
        assert!(ev.artifacts.iter().all(|a| !a.source.ends_with(".key")));
    }

    #[test]
    fn settings_must_be_absolute_paths() {
        let err = parse_settings(&json!({"paths": ["certs"]})).unwrap_err();
        assert!(err.contains("paths[0]"), "{err}");
        let err = parse_settings(&json!({"path": ["/x"]})).unwrap_err();
        assert!(err.contains("unknown field `path`"), "{err}");
    }
}
