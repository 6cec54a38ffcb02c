//! One run, wired once: what the daemon (`attestd run`) and `attestd collect --db` do
//! for every run. Collecting gathers each collector's history from the store (its
//! previous facts, and the probe measurements a collector declares it needs) and runs
//! the engine; storing records the run with the alert hook in the run's transaction
//! and feeds the metrics.
//!
//! It owns the order of those steps, nothing else: it never observes (the engine
//! does), never judges (policy does), never writes SQL (the store does) and never
//! sends an alert (the delivery worker does).

use crate::alert::{AlertHook, AlertPolicy, AlertRecord, AlertsSection, RuleInfo};
use crate::clock::Clock;
use crate::config::Config;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::store::{RunInput, RunOutcome, Store, StoreError};
use attestd_collectors::Collector;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a run hands its collectors from its history: each one's previous facts, and
/// the probe summary for those that receive probe measurements.
pub struct Handover {
    previous: BTreeMap<String, serde_json::Value>,
    summary: Option<serde_json::Value>,
    probed: Vec<String>,
}

impl Handover {
    /// Read it for `names` from `history` (none: a first run with nothing before it),
    /// probe measurements summarised up to `measured_until`.
    pub fn read(
        config: &Config,
        collectors: &[Arc<dyn Collector>],
        history: Option<&Store>,
        names: &[String],
        measured_until: DateTime<Utc>,
    ) -> Handover {
        let previous = names
            .iter()
            .filter_map(|n| {
                let facts = history.and_then(|s| s.previous_facts(n).ok().flatten())?;
                Some((n.clone(), facts))
            })
            .collect();
        let probed: Vec<String> = names
            .iter()
            .filter(|n| crate::engine::wants_probes(config, collectors, n))
            .cloned()
            .collect();
        let summary = match history {
            Some(store) if !probed.is_empty() => {
                let specs = crate::probe::configured(config, collectors);
                (!specs.is_empty())
                    .then(|| crate::probe::measurements(store, &specs, measured_until))
            }
            _ => None,
        };
        Handover {
            previous,
            summary,
            probed,
        }
    }

    /// Collector `name`'s facts of the run before.
    pub fn previous_facts(&self, name: &str) -> Option<serde_json::Value> {
        self.previous.get(name).cloned()
    }

    /// The probe summary, for a collector that receives it.
    pub fn measurements(&self, name: &str) -> Option<serde_json::Value> {
        self.probed
            .iter()
            .any(|n| n == name)
            .then(|| self.summary.clone())
            .flatten()
    }
}

/// Collect and judge `names` for `trigger`. `history` is the store the run's history
/// comes from (none: a first run with nothing before it); probe measurements are
/// summarised up to `measured_until`.
pub async fn collect(
    engine: &Engine,
    history: Option<&Store>,
    names: &[String],
    trigger: &str,
    clock: &dyn Clock,
    measured_until: DateTime<Utc>,
) -> RunInput {
    let handover = Handover::read(
        &engine.config,
        engine.collectors(),
        history,
        names,
        measured_until,
    );
    collect_handed(engine, &handover, names, trigger, clock).await
}

/// `collect` with what the run hands its collectors already read.
pub async fn collect_handed(
    engine: &Engine,
    handover: &Handover,
    names: &[String],
    trigger: &str,
    clock: &dyn Clock,
) -> RunInput {
    engine
        .run_with(
            names,
            trigger,
            &|n| handover.previous_facts(n),
            &|n| handover.measurements(n),
            clock,
        )
        .await
}

/// The alert policy for an `[alerts]` section and the loaded rules (None when no sink
/// is configured).
pub fn alert_policy(
    section: &AlertsSection,
    policies: &PolicySet,
    host: &str,
) -> Option<AlertPolicy> {
    let rules = policies
        .rules
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                RuleInfo {
                    title: r.title.clone(),
                    severity: r.severity.as_str().to_string(),
                    controls: r.controls.clone(),
                    remediation: r.remediation.trim().to_string(),
                },
            )
        })
        .collect();
    AlertPolicy::new(section, rules, host)
}

/// What storing a run produced.
#[derive(Debug)]
pub struct Stored {
    pub outcome: RunOutcome,
    /// The alert the run raised, if any (queued in the same transaction).
    pub alert: Option<AlertRecord>,
}

/// Store a finished run in one transaction with the alerts it raises, then count it
/// in the metrics (when the daemon keeps any).
pub fn store(
    store: &mut Store,
    run: &RunInput,
    alerts: Option<&AlertPolicy>,
    metrics: Option<&Metrics>,
) -> Result<Stored, StoreError> {
    let mut hook = AlertHook::new(alerts);
    let result = store.record_run(run, &mut hook);
    if let Some(m) = metrics {
        match &result {
            Ok(outcome) => m.record_run(run, Ok(outcome.drift.len()), store),
            Err(e) => m.record_run(run, Err(&e.to_string()), store),
        }
    }
    Ok(Stored {
        outcome: result?,
        alert: hook.raised,
    })
}
