//! Walking a chain of rows: sequence numbers contiguous, every content hash
//! recomputed, every row carrying the chain value of the one before. One walker for
//! the database's whole chain (`attestd verify`), a bundle's period rows and the fleet
//! server's check of a pushed segment. It holds two hashes, never the rows.

use crate::hash::GENESIS;
use crate::Row;
use serde::Serialize;

/// The first thing wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// A streaming check over rows in sequence order.
#[derive(Debug, Clone)]
pub struct ChainWalk {
    expected_seq: Option<i64>,
    expected_prev: Option<String>,
    rows: u64,
    breaks: Vec<ChainBreak>,
}

impl ChainWalk {
    /// A walk from the start of a ledger: the first row must be 1 and carry GENESIS.
    pub fn from_genesis() -> ChainWalk {
        ChainWalk {
            expected_seq: Some(1),
            expected_prev: Some(hex::encode(GENESIS)),
            rows: 0,
            breaks: Vec::new(),
        }
    }

    /// A walk that continues a chain whose last row was `seq` with chain value `head`
    /// (hex): a pushed segment must continue exactly there.
    pub fn continuing(seq: i64, head: &str) -> ChainWalk {
        ChainWalk {
            expected_seq: Some(seq + 1),
            expected_prev: Some(head.to_string()),
            rows: 0,
            breaks: Vec::new(),
        }
    }

    /// A walk that takes its first row as given (a bundle's period starts mid-chain).
    pub fn from_any() -> ChainWalk {
        ChainWalk {
            expected_seq: None,
            expected_prev: None,
            rows: 0,
            breaks: Vec::new(),
        }
    }

    /// Check the next row.
    pub fn row(&mut self, row: &Row) {
        self.rows += 1;
        let problem = match (&self.expected_seq, &self.expected_prev) {
            (Some(exp), _) if row.seq != *exp => Some(if row.seq > *exp {
                format!(
                    "row {} follows row {}: rows {}..{} are missing (deleted)",
                    row.seq,
                    exp - 1,
                    exp,
                    row.seq - 1
                )
            } else {
                format!("row {} comes where row {exp} should", row.seq)
            }),
            _ if !row.content_ok() => Some(format!(
                "row {} ({}) was edited: its content no longer matches its SHA-256",
                row.seq, row.kind
            )),
            (_, Some(prev)) if *prev != row.prev_sha256 => Some(format!(
                "row {} ({}) does not carry the chain hash of the row before it",
                row.seq, row.kind
            )),
            _ => None,
        };
        if let Some(reason) = problem {
            self.breaks.push(ChainBreak {
                seq: row.seq,
                reason,
            });
        }
        self.expected_seq = Some(row.seq + 1);
        self.expected_prev = row.chain_out();
    }

    /// Rows seen so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The sequence number of the last row seen.
    pub fn last_seq(&self) -> Option<i64> {
        self.expected_seq.filter(|_| self.rows > 0).map(|s| s - 1)
    }

    /// The chain value after the last row (what the next row must carry), hex; GENESIS
    /// for a walk from genesis that saw no row.
    pub fn head(&self) -> Option<&str> {
        self.expected_prev.as_deref()
    }

    /// Every break found, in order.
    pub fn breaks(&self) -> &[ChainBreak] {
        &self.breaks
    }

    /// The first break, if any.
    pub fn first_break(&self) -> Option<&ChainBreak> {
        self.breaks.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowKind;

    fn chain(n: i64) -> Vec<Row> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let row = Row::new(
                    seq,
                    RowKind::Run,
                    "2026-01-01T00:00:00Z",
                    format!("{{\"n\":{seq}}}"),
                    &prev,
                );
                prev = row.chain_out_bytes().unwrap();
                row
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_has_no_break_and_ends_at_its_head() {
        let rows = chain(5);
        let mut walk = ChainWalk::from_genesis();
        rows.iter().for_each(|r| walk.row(r));
        assert!(walk.breaks().is_empty());
        assert_eq!(walk.rows(), 5);
        assert_eq!(walk.last_seq(), Some(5));
        assert_eq!(walk.head(), rows[4].chain_out().as_deref());
    }

    #[test]
    fn edits_deletions_and_recomputed_links_are_named() {
        let mut rows = chain(5);
        rows[1].body = "{\"n\":99}".into();
        rows.remove(3);
        let mut walk = ChainWalk::from_genesis();
        rows.iter().for_each(|r| walk.row(r));
        let reasons: Vec<&str> = walk.breaks().iter().map(|b| b.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "row 2 (run) was edited: its content no longer matches its SHA-256",
                "row 5 follows row 3: rows 4..4 are missing (deleted)",
            ]
        );
        // Recomputing the edited row's hash does not help: the next row's link breaks.
        let mut rows = chain(3);
        rows[1] = Row::new(
            2,
            RowKind::Run,
            "2026-01-01T00:00:00Z",
            "{}".into(),
            &hex::decode(&rows[1].prev_sha256).unwrap(),
        );
        let mut walk = ChainWalk::from_genesis();
        rows.iter().for_each(|r| walk.row(r));
        assert_eq!(walk.first_break().unwrap().seq, 3);
    }

    #[test]
    fn a_segment_must_continue_the_head_it_claims() {
        let rows = chain(4);
        let mut ok = ChainWalk::continuing(2, &rows[1].chain_out().unwrap());
        rows[2..].iter().for_each(|r| ok.row(r));
        assert!(ok.breaks().is_empty());
        let mut forked = ChainWalk::continuing(2, &hex::encode([7u8; 32]));
        rows[2..].iter().for_each(|r| forked.row(r));
        assert_eq!(forked.first_break().unwrap().seq, 3);
    }
}
