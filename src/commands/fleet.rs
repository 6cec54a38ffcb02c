//! `attestd enroll` and `attestd push`: the command-line ends of `crate::fleet`. Owns
//! flags and messages; never prints the token or a key.

use super::CliError;
use crate::cli::{EnrollArgs, PushArgs};
use crate::config::Config;
use crate::store::Store;

fn section(config: &Config) -> Result<crate::fleet::FleetSection, CliError> {
    config.fleet.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "{}: no [fleet] section: set [fleet] server = \"https://…\" first",
            config.source
        ))
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Operational(e.to_string()))
}

pub fn enroll(a: EnrollArgs) -> Result<i32, CliError> {
    let config =
        Config::load(a.config.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let s = section(&config)?;
    let db = crate::fleet::database(a.db.as_deref(), &config);
    let e = runtime()?
        .block_on(crate::fleet::enroll(&s, &db, &a.token))
        .map_err(CliError::Operational)?;
    println!("enrolled {} in scope {} at {}", e.host, e.scope, e.server);
    Ok(0)
}

pub fn push(a: PushArgs) -> Result<i32, CliError> {
    let config =
        Config::load(a.config.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    let s = section(&config)?;
    let db = crate::fleet::database(a.db.as_deref(), &config);
    let mut store = Store::open(&db).map_err(|e| CliError::Operational(e.to_string()))?;
    let r = match runtime()?.block_on(crate::fleet::push(&s, &store, &db)) {
        Ok(r) => r,
        Err(e) => {
            // A refused (forked) history is raised through the alert sinks at once.
            let host = crate::fleet::push_host(&s);
            match crate::fleet::raise_fork(&store, &config.alerts, &host, &e) {
                Ok(Some(_)) => {
                    // Delivery blocks on the database: it needs the multi-threaded runtime.
                    let delivered = super::runtime().and_then(|rt| {
                        rt.block_on(crate::alert::worker::deliver_all_due(
                            &mut store,
                            &config.alerts,
                        ))
                        .map_err(|e| CliError::Operational(e.to_string()))
                    });
                    if let Err(d) = delivered {
                        eprintln!("cannot deliver the alert now: {d:?}");
                    }
                }
                Ok(None) => {}
                Err(a) => eprintln!("cannot raise the fork alert: {a}"),
            }
            return Err(CliError::Operational(e.message));
        }
    };
    match r.receipted {
        Some((seq, head)) => println!(
            "pushed {} rows in {} pushes; witnessed up to row {seq} (head {head})",
            r.rows, r.pushes
        ),
        None => println!("nothing to push"),
    }
    Ok(0)
}
