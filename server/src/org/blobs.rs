//! `POST /v1/blob`: an organisation ledger uploads one attested file before the push
//! of the rows that name it. The body is the file's bytes (at most 20 MiB, the limit
//! of `attestd attest add`); the headers name the ledger, the SHA-256 of the body and
//! the ledger key's signature over `attestd-blob-v1\nHOST\nSHA256\nSIZE\n`. Stored by
//! content in the `blobs` table, once (a second upload of the same content stores
//! nothing). Hosts do not upload: their files stay in their own blob store and bundles.
//!
//! Checks everything before it stores anything; never reads or logs a file's content.

use crate::check::{self, Refused};
use crate::db::{self, DbError};
use crate::http::{failed, refuse, App};
use attestd_ledger::body::MAX_FILE_BYTES;
use attestd_ledger::org::{
    blob_message, BlobResponse, HEADER_HOST, HEADER_SHA256, HEADER_SIGNATURE,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ed25519_dalek::{Signature, Verifier};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The largest body of `/v1/blob`, for the router's limit.
pub const MAX_BODY: usize = MAX_FILE_BYTES as usize + 1;

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Refused> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refused::new("malformed", format!("the upload has no {name} header")))
}

pub async fn upload(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    match checked(&app, &headers, &body).await {
        Ok(Ok((host, sha))) => match store(&app.pool, &host, &sha, &body).await {
            Ok(stored) => {
                if stored {
                    tracing::info!(host = %host, sha256 = %sha, size = body.len(), "attested file stored");
                }
                Json(BlobResponse {
                    sha256: sha,
                    size: body.len() as u64,
                    stored,
                })
                .into_response()
            }
            Err(e) => failed(&app, e),
        },
        Ok(Err(r)) => refuse(&app, r),
        Err(e) => failed(&app, e),
    }
}

/// Every check of an upload: (ledger, SHA-256) when it may be stored.
async fn checked(
    app: &App,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Result<(String, String), Refused>, DbError> {
    let parsed = (|| {
        let host = header(headers, HEADER_HOST)?.to_string();
        let sha = header(headers, HEADER_SHA256)?.to_string();
        let sig = header(headers, HEADER_SIGNATURE)?.to_string();
        if body.len() as u64 > MAX_FILE_BYTES {
            return Err(Refused::new(
                "oversized",
                format!(
                    "an attested file is at most {MAX_FILE_BYTES} bytes (20 MiB); this one has {}",
                    body.len()
                ),
            ));
        }
        let digest = hex::encode(Sha256::digest(body));
        if digest != sha {
            return Err(Refused::new(
                "bad_hash",
                format!("the upload's SHA-256 is {digest}, not the {sha} it names"),
            ));
        }
        Ok((host, sha, sig))
    })();
    let (host, sha, sig) = match parsed {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let Some(info) = db::host_info(&app.pool, &host).await? else {
        return Ok(Err(Refused::new(
            "unknown_host",
            format!("no ledger named {host:?} is enrolled"),
        )));
    };
    if info.retired {
        return Ok(Err(Refused::new(
            "retired_host",
            format!("{host} is retired and may upload no more"),
        )));
    }
    if !info.organisation {
        return Ok(Err(Refused::new(
            "not_organisation",
            format!("{host} is a host, not an organisation ledger: a host's attested files stay in its own blob store and bundles"),
        )));
    }
    let key = match check::public_key(&info.public_key) {
        Ok(k) => k,
        Err(r) => return Ok(Err(r)),
    };
    let good = hex::decode(&sig)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .is_some_and(|s| {
            key.verify(&blob_message(&host, &sha, body.len() as u64), &s)
                .is_ok()
        });
    if !good {
        return Ok(Err(Refused::new(
            "bad_signature",
            format!("the upload of {sha} is not signed by {host}'s enrolled key"),
        )));
    }
    Ok(Ok((host, sha)))
}

async fn store(
    pool: &deadpool_postgres::Pool,
    host: &str,
    sha: &str,
    body: &[u8],
) -> Result<bool, DbError> {
    let c = pool.get().await?;
    let n = c
        .execute(
            "INSERT INTO blobs (sha256, size, content, host, received_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO NOTHING",
            &[&sha, &(body.len() as i64), &body, &host, &chrono::Utc::now()],
        )
        .await?;
    Ok(n == 1)
}
