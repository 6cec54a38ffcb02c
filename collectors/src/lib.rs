//! attestd-collectors: the `Collector` trait, the `Evidence` a collector returns, the
//! `HostRoot` every file read goes through, and one module per collector.
//!
//! Invariant: collectors observe, they never judge. Nothing in this crate knows about
//! rules, controls, pass or fail, and nothing here depends on the `attestd` daemon.
//! Collectors never return secrets: no password hashes, private keys or tokens.

pub mod accounts;
pub mod audit_logging;
pub mod availability;
pub mod backup;
pub mod certificates;
mod collector;
pub mod command;
pub mod disk_encryption;
pub mod dpkg;
mod evidence;
pub mod exec_plugin;
pub mod file_permissions;
pub mod firewall;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
mod host_root;
mod login_trail;
pub mod malware;
pub mod password_policy;
pub mod patching;
mod probe;
mod registry;
pub mod session_timeout;
pub mod ssh;
#[cfg(test)]
mod test_support;
pub mod time_sync;
pub mod tls;

pub use collector::{CollectContext, CollectError, Collector};
pub use command::{Command, CommandError, CommandOutput};
pub use evidence::{excerpt_of, sha256_hex, Artifact, Evidence};
pub use exec_plugin::ExecPlugin;
pub use host_root::{HostRoot, Sensitive, MAX_FILE_BYTES, RUN_BYTE_BUDGET};
pub use registry::{all_collectors, collector_by_name, known_collector_names, with_plugins};

/// Host paths from string literals, for `Collector::watched_paths`.
pub fn host_paths(paths: &[&str]) -> Vec<std::path::PathBuf> {
    paths.iter().map(std::path::PathBuf::from).collect()
}
#[cfg(test)]
mod bounds_tests;
