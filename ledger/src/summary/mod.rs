//! A period's summary, computed from its ledger rows: per collector, the scheduled
//! runs, the runs that happened, coverage and gaps; per rule, its status timeline,
//! exceptions (fail or error, first seen, resolved, duration) and waivers; per control,
//! the roll-up. One implementation for every bundle: the host's `attestd bundle`, its
//! `verify`, and the fleet's bundles, whichever store the rows come from.
//!
//! - `model`: the shapes in `summary.json` (`Parameters`, `Computed`, ...).
//! - `coverage`: one collector's scheduled runs, coverage and gaps.
//! - `analyzer`: the fold over a period's rows.
//! - `rollup`: the per-control roll-up.
//! - `policy_diff`: changes between two sets of parameters, in words.
//! - `alerts`: the alerts sent about an exception, from the same rows.
//! - `attest`: attestations in force, recurring occurrences met or missed, expiries,
//!   the statement of applicability.
//!
//! It never reads a store or the clock; schedules are evaluated in the process's
//! local time zone (the zone a host runs in).

mod alerts;
mod analyzer;
mod attest;
mod coverage;
mod model;
mod policy_diff;
mod rollup;

pub use alerts::{AlertSource, LedgerAlerts, SentAlert};
pub use analyzer::Analyzer;
pub use attest::{
    attestation_summary, Applicability, AttestationEntry, AttestationException, AttestationSummary,
    Occurrence, ReviewEntry, Series,
};
pub use model::*;
pub use policy_diff::diff_policies;

use chrono::{DateTime, SecondsFormat, Utc};

/// The framework prefix of ISO/IEC 27001:2013 control IDs (equivalents, reported only
/// when asked for by control).
pub use crate::controls::ISO2013;

/// Parse a stored timestamp.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad timestamp `{s}`: {e}"))
}

/// UTC RFC 3339 with seconds, the format of every stored timestamp.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
