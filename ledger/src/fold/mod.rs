//! Folds: state computed from a sequence of rows, the same whichever store the rows
//! come from (the host's SQLite, a bundle's `ledger.json`, the fleet's PostgreSQL).
//!
//! - [`Decoded`]: any row as its typed record, the input of every fold.
//! - [`state::StateAt`]: every rule's state at an instant, from the rows in force then.
//! - [`deliveries::Deliveries`]: each alert's delivery to each sink, from `alert` and
//!   `alert_attempt` rows.
//!
//! A fold never reads a store: callers select the rows and feed them in sequence order.

pub mod deliveries;
pub mod state;

use crate::body::{
    AlertRecord, AttemptRecord, Attestation, AttestationReview, DriftEvent, PolicySnapshot,
    ProbeResult, Receipt, RunRecord, VerdictSet,
};
use crate::{DecodeError, Row, RowKind};
use serde::Deserialize;

/// A row's body as its typed record. Evidence is decoded to its key only: folds never
/// need the facts, and a year of evidence is most of a ledger's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Policy(PolicySnapshot),
    Evidence {
        key: String,
        collector: String,
    },
    Verdicts(VerdictSet),
    /// Boxed: a drift event carries two observed values and is the largest record.
    Drift(Box<DriftEvent>),
    Run(RunRecord),
    Alert(AlertRecord),
    AlertAttempt(AttemptRecord),
    Probe(ProbeResult),
    Receipt(Receipt),
    Attestation(Box<Attestation>),
    AttestationReview(AttestationReview),
}

impl Decoded {
    /// Decode a row; an error names the row.
    pub fn of(row: &Row) -> Result<Decoded, DecodeError> {
        Ok(match row.kind {
            RowKind::Policy => Decoded::Policy(row.decode()?),
            RowKind::Evidence => {
                #[derive(Deserialize)]
                struct Head {
                    key: String,
                    collector: String,
                }
                let h: Head = serde_json::from_str(&row.body).map_err(|e| DecodeError {
                    seq: row.seq,
                    kind: row.kind,
                    message: e.to_string(),
                })?;
                Decoded::Evidence {
                    key: h.key,
                    collector: h.collector,
                }
            }
            RowKind::Verdicts => Decoded::Verdicts(row.decode()?),
            RowKind::Drift => Decoded::Drift(Box::new(row.decode()?)),
            RowKind::Run => Decoded::Run(row.decode()?),
            RowKind::Alert => Decoded::Alert(row.decode()?),
            RowKind::AlertAttempt => Decoded::AlertAttempt(row.decode()?),
            RowKind::Probe => Decoded::Probe(row.decode()?),
            RowKind::Receipt => Decoded::Receipt(row.decode()?),
            RowKind::Attestation => Decoded::Attestation(Box::new(row.decode()?)),
            RowKind::AttestationReview => Decoded::AttestationReview(row.decode()?),
        })
    }
}
