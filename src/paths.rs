//! Default locations of the database and the status socket. Never creates anything.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The database used when neither `--db` nor `[daemon] database` says: the state
/// directory systemd gave the service (`$STATE_DIRECTORY`, from `StateDirectory=`),
/// else the system state directory as root, else the user's state directory.
pub fn default_database() -> PathBuf {
    if let Some(dir) = systemd_dir("STATE_DIRECTORY") {
        return dir.join("attestd.db");
    }
    if running_as_root() {
        return PathBuf::from("/var/lib/attestd/attestd.db");
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("attestd/attestd.db")
}

/// The status endpoint's socket when the config does not say: the runtime directory
/// systemd gave the service (`$RUNTIME_DIRECTORY`, from `RuntimeDirectory=`), else
/// `/run/attestd` as root, else the user's runtime directory; `None` when none is known.
pub fn default_status_socket() -> Option<PathBuf> {
    if let Some(dir) = systemd_dir("RUNTIME_DIRECTORY") {
        return Some(dir.join("status.sock"));
    }
    if running_as_root() {
        return Some(PathBuf::from("/run/attestd/status.sock"));
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|d| d.join("attestd/status.sock"))
}

/// A directory systemd passes in the environment (the first, when several are listed).
fn systemd_dir(var: &str) -> Option<PathBuf> {
    let value = std::env::var_os(var)?;
    let first = value.to_str()?.split(':').next()?.to_string();
    let path = PathBuf::from(first);
    path.is_absolute().then_some(path)
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
