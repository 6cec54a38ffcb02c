//! `Evidence`: the facts a collector observed plus the artifacts it read them from.
//!
//! Evidence is hashed over its canonical JSON (object keys sorted, no whitespace) so the
//! same observation always has the same SHA-256. It must never hold a secret.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many bytes of a source an artifact excerpt keeps at most.
pub const MAX_EXCERPT_BYTES: usize = 2048;

/// What a collector observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Typed facts; the only thing rules see.
    pub facts: serde_json::Value,
    /// The files and commands the facts came from.
    pub artifacts: Vec<Artifact>,
}

/// One source a collector read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// The path on the host (as on the host, not under the fixture root), or the
    /// command line that was run.
    pub source: String,
    /// `file`, `directory`, `command` or `api`.
    pub kind: String,
    /// SHA-256 of what was read, lowercase hex; `None` when the source was absent.
    pub sha256: Option<String>,
    /// A short excerpt of the lines that mattered (comments dropped), or `None` when the
    /// source must not be quoted (for example `/etc/shadow`).
    pub excerpt: Option<String>,
    /// False when the source did not exist; absence is itself evidence.
    pub present: bool,
    /// For a command: its exit status (-1 when a signal ended it). Absent for files, so
    /// file artifacts hash as they always have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
}

impl Artifact {
    /// An artifact for a file that was read, quoting its meaningful lines.
    pub fn file(source: &str, content: &[u8]) -> Self {
        Artifact {
            source: source.to_string(),
            kind: "file".into(),
            sha256: Some(sha256_hex(content)),
            excerpt: Some(excerpt_of(&String::from_utf8_lossy(content))),
            present: true,
            exit_status: None,
        }
    }

    /// An artifact for a file that must not be quoted: the hash covers `redacted`,
    /// a projection of the file with its secrets removed.
    pub fn redacted_file(source: &str, redacted: &str) -> Self {
        Artifact {
            source: source.to_string(),
            kind: "file".into(),
            sha256: Some(sha256_hex(redacted.as_bytes())),
            excerpt: None,
            present: true,
            exit_status: None,
        }
    }

    /// An artifact recording that a source was looked for and not found.
    pub fn absent(source: &str) -> Self {
        Artifact {
            source: source.to_string(),
            kind: "file".into(),
            sha256: None,
            excerpt: None,
            present: false,
            exit_status: None,
        }
    }
}

impl Evidence {
    /// The canonical JSON bytes: keys sorted, compact. Hashes and the store use these.
    pub fn canonical_json(&self) -> Vec<u8> {
        // serde_json without `preserve_order` keeps object keys in a BTreeMap, so the
        // output of `to_value` is already sorted.
        let value = serde_json::to_value(self).expect("evidence is plain JSON");
        serde_json::to_vec(&value).expect("JSON values always serialize")
    }

    /// SHA-256 of the canonical JSON, lowercase hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.canonical_json())
    }
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The meaningful lines of a config file: comments and blank lines dropped, cut at
/// `MAX_EXCERPT_BYTES` on a line boundary. Lines that could carry a secret are never
/// quoted: a line with a crypt(3) hash or a PEM private-key marker becomes
/// `<line not quoted>`, and the value of a key named like a secret (`password`,
/// `secret`, `token`, `credential`, `api_key`) becomes `<redacted>`.
pub fn excerpt_of(text: &str) -> String {
    let mut out = String::new();
    let mut in_key_block = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let redacted;
        let trimmed = if trimmed.contains("PRIVATE KEY-----") {
            in_key_block = trimmed.contains("-----BEGIN");
            "<line not quoted>"
        } else if in_key_block || looks_like_hash_line(trimmed) {
            "<line not quoted>"
        } else if let Some(r) = redact_secret_value(trimmed) {
            redacted = r;
            redacted.as_str()
        } else {
            trimmed
        };
        if out.len() + trimmed.len() + 1 > MAX_EXCERPT_BYTES {
            out.push_str("…\n");
            break;
        }
        out.push_str(trimmed);
        out.push('\n');
    }
    out
}

/// `name:$id$salt$hash...`: a shadow-format line.
fn looks_like_hash_line(line: &str) -> bool {
    line.split(':')
        .nth(1)
        .map(|f| f.trim_start_matches(['!', '*']))
        .is_some_and(|f| f.len() >= 8 && f.starts_with('$') && f[1..].contains('$'))
}

/// `KEY = value`, `KEY=value` or `KEY value` with a key named like a secret, its value
/// replaced.
fn redact_secret_value(line: &str) -> Option<String> {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=' || c == ':')
        .unwrap_or(line.len());
    let key = line[..end].to_ascii_lowercase();
    let secret = [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "api_key",
        "apikey",
    ]
    .iter()
    .any(|w| key.contains(w));
    (secret && end < line.len()).then(|| format!("{} <redacted>", &line[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_facts_in_any_key_order_hash_the_same() {
        let a = Evidence {
            facts: json!({"b": 1, "a": {"y": 2, "x": 3}}),
            artifacts: vec![],
        };
        let b = Evidence {
            facts: serde_json::from_str(r#"{"a":{"x":3,"y":2},"b":1}"#).unwrap(),
            artifacts: vec![],
        };
        assert_eq!(a.sha256(), b.sha256());
        assert_eq!(
            String::from_utf8(a.canonical_json()).unwrap(),
            r#"{"artifacts":[],"facts":{"a":{"x":3,"y":2},"b":1}}"#
        );
    }

    #[test]
    fn excerpts_never_quote_hashes_keys_or_secret_values() {
        let text = "PASS_MAX_DAYS 90\nroot:$y$j9T$salt$HASHHASH:1::::::\n-----BEGIN PRIVATE KEY-----\nKEYBODY\n-----END PRIVATE KEY-----\nsmtp_password = HUNTER2\nToken: abc123XYZ\n";
        let e = excerpt_of(text);
        for secret in ["HASHHASH", "KEYBODY", "HUNTER2", "abc123XYZ"] {
            assert!(!e.contains(secret), "{e}");
        }
        assert!(e.starts_with("PASS_MAX_DAYS 90\n"), "{e}");
        assert!(e.contains("smtp_password <redacted>"), "{e}");
    }

    #[test]
    fn excerpt_drops_comments_and_is_bounded() {
        let text = "# comment\n\nPASS_MAX_DAYS 90\n".to_string() + &"X 1\n".repeat(2000);
        let e = excerpt_of(&text);
        assert!(e.starts_with("PASS_MAX_DAYS 90\n"));
        assert!(e.len() <= MAX_EXCERPT_BYTES + 4);
        assert!(e.ends_with("…\n"));
    }
}
