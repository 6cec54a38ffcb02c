//! The daemon's own numbers, in Prometheus form: runs by trigger, rule states by status,
//! collector durations, last successful run per collector, drift events, alerts
//! pending, and the health summary behind `/health`. The daemon records into it after
//! every run; the status endpoint (`endpoint.rs`) reads it. It never touches the host,
//! never writes the store, and never holds a fact value or a secret: only counts, times
//! and rule/collector names.

use crate::policy::Status;
use crate::store::{CollectorState, RunInput, Store};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

type Labels = Vec<(String, String)>;

/// Every status a verdict can have; each gets a sample, zero or not.
const STATUSES: [Status; 5] = [
    Status::Pass,
    Status::Fail,
    Status::Error,
    Status::NotApplicable,
    Status::Waived,
];

fn duration_histogram() -> Histogram {
    // 1 ms .. about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// What `/health` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// `ok`, or `degraded` when the last run could not be stored.
    pub status: &'static str,
    pub version: &'static str,
    pub started_at: String,
    /// Where the shipped policies came from and how many rules are loaded.
    pub policies: String,
    pub rules: usize,
    pub runs_stored: u64,
    pub last_run_id: Option<String>,
    pub last_run_finished_at: Option<String>,
    /// Why the status is `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The configuration reloads (SIGHUP) since the daemon started, and how the last
    /// one ended; `attestd reload` waits for `count` to move.
    pub reload: ReloadState,
}

/// What `/health` says about reloads.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ReloadState {
    /// Reloads answered since the daemon started (accepted or refused).
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<String>,
    /// Whether the last reload's configuration was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accepted: Option<bool>,
    /// Why it was refused: the file, line and key (a config never holds a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The metrics registry and the values behind it.
pub struct Metrics {
    registry: Registry,
    runs: Family<Labels, Counter>,
    store_failures: Counter,
    drift: Counter,
    rules: Family<Labels, Gauge>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    alerts_pending: Family<Labels, Gauge>,
    alert_deliveries: Family<Labels, Gauge>,
    reloads: Family<Labels, Counter>,
    reload_ok: Gauge,
    /// The database, opened read-only at each scrape for the outbox counts (the delivery
    /// worker changes them between runs).
    database: Mutex<Option<std::path::PathBuf>>,
    /// Latest verdict tally per collector, summed into `rules`.
    tallies: Mutex<BTreeMap<String, BTreeMap<Status, i64>>>,
    health: Mutex<Health>,
}

impl Metrics {
    pub fn new(started_at: String) -> Metrics {
        let mut registry = Registry::with_prefix("attestd");
        let runs = Family::<Labels, Counter>::default();
        registry.register(
            "runs",
            "Runs completed and stored, by what triggered them (start, schedule, watch, reload)",
            runs.clone(),
        );
        let store_failures = Counter::default();
        registry.register(
            "run_store_failures",
            "Runs that could not be written to the ledger",
            store_failures.clone(),
        );
        let drift = Counter::default();
        registry.register(
            "drift_events",
            "Rule verdict changes recorded since the daemon started",
            drift.clone(),
        );
        let rules = Family::<Labels, Gauge>::default();
        registry.register(
            "rules",
            "Rules by their latest status (pass, fail, error, not_applicable, waived)",
            rules.clone(),
        );
        let durations: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "collector_duration_seconds",
            "How long each collector took to observe the host",
            durations.clone(),
        );
        let last_success = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "collector_last_success_timestamp_seconds",
            "Unix time of the last run in which the collector observed the host and the run was stored",
            last_success.clone(),
        );
        let alerts_pending = Family::<Labels, Gauge>::default();
        registry.register(
            "alerts_pending",
            "Alert deliveries written to the outbox and not yet delivered (one per alert and sink)",
            alerts_pending.clone(),
        );
        let alert_deliveries = Family::<Labels, Gauge>::default();
        registry.register(
            "alert_deliveries",
            "Alert deliveries in the outbox by state: pending, delivered, failed (a 4xx that cannot succeed)",
            alert_deliveries.clone(),
        );
        let reloads = Family::<Labels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads (SIGHUP) by result: accepted, refused",
            reloads.clone(),
        );
        let reload_ok = Gauge::default();
        registry.register(
            "config_last_reload_successful",
            "1 when the configuration in force is the one on disk (the last reload, if any, was accepted); 0 when the last reload was refused and the daemon runs on the previous one",
            reload_ok.clone(),
        );
        reload_ok.set(1);
        for status in STATUSES {
            rules.get_or_create(&status_label(status)).set(0);
        }
        Metrics {
            registry,
            runs,
            store_failures,
            drift,
            rules,
            durations,
            last_success,
            alerts_pending,
            alert_deliveries,
            reloads,
            reload_ok,
            database: Mutex::new(None),
            tallies: Mutex::new(BTreeMap::new()),
            health: Mutex::new(Health {
                status: "ok",
                version: env!("CARGO_PKG_VERSION"),
                started_at,
                policies: String::new(),
                rules: 0,
                runs_stored: 0,
                last_run_id: None,
                last_run_finished_at: None,
                problem: None,
                reload: ReloadState::default(),
            }),
        }
    }

    /// Start from what the ledger already holds, so a restart does not reset the rule
    /// states or the last successful runs to nothing.
    pub fn seed(&self, state: &[CollectorState], store: &Store) {
        for s in state {
            let mut tally = BTreeMap::new();
            for v in &s.verdicts.results {
                *tally.entry(v.status).or_insert(0) += 1;
            }
            self.tallies
                .lock()
                .expect("metrics lock")
                .insert(s.collector.clone(), tally);
            if s.verdicts.error.is_none() {
                if let Some(t) = unix_seconds(&s.last_run_at) {
                    self.last_success
                        .get_or_create(&collector_label(&s.collector))
                        .set(t);
                }
            }
        }
        self.publish_rules();
        self.refresh_alerts(store);
    }

    /// Say which policies are loaded (at start and after a reload).
    pub fn set_policies(&self, shipped_from: &str, rules: usize) {
        let mut h = self.health.lock().expect("metrics lock");
        h.policies = shipped_from.to_string();
        h.rules = rules;
    }

    /// Record one run: `stored` says whether the ledger kept it.
    pub fn record_run(&self, run: &RunInput, stored: Result<usize, &str>, store: &Store) {
        for c in &run.collectors {
            self.durations
                .get_or_create(&collector_label(&c.collector))
                .observe(c.duration_ms as f64 / 1000.0);
        }
        let mut h = self.health.lock().expect("metrics lock");
        match stored {
            Ok(drift) => {
                self.runs
                    .get_or_create(&vec![("trigger".into(), run.trigger.clone())])
                    .inc();
                self.drift.inc_by(drift as u64);
                let finished = unix_seconds(&run.finished_at);
                let mut tallies = self.tallies.lock().expect("metrics lock");
                for c in &run.collectors {
                    let mut tally = BTreeMap::new();
                    for v in &c.verdicts {
                        *tally.entry(v.status).or_insert(0) += 1;
                    }
                    tallies.insert(c.collector.clone(), tally);
                    if let (Ok(_), Some(t)) = (&c.outcome, finished) {
                        self.last_success
                            .get_or_create(&collector_label(&c.collector))
                            .set(t);
                    }
                }
                drop(tallies);
                h.status = "ok";
                h.problem = None;
                h.runs_stored += 1;
                h.last_run_id = Some(run.run_id.clone());
                h.last_run_finished_at = Some(run.finished_at.clone());
            }
            Err(e) => {
                self.store_failures.inc();
                h.status = "degraded";
                h.problem = Some(format!("run {} could not be stored: {e}", run.run_id));
            }
        }
        drop(h);
        self.publish_rules();
        self.refresh_alerts(store);
    }

    fn publish_rules(&self) {
        let tallies = self.tallies.lock().expect("metrics lock");
        for status in STATUSES {
            let n: i64 = tallies.values().filter_map(|t| t.get(&status)).sum();
            self.rules.get_or_create(&status_label(status)).set(n);
        }
    }

    fn refresh_alerts(&self, store: &Store) {
        *self.database.lock().expect("metrics lock") = Some(store.path().to_path_buf());
        match store.alert_counts() {
            Ok(counts) => {
                self.alerts_pending
                    .get_or_create(&Vec::new())
                    .set(counts.pending as i64);
                for (state, n) in [
                    ("pending", counts.pending),
                    ("delivered", counts.delivered),
                    ("failed", counts.failed),
                ] {
                    self.alert_deliveries
                        .get_or_create(&vec![("state".into(), state.into())])
                        .set(n as i64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot count the alert outbox for the metrics"),
        }
    }

    /// Record the answer to a reload request: accepted, or refused with the reason.
    pub fn record_reload(&self, outcome: Result<(), &str>, at: String) {
        let result = if outcome.is_ok() {
            "accepted"
        } else {
            "refused"
        };
        self.reloads
            .get_or_create(&vec![("result".into(), result.into())])
            .inc();
        self.reload_ok.set(i64::from(outcome.is_ok()));
        let mut h = self.health.lock().expect("metrics lock");
        h.reload.count += 1;
        h.reload.last_at = Some(at);
        h.reload.last_accepted = Some(outcome.is_ok());
        h.reload.last_error = outcome.err().map(str::to_string);
    }

    /// The health summary: `degraded` when the last run could not be stored, or when the
    /// last reload was refused (the daemon runs on a configuration that is no longer the
    /// one on disk).
    pub fn health(&self) -> Health {
        let mut h = self.health.lock().expect("metrics lock").clone();
        if h.problem.is_none() && h.reload.last_accepted == Some(false) {
            h.status = "degraded";
            h.problem = Some(format!(
                "the configuration was refused at reload ({}); running on the previous one: {}",
                h.reload.last_at.as_deref().unwrap_or("?"),
                h.reload.last_error.as_deref().unwrap_or("")
            ));
        }
        h
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let database = self.database.lock().expect("metrics lock").clone();
        if let Some(store) = database.and_then(|p| Store::open_read_only(&p).ok()) {
            self.refresh_alerts(&store);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn status_label(status: Status) -> Labels {
    vec![("status".into(), status.as_str().into())]
}

fn collector_label(name: &str) -> Labels {
    vec![("collector".into(), name.into())]
}

fn unix_seconds(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}
