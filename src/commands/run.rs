//! `attestd run`: the daemon.

use super::{database_path, host_root, runtime, CliError};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::daemon::{self, DaemonOptions};

pub fn run(args: RunArgs) -> Result<i32, CliError> {
    // Before any thread exists: one malloc arena, so the daemon does not grow run by run.
    crate::memory::use_one_arena();
    // Validate the config up front so a broken file is exit 2 with its location.
    let config =
        Config::load(args.config.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::policy::PolicySet::load(&crate::policy::PolicyInputs::from_config(&config))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let options = DaemonOptions {
        config_path: args.config.config.clone(),
        root: host_root(args.root.as_deref())?,
        database: database_path(args.db.as_deref(), Some(&config)),
    };
    // The bundle-signing key is made at the first start, beside the database.
    match crate::bundle::signing::HostKey::load_or_create(&options.database) {
        Ok(k) if k.created => {
            tracing::info!(fingerprint = %k.fingerprint(), path = %k.private_path.display(), "created the bundle-signing key")
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "no bundle-signing key; `attestd bundle` will try again")
        }
    }
    let rt = runtime()?;
    let result = rt.block_on(daemon::run(options));
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result.map(|_| 0).map_err(CliError::Operational)
}
