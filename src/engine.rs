//! The engine: runs collectors (built-ins of an isolated engine together in one worker
//! process, `crate::worker`; others each in a blocking task; each under its timeout,
//! with panics caught), then judges their evidence with the policies. One collector's
//! failure becomes `error` verdicts for its rules only; the others carry on.
//! It never writes to the store; the caller decides whether to keep the run.

use crate::clock::{rfc3339, Clock};
use crate::config::Config;
use crate::policy::{evaluate_collector, PolicySet};
use crate::store::{
    CollectorRun, PolicyCollector, PolicyRule, PolicySnapshot, PolicyVariable, PolicyWaiver,
    RuleMeta, RunInput,
};
use attestd_collectors::{CollectContext, Collector, Evidence, HostRoot};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::worker_binary::worker_exe;

/// The collectors an engine built by `Engine::new` knows: the built-ins and the
/// config's `exec:NAME` plugins.
pub fn collectors_of(config: &Config) -> Vec<Arc<dyn Collector>> {
    attestd_collectors::with_plugins(config.plugins())
        .into_iter()
        .map(Arc::from)
        .collect()
}

/// Does collector `name` (one of `collectors`) receive probe measurements?
pub fn wants_probes(config: &Config, collectors: &[Arc<dyn Collector>], name: &str) -> bool {
    collectors.iter().any(|c| {
        c.name() == name
            && config
                .collectors
                .get(name)
                .is_some_and(|cfg| cfg.enabled && !c.probes(&cfg.settings).is_empty())
    })
}

/// Collector `name`'s context in a run started at `started`: its settings, what the
/// run hands it, and a fresh byte budget (`HostRoot::for_collector_run`).
fn collect_context(
    config: &Config,
    root: &HostRoot,
    name: &str,
    previous_facts: &dyn Fn(&str) -> Option<serde_json::Value>,
    measurements: &dyn Fn(&str) -> Option<serde_json::Value>,
    started: DateTime<Utc>,
) -> CollectContext {
    CollectContext {
        root: root.for_collector_run(),
        settings: config
            .collectors
            .get(name)
            .map(|c| c.settings.clone())
            .unwrap_or_default(),
        previous_facts: previous_facts(name),
        measurements: measurements(name),
        now: started,
    }
}

/// What an isolated engine's run started at `started` sends its worker for `names`:
/// the built-in collectors among them, in order, each with its timeout (plugins run
/// in this process). `attestd collect` starts a worker with these before it loads the
/// policies (`crate::worker::Prestarted`); the run builds the same and uses that worker
/// only when they are equal.
pub fn worker_jobs(
    config: &Config,
    root: &HostRoot,
    names: &[String],
    previous_facts: &dyn Fn(&str) -> Option<serde_json::Value>,
    measurements: &dyn Fn(&str) -> Option<serde_json::Value>,
    started: DateTime<Utc>,
) -> Vec<crate::worker::Job> {
    names
        .iter()
        .filter(|name| attestd_collectors::collector_by_name(name).is_some())
        .map(|name| {
            let ctx = collect_context(config, root, name, previous_facts, measurements, started);
            crate::worker::Job {
                request: crate::worker::Request::new(name, &ctx),
                timeout: collector_timeout(config, name),
            }
        })
        .collect()
}

/// A collector's timeout: its config's, else 30 s.
fn collector_timeout(config: &Config, name: &str) -> Duration {
    config
        .collectors
        .get(name)
        .map(|c| c.timeout)
        .unwrap_or(Duration::from_secs(30))
}

/// What runs collectors and judges them.
pub struct Engine {
    pub config: Arc<Config>,
    pub policies: Arc<PolicySet>,
    pub root: HostRoot,
    collectors: Vec<Arc<dyn Collector>>,
    /// The parameters in force (rules, variables, schedules, collector versions),
    /// recorded in the ledger when they change: built on first use, since a run that
    /// is only printed (`collect` without `--db`) never needs it.
    policy: std::sync::OnceLock<PolicySnapshot>,
    /// Whether runs carry `policy` (`RunInput::policy`) for the store to record.
    records_policy: bool,
    /// When set, built-in collectors run in one worker process per run started from
    /// this binary (`crate::worker`); otherwise on a blocking thread of this process (library use
    /// and tests with collectors of their own).
    worker: Option<(std::path::PathBuf, crate::worker::Limits)>,
    /// A worker started before the policies were loaded, for the first run's
    /// collectors (`Engine::with_prestarted`, used by `attestd collect`).
    prestarted: std::sync::Mutex<Option<crate::worker::Prestarted>>,
}

impl Engine {
    /// An engine over the built-in collectors and the config's `exec:NAME` plugins.
    pub fn new(config: Arc<Config>, policies: Arc<PolicySet>, root: HostRoot) -> Engine {
        let collectors = collectors_of(&config);
        Engine::with_collectors(config, policies, root, collectors)
    }

    /// An engine over a given set of collectors (tests add misbehaving ones).
    pub fn with_collectors(
        config: Arc<Config>,
        policies: Arc<PolicySet>,
        root: HostRoot,
        collectors: Vec<Arc<dyn Collector>>,
    ) -> Engine {
        Engine {
            config,
            policies,
            root,
            collectors,
            policy: std::sync::OnceLock::new(),
            records_policy: true,
            worker: None,
            prestarted: std::sync::Mutex::new(None),
        }
    }

    /// This engine with its built-in collectors in workers (`worker_exe`), under the
    /// default limits. When the binary's path cannot be found (an odd
    /// `/proc`), collectors run in this process as before and a warning says so.
    pub fn isolated(self) -> Engine {
        self.isolated_from(worker_exe())
    }

    /// `isolated` with the binary's path already looked up (`worker_exe`): none keeps
    /// collectors in this process.
    pub fn isolated_from(self, exe: Option<std::path::PathBuf>) -> Engine {
        match exe {
            Some(exe) => self.with_worker(exe, crate::worker::Limits::default()),
            None => self,
        }
    }

    /// Run built-in collectors in worker processes started from `exe` (attestd-worker,
    /// or the attestd binary) under `limits`.
    pub fn with_worker(mut self, exe: std::path::PathBuf, limits: crate::worker::Limits) -> Engine {
        self.worker = Some((exe, limits));
        self
    }

    /// Use `worker` (started by `crate::worker::Prestarted::start` with the run's
    /// `worker_jobs`) for the next run's first round instead of starting one then; the
    /// run takes its start time from it.
    pub fn with_prestarted(self, worker: Option<crate::worker::Prestarted>) -> Engine {
        *self
            .prestarted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = worker;
        self
    }

    /// This engine for runs that are printed and never stored: they carry no policy
    /// snapshot (`RunInput::policy` is `None`), which is then never built.
    pub fn unrecorded(mut self) -> Engine {
        self.records_policy = false;
        self
    }

    /// The parameters in force, as the ledger's `policy` row records them.
    pub fn policy_snapshot(&self) -> &PolicySnapshot {
        self.policy
            .get_or_init(|| policy_snapshot(&self.config, &self.policies, &self.collectors))
    }

    /// The collectors this engine knows.
    pub fn collectors(&self) -> &[Arc<dyn Collector>] {
        &self.collectors
    }

    /// The endpoint probes the enabled collectors ask for.
    pub fn probe_specs(&self) -> Vec<attestd_collectors::availability::ProbeSpec> {
        crate::probe::configured(&self.config, &self.collectors)
    }

    /// Does collector `name` receive probe measurements?
    pub fn wants_probes(&self, name: &str) -> bool {
        wants_probes(&self.config, &self.collectors, name)
    }

    /// Run the named collectors concurrently and judge them.
    pub async fn run(
        &self,
        names: &[String],
        trigger: &str,
        previous_facts: &dyn Fn(&str) -> Option<serde_json::Value>,
        clock: &dyn Clock,
    ) -> RunInput {
        self.run_with(names, trigger, previous_facts, &|_| None, clock)
            .await
    }

    /// `run`, also handing each collector what the store summarised of the daemon's
    /// own measurements for it (`CollectContext::measurements`; today the availability
    /// probes). The caller computes them; the engine never reads the store.
    pub async fn run_with(
        &self,
        names: &[String],
        trigger: &str,
        previous_facts: &dyn Fn(&str) -> Option<serde_json::Value>,
        measurements: &dyn Fn(&str) -> Option<serde_json::Value>,
        clock: &dyn Clock,
    ) -> RunInput {
        // A run whose worker was started beforehand starts when that worker was
        // handed its requests (which carry the time).
        let started = self
            .prestarted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(crate::worker::Prestarted::now)
            .unwrap_or_else(|| clock.now());
        // Built-in collectors of an isolated engine go to one worker process together
        // (`crate::worker::observe_all`); the others run on blocking threads here.
        let mut slots = Vec::new();
        let mut jobs = Vec::new();
        for name in names {
            let Some(collector) = self.collectors.iter().find(|c| c.name() == name).cloned() else {
                continue;
            };
            let timeout = collector_timeout(&self.config, name);
            let ctx = collect_context(
                &self.config,
                &self.root,
                name,
                previous_facts,
                measurements,
                started,
            );
            let version = collector.version().to_string();
            if self.worker.is_some() && attestd_collectors::collector_by_name(name).is_some() {
                let request = crate::worker::Request::new(name, &ctx);
                slots.push(Slot::Worker(name.clone(), version, jobs.len()));
                jobs.push(crate::worker::Job { request, timeout });
            } else {
                slots.push(Slot::Task(tokio::spawn(observe(collector, ctx, timeout))));
            }
        }
        let mut from_worker: Vec<Option<crate::worker::Settled>> = match &self.worker {
            Some((exe, limits)) if !jobs.is_empty() => {
                let prestarted = self
                    .prestarted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                let observed = crate::worker::observe_all(exe, jobs, *limits, prestarted).await;
                tracing::debug!(
                    workers = observed.workers_started,
                    prestarted = observed.used_prestarted,
                    "collectors ran in worker processes"
                );
                observed.results.into_iter().map(Some).collect()
            }
            _ => Vec::new(),
        };
        let mut collectors = Vec::new();
        for slot in slots {
            let (collector, version, outcome, duration_ms) = match slot {
                Slot::Task(task) => task.await.expect("observe never panics"),
                Slot::Worker(name, version, i) => {
                    let (outcome, took) = from_worker[i].take().expect("one result per job");
                    if let Err(reason) = &outcome {
                        tracing::warn!(collector = %name, reason = %reason, "collector could not observe");
                    }
                    (name, version, outcome, took.as_millis() as u64)
                }
            };
            let now = clock.now();
            let verdicts = evaluate_collector(
                &self.policies,
                &collector,
                outcome.as_ref().map_err(String::as_str),
                &self.policies.waivers,
                now,
            );
            collectors.push(CollectorRun {
                collector,
                version,
                outcome,
                duration_ms,
                verdicts,
            });
        }
        let rule_meta: BTreeMap<String, RuleMeta> = self
            .policies
            .rules
            .iter()
            .map(|r| {
                (
                    r.id.clone(),
                    RuleMeta {
                        controls: r.controls.clone(),
                        severity: r.severity.as_str().to_string(),
                    },
                )
            })
            .collect();
        RunInput {
            run_id: uuid::Uuid::now_v7().to_string(),
            started_at: rfc3339(started),
            finished_at: rfc3339(clock.now()),
            trigger: trigger.to_string(),
            collectors,
            rule_meta,
            policy: self.records_policy.then(|| self.policy_snapshot().clone()),
        }
    }
}

/// A collector of a run, on its way: in this process, or job `usize` of the worker.
enum Slot {
    Task(tokio::task::JoinHandle<(String, String, Result<Evidence, String>, u64)>),
    Worker(String, String, usize),
}

/// Run one collector on a blocking thread under a timeout; a panic or a hang becomes an
/// error string. A hung thread cannot be killed; it is left behind and reported.
async fn observe(
    collector: Arc<dyn Collector>,
    ctx: CollectContext,
    timeout: Duration,
) -> (String, String, Result<Evidence, String>, u64) {
    let name = collector.name().to_string();
    let version = collector.version().to_string();
    let start = Instant::now();
    let worker = {
        let collector = collector.clone();
        tokio::task::spawn_blocking(move || collector.collect(&ctx))
    };
    let outcome = match tokio::time::timeout(timeout, worker).await {
        Ok(Ok(Ok(evidence))) => Ok(evidence),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(join)) if join.is_panic() => Err(format!(
            "collector panicked: {} (this is a bug in attestd; please report it)",
            panic_message(join.into_panic())
        )),
        Ok(Err(join)) => Err(format!("collector task failed: {join}")),
        Err(_) => Err(format!(
            "timed out after {} s (raise timeout_seconds in [collectors.{name}] if the host is slow)",
            timeout.as_secs()
        )),
    };
    if let Err(reason) = &outcome {
        tracing::warn!(collector = %name, reason = %reason, "collector could not observe");
    }
    (name, version, outcome, start.elapsed().as_millis() as u64)
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// The parameters in force for a config, its policies and collectors: the `policy`
/// ledger row written whenever any of them changes.
pub fn policy_snapshot(
    config: &Config,
    policies: &PolicySet,
    collectors: &[Arc<dyn Collector>],
) -> PolicySnapshot {
    let rules = policies
        .rules
        .iter()
        .map(|r| PolicyRule {
            id: r.id.clone(),
            title: r.title.clone(),
            collector: r.collector.clone(),
            controls: r.controls.clone(),
            severity: r.severity.as_str().to_string(),
            origin: r.origin.clone(),
            definition: r.definition.json().clone(),
            definition_sha256: r.definition.sha256().to_string(),
        })
        .collect();
    let variables = policies
        .variables
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                PolicyVariable {
                    value: v.value.clone(),
                    default: v.default.clone(),
                    set_in: v.set_in.clone(),
                },
            )
        })
        .collect();
    let collectors = collectors
        .iter()
        .filter_map(|c| {
            let cfg = config.collectors.get(c.name())?;
            let settings = serde_json::to_vec(&cfg.settings).expect("JSON");
            Some((
                c.name().to_string(),
                PolicyCollector {
                    version: c.version().to_string(),
                    enabled: cfg.enabled,
                    schedule: cfg.schedule.as_str().to_string(),
                    settings_sha256: attestd_collectors::sha256_hex(&settings),
                },
            ))
        })
        .collect();
    let waivers = policies
        .waivers
        .iter()
        .map(|w| PolicyWaiver {
            rule: w.rule.clone(),
            reason: w.reason.clone(),
            approver: w.approver.clone(),
            expires: crate::clock::rfc3339(w.expires),
        })
        .collect();
    PolicySnapshot::in_zone(
        rules,
        variables,
        collectors,
        waivers,
        Some(crate::clock::host_time_zone()),
    )
}
