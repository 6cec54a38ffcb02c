//! `receipts.json` and the fleet witness key in a host bundle: every receipt the fleet
//! server signed that the bundle's ledger rows hold (`receipt` rows), with the server's
//! public witness key (`fleet-witness.pub.pem`), and the check `verify` makes with them:
//! each receipt's signature verifies with the witness key; a receipt for a head the
//! bundle holds carries that row's chain value (a verdict changed and the chain
//! recomputed contradicts it); a receipt for a head after the bundle's last row means
//! rows were removed from the end; every `receipt` row of ledger.json is listed and
//! every listed receipt is a row of ledger.json.
//!
//! Owns the file's format and that check. It never contacts the server, never trusts
//! a receipt it cannot verify, and never repairs a bundle.

use attestd_ledger::body::Receipt;
use attestd_ledger::{Row, RowKind};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// File name of the receipts in a bundle.
pub const FILE: &str = "receipts.json";
/// The format tag of receipts.json.
pub const FORMAT: &str = "attestd-receipts/1";
/// File name of the server's witness public key (beside the database, and in bundles).
pub const WITNESS_FILE: &str = "fleet-witness.pub.pem";

/// One receipt as the host recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The host ledger row that holds the receipt.
    pub ledger_seq: i64,
    /// When the host recorded it.
    pub recorded_at: String,
    pub receipt: Receipt,
}

/// receipts.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: String,
    /// The witness key file in the bundle (absent when the host never enrolled).
    pub witness_key: Option<String>,
    /// Its fingerprint (`SHA256:` of the DER public key), to compare with the server's.
    pub witness_fingerprint: Option<String>,
    pub receipts: Vec<Entry>,
}

/// Gathers the receipt rows while the bundle streams the ledger.
#[derive(Debug, Default)]
pub struct Collector {
    entries: Vec<Entry>,
}

impl Collector {
    /// Look at one streamed row (anchors and period rows alike).
    pub fn row(&mut self, row: &Row) -> Result<(), String> {
        if row.kind == RowKind::Receipt {
            let receipt: Receipt = row.decode().map_err(|e| e.to_string())?;
            self.entries.push(Entry {
                ledger_seq: row.seq,
                recorded_at: row.recorded_at.clone(),
                receipt,
            });
        }
        Ok(())
    }
}

/// Write receipts.json and copy the witness key into the bundle `dir`, when the host
/// has receipts or is enrolled (a host outside any fleet gets neither file).
pub fn write(dir: &Path, collected: Collector, key_dir: &Path) -> Result<(), String> {
    let witness = key_dir.join(WITNESS_FILE);
    let pem = match std::fs::read_to_string(&witness) {
        Ok(p) => Some(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", witness.display())),
    };
    if pem.is_none() && collected.entries.is_empty() {
        return Ok(());
    }
    let fingerprint = match &pem {
        Some(p) => Some(super::signing::fingerprint(
            &super::signing::parse_public(p).map_err(|e| format!("{}: {e}", witness.display()))?,
        )),
        None => None,
    };
    if let Some(p) = &pem {
        std::fs::write(dir.join(WITNESS_FILE), p)
            .map_err(|e| format!("{}: {e}", dir.join(WITNESS_FILE).display()))?;
    }
    let doc = Document {
        format: FORMAT.into(),
        witness_key: pem.as_ref().map(|_| WITNESS_FILE.to_string()),
        witness_fingerprint: fingerprint,
        receipts: collected.entries,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| format!("{FILE}: {e}"))?;
    bytes.push(b'\n');
    std::fs::write(dir.join(FILE), bytes).map_err(|e| format!("{}: {e}", dir.join(FILE).display()))
}

/// Check a receipt's signature with the witness key.
pub fn signature_ok(receipt: &Receipt, key: &VerifyingKey) -> bool {
    hex::decode(&receipt.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .is_some_and(|sig| key.verify(&receipt.message(), &sig).is_ok())
}

/// The receipts check of `verify`: load receipts.json, look at every ledger.json row,
/// then `finish`.
pub struct Check {
    doc: Option<Document>,
    problems: Vec<String>,
    /// Receipted sequence number -> indices of the receipts naming it.
    want: BTreeMap<i64, Vec<usize>>,
    /// Ledger row of a receipt -> its index.
    by_row: BTreeMap<i64, usize>,
    /// Receipts whose head row was found in ledger.json.
    matched: BTreeSet<usize>,
    /// Receipt rows of ledger.json.
    rows_seen: BTreeSet<i64>,
    /// Every sequence number ledger.json holds (anchors and the period's rows).
    first_period: Option<i64>,
    last_period: Option<i64>,
    signatures_ok: usize,
    fingerprint: Option<String>,
}

impl Check {
    /// Read receipts.json (and the witness key) from a bundle directory; `witness_pin`
    /// is a PEM file or `SHA256:` fingerprint the witness key must be.
    pub fn load(dir: &Path, witness_pin: Option<&str>) -> Check {
        let mut check = Check {
            doc: None,
            problems: Vec::new(),
            want: BTreeMap::new(),
            by_row: BTreeMap::new(),
            matched: BTreeSet::new(),
            rows_seen: BTreeSet::new(),
            first_period: None,
            last_period: None,
            signatures_ok: 0,
            fingerprint: None,
        };
        let doc: Document = match std::fs::read(dir.join(FILE)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return check,
            Err(e) => {
                check.problems.push(format!("{FILE}: {e}"));
                return check;
            }
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(d) => d,
                Err(e) => {
                    check.problems.push(format!(
                        "{FILE} line {}, column {}: {e}",
                        e.line(),
                        e.column()
                    ));
                    return check;
                }
            },
        };
        if doc.format != FORMAT {
            check
                .problems
                .push(format!("{FILE}: format `{}` is not {FORMAT}", doc.format));
        }
        let key = match &doc.witness_key {
            Some(file) if file == WITNESS_FILE => {
                match std::fs::read_to_string(dir.join(file))
                    .map_err(|e| e.to_string())
                    .and_then(|p| super::signing::parse_public(&p))
                {
                    Ok(k) => Some(k),
                    Err(e) => {
                        check.problems.push(format!("{file}: {e}"));
                        None
                    }
                }
            }
            Some(other) => {
                check.problems.push(format!(
                    "{FILE}: witness_key: `{other}` is not {WITNESS_FILE}"
                ));
                None
            }
            None => {
                if !doc.receipts.is_empty() {
                    check.problems.push(format!(
                        "{FILE}: witness_key: missing, so no receipt can be checked"
                    ));
                }
                None
            }
        };
        if let Some(k) = &key {
            let fp = super::signing::fingerprint(k);
            if doc.witness_fingerprint.as_deref() != Some(fp.as_str()) {
                check.problems.push(format!(
                    "{FILE}: witness_fingerprint: {:?} is not the fingerprint {fp} of {WITNESS_FILE}",
                    doc.witness_fingerprint.as_deref().unwrap_or("-")
                ));
            }
            if let Some(pin) = witness_pin {
                match super::verify::pinned_fingerprint("--witness-key", pin) {
                    Ok(w) if w == fp => {}
                    Ok(w) => check.problems.push(format!(
                        "{WITNESS_FILE}: the witness key is {fp}, not the expected {w}: the receipts were signed by another server (or forged)"
                    )),
                    Err(e) => check.problems.push(e),
                }
            }
            check.fingerprint = Some(fp);
        }
        let host = doc.receipts.first().map(|e| e.receipt.host.clone());
        for (i, e) in doc.receipts.iter().enumerate() {
            let r = &e.receipt;
            if Some(&r.host) != host.as_ref() {
                check.problems.push(format!(
                    "{FILE}: receipt {} (ledger row {}) is for host {}, the others for {}",
                    i + 1,
                    e.ledger_seq,
                    r.host,
                    host.as_deref().unwrap_or("-")
                ));
            }
            if let Some(k) = &key {
                if signature_ok(r, k) {
                    check.signatures_ok += 1;
                } else {
                    check.problems.push(format!(
                        "{FILE}: receipt {} (ledger row {}, for row {} received {}): its signature does not verify with the witness key {WITNESS_FILE} (forged or edited)",
                        i + 1, e.ledger_seq, r.seq, r.received_at
                    ));
                }
            }
            if r.seq >= e.ledger_seq {
                check.problems.push(format!(
                    "{FILE}: receipt {} is kept in ledger row {}, but witnesses row {}, which cannot come after it",
                    i + 1,
                    e.ledger_seq,
                    r.seq
                ));
            }
            check.want.entry(r.seq).or_default().push(i);
            if check.by_row.insert(e.ledger_seq, i).is_some() {
                check.problems.push(format!(
                    "{FILE}: ledger row {} is listed twice",
                    e.ledger_seq
                ));
            }
        }
        check.doc = Some(doc);
        check
    }

    /// Look at one ledger.json row (`period`: a row of the period, not an anchor).
    pub fn row(&mut self, row: &Row, period: bool) {
        if period {
            self.first_period.get_or_insert(row.seq);
            self.last_period = Some(row.seq);
        }
        if let Some(idx) = self.want.get(&row.seq) {
            let chain = row.chain_out();
            for &i in idx {
                let Some(doc) = &self.doc else { break };
                let r = &doc.receipts[i].receipt;
                self.matched.insert(i);
                if chain.as_deref() != Some(r.head.as_str()) {
                    self.problems.push(format!(
                        "ledger.json: row {} ({}) ends the chain at {}, but the fleet server witnessed row {} with chain value {} at {} (receipt in ledger row {}): the history was rewritten after the server saw it",
                        row.seq,
                        row.kind,
                        chain.as_deref().unwrap_or("-"),
                        r.seq,
                        r.head,
                        r.received_at,
                        doc.receipts[i].ledger_seq
                    ));
                }
            }
        }
        if row.kind == RowKind::Receipt {
            self.rows_seen.insert(row.seq);
            let stated = self
                .by_row
                .get(&row.seq)
                .and_then(|&i| self.doc.as_ref().map(|d| &d.receipts[i]));
            match (row.decode::<Receipt>(), stated) {
                (Ok(r), Some(e)) if r == e.receipt && row.recorded_at == e.recorded_at => {}
                (Ok(_), Some(_)) => self.problems.push(format!(
                    "{FILE}: the receipt of ledger row {} differs from the row",
                    row.seq
                )),
                (Ok(_), None) if self.doc.is_none() => {}
                (Ok(_), None) => self.problems.push(format!(
                    "ledger.json: row {} is a receipt of the fleet server that {FILE} does not list (removed from {FILE}?)",
                    row.seq
                )),
                (Err(e), _) => self.problems.push(format!("ledger.json: {e}")),
            }
        }
    }

    /// The outcome: problems and a one-line detail.
    pub fn finish(mut self) -> (Vec<String>, String) {
        let Some(doc) = self.doc.take() else {
            if !self.rows_seen.is_empty() {
                self.problems.push(format!(
                    "{FILE}: missing, but ledger.json holds {} receipt row(s) of the fleet server",
                    self.rows_seen.len()
                ));
            }
            let detail = if self.problems.is_empty() {
                "no receipts: the host did not push to a fleet server".to_string()
            } else {
                String::new()
            };
            return (self.problems, detail);
        };
        let mut before = 0usize;
        for (i, e) in doc.receipts.iter().enumerate() {
            let r = &e.receipt;
            if !self.rows_seen.contains(&e.ledger_seq) {
                self.problems.push(format!(
                    "{FILE}: receipt {} is kept in ledger row {}, which ledger.json does not hold (rows removed?)",
                    i + 1,
                    e.ledger_seq
                ));
            }
            if self.matched.contains(&i) {
                continue;
            }
            match (self.first_period, self.last_period) {
                (_, Some(last)) if r.seq > last => self.problems.push(format!(
                    "ledger.json: the bundle ends at row {last}, before row {} that the fleet server witnessed at {} (chain value {}): rows were removed from the end",
                    r.seq, r.received_at, r.head
                )),
                (_, None) => self.problems.push(format!(
                    "ledger.json: holds no period rows, but the fleet server witnessed row {} at {}",
                    r.seq, r.received_at
                )),
                _ => before += 1,
            }
        }
        let detail = format!(
            "{} receipt(s) of the fleet server, {} signature(s) verified with witness key {}; {} witnessed head(s) match the chain{}",
            doc.receipts.len(),
            self.signatures_ok,
            self.fingerprint.as_deref().unwrap_or("-"),
            self.matched.len(),
            if before > 0 {
                format!(", {before} witness rows before the bundle's first row")
            } else {
                String::new()
            }
        );
        (self.problems, detail)
    }
}
