//! `ledger.json`: the rows that cover the period, exactly as stored, so anyone can
//! re-walk the chain: the anchors (earlier rows the period refers to), then the
//! period's contiguous rows, then the chain value after the last of them and the
//! database's head when the bundle was made. Owns writing that file in a stream and
//! reading it back in a stream (a year of rows never sits in memory). It never
//! judges what the rows say.

use attestd_ledger::Row;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;

/// The format tag of ledger.json.
pub const FORMAT: &str = "attestd-ledger/1";

/// The database's chain when the bundle was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseHead {
    pub rows: u64,
    pub chain_sha256: String,
    /// The first broken row, if the database's chain was already broken.
    pub first_break: Option<String>,
}

/// Everything in ledger.json but the rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub anchor_seqs: Vec<i64>,
    /// Chain value after the last period row (what the next row carries).
    pub period_head: Option<String>,
    pub database_head: Option<DatabaseHead>,
}

/// Streams rows into ledger.json.
pub struct Writer<W: Write> {
    out: W,
    section_rows: usize,
    last_chain: Option<String>,
    in_rows: bool,
}

impl<W: Write> Writer<W> {
    pub fn new(
        mut out: W,
        first_seq: Option<i64>,
        last_seq: Option<i64>,
        anchors: &[i64],
    ) -> std::io::Result<Self> {
        write!(
            out,
            "{{\"format\":\"{FORMAT}\",\"first_seq\":{},\"last_seq\":{},\"anchor_seqs\":{},\"anchors\":[",
            serde_json::to_string(&first_seq)?,
            serde_json::to_string(&last_seq)?,
            serde_json::to_string(anchors)?
        )?;
        Ok(Writer {
            out,
            section_rows: 0,
            last_chain: None,
            in_rows: false,
        })
    }

    /// Add a row; `in_period` switches from anchors to the period's rows.
    pub fn row(&mut self, row: &Row, in_period: bool) -> std::io::Result<()> {
        if in_period && !self.in_rows {
            write!(self.out, "\n],\"rows\":[")?;
            self.in_rows = true;
            self.section_rows = 0;
        }
        if self.section_rows > 0 {
            write!(self.out, ",")?;
        }
        writeln!(self.out)?;
        serde_json::to_writer(&mut self.out, row)?;
        self.section_rows += 1;
        if in_period {
            self.last_chain = row.chain_out();
        }
        Ok(())
    }

    /// Close the arrays and write the heads.
    pub fn finish(mut self, database_head: &DatabaseHead) -> std::io::Result<W> {
        if !self.in_rows {
            write!(self.out, "\n],\"rows\":[")?;
        }
        write!(
            self.out,
            "\n],\"period_head\":{},\"database_head\":{}}}\n",
            serde_json::to_string(&self.last_chain)?,
            serde_json::to_string(database_head)?
        )?;
        Ok(self.out)
    }
}

/// Which array a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Anchor,
    Period,
}

struct RowsSeed<'f> {
    section: Section,
    f: &'f mut dyn FnMut(Section, Row),
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ledger rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element::<Row>()? {
            (self.f)(self.section, row);
        }
        Ok(())
    }
}

struct FileVisitor<'f> {
    f: &'f mut dyn FnMut(Section, Row),
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = serde_json::Map<String, serde_json::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the ledger.json object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "anchors" => map.next_value_seed(RowsSeed {
                    section: Section::Anchor,
                    f: self.f,
                })?,
                "rows" => map.next_value_seed(RowsSeed {
                    section: Section::Period,
                    f: self.f,
                })?,
                _ => {
                    let v: serde_json::Value = map.next_value()?;
                    header.insert(key, v);
                }
            }
        }
        Ok(header)
    }
}

/// Read ledger.json, calling `f` for each row in file order (anchors first).
pub fn read(path: &std::path::Path, f: &mut dyn FnMut(Section, Row)) -> Result<Header, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
    let map = serde::Deserializer::deserialize_map(&mut de, FileVisitor { f })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let header: Header = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| format!("{}: header: {e}", path.display()))?;
    if header.format != FORMAT {
        return Err(format!(
            "{}: format `{}` is not {FORMAT}",
            path.display(),
            header.format
        ));
    }
    Ok(header)
}

/// Re-walks the period's rows: sequence numbers contiguous, every content hash
/// recomputed, every row carrying the chain value of the one before.
#[derive(Default)]
pub struct ChainCheck {
    expected_seq: Option<i64>,
    chain: Option<String>,
    pub rows: u64,
    pub problems: Vec<String>,
}

impl ChainCheck {
    pub fn anchor(&mut self, row: &Row) {
        if !row.content_ok() {
            self.problems.push(format!(
                "ledger.json: anchor row {} ({}) was edited: its content no longer matches its SHA-256",
                row.seq, row.kind
            ));
        }
    }

    pub fn row(&mut self, row: &Row) {
        self.rows += 1;
        if let Some(exp) = self.expected_seq {
            if row.seq != exp {
                self.problems.push(format!(
                    "ledger.json: row {} follows row {}: rows {}..{} are missing (deleted)",
                    row.seq,
                    exp - 1,
                    exp,
                    row.seq - 1
                ));
            } else if self.chain.as_deref() != Some(row.prev_sha256.as_str()) {
                self.problems.push(format!(
                    "ledger.json: row {} ({}) does not carry the chain hash of the row before it",
                    row.seq, row.kind
                ));
            }
        }
        if !row.content_ok() {
            self.problems.push(format!(
                "ledger.json: row {} ({}) was edited: its content no longer matches its SHA-256",
                row.seq, row.kind
            ));
        }
        self.expected_seq = Some(row.seq + 1);
        self.chain = row.chain_out();
    }

    /// Compare the end of the walk with the header.
    pub fn finish(&mut self, header: &Header, first_seen: Option<i64>) {
        if first_seen != header.first_seq {
            self.problems.push(format!(
                "ledger.json: the period's first row is {:?}, the header says {:?}",
                first_seen, header.first_seq
            ));
        }
        let last = self.expected_seq.map(|s| s - 1);
        if last != header.last_seq {
            self.problems.push(format!(
                "ledger.json: the period's last row is {:?}, the header says {:?} (rows removed at the end?)",
                last, header.last_seq
            ));
        }
        if self.chain != header.period_head {
            self.problems.push(format!(
                "ledger.json: re-walking the rows ends at chain hash {}, the header says {}",
                self.chain.as_deref().unwrap_or("-"),
                header.period_head.as_deref().unwrap_or("-")
            ));
        }
        if let Some(db) = &header.database_head {
            if let Some(b) = &db.first_break {
                self.problems.push(format!(
                    "the database's chain was already broken when the bundle was made: {b}"
                ));
            }
            if header.last_seq.map(|s| s as u64) == Some(db.rows)
                && header.period_head.as_deref() != Some(db.chain_sha256.as_str())
            {
                self.problems.push(
                    "ledger.json: the period ends at the database head, but the chain hashes differ"
                        .into(),
                );
            }
        }
    }
}
