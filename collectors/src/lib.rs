//! attestd-collectors: the `Collector` trait, the `Evidence` a collector returns, the
//! `HostRoot` every file read goes through, and one module per collector.
//!
//! Invariant: collectors observe, they never judge. Nothing in this crate knows about
//! rules, controls, pass or fail, and nothing here depends on the `attestd` daemon.
//! Collectors never return secrets: no password hashes, private keys or tokens.

pub mod availability;
pub mod backup;
mod collector;
pub mod command;
mod evidence;
mod host_root;
pub mod password_policy;
mod registry;
pub mod text;

pub use collector::{CollectContext, CollectError, Collector};
pub use command::{Command, CommandError, CommandOutput};
pub use evidence::{excerpt_of, sha256_hex, Artifact, Evidence};
pub use host_root::{HostRoot, MAX_FILE_BYTES};
pub use registry::{all_collectors, collector_by_name, known_collector_names};
