//! The kinds of ledger row. The only place a kind is spelt as a string: stores, bundles
//! and the fleet server name kinds through [`RowKind`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a ledger row records. Adding a kind is adding a variant here, its body type in
/// `body/`, and (if it affects a period) its place in the folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The parameters in force: rules, variables, schedules, waivers.
    Policy,
    /// What one collector observed (content-addressed: stored once, referenced again).
    Evidence,
    /// One collector's verdicts, stored when they change.
    Verdicts,
    /// A rule's verdict changed between runs.
    Drift,
    /// One run: which collectors ran and where their evidence and verdicts are.
    Run,
    /// One alert message raised by a run.
    Alert,
    /// One delivery attempt of an alert to a sink.
    AlertAttempt,
    /// One endpoint probe result.
    Probe,
    /// A fleet server's signed receipt for a head of this ledger it stored.
    Receipt,
    /// Evidence a person signs in that no collector observes (training, reviews, drills).
    Attestation,
    /// An approval or rejection of an attestation.
    AttestationReview,
}

impl RowKind {
    /// Every kind, in the order they were introduced.
    pub const ALL: [RowKind; 11] = [
        RowKind::Policy,
        RowKind::Evidence,
        RowKind::Verdicts,
        RowKind::Drift,
        RowKind::Run,
        RowKind::Alert,
        RowKind::AlertAttempt,
        RowKind::Probe,
        RowKind::Receipt,
        RowKind::Attestation,
        RowKind::AttestationReview,
    ];

    /// The kind as stored in the `kind` column and in `ledger.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Policy => "policy",
            RowKind::Evidence => "evidence",
            RowKind::Verdicts => "verdicts",
            RowKind::Drift => "drift",
            RowKind::Run => "run",
            RowKind::Alert => "alert",
            RowKind::AlertAttempt => "alert_attempt",
            RowKind::Probe => "probe",
            RowKind::Receipt => "receipt",
            RowKind::Attestation => "attestation",
            RowKind::AttestationReview => "attestation_review",
        }
    }

    /// The kind a stored string names, if this version knows it.
    pub fn parse(s: &str) -> Option<RowKind> {
        RowKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_stored_name() {
        for k in RowKind::ALL {
            assert_eq!(RowKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(RowKind::parse("receipt"), Some(RowKind::Receipt));
        assert_eq!(RowKind::parse("witness"), None);
    }
}
