//! One module per subcommand, plus what they share: loading config and policies,
//! finding the database, and turning failures into exit codes.

mod alerts;
mod attest;
mod availability;
mod bundle;
mod collect;
mod controls;
mod evidence;
mod fleet;
mod generate_assets;
mod history;
mod key;
mod reload;
mod run;
mod status;
mod verify;

use crate::cli::{Cli, Command, ConfigArgs};
use crate::config::Config;
use crate::policy::PolicySet;
use crate::store::Store;
use std::path::{Path, PathBuf};

/// A failure that ends a command, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or configuration: exit 2.
    Usage(String),
    /// The database or the filesystem failed: exit 3.
    Operational(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Operational(_) => 3,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CliError::Usage(m) | CliError::Operational(m) => m,
        }
    }
}

/// Run the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Collect(a) => collect::run(a),
        Command::Run(a) => run::run(a),
        Command::Status(a) => status::run(a),
        Command::Controls(a) => controls::run(a),
        Command::History(a) => history::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Alerts(a) => alerts::run(a),
        Command::GenerateAssets(a) => generate_assets::run(a),
        Command::CollectWorker => return crate::worker::serve(),
        Command::Availability(a) => availability::run(a),
        Command::Bundle(a) => bundle::run(a),
        Command::Evidence(a) => evidence::run(a),
        Command::Key(a) => key::run(a),
        Command::Reload(a) => reload::run(a),
        Command::Enroll(a) => fleet::enroll(a),
        Command::Push(a) => fleet::push(a),
        Command::Attest(a) => attest::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("attestd: error: {}", e.message());
            e.exit_code()
        }
    }
}

/// Load and validate the config and the policies it points at.
pub fn load_config_and_policies(args: &ConfigArgs) -> Result<(Config, PolicySet), CliError> {
    let config =
        Config::load(args.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let policies = load_policies(&config)?;
    Ok((config, policies))
}

/// Load and validate the policies a loaded config points at.
pub fn load_policies(config: &Config) -> Result<PolicySet, CliError> {
    PolicySet::load(&crate::policy::PolicyInputs::from_config(config))
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// `--db`, else the config's database, else the default location.
pub fn database_path(explicit: Option<&Path>, config: Option<&Config>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| config.and_then(|c| c.database.clone()))
        .unwrap_or_else(crate::paths::default_database)
}

/// Open an existing database read-only for a reporting command.
pub fn open_for_reading(
    explicit: Option<&Path>,
    config_args: &ConfigArgs,
) -> Result<Store, CliError> {
    let config = Config::load(config_args.config.as_deref()).ok();
    // A refused config still names its database (`attestd status` reads it then).
    let named = || daemon_key_of_refused_config(config_args, "database").map(PathBuf::from);
    let path = match (&config, explicit) {
        (None, None) => named().unwrap_or_else(crate::paths::default_database),
        _ => database_path(explicit, config.as_ref()),
    };
    Store::open_read_only(&path).map_err(|e| CliError::Operational(e.to_string()))
}

/// A string under `[daemon]` of a config file that does not validate, if the file is
/// still TOML: where a refused config says the database or the status socket are.
pub fn daemon_key_of_refused_config(args: &ConfigArgs, key: &str) -> Option<String> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::config::SYSTEM_CONFIG_PATH));
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    Some(table.get("daemon")?.get(key)?.as_str()?.to_string())
}

/// Check a `--root` directory.
pub fn host_root(root: Option<&Path>) -> Result<attestd_collectors::HostRoot, CliError> {
    match root {
        None => Ok(attestd_collectors::HostRoot::live()),
        Some(dir) if dir.is_dir() => {
            let abs = dir.canonicalize().map_err(|e| CliError::Usage(format!("--root {}: {e}", dir.display())))?;
            Ok(attestd_collectors::HostRoot::new(abs))
        }
        Some(dir) => Err(CliError::Usage(format!(
            "--root {}: not a directory; give the top of a host tree (the directory that holds etc/)",
            dir.display()
        ))),
    }
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Operational(format!("cannot start the async runtime: {e}")))
}

/// Parse `YYYY-MM-DD` or RFC 3339 into the stored timestamp format.
pub fn parse_since(text: &str) -> Result<String, CliError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(crate::clock::rfc3339(t.with_timezone(&chrono::Utc)));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| crate::clock::rfc3339(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
        .map_err(|_| {
            CliError::Usage(format!(
                "`{text}` is not a date (YYYY-MM-DD) or RFC 3339 time"
            ))
        })
}
