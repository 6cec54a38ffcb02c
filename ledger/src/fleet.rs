//! The fleet protocol's wire format, shared by the host (`attestd push`, `attestd
//! enroll`) and the server (`attestd-server`): request and answer bodies and the exact
//! bytes a host signs. Data only: no network, no keys, no database.

use crate::body::Receipt;
use crate::Row;
use serde::{Deserialize, Serialize};

/// Path of the enrolment endpoint.
pub const ENROLL_PATH: &str = "/v1/enroll";
/// Path of the push endpoint.
pub const PUSH_PATH: &str = "/v1/push";
/// Path where a host asks what the server holds for it.
pub const HEAD_PATH: &str = "/v1/head";

/// `POST /v1/enroll`: a one-use token and the host's public key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub token: String,
    pub host: String,
    /// The host's Ed25519 public key, SubjectPublicKeyInfo PEM.
    pub public_key: String,
}

/// The answer to an enrolment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub host: String,
    pub scope: String,
    /// The server's witness public key (SubjectPublicKeyInfo PEM): receipts verify with it.
    pub witness_key: String,
}

/// `POST /v1/head`: what the server holds for a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadRequest {
    pub host: String,
}

/// The server's view of a host's chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadResponse {
    pub host: String,
    /// Last stored sequence number (0 when nothing is stored).
    pub seq: i64,
    /// Chain value after `seq` (GENESIS in hex when nothing is stored).
    pub head: String,
}

/// `POST /v1/push`: a contiguous segment of the host's ledger and the host's signature
/// over its head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub host: String,
    pub rows: Vec<Row>,
    /// Ed25519 signature by the host key over [`push_message`] of the last row, hex.
    pub signature: String,
}

/// The answer to an accepted push.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResponse {
    /// Rows newly stored by this push (rows the server already held are not counted).
    pub stored: u64,
    pub receipt: Receipt,
}

/// The answer to a refused request: a stable reason code and a sentence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    pub refused: String,
    pub message: String,
}

/// The bytes a host signs for a segment ending at `seq` with chain value `head`.
pub fn push_message(host: &str, seq: i64, head: &str) -> Vec<u8> {
    format!("attestd-push-v1\n{host}\n{seq}\n{head}\n").into_bytes()
}
