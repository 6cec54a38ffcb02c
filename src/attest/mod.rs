//! Attestations on the host: evidence no collector can observe (training, access
//! reviews, DR drills, ...) signed into the ledger by a person. Owns recording
//! (`record`), reviews (`review`), revisions (`record` with `supersedes`), what is due
//! (`due`), reminders (`remind`), the blob store (`blobs`) and the shipped expectations
//! catalog (`expect`). Time comes from a [`Clock`]; the recorder is the OS user.
//!
//! It never edits or deletes a row (a review or a correction is a new row), never puts
//! file bytes in the ledger, and never stores a private key or password hash.

pub mod blobs;
pub mod due;
pub mod expect;
pub mod remind;

use crate::clock::Clock;
use crate::policy::Catalog;
use crate::store::Store;
use attestd_ledger::body::{
    AttachedFile, Attestation, AttestationKind, AttestationReview, Effective, Recurrence,
    ReviewDecision,
};
use attestd_ledger::{Row, RowKind};
use blobs::BlobStore;
use std::path::PathBuf;

/// What the operator asked to record.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: AttestationKind,
    pub title: String,
    pub controls: Vec<String>,
    pub effective: Effective,
    pub expires: Option<String>,
    pub every: Option<Recurrence>,
    pub performed_by: Option<String>,
    pub owner: Option<String>,
    pub files: Vec<PathBuf>,
    pub not_applicable: bool,
}

/// Records attestations into one store.
pub struct Recorder<'a> {
    pub store: &'a mut Store,
    pub blobs: BlobStore,
    pub clock: &'a dyn Clock,
    /// The OS user recording (see [`os_user`]).
    pub user: String,
}

/// The attestation with this id among `rows`, if any.
pub fn find(rows: &[Row], id: &str) -> Option<(i64, Attestation)> {
    rows.iter()
        .filter(|r| r.kind == RowKind::Attestation)
        .filter_map(|r| r.decode::<Attestation>().ok().map(|a| (r.seq, a)))
        .find(|(_, a)| a.key == id)
}

impl Recorder<'_> {
    /// Record a new attestation (or, with `supersedes`, a revision of one). Controls are
    /// checked against `catalog`; files are stored by content first.
    pub fn record(
        &mut self,
        draft: Draft,
        supersedes: Option<String>,
        catalog: &Catalog,
    ) -> Result<(i64, Attestation), String> {
        let mut controls = Vec::new();
        for c in &draft.controls {
            catalog
                .check_control(c)
                .map_err(|e| format!("--control {c}: {e}"))?;
            controls.push(c.clone());
        }
        controls.sort();
        controls.dedup();
        let mut files: Vec<AttachedFile> = Vec::new();
        for f in &draft.files {
            files.push(self.blobs.put(f)?);
        }
        let now = crate::clock::rfc3339(self.clock.now());
        let mut a = Attestation {
            key: String::new(),
            kind: draft.kind,
            title: draft.title.trim().to_string(),
            controls,
            effective: draft.effective,
            expires: draft.expires,
            every: draft.every,
            performed_by: draft.performed_by,
            owner: draft.owner,
            recorded_by: self.user.clone(),
            files,
            supersedes: supersedes.clone(),
            not_applicable: draft.not_applicable,
        };
        a.check().map_err(|e| format!("--{}", flag_of(&e)))?;
        a.key = a.derive_id(&now);
        let result = self
            .store
            .append_attestation(&now, &a, |rows| {
                let Some(old) = &supersedes else {
                    return Ok(());
                };
                if find(rows, old).is_none() {
                    return Err(format!(
                        "attestation {old}: no such attestation (see `attestd attest list`)"
                    ));
                }
                let later = rows
                    .iter()
                    .filter(|r| r.kind == RowKind::Attestation)
                    .filter_map(|r| r.decode::<Attestation>().ok())
                    .find(|x| x.supersedes.as_deref() == Some(old.as_str()));
                match later {
                    Some(x) => Err(format!(
                        "attestation {old} is already superseded by {}; supersede that one instead",
                        x.key
                    )),
                    None => Ok(()),
                }
            })
            .map_err(|e| e.to_string())??;
        Ok((result, a))
    }

    /// Record a review of attestation `id`.
    pub fn review(
        &mut self,
        id: &str,
        decision: ReviewDecision,
        by: &str,
        reason: &str,
    ) -> Result<(i64, AttestationReview), String> {
        if by.trim().is_empty() {
            return Err("--by: name the approver".into());
        }
        if reason.trim().is_empty() {
            return Err("--reason: say why".into());
        }
        let now = crate::clock::rfc3339(self.clock.now());
        let r = AttestationReview {
            key: id.to_string(),
            decision,
            by: by.trim().to_string(),
            reason: reason.trim().to_string(),
            recorded_by: self.user.clone(),
        };
        let seq = self
            .store
            .append_attestation(&now, &r, |rows| match find(rows, id) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "attestation {id}: no such attestation (see `attestd attest list`)"
                )),
            })
            .map_err(|e| e.to_string())??;
        Ok((seq, r))
    }
}

/// `effective: ...` → `effective ...` as a flag name in errors (`--expires: ...`).
fn flag_of(e: &str) -> String {
    match e.split_once(':') {
        Some((field, rest)) => {
            let flag = match field {
                "effective" => "effective/--covers",
                "not_applicable" => "not-applicable",
                "files" => "file",
                "controls" => "control",
                f => f,
            };
            format!("{flag}:{rest}")
        }
        None => e.to_string(),
    }
}

/// The OS user running this process (by effective uid), or `uid N` when it has no
/// passwd entry.
pub fn os_user() -> String {
    // SAFETY: geteuid has no preconditions; getpwuid_r writes into our buffers only.
    let uid = unsafe { libc::geteuid() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc == 0 && !out.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
    format!("uid {uid}")
}
