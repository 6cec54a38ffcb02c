//! The daemon loop: runs collectors on their schedules and when watched files change,
//! stores every run, logs drift, reloads on SIGHUP (keeping the old config when the new
//! one is invalid) and stops on SIGTERM/SIGINT without interrupting a write. It talks
//! to systemd (READY, RELOADING, STOPPING, STATUS, WATCHDOG) and feeds the metrics the
//! status endpoint serves. It owns the store connection for runs; the alert delivery
//! worker (`alert::worker::Worker`) runs beside it with its own connection and only
//! writes delivery attempts.

use crate::alert::worker::Worker;
use crate::alert::AlertPolicy;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::endpoint;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::policy::PolicySet;
use crate::schedule::Timetable;
use crate::store::{RunInput, Store};
use crate::watch;
use attestd_collectors::HostRoot;
use chrono::Local;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

/// What the daemon needs to start.
pub struct DaemonOptions {
    pub config_path: Option<PathBuf>,
    pub root: HostRoot,
    pub database: PathBuf,
}

/// Everything that a reload replaces.
struct Loaded {
    engine: Arc<Engine>,
    timetable: Timetable<Local>,
    _watches: Option<watch::Watches>,
    /// What the store needs to plan alerts (None when no sink is configured).
    alert_policy: Option<AlertPolicy>,
}

fn load(
    opts: &DaemonOptions,
    tx: &mpsc::UnboundedSender<BTreeSet<String>>,
) -> Result<Loaded, String> {
    let config = Config::load(opts.config_path.as_deref()).map_err(|e| e.to_string())?;
    let policies = PolicySet::load(&crate::policy::PolicyInputs::from_config(&config))
        .map_err(|e| e.to_string())?;
    let host = crate::host::HostIdentity::read(&opts.root)
        .hostname
        .unwrap_or_else(|| "unknown-host".into());
    let alert_policy = crate::pipeline::alert_policy(&config.alerts, &policies, &host);
    let engine = Arc::new(Engine::isolated(Engine::new(
        Arc::new(config),
        Arc::new(policies),
        opts.root.clone(),
    )));
    let config = &engine.config;
    let schedules = config
        .collectors
        .iter()
        .filter(|(_, c)| c.enabled)
        .map(|(n, c)| (n.clone(), c.schedule.clone()));
    let timetable = Timetable::new(schedules, &SystemClock.local_now());
    let watches = if config.watch {
        let paths: BTreeMap<String, Vec<PathBuf>> = engine
            .collectors()
            .iter()
            .filter_map(|c| {
                let cfg = config.collectors.get(c.name()).filter(|cfg| cfg.enabled)?;
                Some((c.name().to_string(), c.watched_paths(&cfg.settings)))
            })
            .collect();
        match watch::start(&opts.root, &paths, tx.clone()) {
            Ok(w) => {
                tracing::info!(directories = w.watched, "watching files for changes");
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "file watches unavailable; relying on schedules");
                None
            }
        }
    } else {
        None
    };
    Ok(Loaded {
        engine,
        timetable,
        _watches: watches,
        alert_policy,
    })
}

/// SIGTERM or SIGINT.
struct Stop {
    term: Signal,
    int: Signal,
}

impl Stop {
    async fn requested(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// The systemd watchdog: pinged at half the interval systemd asked for, from the main
/// loop (so a stuck loop stops the pings and systemd restarts the daemon).
struct Watchdog {
    enabled: bool,
    tick: tokio::time::Interval,
}

impl Watchdog {
    fn from_env() -> Watchdog {
        let mut usec = 0u64;
        let enabled = sd_notify::watchdog_enabled(false, &mut usec) && usec > 0;
        let period = if enabled {
            Duration::from_micros(usec / 2)
        } else {
            Duration::from_secs(3600)
        };
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Watchdog { enabled, tick }
    }

    async fn tick(&mut self) {
        self.tick.tick().await;
    }

    fn ping(&self) {
        if self.enabled {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }
}

/// Run until SIGTERM or SIGINT.
///
/// Order at start: config and policies, the store, the first schedule (and the file
/// watches), the status endpoint; then READY=1 is sent and the first run starts. A stop
/// request during collection abandons that unfinished run (nothing half-written: a run
/// is stored in one transaction); a stop request during the write waits for it.
pub async fn run(opts: DaemonOptions) -> Result<(), String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<BTreeSet<String>>();
    let mut loaded = load(&opts, &tx)?;
    let store = Store::open_for_daemon(&opts.database).map_err(|e| e.to_string())?;
    // Delivery runs beside the loop with its own connection; alerts left pending by a
    // previous run of the daemon are picked up at once.
    let mut worker = Worker::start(&opts.database, &loaded.engine.config.alerts);
    let clock = SystemClock;
    let metrics = Arc::new(Metrics::new(crate::clock::rfc3339(clock.now())));
    metrics.set_policies(
        &loaded.engine.policies.shipped_from,
        loaded.engine.policies.rules.len(),
    );
    match store.current_state() {
        Ok(state) => metrics.seed(&state, &store),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the ledger's current state for the metrics")
        }
    }
    let _endpoint = endpoint::start(
        metrics.clone(),
        loaded.engine.config.status_socket.as_deref(),
        loaded.engine.config.status_listen,
    )
    .await;
    let stop = Stop {
        term: signal(SignalKind::terminate()).map_err(|e| e.to_string())?,
        int: signal(SignalKind::interrupt()).map_err(|e| e.to_string())?,
    };
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    tracing::info!(
        database = %opts.database.display(),
        config = %loaded.engine.config.source,
        policies = %loaded.engine.policies.shipped_from,
        rules = loaded.engine.policies.rules.len(),
        next_run = %loaded.timetable.next_fire().map(|t| t.to_rfc3339()).unwrap_or_else(|| "none".into()),
        "attestd started"
    );
    let _ = sd_notify::notify(
        false,
        &[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("started; first run in progress"),
        ],
    );
    let mut runner = Runner {
        store,
        clock,
        metrics,
        stop,
        watchdog: Watchdog::from_env(),
        settle_at: None,
    };
    // Endpoint probes run on their own intervals and write their own ledger rows.
    let mut probes = crate::probe::spawn_all(&loaded.engine.probe_specs(), &opts.database);
    // `[fleet]`: rows go to the fleet server from the durable ledger (src/fleet).
    let _fleet = crate::fleet::spawn_pusher(
        loaded.engine.config.fleet.clone(),
        loaded.engine.config.alerts.clone(),
        &opts.database,
    );

    let all: Vec<String> = loaded
        .engine
        .config
        .selected_collectors(&[])
        .unwrap_or_default();
    let mut running = runner.run(&loaded, &all, "start").await;
    worker.wake();

    while running {
        let sleep_for = loaded
            .timetable
            .next_fire()
            .map(|t| {
                (t - runner.clock.local_now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = runner.stop.requested() => running = false,
            _ = runner.watchdog.tick() => runner.watchdog.ping(),
            _ = tokio::time::sleep_until(runner.settle_at.unwrap_or_else(tokio::time::Instant::now)), if runner.settle_at.is_some() => {
                // The run and what follows it (its log lines, alert delivery, the next
                // schedule) are done: the code they ran is not needed until the next one.
                runner.settle_at = None;
                crate::memory::release_clean_file_pages();
            }
            _ = hup.recv() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                match load(&opts, &tx) {
                    Ok(new) => {
                        runner.metrics.record_reload(Ok(()), crate::clock::rfc3339(crate::clock::now()));
                        loaded = new;
                        worker.shutdown().await;
                        worker = Worker::start(&opts.database, &loaded.engine.config.alerts);
                        for p in probes.drain(..) {
                            p.abort();
                        }
                        probes = crate::probe::spawn_all(&loaded.engine.probe_specs(), &opts.database);
                        runner.metrics.set_policies(&loaded.engine.policies.shipped_from, loaded.engine.policies.rules.len());
                        tracing::info!(config = %loaded.engine.config.source, rules = loaded.engine.policies.rules.len(), "configuration reloaded");
                        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                        let all = loaded.engine.config.selected_collectors(&[]).unwrap_or_default();
                        running = runner.run(&loaded, &all, "reload").await;
                        worker.wake();
                    }
                    Err(e) => {
                        // The reason goes in the message too: `journalctl -u attestd` shows
                        // only the message, and the operator needs the file and line.
                        tracing::error!(error = %e, "reload failed; keeping the previous configuration: {e}");
                        runner.metrics.record_reload(Err(&e), crate::clock::rfc3339(crate::clock::now()));
                        // `systemctl status` shows this line until the next run's status.
                        let status = format!("reload refused, running the previous configuration: {e}");
                        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)]);
                    }
                }
            }
            Some(mut names) = rx.recv() => {
                // Gather whatever else arrived in the same burst.
                while let Ok(more) = rx.try_recv() {
                    names.extend(more);
                }
                let names: Vec<String> = names.into_iter().collect();
                tracing::info!(collectors = ?names, "watched files changed");
                running = runner.run(&loaded, &names, "watch").await;
                worker.wake();
            }
            _ = tokio::time::sleep(sleep_for) => {
                let due = loaded.timetable.take_due(&runner.clock.local_now());
                if !due.is_empty() {
                    running = runner.run(&loaded, &due, "schedule").await;
                    worker.wake();
                }
            }
        }
    }
    for p in probes {
        p.abort();
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!("attestd stopping");
    worker.shutdown().await;
    Ok(())
}

/// What every run of the loop uses: the store connection for runs, the clock, the
/// metrics, and the signals that may interrupt collection.
struct Runner {
    store: Store,
    clock: SystemClock,
    metrics: Arc<Metrics>,
    stop: Stop,
    watchdog: Watchdog,
    /// When the last run has settled, so that the code it ran can be unmapped
    /// (`memory::release_clean_file_pages`); `None` once done.
    settle_at: Option<tokio::time::Instant>,
}

/// How long after a run its follow-up work (alert delivery, pushes, log lines) is given
/// before the daemon drops the code pages the run touched.
const SETTLE: Duration = Duration::from_secs(5);

impl Runner {
    /// Collect (abandoned if a stop is requested meanwhile; the watchdog is kept fed),
    /// then store. Returns false when the daemon should stop.
    async fn run(&mut self, loaded: &Loaded, names: &[String], trigger: &str) -> bool {
        let run = {
            let collecting = crate::pipeline::collect(
                &loaded.engine,
                Some(&self.store),
                names,
                trigger,
                &self.clock,
                self.clock.now(),
            );
            tokio::pin!(collecting);
            loop {
                tokio::select! {
                    biased;
                    _ = self.stop.requested() => {
                        tracing::info!(trigger, "stop requested while collecting; this unfinished run is not stored");
                        return false;
                    }
                    _ = self.watchdog.tick() => self.watchdog.ping(),
                    run = &mut collecting => break run,
                }
            }
        };
        self.store_run(&run, loaded, names);
        // The run's buffers are freed; hand the pages back so the idle daemon stays small.
        drop(run);
        crate::memory::release_free_heap();
        self.settle_at = Some(tokio::time::Instant::now() + SETTLE);
        true
    }

    /// Store a finished run, log it and its drift, update the metrics. A store failure
    /// is logged, never fatal: the next run tries again.
    fn store_run(&mut self, run: &RunInput, loaded: &Loaded, names: &[String]) {
        let trigger = run.trigger.as_str();
        let stored = tokio::task::block_in_place(|| {
            crate::pipeline::store(
                &mut self.store,
                run,
                loaded.alert_policy.as_ref(),
                Some(&self.metrics),
            )
        });
        match stored {
            Ok(stored) => {
                let outcome = &stored.outcome;
                let mut tally: BTreeMap<&str, u64> = BTreeMap::new();
                for v in run.collectors.iter().flat_map(|c| &c.verdicts) {
                    *tally.entry(v.status.as_str()).or_default() += 1;
                }
                tracing::info!(
                    run_id = %run.run_id,
                    trigger,
                    collectors = ?names,
                    pass = tally.get("pass").copied().unwrap_or(0),
                    fail = tally.get("fail").copied().unwrap_or(0),
                    error = tally.get("error").copied().unwrap_or(0),
                    new_evidence = outcome.new_evidence,
                    "run stored"
                );
                for d in &outcome.drift {
                    let from = d.from.map(|s| s.as_str()).unwrap_or("none");
                    tracing::warn!(
                        run_id = %run.run_id,
                        rule = %d.rule,
                        collector = %d.collector,
                        control = %d.controls.join(" "),
                        from,
                        to = d.to.as_str(),
                        observed = %d.observed_after,
                        "verdict changed: {} {from} -> {} (observed {})",
                        d.rule,
                        d.to.as_str(),
                        d.observed_after
                    );
                }
                if let Some(a) = &stored.alert {
                    tracing::info!(
                        run_id = %run.run_id,
                        alert = %a.key,
                        items = a.items.len(),
                        sinks = ?a.routes.keys().collect::<Vec<_>>(),
                        "alert queued"
                    );
                }
                let status = format!(
                    "last run {} ({trigger}): {} pass, {} fail, {} error",
                    run.finished_at,
                    tally.get("pass").copied().unwrap_or(0),
                    tally.get("fail").copied().unwrap_or(0),
                    tally.get("error").copied().unwrap_or(0)
                );
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(&status)]);
            }
            Err(e) => {
                tracing::error!(run_id = %run.run_id, error = %e, "could not store the run; it is lost, the next run will try again");
            }
        }
        self.remind(loaded);
    }

    /// Attestations falling due or expiring within `[attest] reminder_days`: one
    /// reminder alert each per date (src/attest/remind.rs), delivered by the worker.
    fn remind(&mut self, loaded: &Loaded) {
        let now = self.clock.now();
        let horizon = i64::from(loaded.engine.config.attest_reminder_days);
        let policy = loaded.alert_policy.as_ref();
        let sent = tokio::task::block_in_place(|| {
            crate::attest::remind::enqueue(&mut self.store, policy, now, horizon)
        });
        match sent {
            Ok(sent) => {
                for r in sent {
                    tracing::info!(attestation = %r.attestation, reason = %r.reason, date = %r.date, owner = %r.owner, "attestation reminder queued");
                }
            }
            Err(e) => tracing::warn!(error = %e, "attestation reminders could not be queued"),
        }
    }
}
