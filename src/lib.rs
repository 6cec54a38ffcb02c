//! attestd: the daemon and CLI around the collectors. See ARCHITECTURE.md for the map:
//! collectors observe (crate `attestd-collectors`), `policy` judges, `store` keeps the
//! ledger, `daemon` schedules, `commands` are the CLI.

pub mod alert;
pub mod attest;
pub mod bundle;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod endpoint;
pub mod engine;
pub mod error_text;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod location;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod paths;
pub mod pipeline;
pub mod policy;
pub mod probe;
pub mod report;
pub mod schedule;
pub mod store;
pub mod watch;
pub mod worker;
pub mod worker_binary;
