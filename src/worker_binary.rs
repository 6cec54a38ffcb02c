//! Which binary a run's collector worker starts from: `attestd-worker`, installed with
//! attestd, when it can be trusted as much as attestd itself, else attestd's own
//! binary (`attestd collect-worker`, which serves the same way, only slower to start).
//!
//! Trusted means: a regular executable file, and the directory it is in, both owned by
//! root or by attestd's own owner and writable by no one else, so that nobody who could
//! not replace attestd can plant a worker it would run (a copy of attestd in `/tmp`
//! never runs a `/tmp/attestd-worker`). This module never starts a process.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file name of the dedicated worker binary (src/bin/attestd-worker.rs).
pub const WORKER_BINARY: &str = "attestd-worker";

/// Where the package installs the worker, beside `/usr/bin/attestd`
/// (`crate::policy::PACKAGED_BINARY`).
pub const PACKAGED_WORKER: &str = "/usr/lib/attestd/attestd-worker";

/// The binary workers are started from (`worker_binary_beside` this one); `None`,
/// with a warning, when this binary's path cannot be found (an odd `/proc`):
/// collectors then run in this process.
pub fn worker_exe() -> Option<PathBuf> {
    std::env::current_exe()
        .map(|exe| worker_binary_beside(&exe))
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot find attestd's own binary; collectors run in this process");
        })
        .ok()
}

/// The worker binary that goes with the attestd binary at `exe`: for the packaged
/// `/usr/bin/attestd`, `/usr/lib/attestd/attestd-worker` only; for any other,
/// `attestd-worker` in the same directory (a build's `target/release/`), else in
/// `../lib/attestd/`. Each only when `trusted`; otherwise `exe` itself.
pub fn worker_binary_beside(exe: &Path) -> PathBuf {
    let candidates: Vec<PathBuf> = if exe == Path::new(crate::policy::PACKAGED_BINARY) {
        vec![PathBuf::from(PACKAGED_WORKER)]
    } else {
        let Some(dir) = exe.parent() else {
            return exe.to_path_buf();
        };
        std::iter::once(dir.to_path_buf())
            .chain(dir.parent().map(|prefix| prefix.join("lib/attestd")))
            .map(|d| d.join(WORKER_BINARY))
            .collect()
    };
    let Ok(owner) = std::fs::metadata(exe).map(|m| m.uid()) else {
        return exe.to_path_buf();
    };
    candidates
        .into_iter()
        .find(|candidate| trusted(candidate, owner))
        .unwrap_or_else(|| exe.to_path_buf())
}

/// Is `candidate` (symbolic links followed) an executable regular file that only root
/// or `owner` could have put there or changed?
fn trusted(candidate: &Path, owner: u32) -> bool {
    let Ok(resolved) = std::fs::canonicalize(candidate) else {
        return false;
    };
    let only_theirs = |m: &std::fs::Metadata| {
        (m.uid() == 0 || m.uid() == owner) && m.permissions().mode() & 0o022 == 0
    };
    let file_ok = std::fs::metadata(&resolved)
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0 && only_theirs(&m));
    let dir_ok = resolved
        .parent()
        .and_then(|dir| std::fs::metadata(dir).ok())
        .is_some_and(|m| only_theirs(&m));
    file_ok && dir_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_worker_binary_is_found_beside_attestd_or_in_the_packages_lib_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let exe = tmp.path().join("usr/bin/attestd");
        install(&exe, 0o755);
        // Neither installed: attestd serves as its own worker.
        assert_eq!(worker_binary_beside(&exe), exe);
        // One that cannot be executed is not taken.
        let packaged = tmp.path().join("usr/lib/attestd/attestd-worker");
        install(&packaged, 0o644);
        assert_eq!(worker_binary_beside(&exe), exe);
        // The package's layout: /usr/lib/attestd/attestd-worker.
        chmod(&packaged, 0o755);
        assert_eq!(worker_binary_beside(&exe), packaged);
        // A build's layout (both in target/release/) comes first.
        let sibling = tmp.path().join("usr/bin/attestd-worker");
        install(&sibling, 0o755);
        assert_eq!(worker_binary_beside(&exe), sibling);
    }

    #[test]
    fn a_worker_someone_else_could_have_planted_is_not_run() {
        let tmp = tempfile::tempdir().unwrap();
        let exe = tmp.path().join("bin/attestd");
        install(&exe, 0o755);
        let worker = tmp.path().join("bin/attestd-worker");
        install(&worker, 0o755);
        assert_eq!(worker_binary_beside(&exe), worker);
        // A file others may rewrite.
        chmod(&worker, 0o775);
        assert_eq!(worker_binary_beside(&exe), exe);
        chmod(&worker, 0o757);
        assert_eq!(worker_binary_beside(&exe), exe);
        chmod(&worker, 0o755);
        // A directory others may write in (a copy of attestd in /tmp).
        chmod(worker.parent().unwrap(), 0o1777);
        assert_eq!(worker_binary_beside(&exe), exe);
        chmod(worker.parent().unwrap(), 0o755);
        // A symbolic link is judged by where it leads.
        let elsewhere = tmp.path().join("drop/attestd-worker");
        install(&elsewhere, 0o755);
        chmod(elsewhere.parent().unwrap(), 0o777);
        std::fs::remove_file(&worker).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &worker).unwrap();
        assert_eq!(worker_binary_beside(&exe), exe);
        chmod(elsewhere.parent().unwrap(), 0o755);
        assert_eq!(worker_binary_beside(&exe), worker);
        // Another user's file (as root, which the tests run as, the owner can be set).
        if unsafe { libc::geteuid() } == 0 {
            std::fs::remove_file(&worker).unwrap();
            install(&worker, 0o755);
            std::os::unix::fs::chown(&worker, Some(65534), None).unwrap();
            assert_eq!(worker_binary_beside(&exe), exe);
        }
    }
}
