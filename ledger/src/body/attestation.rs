//! Attestations: evidence a person signs into the ledger that no collector can observe
//! (training, access reviews, DR drills, vendor reviews, ...). The row's `recorded_at`
//! is when it was recorded; the body's `effective` span is when the thing happened or
//! the period it covers, kept apart. Files are referenced by content (SHA-256, size,
//! media type) in the blob store beside the ledger, never inline. A review
//! ([`AttestationReview`]) and a correction (a new [`Attestation`] whose `supersedes`
//! names the old id) are new rows: no attestation row is ever edited.

use chrono::{Months, NaiveDate};

/// The largest attested file, in bytes (20 MiB): `attestd attest add` refuses larger
/// ones and the fleet server takes no larger upload.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
use serde::{Deserialize, Serialize};

/// What an attestation is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationKind {
    Training,
    AccessReview,
    VendorReview,
    DrDrill,
    RestoreTest,
    IncidentReview,
    RiskAssessment,
    PolicyApproval,
    PolicyAcknowledgement,
    /// Anything else; with `not_applicable`, the justification that a control does not
    /// apply.
    Other,
}

impl AttestationKind {
    pub const ALL: [AttestationKind; 10] = [
        AttestationKind::Training,
        AttestationKind::AccessReview,
        AttestationKind::VendorReview,
        AttestationKind::DrDrill,
        AttestationKind::RestoreTest,
        AttestationKind::IncidentReview,
        AttestationKind::RiskAssessment,
        AttestationKind::PolicyApproval,
        AttestationKind::PolicyAcknowledgement,
        AttestationKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttestationKind::Training => "training",
            AttestationKind::AccessReview => "access_review",
            AttestationKind::VendorReview => "vendor_review",
            AttestationKind::DrDrill => "dr_drill",
            AttestationKind::RestoreTest => "restore_test",
            AttestationKind::IncidentReview => "incident_review",
            AttestationKind::RiskAssessment => "risk_assessment",
            AttestationKind::PolicyApproval => "policy_approval",
            AttestationKind::PolicyAcknowledgement => "policy_acknowledgement",
            AttestationKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<AttestationKind> {
        AttestationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How often a recurring attestation is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Recurrence {
    #[serde(rename = "1mo")]
    Monthly,
    #[serde(rename = "3mo")]
    Quarterly,
    #[serde(rename = "6mo")]
    HalfYearly,
    #[serde(rename = "1y")]
    Yearly,
}

impl Recurrence {
    pub const ALL: [Recurrence; 4] = [
        Recurrence::Monthly,
        Recurrence::Quarterly,
        Recurrence::HalfYearly,
        Recurrence::Yearly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Recurrence::Monthly => "1mo",
            Recurrence::Quarterly => "3mo",
            Recurrence::HalfYearly => "6mo",
            Recurrence::Yearly => "1y",
        }
    }

    pub fn parse(s: &str) -> Option<Recurrence> {
        Recurrence::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The interval in calendar months.
    pub fn months(self) -> u32 {
        match self {
            Recurrence::Monthly => 1,
            Recurrence::Quarterly => 3,
            Recurrence::HalfYearly => 6,
            Recurrence::Yearly => 12,
        }
    }

    /// `date` plus `n` intervals (end of month clamped, as chrono does).
    pub fn add(self, date: NaiveDate, n: u32) -> NaiveDate {
        date.checked_add_months(Months::new(self.months() * n))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// When it happened: one day (`from == to`) or the span it covers, both inclusive
/// (`YYYY-MM-DD`, UTC days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effective {
    pub from: String,
    pub to: String,
}

/// One attached file, by content. The bytes live in the blob store
/// (`blobs/sha256/<sha256>` beside the ledger) and in bundles, never in the row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedFile {
    /// The file's name when it was attached (no directories).
    pub name: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
    /// IANA media type, guessed from the content and the name.
    pub media_type: String,
}

/// A ledger row of kind `attestation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The attestation's id (`att-` and 16 hex digits); reviews and revisions refer to
    /// it. Named `key` so stores index it like other keyed rows.
    pub key: String,
    pub kind: AttestationKind,
    pub title: String,
    /// Controls it evidences (`framework:ID`), sorted.
    pub controls: Vec<String>,
    pub effective: Effective,
    /// First day it no longer holds (`YYYY-MM-DD`), if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Expected again every interval, if recurring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Recurrence>,
    /// Who did it (a person or team), as stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed_by: Option<String>,
    /// Who is reminded when it falls due or expires [default: performed_by, else the
    /// recorder].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The OS user who recorded it.
    pub recorded_by: String,
    #[serde(default)]
    pub files: Vec<AttachedFile>,
    /// The id of the attestation this revision corrects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// Kind `other` only: the controls listed do not apply, and this is why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_applicable: bool,
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approved,
    Rejected,
}

impl ReviewDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Approved => "approved",
            ReviewDecision::Rejected => "rejected",
        }
    }
}

/// A ledger row of kind `attestation_review`: a decision on an attestation. The latest
/// review of an attestation is its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationReview {
    /// The id of the attestation reviewed.
    pub key: String,
    pub decision: ReviewDecision,
    /// The approver, as stated.
    pub by: String,
    pub reason: String,
    /// The OS user who recorded the review.
    pub recorded_by: String,
}

/// Parse a `YYYY-MM-DD` day.
pub fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}` is not a YYYY-MM-DD date"))
}

impl Attestation {
    /// The id for this attestation recorded at `recorded_at`: `att-` and the first 16
    /// hex digits of the SHA-256 of its canonical body (id left empty) and that time.
    pub fn derive_id(&self, recorded_at: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut unkeyed = self.clone();
        unkeyed.key = String::new();
        let mut h = Sha256::new();
        h.update(
            crate::canonical_json(&unkeyed)
                .expect("serialises")
                .as_bytes(),
        );
        h.update(b"\n");
        h.update(recorded_at.as_bytes());
        format!("att-{}", &hex::encode(h.finalize())[..16])
    }

    /// The checks every store applies before appending one; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("title: must not be empty".into());
        }
        if self.controls.is_empty() {
            return Err("controls: at least one control is required".into());
        }
        let from = parse_day(&self.effective.from).map_err(|e| format!("effective: {e}"))?;
        let to = parse_day(&self.effective.to).map_err(|e| format!("effective: {e}"))?;
        if to < from {
            return Err(format!(
                "effective: the covered span ends ({to}) before it starts ({from})"
            ));
        }
        if let Some(e) = &self.expires {
            let e = parse_day(e).map_err(|e| format!("expires: {e}"))?;
            if e <= from {
                return Err(format!(
                    "expires: {e} is not after the effective date {from}"
                ));
            }
        }
        if self.not_applicable && self.kind != AttestationKind::Other {
            return Err(format!(
                "not_applicable: only an attestation of kind `other` can justify that a control does not apply (this one is `{}`)",
                self.kind.as_str()
            ));
        }
        for f in &self.files {
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("files: `{}` has no SHA-256", f.name));
            }
        }
        Ok(())
    }

    /// Who is reminded.
    pub fn owner_name(&self) -> &str {
        self.owner
            .as_deref()
            .or(self.performed_by.as_deref())
            .unwrap_or(&self.recorded_by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attestation {
        Attestation {
            key: String::new(),
            kind: AttestationKind::Training,
            title: "Security awareness 2025".into(),
            controls: vec!["iso27001-2022:A.6.3".into()],
            effective: Effective {
                from: "2025-01-10".into(),
                to: "2025-01-10".into(),
            },
            expires: Some("2025-07-01".into()),
            every: Some(Recurrence::Yearly),
            performed_by: None,
            owner: None,
            recorded_by: "alice".into(),
            files: vec![],
            supersedes: None,
            not_applicable: false,
        }
    }

    #[test]
    fn names_round_trip_and_ids_depend_on_content_and_time() {
        for k in AttestationKind::ALL {
            assert_eq!(AttestationKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        for r in Recurrence::ALL {
            assert_eq!(Recurrence::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        let a = sample();
        let id = a.derive_id("2025-01-10T09:00:00Z");
        assert!(id.starts_with("att-") && id.len() == 20, "{id}");
        assert_ne!(id, a.derive_id("2025-01-10T09:00:01Z"));
        assert_eq!(a.owner_name(), "alice");
        // Optional fields absent from old bodies read back as defaults.
        let body = crate::canonical_json(&a).unwrap();
        assert!(!body.contains("not_applicable"), "{body}");
        let back: Attestation = serde_json::from_str(&body).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn checks_name_the_field() {
        let mut a = sample();
        assert!(a.check().is_ok());
        a.expires = Some("2025-01-01".into());
        assert!(a.check().unwrap_err().starts_with("expires:"));
        let mut a = sample();
        a.not_applicable = true;
        assert!(a.check().unwrap_err().starts_with("not_applicable:"));
        let mut a = sample();
        a.effective.to = "2025-01-01".into();
        assert!(a.check().unwrap_err().starts_with("effective:"));
    }
}
