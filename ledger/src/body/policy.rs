//! The `policy` row: the parameters a run was judged with (the auditor's IPE
//! parameters): rules with the hash of their definition, variables, collectors'
//! versions and schedules, waivers. Written before the first run that uses them and
//! again whenever any of them changes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A ledger row of kind `policy`. `key` is the SHA-256 of the canonical JSON of the
/// other fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    pub key: String,
    pub rules: Vec<PolicyRule>,
    pub variables: BTreeMap<String, PolicyVariable>,
    pub collectors: BTreeMap<String, PolicyCollector>,
    pub waivers: Vec<PolicyWaiver>,
    /// The host's IANA time zone (`Europe/Berlin`, `UTC`) in which the schedules are
    /// evaluated. Absent in ledgers written before it was recorded: their schedules
    /// are evaluated in UTC. Omitted from the JSON (and so from `key`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One rule as defined, with the hash of its definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRule {
    pub id: String,
    pub title: String,
    pub collector: String,
    pub controls: Vec<String>,
    pub severity: String,
    /// `file:line` where it is defined.
    pub origin: String,
    /// Shared with the loaded rule: rule texts are kept once in memory.
    pub definition: Arc<serde_json::Value>,
    pub definition_sha256: String,
}

/// A variable's value in force and where it was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVariable {
    pub value: serde_json::Value,
    pub default: serde_json::Value,
    pub set_in: String,
}

/// A collector's version, schedule and settings (hashed: settings may name secrets'
/// locations, never stored in clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyCollector {
    pub version: String,
    pub enabled: bool,
    /// Five-field Unix cron, evaluated in the host's local time.
    pub schedule: String,
    pub settings_sha256: String,
}

/// A waiver in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyWaiver {
    pub rule: String,
    pub reason: String,
    pub approver: String,
    pub expires: String,
}

impl PolicySnapshot {
    /// A snapshot of these parameters, with its key computed.
    pub fn new(
        rules: Vec<PolicyRule>,
        variables: BTreeMap<String, PolicyVariable>,
        collectors: BTreeMap<String, PolicyCollector>,
        waivers: Vec<PolicyWaiver>,
    ) -> PolicySnapshot {
        let mut snapshot = PolicySnapshot {
            key: String::new(),
            rules,
            variables,
            collectors,
            waivers,
            time_zone: None,
        };
        snapshot.key = snapshot.compute_key();
        snapshot
    }

    /// The same parameters with the host's time zone recorded, key recomputed.
    pub fn with_time_zone(mut self, zone: Option<String>) -> PolicySnapshot {
        self.time_zone = zone;
        self.key = self.compute_key();
        self
    }

    /// The zone the schedules are evaluated in: the recorded one, UTC when none was
    /// recorded (or the name is unknown to the tz database).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone
            .as_deref()
            .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// SHA-256 of the canonical JSON of everything but `key`.
    pub fn compute_key(&self) -> String {
        let mut value = serde_json::to_value(self).expect("JSON");
        if let Some(map) = value.as_object_mut() {
            map.remove("key");
        }
        hex::encode(Sha256::digest(
            serde_json::to_vec(&value).expect("JSON").as_slice(),
        ))
    }
}
