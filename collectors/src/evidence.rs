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
/// `MAX_EXCERPT_BYTES` on a line boundary.
pub fn excerpt_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if out.len() + trimmed.len() + 1 > MAX_EXCERPT_BYTES {
            out.push_str("…\n");
            break;
        }
        out.push_str(trimmed);
        out.push('\n');
    }
    out
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
    fn excerpt_drops_comments_and_is_bounded() {
        let text = "# comment\n\nPASS_MAX_DAYS 90\n".to_string() + &"X 1\n".repeat(2000);
        let e = excerpt_of(&text);
        assert!(e.starts_with("PASS_MAX_DAYS 90\n"));
        assert!(e.len() <= MAX_EXCERPT_BYTES + 4);
        assert!(e.ends_with("…\n"));
    }
}
