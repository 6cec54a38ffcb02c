//! The blob store beside the ledger: attested files by content, at
//! `<state dir>/blobs/sha256/<hex>`, written once and atomically (a temporary file in
//! the same directory, fsynced, renamed). Owns the size limit and the refusal of
//! secrets: a file holding a private key (PEM or OpenSSH) or a password hash (crypt
//! `$6$`, `$y$`, `$2b$`, ... as in shadow lines) is never stored. It never writes the
//! ledger and never logs or quotes a file's content.

use attestd_ledger::body::AttachedFile;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest file an attestation may carry.
pub const MAX_FILE_BYTES: u64 = attestd_ledger::body::MAX_FILE_BYTES;

/// Where blobs live for a database.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// The store beside `database` (`<its directory>/blobs/sha256`).
    pub fn beside(database: &Path) -> BlobStore {
        let parent = database
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        BlobStore {
            dir: parent.join("blobs").join("sha256"),
        }
    }

    /// The path of the blob with this SHA-256.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Read `file`, refuse it when too large or when it holds a secret, store it by
    /// content and describe it. The error names the file and why.
    pub fn put(&self, file: &Path) -> Result<AttachedFile, String> {
        let shown = file.display();
        let meta = std::fs::metadata(file).map_err(|e| format!("--file {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("--file {shown}: not a regular file"));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "--file {shown}: {} bytes is over the limit of {} bytes (20 MiB) for an attested file; attach a smaller export or a summary, and keep the original where your records policy says",
                meta.len(),
                MAX_FILE_BYTES
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("--file {shown}: {e}"))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "--file {shown}: over the limit of {MAX_FILE_BYTES} bytes (20 MiB) for an attested file"
            ));
        }
        if let Some(what) = secret_in(&bytes) {
            return Err(format!(
                "--file {shown}: refused, it holds {what}; attestations must not carry secrets: remove it (or redact the line) and attach the file again"
            ));
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.write(&sha256, &bytes)
            .map_err(|e| format!("blob store {}: {e}", self.dir.display()))?;
        Ok(AttachedFile {
            media_type: media_type(&name, &bytes).into(),
            name,
            sha256,
            size: bytes.len() as u64,
        })
    }

    fn write(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let target = self.path(sha256);
        if target.exists() {
            return Ok(()); // content-addressed: the same bytes are already there
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".blob-")
            .tempfile_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&target).map_err(|e| e.error)?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The media type of a file: from its bytes (magic numbers), else its name, else text
/// or octet-stream.
pub fn media_type(name: &str, bytes: &[u8]) -> &'static str {
    if let Some(t) = infer::get(bytes) {
        return t.mime_type();
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "toml" => "application/toml",
        "yaml" | "yml" => "application/yaml",
        _ if std::str::from_utf8(bytes).is_ok() => "text/plain",
        _ => "application/octet-stream",
    }
}

/// What secret `bytes` hold, if any (never the secret itself).
pub fn secret_in(bytes: &[u8]) -> Option<&'static str> {
    use std::sync::OnceLock;
    static PATTERNS: OnceLock<Vec<(regex::bytes::Regex, &'static str)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            (
                r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",
                "a private key (PEM)",
            ),
            (r"PuTTY-User-Key-File-[0-9]+:", "a private key (PuTTY)"),
            // crypt(3) hashes as shadow stores them: MD5, SHA-256/512, bcrypt,
            // yescrypt, gost-yescrypt, scrypt, argon2.
            (
                r"\$(1|5|6)\$(rounds=[0-9]+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,}",
                "a password hash (crypt)",
            ),
            (
                r"\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}",
                "a password hash (bcrypt)",
            ),
            (
                r"\$(y|gy|7)\$[./A-Za-z0-9]+\$[./A-Za-z0-9]*\$?[./A-Za-z0-9]{20,}",
                "a password hash (yescrypt/scrypt)",
            ),
            (
                r"\$argon2(id|i|d)\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$",
                "a password hash (argon2)",
            ),
        ]
        .into_iter()
        .map(|(p, w)| (regex::bytes::Regex::new(p).expect("valid pattern"), w))
        .collect()
    });
    patterns
        .iter()
        .find(|(re, _)| re.is_match(bytes))
        .map(|(_, what)| *what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_and_password_hashes_are_named_and_text_is_not() {
        let openssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(secret_in(openssh), Some("a private key (PEM)"));
        assert!(secret_in(b"-----BEGIN RSA PRIVATE KEY-----").is_some());
        assert!(secret_in(b"-----BEGIN ENCRYPTED PRIVATE KEY-----").is_some());
        assert!(secret_in(b"-----BEGIN PGP PRIVATE KEY BLOCK-----").is_some());
        let shadow = b"alice:$6$Zb0kQ1aV$Jc3tq8l6E3jXz7lqzM8Vb0vO1n1C2d3e4f5g6h7i8j9k0l1m2n3o4p5q6r7s8t9u0v1w2x3y4z5A6B7C8D9E0:19700:0:99999:7:::\n";
        assert_eq!(secret_in(shadow), Some("a password hash (crypt)"));
        let yescrypt =
            b"bob:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7:19000:0:99999:7:::";
        assert!(secret_in(yescrypt).is_some());
        let bcrypt = b"$2b$12$KIXQJQ4ZkVtHqMrm1m9b0uD2b3U6X5nXy3yE5n1xQ1p1x1Y1z1A1B";
        assert!(secret_in(bcrypt).is_some());
        assert_eq!(
            secret_in(b"Quarterly access review: 14 accounts, 2 removed."),
            None
        );
        assert_eq!(secret_in(b"-----BEGIN PUBLIC KEY-----\nMCow"), None);
        assert_eq!(secret_in(b"price: $6 per seat, $5$ discount"), None);
    }

    #[test]
    fn media_types_from_bytes_then_names() {
        assert_eq!(media_type("x.pdf", b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(media_type("notes.md", b"# Review"), "text/markdown");
        assert_eq!(media_type("notes", b"plain"), "text/plain");
        assert_eq!(
            media_type("x.bin", &[0xff, 0xfe, 0x00, 0x81]),
            "application/octet-stream"
        );
    }
}
