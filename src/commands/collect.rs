//! `attestd collect`: one run, printed; stored only with `--db`.

use super::{host_root, load_policies, runtime, CliError};
use crate::cli::{CollectArgs, Format};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::{self, Engine};
use crate::host::HostIdentity;
use crate::pipeline;
use crate::probe;
use crate::report;
use crate::store::Store;
use std::sync::Arc;

pub fn run(args: CollectArgs) -> Result<i32, CliError> {
    let rt = runtime()?;
    // The collectors' worker process starts first, so that its own start-up overlaps
    // reading the config; it runs nothing until it is handed its requests below.
    let exe = crate::worker_binary::worker_exe();
    let spare = exe.as_deref().and_then(|exe| {
        let _in_runtime = rt.enter();
        crate::worker::Spare::start(exe)
    });
    let config =
        Config::load(args.config.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let root = host_root(args.root.as_deref())?;
    let names = config
        .selected_collectors(&args.collectors)
        .map_err(CliError::Usage)?;
    let mut store = match &args.db {
        Some(path) => Some(Store::open(path).map_err(|e| CliError::Operational(e.to_string()))?),
        None => None,
    };
    let collectors = engine::collectors_of(&config);
    // Endpoint probes: taken once now (the daemon takes them on their own schedule),
    // kept with --db, and summarised for the collectors that ask for them. Without
    // --db the summary covers this one result, in a database held in memory.
    let probes = if names
        .iter()
        .any(|n| engine::wants_probes(&config, &collectors, n))
    {
        probe::configured(&config, &collectors)
    } else {
        Vec::new()
    };
    let clock = SystemClock;
    let probed_at = clock.now();
    let results = rt.block_on(probe::run_all(&probes, probed_at));
    let mut scratch = None;
    if store.is_none() && !probes.is_empty() {
        scratch = Some(
            Store::open(std::path::Path::new(":memory:"))
                .map_err(|e| CliError::Operational(e.to_string()))?,
        );
    }
    if let Some(s) = store.as_mut().or(scratch.as_mut()) {
        for r in &results {
            s.record_probe(r)
                .map_err(|e| CliError::Operational(e.to_string()))?;
        }
    }
    // This result stands for the interval that follows it.
    let longest = probes
        .iter()
        .map(|p| p.interval_seconds())
        .max()
        .unwrap_or(0);
    let measured_until = probed_at + chrono::Duration::seconds(longest as i64);
    let handover = pipeline::Handover::read(
        &config,
        &collectors,
        store.as_ref().or(scratch.as_ref()),
        &names,
        measured_until,
    );
    // The collectors' worker gets its requests now, so that it observes while the
    // policies load (most of a one-collector run's fixed cost).
    let prestarted = spare.and_then(|spare| {
        let jobs = engine::worker_jobs(
            &config,
            &root,
            &names,
            &|n| handover.previous_facts(n),
            &|n| handover.measurements(n),
            clock.now(),
        );
        let _in_runtime = rt.enter();
        crate::worker::Prestarted::start_on(spare, &jobs, crate::worker::Limits::default())
    });
    let policies = load_policies(&config)?;
    // Alerts are planned and queued with the run; the daemon (or `attestd alerts
    // deliver`) sends them.
    let identity = HostIdentity::read(&root);
    let host = identity
        .hostname
        .clone()
        .unwrap_or_else(|| "unknown-host".into());
    let alert_policy = pipeline::alert_policy(&config.alerts, &policies, &host);
    let engine = Engine::with_collectors(
        Arc::new(config),
        Arc::new(policies),
        root.clone(),
        collectors,
    )
    .isolated_from(exe)
    .with_prestarted(prestarted);
    // Only a stored run records the parameters in force.
    let engine = if store.is_some() {
        engine
    } else {
        engine.unrecorded()
    };
    // The selected collectors' rules compile while the collectors run.
    let compiling = {
        let (policies, names) = (engine.policies.clone(), names.clone());
        std::thread::spawn(move || policies.compile_rules_of(&names))
    };
    let run = rt.block_on(pipeline::collect_handed(
        &engine, &handover, &names, "manual", &clock,
    ));
    let _ = compiling.join();
    // A hung collector's thread cannot be joined; do not wait for it.
    rt.shutdown_background();
    if let Some(store) = store.as_mut() {
        pipeline::store(store, &run, alert_policy.as_ref(), None)
            .map_err(|e| CliError::Operational(e.to_string()))?;
    }
    let doc = report::build(&run, &identity, &engine.policies);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc).expect("JSON")),
        Format::Text => print!("{}", report::render_text(&doc)),
    }
    let code = report::exit_code(&doc);
    // The process ends with this command: freeing the engine (its policies and
    // compiled expressions), the run and the report would only delay that.
    std::mem::forget((engine, run, doc));
    Ok(code)
}
