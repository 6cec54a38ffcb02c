//! The daemon loop: runs collectors on their schedules and when watched files change,
//! stores every run, logs drift, reloads on SIGHUP (keeping the old config when the new
//! one is invalid) and stops on SIGTERM/SIGINT after the current write. It owns the
//! store connection; nothing else writes while it runs.

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::Engine;
use crate::policy::PolicySet;
use crate::schedule::Timetable;
use crate::store::Store;
use crate::watch;
use attestd_collectors::HostRoot;
use chrono::Local;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
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
}

fn load(
    opts: &DaemonOptions,
    tx: &mpsc::UnboundedSender<BTreeSet<String>>,
) -> Result<Loaded, String> {
    let config = Config::load(opts.config_path.as_deref()).map_err(|e| e.to_string())?;
    let policies = PolicySet::load(&config).map_err(|e| e.to_string())?;
    let engine = Arc::new(Engine::new(
        Arc::new(config),
        Arc::new(policies),
        opts.root.clone(),
    ));
    let config = &engine.config;
    let schedules = config
        .collectors
        .iter()
        .filter(|(_, c)| c.enabled)
        .map(|(n, c)| (n.clone(), c.schedule.clone()));
    let timetable = Timetable::new(schedules, &Local::now());
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
    })
}

/// Run until SIGTERM or SIGINT.
pub async fn run(opts: DaemonOptions) -> Result<(), String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<BTreeSet<String>>();
    let mut loaded = load(&opts, &tx)?;
    let mut store = Store::open(&opts.database).map_err(|e| e.to_string())?;
    tracing::info!(
        database = %opts.database.display(),
        config = %loaded.engine.config.source,
        rules = loaded.engine.policies.rules.len(),
        "attestd started"
    );
    let mut probes = crate::probe::spawn_all(
        &crate::probe::configured(&loaded.engine.config),
        &opts.database,
    );
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let clock = SystemClock;

    let all: Vec<String> = loaded
        .engine
        .config
        .selected_collectors(&[])
        .unwrap_or_default();
    run_and_store(&loaded.engine, &mut store, &all, "start", &clock).await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut watchdog_usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);
    let mut watchdog_tick = tokio::time::interval(if watchdog {
        Duration::from_micros(watchdog_usec / 2)
    } else {
        Duration::from_secs(3600)
    });

    loop {
        let sleep_for = loaded
            .timetable
            .next_fire()
            .map(|t| (t - Local::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep(sleep_for) => {
                let due = loaded.timetable.take_due(&Local::now());
                if !due.is_empty() {
                    run_and_store(&loaded.engine, &mut store, &due, "schedule", &clock).await;
                }
            }
            Some(mut names) = rx.recv() => {
                // Gather whatever else arrived in the same burst.
                while let Ok(more) = rx.try_recv() {
                    names.extend(more);
                }
                let names: Vec<String> = names.into_iter().collect();
                tracing::info!(collectors = ?names, "watched files changed");
                run_and_store(&loaded.engine, &mut store, &names, "watch", &clock).await;
            }
            _ = hup.recv() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                match load(&opts, &tx) {
                    Ok(new) => {
                        loaded = new;
                        for p in probes.drain(..) {
                            p.abort();
                        }
                        probes = crate::probe::spawn_all(
                            &crate::probe::configured(&loaded.engine.config),
                            &opts.database,
                        );
                        tracing::info!(config = %loaded.engine.config.source, rules = loaded.engine.policies.rules.len(), "configuration reloaded");
                        let all = loaded.engine.config.selected_collectors(&[]).unwrap_or_default();
                        run_and_store(&loaded.engine, &mut store, &all, "reload", &clock).await;
                    }
                    Err(e) => tracing::error!(error = %e, "reload failed; keeping the previous configuration"),
                }
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
            _ = watchdog_tick.tick() => {
                if watchdog {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    for p in probes {
        p.abort();
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!("attestd stopping");
    Ok(())
}

/// One run: collect, judge, store, log drift. A store failure is logged, never fatal:
/// the next run tries again.
pub async fn run_and_store(
    engine: &Engine,
    store: &mut Store,
    names: &[String],
    trigger: &str,
    clock: &dyn Clock,
) {
    let previous = |name: &str| store.previous_facts(name).ok().flatten();
    // The probes' availability so far, summarised by the store for the collector.
    let specs = crate::probe::configured(&engine.config);
    let summary = (!specs.is_empty() && names.iter().any(|n| n == "availability"))
        .then(|| crate::probe::measurements(store, &specs, clock.now()));
    let measurements = |name: &str| (name == "availability").then(|| summary.clone()).flatten();
    let run = engine
        .run_with(names, trigger, &previous, &measurements, clock)
        .await;
    let outcome = tokio::task::block_in_place(|| store.record_run(&run));
    match outcome {
        Ok(outcome) => {
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
                tracing::warn!(
                    run_id = %run.run_id,
                    rule = %d.rule,
                    collector = %d.collector,
                    control = %d.controls.join(" "),
                    from = d.from.map(|s| s.as_str()).unwrap_or("none"),
                    to = d.to.as_str(),
                    observed = %d.observed_after,
                    "verdict changed"
                );
            }
        }
        Err(e) => {
            tracing::error!(run_id = %run.run_id, error = %e, "could not store the run; it is lost, the next run will try again")
        }
    }
}
