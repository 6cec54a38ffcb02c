//! Logging setup. Under systemd (stderr connected to the journal, as `JOURNAL_STREAM`
//! says) the daemon sends native journal entries whose tracing fields become journal
//! fields: `RULE`, `CONTROL`, `COLLECTOR`, `RUN_ID`, `TRIGGER`, ... so that
//! `journalctl -u attestd RULE=password.max_age` works. Anywhere else (a terminal, a
//! test, a host without a journal socket) it writes human-readable lines on stderr.
//! `ATTESTD_LOG` (or `RUST_LOG`) sets the filter: a level, or `target=level`
//! directives separated by commas (`warn,attestd::engine=debug`). The daemon logs at
//! `info`; one-shot commands only at `warn`, so their output stays the report. Never
//! log secrets.
//!
//! The filter is `tracing_subscriber`'s `Targets`, not `EnvFilter`: `EnvFilter` brings
//! in a full-DFA regex build that every regex of the process (the policies' `matches`)
//! would then pay for when it is compiled.

use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Native journal entries with structured fields.
    Journal,
    /// Plain text on stderr.
    Stderr,
}

pub fn init(daemon: bool) -> Sink {
    let default = if daemon { "info" } else { "warn" };
    let filter = || {
        std::env::var("ATTESTD_LOG")
            .ok()
            .or_else(|| std::env::var("RUST_LOG").ok())
            .and_then(|f| f.parse::<Targets>().ok())
            .unwrap_or_else(|| default.parse().expect("a level is a filter"))
    };
    if stderr_is_journal() {
        // `layer()` fails when the journal socket cannot be opened: fall back to text.
        if let Ok(journal) = tracing_journald::layer() {
            let journal = journal
                .with_field_prefix(None)
                .with_syslog_identifier("attestd".into());
            if tracing_subscriber::registry()
                .with(filter())
                .with(journal)
                .try_init()
                .is_ok()
            {
                return Sink::Journal;
            }
        }
    }
    let text = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a log file or pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(text)
        .try_init();
    Sink::Stderr
}

/// True when systemd connected our stderr to the journal: `JOURNAL_STREAM` holds the
/// `device:inode` of that stream and it matches stderr (a child process that inherited
/// the variable but writes elsewhere does not match).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(meta.dev()) && ino.parse::<u64>().ok() == Some(meta.ino())
}
