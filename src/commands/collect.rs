//! `attestd collect`: one run, printed; stored only with `--db`.

use super::{host_root, load_config_and_policies, runtime, CliError};
use crate::cli::{CollectArgs, Format};
use crate::clock::SystemClock;
use crate::engine::Engine;
use crate::host::HostIdentity;
use crate::report;
use crate::store::Store;
use std::sync::Arc;

pub fn run(args: CollectArgs) -> Result<i32, CliError> {
    let (config, policies) = load_config_and_policies(&args.config)?;
    let root = host_root(args.root.as_deref())?;
    let names = config
        .selected_collectors(&args.collectors)
        .map_err(CliError::Usage)?;
    let mut store = match &args.db {
        Some(path) => Some(Store::open(path).map_err(|e| CliError::Operational(e.to_string()))?),
        None => None,
    };
    if let Some(store) = store.as_mut() {
        // Alerts are planned and queued with the run; the daemon (or `attestd alerts
        // deliver`) sends them.
        let host = HostIdentity::read(&root)
            .hostname
            .unwrap_or_else(|| "unknown-host".into());
        store.set_alert_policy(crate::alert::AlertPolicy::new(&config, &policies, &host));
    }
    let previous = |name: &str| {
        store
            .as_ref()
            .and_then(|s| s.previous_facts(name).ok().flatten())
    };
    let engine = Engine::new(Arc::new(config), Arc::new(policies), root.clone());
    let rt = runtime()?;
    let run = rt.block_on(engine.run(&names, "manual", &previous, &SystemClock));
    // A hung collector's thread cannot be joined; do not wait for it.
    rt.shutdown_background();
    if let Some(store) = store.as_mut() {
        store
            .record_run(&run)
            .map_err(|e| CliError::Operational(e.to_string()))?;
    }
    let doc = report::build(&run, &HostIdentity::read(&root), &engine.policies);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc).expect("JSON")),
        Format::Text => print!("{}", report::render_text(&doc)),
    }
    Ok(report::exit_code(&doc))
}
