//! The `Collector` trait and the context a collector runs in.
//!
//! A collector must never decide pass or fail and must never read outside its `HostRoot`.

use crate::{Evidence, HostRoot};
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// Everything a collector may use while it observes one host.
#[derive(Debug, Clone)]
pub struct CollectContext {
    /// The tree the collector reads: `/` on a live host, a fixture tree in tests.
    pub root: HostRoot,
    /// The collector's own settings from the `[collectors.NAME]` table of the config
    /// (without the scheduling keys the daemon owns). `Null` when none are given.
    pub settings: serde_json::Value,
    /// The facts this collector returned on its previous run, when the store has them.
    /// Lets a collector report changes across runs (for example reboots) without
    /// knowing anything about the store.
    pub previous_facts: Option<serde_json::Value>,
    /// Figures the daemon measured on their own schedule and the store summarised for
    /// this collector, handed over by the engine (collectors never read the store).
    /// Today only `availability` gets one: the endpoint probes' summary over the
    /// rolling 30 days (`{"window_days", "probes": [...]}`, see docs/collectors.md).
    /// `None` when nothing was measured.
    pub measurements: Option<serde_json::Value>,
    /// The time the run started; collectors compute ages against it, never against
    /// the wall clock, so that tests can inject time.
    pub now: DateTime<Utc>,
}

impl CollectContext {
    /// A context with no history: no previous facts and no measurements (a first run,
    /// or a test).
    pub fn new(root: HostRoot, settings: serde_json::Value, now: DateTime<Utc>) -> Self {
        CollectContext {
            root,
            settings,
            previous_facts: None,
            measurements: None,
            now,
        }
    }
}

/// Why a collector could not observe its area. Every variant becomes an `error`
/// result for the collector's rules; it is never a pass.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file exists but could not be read (permissions, a directory, too large).
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// A file was read but its content makes no sense for its format.
    #[error("{path}:{line}: {reason}")]
    Malformed {
        path: String,
        line: usize,
        reason: String,
    },
    /// The collector's settings in the config are wrong.
    #[error("invalid settings for collector: {0}")]
    Settings(String),
    /// Anything else that stopped the observation.
    #[error("{0}")]
    Other(String),
}

/// One area of the host to observe.
pub trait Collector: Send + Sync {
    /// The stable name rules refer to, such as `password_policy`.
    fn name(&self) -> &'static str;
    /// Bumped whenever the shape or meaning of the facts changes; stored with evidence.
    fn version(&self) -> &'static str;
    /// Host paths (absolute, as on the host) whose change should re-run this collector.
    /// Directories cover everything below them.
    fn watched_paths(&self, settings: &serde_json::Value) -> Vec<PathBuf>;
    /// The five-field cron schedule used when the config gives none: every 15 minutes
    /// unless the collector says otherwise.
    fn default_schedule(&self) -> &'static str {
        "*/15 * * * *"
    }
    /// Check the collector's settings from the config before anything runs. The default
    /// accepts none, so a misspelt key is reported instead of silently ignored.
    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        match settings {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Object(map) if map.is_empty() => Ok(()),
            serde_json::Value::Object(map) => Err(format!(
                "unknown setting `{}` (collector `{}` takes none besides enabled, schedule and timeout_seconds)",
                map.keys().next().map(String::as_str).unwrap_or(""),
                self.name()
            )),
            other => Err(format!("expected a table, found {other}")),
        }
    }
    /// The endpoint probes this collector's settings ask the daemon to take on their
    /// own interval; their summary over time reaches the collector in
    /// `CollectContext::measurements`. None by default.
    fn probes(&self, _settings: &serde_json::Value) -> Vec<crate::availability::ProbeSpec> {
        Vec::new()
    }
    /// Observe the host and return facts and artifacts.
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError>;
}
