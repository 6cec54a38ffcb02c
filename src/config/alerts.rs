//! `[alerts]` in the config file: noise settings, retry timing and the sinks by name,
//! with the checks that need no policies. It never plans, sends or reads a secret.

use super::sinks as sink;
use crate::location::FieldError;
use attestd_ledger::body::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[alerts]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Consecutive failing runs before a rule alerts (flap damping); default 1.
    #[serde(default = "one")]
    pub consecutive_failures: u32,
    /// The same, per severity (`low`, `medium`, `high`, `critical`); overrides the default.
    #[serde(default)]
    pub consecutive_failures_by_severity: BTreeMap<String, u32>,
    /// The same, per rule id; overrides severity and default.
    #[serde(default)]
    pub consecutive_failures_by_rule: BTreeMap<String, u32>,
    /// Remind about a rule that is still failing after this many minutes; 0 = never.
    /// Default 1440 (daily).
    #[serde(default = "daily")]
    pub renotify_minutes: u64,
    /// Also alert when a rule cannot be judged (`error`), not only on `fail`; default true.
    #[serde(default = "yes")]
    pub include_errors: bool,
    /// Seconds before the first retry of a failed delivery; doubles each attempt, with
    /// jitter; default 5.
    #[serde(default = "five")]
    pub retry_initial_seconds: u64,
    /// Longest wait between retries; default 600. Deliveries are retried until they
    /// succeed, unless the receiver answers with a 4xx that cannot succeed.
    #[serde(default = "ten_minutes")]
    pub retry_max_seconds: u64,
    /// Seconds one delivery may take before it counts as failed (and is retried); default 10.
    #[serde(default = "ten")]
    pub timeout_seconds: u64,
    /// The sinks, by name: `[alerts.sinks.NAME]` with `type = "webhook" | "slack" |
    /// "teams" | "pagerduty" | "email"`.
    #[serde(default)]
    pub sinks: BTreeMap<String, sink::SinkConfig>,
}

fn one() -> u32 {
    1
}
fn daily() -> u64 {
    1440
}
fn yes() -> bool {
    true
}
fn five() -> u64 {
    5
}
fn ten() -> u64 {
    10
}
fn ten_minutes() -> u64 {
    600
}

impl Default for AlertsSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl AlertsSection {
    /// Check what can be checked without the policies.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.consecutive_failures == 0 {
            return Err(FieldError::new(
                "alerts.consecutive_failures",
                "must be at least 1",
            ));
        }
        for (sev, k) in &self.consecutive_failures_by_severity {
            if Severity::parse(sev).is_none() {
                return Err(FieldError::new(
                    format!("alerts.consecutive_failures_by_severity.{sev}"),
                    format!(
                        "unknown severity; use {}",
                        Severity::ALL.map(|v| v.as_str()).join(", ")
                    ),
                ));
            }
            if *k == 0 {
                return Err(FieldError::new(
                    format!("alerts.consecutive_failures_by_severity.{sev}"),
                    "must be at least 1",
                ));
            }
        }
        for (rule, k) in &self.consecutive_failures_by_rule {
            if *k == 0 {
                return Err(FieldError::new(
                    format!("alerts.consecutive_failures_by_rule.{rule}"),
                    "must be at least 1",
                ));
            }
        }
        if self.retry_initial_seconds == 0 || self.retry_max_seconds < self.retry_initial_seconds {
            return Err(FieldError::new(
                "alerts.retry_initial_seconds",
                "must be at least 1 and no more than retry_max_seconds",
            ));
        }
        if self.timeout_seconds == 0 {
            return Err(FieldError::new(
                "alerts.timeout_seconds",
                "must be at least 1",
            ));
        }
        for (name, s) in &self.sinks {
            s.validate()
                .map_err(|e| e.within(&format!("alerts.sinks.{name}")))?;
        }
        Ok(())
    }
}
