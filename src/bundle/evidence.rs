//! `evidence/`: the raw evidence behind the period's verdicts, one JSON line per
//! evidence record in `evidence/<collector>.jsonl` (facts and artifacts as collected,
//! with the evidence SHA-256 and the ledger row it is stored in), and point-in-time
//! snapshots of sampled days in `evidence/samples/DATE.json`. Never changes what was
//! collected.

use attestd_ledger::summary::Sample;
use attestd_ledger::{Row, RowKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One evidence record, as listed for OSCAL observations.
#[derive(Debug, Clone)]
pub struct EvidenceEntry {
    pub seq: i64,
    pub sha256: String,
    pub collector: String,
    pub collected_at: String,
    /// The file it is in, relative to the bundle.
    pub file: String,
}

/// One line of `evidence/<collector>.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EvidenceLine {
    /// The ledger row that stores it.
    pub seq: i64,
    /// The row body: key (the evidence SHA-256), collector, collector_version,
    /// collected_at, facts, artifacts.
    pub evidence: serde_json::Value,
}

/// File name of a collector's evidence (`exec:NAME` becomes `exec_NAME`).
pub fn file_name(collector: &str) -> String {
    let safe: String = collector
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("evidence/{safe}.jsonl")
}

/// Streams evidence rows into per-collector files.
pub struct Writer {
    dir: PathBuf,
    files: BTreeMap<String, BufWriter<std::fs::File>>,
    pub entries: Vec<EvidenceEntry>,
}

#[derive(Deserialize)]
struct Head {
    key: String,
    collector: String,
    collected_at: String,
}

impl Writer {
    pub fn new(bundle: &Path) -> std::io::Result<Writer> {
        std::fs::create_dir_all(bundle.join("evidence"))?;
        Ok(Writer {
            dir: bundle.to_path_buf(),
            files: BTreeMap::new(),
            entries: Vec::new(),
        })
    }

    pub fn row(&mut self, row: &Row) -> Result<(), String> {
        if row.kind != RowKind::Evidence {
            return Ok(());
        }
        let head: Head = serde_json::from_str(&row.body)
            .map_err(|e| format!("evidence row {}: {e}", row.seq))?;
        let file = file_name(&head.collector);
        if !self.files.contains_key(&file) {
            let f =
                std::fs::File::create(self.dir.join(&file)).map_err(|e| format!("{file}: {e}"))?;
            self.files.insert(file.clone(), BufWriter::new(f));
        }
        let out = self.files.get_mut(&file).expect("just inserted");
        // The body is written as stored, so the line's bytes hash like the ledger's.
        writeln!(out, "{{\"seq\":{},\"evidence\":{}}}", row.seq, row.body)
            .map_err(|e| format!("{file}: {e}"))?;
        self.entries.push(EvidenceEntry {
            seq: row.seq,
            sha256: head.key,
            collector: head.collector,
            collected_at: head.collected_at,
            file,
        });
        Ok(())
    }

    /// The entry an evidence row gives (what `row` lists, without writing).
    pub fn entry(row: &Row) -> Option<EvidenceEntry> {
        if row.kind != RowKind::Evidence {
            return None;
        }
        let head: Head = serde_json::from_str(&row.body).ok()?;
        Some(EvidenceEntry {
            seq: row.seq,
            file: file_name(&head.collector),
            sha256: head.key,
            collector: head.collector,
            collected_at: head.collected_at,
        })
    }

    pub fn finish(self) -> std::io::Result<Vec<EvidenceEntry>> {
        for (_, mut f) in self.files {
            f.flush()?;
        }
        Ok(self.entries)
    }
}

/// Write `evidence/samples/DATE.json` for each sampled day.
pub fn write_samples(bundle: &Path, samples: &[Sample]) -> std::io::Result<()> {
    if samples.is_empty() {
        return Ok(());
    }
    let dir = bundle.join("evidence/samples");
    std::fs::create_dir_all(&dir)?;
    for s in samples {
        let f = std::fs::File::create(dir.join(format!("{}.json", s.date)))?;
        let mut w = BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, s)?;
        writeln!(w)?;
        w.flush()?;
    }
    Ok(())
}
