//! What policies take from outside: where extra rule files live, the operator's
//! variable overrides and waivers (with the file and line they were set at), and the
//! plugin collectors rules may name. Built from the config at the call site, so policy
//! code never reads the config itself.

use crate::config::Config;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// An accepted exception to one rule, until it expires.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Waiver {
    pub rule: String,
    pub reason: String,
    pub approver: String,
    pub expires: DateTime<Utc>,
    /// The line of the `[[waiver]]` table in `PolicyInputs::source`.
    #[serde(skip)]
    pub line: usize,
}

/// Everything policies are bound with.
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    /// The file the overrides and waivers come from (for errors and `set_in`).
    pub source: String,
    /// Directories of the operator's own rule files, read after the shipped ones.
    pub policy_dirs: Vec<PathBuf>,
    /// Variable overrides: name -> (value, line).
    pub variables: BTreeMap<String, (serde_json::Value, usize)>,
    pub waivers: Vec<Waiver>,
    /// `exec:NAME` plugins rules may name besides the built-in collectors.
    pub plugins: Vec<String>,
}

impl PolicyInputs {
    /// The inputs a config gives.
    pub fn from_config(config: &Config) -> PolicyInputs {
        PolicyInputs {
            source: config.source.clone(),
            policy_dirs: config.policy_dirs.clone(),
            variables: config.variables.clone(),
            waivers: config
                .waivers
                .iter()
                .map(|w| Waiver {
                    rule: w.rule.clone(),
                    reason: w.reason.clone(),
                    approver: w.approver.clone(),
                    expires: w.expires,
                    line: w.line,
                })
                .collect(),
            plugins: config
                .plugin_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }
}
