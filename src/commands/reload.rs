//! `attestd reload`: ask the running daemon to reload its configuration and report
//! its answer, so `systemctl reload attestd` (the unit's `ExecReload=`) fails, with the
//! reason in `systemctl status`, when the new configuration is refused.
//!
//! It validates the configuration and policies itself (the daemon's own code), reads the
//! daemon's reload counter from `/health` on the status socket, sends SIGHUP, and waits
//! for the counter to move; the daemon's answer is the verdict. Without a reachable
//! status socket, or when the daemon does not answer in time (it answers SIGHUP between
//! runs), its own validation is the verdict. It never changes the configuration, the
//! daemon's state or the store: a refused config leaves the daemon on the previous one.

use super::{daemon_key_of_refused_config, load_config_and_policies, CliError};
use crate::cli::ReloadArgs;
use crate::metrics::ReloadState;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn run(args: ReloadArgs) -> Result<i32, CliError> {
    let local = load_config_and_policies(&args.config).map(|(config, _)| config);
    // The socket the daemon serves: given, else the one the new config names (a reload
    // does not move it; read from the TOML even when the config is refused), else the
    // default one.
    let socket: Option<PathBuf> = match (&args.socket, &local) {
        (Some(s), _) => Some(s.clone()),
        (None, Ok(config)) => config.status_socket.clone(),
        (None, Err(_)) => {
            match daemon_key_of_refused_config(&args.config, "status_socket").map(PathBuf::from) {
                Some(s) if s.as_os_str().is_empty() => None,
                Some(s) => Some(s),
                None => crate::paths::default_status_socket(),
            }
        }
    };
    let before = socket.as_deref().and_then(|s| read_reload_state(s).ok());
    let pid = i32::try_from(args.pid)
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| CliError::Usage(format!("--pid {}: not a process id", args.pid)))?;
    // SAFETY: kill(2) with a checked pid and a constant signal touches no memory.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        return Err(CliError::Operational(format!(
            "cannot signal the daemon (pid {pid}): {}",
            std::io::Error::last_os_error()
        )));
    }
    let answer = match (socket.as_deref(), &before) {
        (Some(s), Some(before)) => wait_for_answer(s, before.count, args.timeout_seconds),
        _ => None,
    };
    match (answer, local) {
        (Some(state), _) if state.last_accepted == Some(true) => {
            println!("attestd: the daemon reloaded its configuration");
            Ok(0)
        }
        (Some(state), _) => Err(refused(
            state.last_error.as_deref().unwrap_or("no reason given"),
        )),
        (None, Ok(config)) => {
            let why = if before.is_none() {
                "the status endpoint is not reachable"
            } else {
                "the daemon has not answered yet (it answers between runs)"
            };
            println!(
                "attestd: {} is valid; SIGHUP sent ({why}, so this is attestd reload's own check)",
                config.source
            );
            Ok(0)
        }
        (None, Err(e)) => Err(refused(e.message())),
    }
}

fn refused(reason: &str) -> CliError {
    CliError::Usage(format!(
        "the new configuration is refused; the daemon keeps running on the previous one: {reason}"
    ))
}

/// Poll `/health` until the daemon's reload counter passes `before`.
fn wait_for_answer(socket: &Path, before: u64, timeout_seconds: u64) -> Option<ReloadState> {
    let deadline = Instant::now().checked_add(Duration::from_secs(timeout_seconds.min(3600)))?;
    while Instant::now() < deadline {
        if let Ok(state) = read_reload_state(socket) {
            if state.count > before {
                return Some(state);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The `reload` block of `/health`, over the status socket (HTTP/1.0, one request).
fn read_reload_state(socket: &Path) -> Result<ReloadState, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: attestd\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("no HTTP body")?;
    let health: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    serde_json::from_value(health["reload"].clone()).map_err(|e| e.to_string())
}
