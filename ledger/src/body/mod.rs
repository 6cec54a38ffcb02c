//! One typed record per row kind: the JSON bodies of ledger rows. Changing a field
//! changes stored evidence and every hash after it: add fields (with serde defaults),
//! never rename or remove them.
//!
//! Each record knows its kind ([`Body::KIND`]) and, where rows of that kind are looked
//! up by key (evidence by content hash, verdict sets by collector, probes by name,
//! alert attempts by alert), its key.

mod alert;
mod attestation;
mod evidence;
mod policy;
mod probe;
mod receipt;
mod run;
mod verdict;

pub use alert::{AlertItem, AlertRecord, AttemptOutcome, AttemptRecord, ItemKind};
pub use attestation::{
    parse_day, AttachedFile, Attestation, AttestationKind, AttestationReview, Effective,
    Recurrence, ReviewDecision, MAX_FILE_BYTES,
};
pub use evidence::{ArtifactRecord, EvidenceRecord};
pub use policy::{PolicyCollector, PolicyRule, PolicySnapshot, PolicyVariable, PolicyWaiver};
pub use probe::ProbeResult;
pub use receipt::Receipt;
pub use run::{DriftEvent, RunCollectorEntry, RunRecord};
pub use verdict::{AppliedWaiver, Severity, Status, Verdict, VerdictSet};

use crate::RowKind;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A record that is the body of one kind of ledger row.
pub trait Body: Serialize + DeserializeOwned {
    const KIND: RowKind;

    /// The canonical JSON text stored as the row's body.
    fn to_body(&self) -> String {
        crate::canonical_json(self).expect("ledger records serialise to JSON")
    }
}

impl Body for PolicySnapshot {
    const KIND: RowKind = RowKind::Policy;
}
impl Body for EvidenceRecord {
    const KIND: RowKind = RowKind::Evidence;
}
impl Body for VerdictSet {
    const KIND: RowKind = RowKind::Verdicts;
}
impl Body for DriftEvent {
    const KIND: RowKind = RowKind::Drift;
}
impl Body for RunRecord {
    const KIND: RowKind = RowKind::Run;
}
impl Body for AlertRecord {
    const KIND: RowKind = RowKind::Alert;
}
impl Body for AttemptRecord {
    const KIND: RowKind = RowKind::AlertAttempt;
}
impl Body for ProbeResult {
    const KIND: RowKind = RowKind::Probe;
}
impl Body for Receipt {
    const KIND: RowKind = RowKind::Receipt;
}
impl Body for Attestation {
    const KIND: RowKind = RowKind::Attestation;
}
impl Body for AttestationReview {
    const KIND: RowKind = RowKind::AttestationReview;
}
