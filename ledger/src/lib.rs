//! attestd's ledger, independent of where it is stored.
//!
//! A ledger is a sequence of rows. Each row has a sequence number, a [`RowKind`], the
//! time it was recorded, and a body: the canonical JSON of one typed record
//! ([`body`]). Each row carries the SHA-256 of its content and the chain hash of the
//! row before it ([`hash`]), so editing, removing or reordering history shows when the
//! chain is walked again ([`chain`]). The [`fold`]s turn a sequence of rows into state:
//! the state at an instant, the delivery of alerts, the decoded inputs of a period.
//!
//! The host's SQLite store, the bundle verifier and the fleet server's PostgreSQL store
//! all read and write rows through this crate, so they agree on every byte.
//!
//! Architecture invariant: this crate does no I/O and knows no database: no SQL, no
//! files, no clock, no network (a period's schedules are evaluated in a time zone the
//! caller passes). It depends on nothing of attestd but itself. A row kind
//! is spelt as a string only in [`kind`].

pub mod body;
pub mod canonical;
pub mod chain;
pub mod controls;
pub mod cron;
pub mod fleet;
pub mod fold;
pub mod hash;
pub mod kind;
pub mod org;
pub mod oscal;
pub mod row;
pub mod sample;
pub mod summary;

pub use body::Body;
pub use canonical::canonical_json;
pub use chain::{ChainBreak, ChainWalk};
pub use hash::{chain_hash, content_hash, GENESIS};
pub use kind::RowKind;
pub use row::{DecodeError, Row};
