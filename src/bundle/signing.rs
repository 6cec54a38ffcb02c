//! The host's Ed25519 signing key: `signing-key.pem` (PKCS#8, mode 0600, readable by
//! the attestd user only) and `signing-key.pub.pem` (SubjectPublicKeyInfo) in the state
//! directory beside the database. Created at the first `attestd run`, or by
//! `attestd key show` / `attestd bundle` when missing. Signs SHA256SUMS with a raw
//! 64-byte signature that `openssl pkeyutl -verify -pubin -rawin` accepts, and in
//! minisign's format for `minisign -V`. Never prints, logs or copies the private key.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File name of the private key.
pub const PRIVATE_FILE: &str = "signing-key.pem";
/// File name of the public key (in the state directory and in every bundle).
pub const PUBLIC_FILE: &str = "signing-key.pub.pem";

/// A loaded key pair.
pub struct HostKey {
    key: SigningKey,
    pub private_path: PathBuf,
    pub created: bool,
}

/// Where the key lives for a database.
pub fn key_dir(database: &Path) -> PathBuf {
    database
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The private key as PKCS#8 v1 PEM (RFC 8410 `OneAsymmetricKey` version 0, no
/// public key inside): what `openssl pkey` and every PKCS#8 reader accept.
fn private_pem(key: &SigningKey) -> Result<String, String> {
    ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map(|p| p.to_string())
    .map_err(|e| format!("cannot encode the signing key: {e}"))
}

/// Replace the key file in one rename (mode 0600 from its creation).
fn replace_private(path: &Path, pem: &str) -> Result<(), String> {
    let tmp = path.with_extension("pem.new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

impl HostKey {
    /// Load the key beside `database`, creating it when missing.
    pub fn load_or_create(database: &Path) -> Result<HostKey, String> {
        let dir = key_dir(database);
        let private_path = dir.join(PRIVATE_FILE);
        if private_path.exists() {
            let meta = std::fs::metadata(&private_path)
                .map_err(|e| format!("{}: {e}", private_path.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "{}: the signing key is readable by other users (mode {:o}); run `chmod 600 {}` and check who else could have copied it",
                    private_path.display(),
                    meta.permissions().mode() & 0o777,
                    private_path.display()
                ));
            }
            let text = std::fs::read_to_string(&private_path)
                .map_err(|e| format!("{}: {e}", private_path.display()))?;
            let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| {
                format!("{}: not an Ed25519 PKCS#8 key: {e}", private_path.display())
            })?;
            // Keys written before as PKCS#8 v2 (which OpenSSL 3.0 and Python's
            // `cryptography` refuse) are rewritten as v1, the same key.
            let v1 = private_pem(&key)?;
            if text != v1 {
                if let Err(e) = replace_private(&private_path, &v1) {
                    eprintln!(
                        "attestd: warning: could not rewrite the signing key as PKCS#8 v1: {e}"
                    );
                }
            }
            let k = HostKey {
                key,
                private_path,
                created: false,
            };
            k.write_public(&dir)?;
            return Ok(k);
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = private_pem(&key)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private_path)
            .map_err(|e| format!("{}: {e}", private_path.display()))?;
        f.write_all(pem.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("{}: {e}", private_path.display()))?;
        let k = HostKey {
            key,
            private_path,
            created: true,
        };
        k.write_public(&dir)?;
        Ok(k)
    }

    fn write_public(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(PUBLIC_FILE);
        let pem = self.public_pem();
        if std::fs::read_to_string(&path).ok().as_deref() != Some(pem.as_str()) {
            std::fs::write(&path, &pem).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    pub fn public_pem(&self) -> String {
        public_pem(&self.key.verifying_key())
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key.verifying_key())
    }

    /// Raw 64-byte Ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// File name of the public key in minisign's format (in every bundle).
pub const MINISIGN_PUBLIC_FILE: &str = "signing-key.pub.minisign";

impl HostKey {
    /// minisign's key id: the first 8 bytes of SHA-256 of the public key.
    fn minisign_key_id(&self) -> [u8; 8] {
        let digest = Sha256::digest(self.key.verifying_key().as_bytes());
        digest[..8].try_into().expect("8 bytes")
    }

    /// The public key as a minisign public key file.
    pub fn minisign_public(&self) -> String {
        use base64::Engine as _;
        let id = self.minisign_key_id();
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&id);
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "untrusted comment: attestd bundle-signing key {}\n{}\n",
            hex::encode_upper(id.iter().rev().copied().collect::<Vec<u8>>()),
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// A minisign signature file (legacy `Ed` algorithm: the message is signed as is)
    /// for `message`, so `minisign -Vm FILE -p signing-key.pub.minisign` verifies it.
    pub fn minisign_signature(&self, message: &[u8], trusted_comment: &str) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let sig = self.key.sign(message).to_bytes();
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&self.minisign_key_id());
        raw.extend_from_slice(&sig);
        let mut global = sig.to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        let global_sig = self.key.sign(&global).to_bytes();
        format!(
            "untrusted comment: signature from the attestd bundle-signing key\n{}\ntrusted comment: {trusted_comment}\n{}\n",
            b64.encode(raw),
            b64.encode(global_sig)
        )
    }
}

/// PEM SubjectPublicKeyInfo.
pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 public key always encodes")
}

/// `SHA256:` and the hex SHA-256 of the DER SubjectPublicKeyInfo, which
/// `openssl pkey -pubin -in signing-key.pub.pem -outform DER | sha256sum` reproduces.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .expect("an Ed25519 public key always encodes");
    format!("SHA256:{}", hex::encode(Sha256::digest(der.as_bytes())))
}

/// Parse a PEM public key.
pub fn parse_public(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| format!("not an Ed25519 public key in PEM form: {e}"))
}

/// Check a raw signature.
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> Result<(), String> {
    let sig = Signature::from_slice(signature)
        .map_err(|_| format!("the signature is {} bytes, not 64", signature.len()))?;
    key.verify_strict(message, &sig)
        .map_err(|_| "the signature does not match SHA256SUMS under this key".to_string())
}

/// Check a minisign signature file (legacy `Ed` algorithm) of `message` and its
/// trusted comment under `key`.
pub fn verify_minisign(key: &VerifyingKey, message: &[u8], text: &str) -> Result<(), String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let lines: Vec<&str> = text.lines().collect();
    let [_, sig_line, comment_line, global_line, ..] = lines.as_slice() else {
        return Err("not a minisign signature file (expected four lines)".into());
    };
    let raw = b64
        .decode(sig_line.trim())
        .map_err(|_| "the signature line is not base64".to_string())?;
    if raw.len() != 74 || &raw[..2] != b"Ed" {
        return Err("not a minisign Ed25519 signature".into());
    }
    verify(key, message, &raw[10..])?;
    let comment = comment_line
        .strip_prefix("trusted comment: ")
        .ok_or("no trusted comment line")?;
    let global = b64
        .decode(global_line.trim())
        .map_err(|_| "the global signature is not base64".to_string())?;
    let mut signed = raw[10..].to_vec();
    signed.extend_from_slice(comment.as_bytes());
    verify(key, &signed, &global).map_err(|_| "the trusted comment was changed".to_string())
}
