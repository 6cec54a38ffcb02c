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
    /// Enrolled as an organisation ledger (see [`crate::org`]): it uploads its attested
    /// files and may hold attestation rows only. Absent from older servers: a host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub organisation: bool,
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

/// The format tag of a fleet bundle's `fleet.json`.
pub const FLEET_BUNDLE_FORMAT: &str = "attestd-fleet-bundle/1";

/// The gap cause for a host that stopped sending rows to the server.
pub const HOST_NOT_REPORTING: &str = "host_not_reporting";

/// In a fleet bundle, a host's gaps that reach the end of the period after the last
/// row the server holds of it are `host_not_reporting`: the server cannot tell an idle
/// host from one that stopped pushing. Rows that arrive later cover the time, and the
/// summary recomputed with them has no such gap. Applied by the server when it builds
/// the bundle and by `attestd verify` when it recomputes it (one implementation).
pub fn mark_not_reporting(
    computed: &mut crate::summary::Computed,
    last_recorded: Option<&str>,
    period_end: &str,
) {
    let silent = last_recorded.is_none_or(|l| l < period_end);
    if !silent {
        return;
    }
    let detail = match last_recorded {
        Some(l) => format!("the server holds no rows of this host recorded after {l}"),
        None => "the server holds no rows of this host".to_string(),
    };
    let mark = |g: &mut crate::summary::Gap| {
        if g.ongoing {
            g.cause = HOST_NOT_REPORTING.to_string();
            g.detail = detail.clone();
        }
    };
    for c in computed.collectors.values_mut() {
        c.gaps.iter_mut().for_each(mark);
    }
    for c in computed.controls.iter_mut() {
        c.gaps.iter_mut().for_each(mark);
    }
}

/// One control across the fleet: how many hosts in scope tested it, and with what
/// result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlRollup {
    pub id: String,
    pub name: String,
    pub hosts: u64,
    pub effective: u64,
    pub with_exceptions: u64,
    pub with_gaps: u64,
    pub not_tested: u64,
}

/// Add one host's summary to the fleet's per-control roll-up.
pub fn roll_up(
    rollup: &mut std::collections::BTreeMap<String, ControlRollup>,
    computed: &crate::summary::Computed,
) {
    for c in &computed.controls {
        let r = rollup.entry(c.id.clone()).or_insert_with(|| ControlRollup {
            id: c.id.clone(),
            name: c.name.clone(),
            ..Default::default()
        });
        r.hosts += 1;
        match c.result.as_str() {
            "effective" => r.effective += 1,
            "not_tested" => r.not_tested += 1,
            res => {
                if res.contains("exceptions") {
                    r.with_exceptions += 1;
                }
                if res.contains("gaps") {
                    r.with_gaps += 1;
                }
            }
        }
    }
}
