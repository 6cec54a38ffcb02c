//! `oscal/`: the period in NIST OSCAL, as documents a GRC tool can follow from one to
//! the next: one catalog per framework the bundle reports on (`catalog-FW.json`, our
//! own paraphrases from `policies/frameworks/`, never standard text), the assessment
//! plan (`assessment-plan.json`: the controls and objectives reviewed, the host as
//! the subject, attestd as the assessment tool) and the assessment results
//! (`assessment-results.json`, importing the plan). Owns the ids the documents share
//! (control and objective ids, UUID v5 names) so that every reference resolves.
//! Written from the summary and the rows only, so `verify` recomputes every file;
//! never invents a result the summary does not hold.

pub mod catalog;
pub mod failing;
pub mod plan;
pub mod results;

use super::evidence::EvidenceEntry;
use crate::policy::Catalog;
use attestd_ledger::summary::{Computed, Parameters};
pub use failing::Failing;
use std::io::{BufWriter, Write};
use std::path::Path;
use uuid::Uuid;

/// The OSCAL version and the control and objective ids, shared with the fleet bundle.
pub use attestd_ledger::oscal::{control_token, objective_id, OSCAL_VERSION};

/// The assessment results, relative to the bundle.
pub const RESULTS_FILE: &str = "oscal/assessment-results.json";
/// The assessment plan, relative to the bundle.
pub const PLAN_FILE: &str = "oscal/assessment-plan.json";

/// Everything the OSCAL documents are made from.
pub struct Context<'a> {
    pub params: &'a Parameters,
    pub computed: &'a Computed,
    pub evidence: &'a [EvidenceEntry],
    pub failing: &'a Failing,
    /// Host and period: the UUIDs derive from it.
    pub bundle_id: &'a str,
    pub generated_at: &'a str,
    pub catalog: &'a Catalog,
    pub hostname: &'a str,
}

/// The UUIDs the documents share: derived (v5) from the bundle id, so the same
/// ledger gives the same documents.
pub struct Ids {
    ns: Uuid,
}

impl Ids {
    pub fn new(bundle_id: &str) -> Ids {
        Ids {
            ns: Uuid::new_v5(
                &Uuid::NAMESPACE_URL,
                format!("attestd-bundle:{bundle_id}").as_bytes(),
            ),
        }
    }

    pub fn of(&self, name: &str) -> String {
        Uuid::new_v5(&self.ns, name.as_bytes()).to_string()
    }

    /// The host, the subject of every test (a component of the plan).
    pub fn host(&self) -> String {
        self.of("component:host")
    }

    /// attestd itself, the tool every observation comes from (an assessment asset
    /// of the plan).
    pub fn tool(&self) -> String {
        self.of("component:attestd")
    }
}

/// The catalog file of a framework, relative to `oscal/`.
pub fn catalog_file(framework: &str) -> String {
    format!("catalog-{framework}.json")
}

/// A writer that only hashes.
struct Hasher(sha2::Sha256);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The small documents (catalogs, then the plan) as (path under the bundle, bytes).
fn small_documents(cx: &Context) -> Vec<(String, Vec<u8>)> {
    let catalogs: Vec<(String, Vec<u8>)> = catalog::frameworks(cx)
        .into_iter()
        .map(|fw| {
            let mut bytes =
                serde_json::to_vec_pretty(&catalog::document(cx, &fw)).expect("JSON of a catalog");
            bytes.push(b'\n');
            (fw, bytes)
        })
        .collect();
    let mut plan = serde_json::to_vec_pretty(&plan::document(cx, &catalogs)).expect("JSON");
    plan.push(b'\n');
    let mut out: Vec<(String, Vec<u8>)> = catalogs
        .into_iter()
        .map(|(fw, b)| (format!("oscal/{}", catalog_file(&fw)), b))
        .collect();
    out.push((PLAN_FILE.to_string(), plan));
    out
}

/// Write the OSCAL files of a bundle under `oscal/`.
pub fn write_all(bundle: &Path, cx: &Context) -> std::io::Result<()> {
    std::fs::create_dir_all(bundle.join("oscal"))?;
    for (file, bytes) in small_documents(cx) {
        std::fs::write(bundle.join(file), bytes)?;
    }
    let mut w = BufWriter::new(std::fs::File::create(bundle.join(RESULTS_FILE))?);
    results::write_to(&mut w, cx)?;
    w.flush()
}

/// Each OSCAL file `write_all` writes and the SHA-256 of its bytes, computed
/// without writing (for `verify`).
pub fn documents(out: &mut Vec<(String, String)>, cx: &Context) -> std::io::Result<()> {
    for (file, bytes) in small_documents(cx) {
        out.push((
            file,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        ));
    }
    let mut h = Hasher(sha2::Sha256::default());
    results::write_to(&mut h, cx)?;
    out.push((
        RESULTS_FILE.to_string(),
        hex::encode(sha2::Digest::finalize(h.0)),
    ));
    Ok(())
}
