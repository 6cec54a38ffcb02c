//! Verdicts: a rule's status, what was observed and expected, and the `verdicts` row
//! that holds one collector's verdicts.

use serde::{Deserialize, Serialize};

/// The outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Error,
    NotApplicable,
    Waived,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pass,
        Status::Fail,
        Status::Error,
        Status::NotApplicable,
        Status::Waived,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::NotApplicable => "not_applicable",
            Status::Waived => "waived",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// How much a failure of a rule matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A waiver that turned a failure into `waived`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedWaiver {
    pub reason: String,
    pub approver: String,
    pub expires: String,
}

/// One rule's judgement in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub rule: String,
    pub status: Status,
    /// The observed value (from the rule's `observed` expression), or null.
    pub observed: serde_json::Value,
    /// What the rule requires, with variables filled in.
    pub expected: String,
    /// Why the status is `error` or `not_applicable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<AppliedWaiver>,
}

/// A ledger row of kind `verdicts`: one collector's verdicts, stored again only when
/// they differ from the collector's previous set. `key` is the collector's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictSet {
    pub key: String,
    pub collector: String,
    /// The evidence row judged, or none when the collector failed.
    pub evidence: Option<i64>,
    pub error: Option<String>,
    pub results: Vec<Verdict>,
}
