//! An organisation ledger's attested files go to the fleet server before the rows that
//! name them (`POST /v1/blob`, signed by the ledger's key over
//! `attestd_ledger::org::blob_message`): the server refuses a push whose attestation
//! names a file it does not hold. Hosts upload nothing. Reads files from the blob
//! store beside the database, checks each against its SHA-256, never logs content.

use crate::attest::blobs::BlobStore;
use crate::bundle::signing::HostKey;
use attestd_ledger::body::Attestation;
use attestd_ledger::org::{blob_message, BLOB_PATH, HEADER_HOST, HEADER_SHA256, HEADER_SIGNATURE};
use attestd_ledger::{Row, RowKind};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Upload every file the attestation rows among `rows` name.
pub async fn upload(
    client: &reqwest::Client,
    server: &str,
    host: &str,
    key: &HostKey,
    database: &Path,
    rows: &[&Row],
) -> Result<usize, String> {
    let store = BlobStore::beside(database);
    let mut sent = std::collections::BTreeSet::new();
    for row in rows.iter().filter(|r| r.kind == RowKind::Attestation) {
        let a: Attestation = row.decode().map_err(|e| format!("row {}: {e}", row.seq))?;
        for f in &a.files {
            if !sent.insert(f.sha256.clone()) {
                continue;
            }
            let path = store.path(&f.sha256);
            let bytes = std::fs::read(&path).map_err(|e| {
                format!("attested file {} ({}): {e}; the blob store beside the database must keep every attested file", f.name, path.display())
            })?;
            if hex::encode(Sha256::digest(&bytes)) != f.sha256 {
                return Err(format!(
                    "attested file {} ({}): its content changed in the blob store",
                    f.name,
                    path.display()
                ));
            }
            let sig = hex::encode(key.sign(&blob_message(host, &f.sha256, bytes.len() as u64)));
            let url = format!("{}{BLOB_PATH}", server.trim_end_matches('/'));
            let r = client
                .post(&url)
                .header(HEADER_HOST, host)
                .header(HEADER_SHA256, &f.sha256)
                .header(HEADER_SIGNATURE, sig)
                .body(bytes)
                .send()
                .await
                .map_err(|e| format!("{url}: {}", crate::error_text::with_causes(&e)))?;
            if !r.status().is_success() {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                return Err(format!(
                    "{url}: upload of {} refused (HTTP {status}): {text}",
                    f.name
                ));
            }
        }
    }
    Ok(sent.len())
}
