//! The server's witness key: an Ed25519 key in PKCS#8 PEM (mode 0600) that signs every
//! receipt. Owns loading, creating and using it; never prints, logs or sends the
//! private key (only the public key is served).

use attestd_ledger::body::Receipt;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The loaded witness key.
pub struct Witness {
    key: SigningKey,
    public_pem: String,
}

impl Witness {
    /// Load the key at `path`, creating it when missing; a key readable by others is refused.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Witness> {
        let key = if path.exists() {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                anyhow::bail!(
                    "{}: the witness key is readable by other users (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            SigningKey::from_pkcs8_pem(&text).map_err(|e| {
                anyhow::anyhow!("{}: not an Ed25519 PKCS#8 key: {e}", path.display())
            })?
        } else {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("cannot encode the witness key: {e}"))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            f.write_all(pem.as_bytes())?;
            f.sync_all()?;
            key
        };
        let public_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("cannot encode the witness public key: {e}"))?;
        Ok(Witness { key, public_pem })
    }

    /// The public key, SubjectPublicKeyInfo PEM.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Fill in a receipt's signature.
    pub fn sign(&self, receipt: &mut Receipt) {
        receipt.signature = hex::encode(self.key.sign(&receipt.message()).to_bytes());
    }

    /// Sign arbitrary bytes (a fleet bundle's SHA256SUMS): the raw 64-byte signature.
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}
