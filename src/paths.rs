//! Default locations of the database and the status socket. Never creates anything.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The database used when neither `--db` nor `[daemon] database` says: the system
/// state directory as root, the user's state directory otherwise.
pub fn default_database() -> PathBuf {
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

/// The status endpoint's socket when the config does not say: the service's runtime
/// directory as root (systemd creates it: `RuntimeDirectory=attestd`), else the user's
/// runtime directory; `None` when neither is known.
pub fn default_status_socket() -> Option<PathBuf> {
    if running_as_root() {
        return Some(PathBuf::from("/run/attestd/status.sock"));
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|d| d.join("attestd/status.sock"))
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
