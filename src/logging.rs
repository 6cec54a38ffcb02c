//! Logging setup: human-readable lines on stderr. `ATTESTD_LOG` (or `RUST_LOG`) sets
//! the filter. The daemon logs at `info`; one-shot commands only at `warn`, so their
//! output stays the report. Never log secrets.

use tracing_subscriber::EnvFilter;

pub fn init(daemon: bool) {
    let default = if daemon { "info" } else { "warn" };
    let filter = std::env::var("ATTESTD_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
