//! The cache of what apt's lists offer, as apt keeps `pkgcache.bin`: the pending-update
//! computation (`pending_updates`: a pure function of dpkg's status, the lists and their
//! Release files, the sources, the pins, `APT::Default-Release` and the collector's
//! settings) stored with a fingerprint of every input file (path, device, inode, size,
//! modification and change time in nanoseconds; the directories they are listed from;
//! attestd's version and its binary; the root; the settings). When nothing changed, a
//! run reads one small file instead of decompressing some 50 MB of lists.
//!
//! Where it lives (`default_dir`): `$CACHE_DIRECTORY` when set (systemd's
//! `CacheDirectory=attestd`, the packaged unit: `/var/cache/attestd`), else, for the live
//! host only, `/var/cache/attestd` as root and `$XDG_CACHE_HOME/attestd` (or
//! `~/.cache/attestd`) as another user. A fixture root (`--root`) is cached only under
//! an explicit `$CACHE_DIRECTORY`. One file per user and root:
//! `patching-lists-<uid>-<hash of the root>.json`.
//!
//! It owns reading, checking and writing that file. A cache file is used only when it is
//! a regular file (not a symlink) owned by this user or root, not group- or
//! world-writable, in a directory that is neither a symlink nor group- or
//! world-writable, of this format, with the key of the inputs as they are now and a
//! payload whose SHA-256 matches its header. Anything else is ignored and rebuilt, never
//! trusted and never a panic. It never caches time-dependent facts (list freshness, the
//! last upgrade), never writes outside its directory, and writes nothing when the
//! directory is not writable: a cache that cannot be used is a miss, never an error.

use super::Pending;
use crate::{Artifact, CollectError, HostRoot};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Bumped whenever the payload's shape or the fingerprint's meaning changes.
const FORMAT: u32 = 1;
/// A cache file larger than this is not one of ours.
const MAX_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Inputs stat'ed one by one.
const INPUT_FILES: &[&str] = &[
    crate::dpkg::STATUS,
    "/etc/apt/sources.list",
    "/etc/apt/preferences",
];
/// Directories whose every entry (and the directory itself) is an input.
const INPUT_DIRS: &[&str] = &[
    "/etc/apt/sources.list.d",
    "/etc/apt/preferences.d",
    super::lists::LISTS_DIR,
];

/// Whether this run's pending updates came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Read from a cache file whose fingerprint matched: no list was opened.
    Hit,
    /// Computed from the lists (no usable cache file; written when possible).
    Miss,
    /// No cache directory (or the `lists_cache` setting is off).
    Off,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Hit => "hit",
            State::Miss => "miss",
            State::Off => "off",
        }
    }
}

/// What the cache holds: the computed result and the artifacts it was computed from.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    pending: Pending,
    artifacts: Vec<Artifact>,
}

/// The first line of a cache file.
#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    key: String,
    payload_sha256: String,
}

/// One input file as the fingerprint sees it.
#[derive(Serialize)]
struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stat {
    fn of(m: &std::fs::Metadata) -> Stat {
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mode: m.mode(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        }
    }
}

#[derive(Serialize)]
struct Fingerprint<'a> {
    format: u32,
    attestd: &'static str,
    collector_version: &'static str,
    /// The binary itself: a rebuilt or upgraded attestd computes afresh.
    exe: Option<Stat>,
    root: String,
    settings: &'a Value,
    default_release: &'a Option<(String, String)>,
    inputs: Vec<(String, Option<Stat>)>,
}

/// The cache directory for `root` (see the module comment); `None`: no cache.
pub fn default_dir(root: &HostRoot) -> Option<PathBuf> {
    if let Some(dirs) = std::env::var_os("CACHE_DIRECTORY") {
        let first = dirs.to_string_lossy().split(':').next()?.to_string();
        return (!first.is_empty()).then(|| PathBuf::from(first));
    }
    if !root.is_live() {
        return None;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Some(PathBuf::from("/var/cache/attestd"));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    base.is_absolute().then(|| base.join("attestd"))
}

/// The key of the inputs as they are now.
fn key(
    root: &HostRoot,
    settings: &Value,
    default_release: &Option<(String, String)>,
) -> Result<String, CollectError> {
    let mut inputs = Vec::new();
    for f in INPUT_FILES {
        inputs.push((f.to_string(), root.metadata(f)?.as_ref().map(Stat::of)));
    }
    for d in INPUT_DIRS {
        inputs.push((d.to_string(), root.metadata(d)?.as_ref().map(Stat::of)));
        let mut names = root.list_dir(d)?.unwrap_or_default();
        names.sort();
        for name in names {
            let path = format!("{d}/{name}");
            let meta = root.metadata(&path)?;
            // apt's `partial/` and `auxfiles/` change while it downloads; what it
            // keeps is renamed into the directory itself, which changes its time.
            if meta.as_ref().is_some_and(|m| m.is_dir()) {
                continue;
            }
            inputs.push((path, meta.as_ref().map(Stat::of)));
        }
    }
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| Stat::of(&m));
    let fp = Fingerprint {
        format: FORMAT,
        attestd: env!("CARGO_PKG_VERSION"),
        collector_version: "1",
        exe,
        root: root.base().display().to_string(),
        settings,
        default_release,
        inputs,
    };
    Ok(crate::sha256_hex(
        &serde_json::to_vec(&fp).expect("a fingerprint is JSON"),
    ))
}

fn file_in(dir: &Path, root: &HostRoot) -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let root_hash = crate::sha256_hex(root.base().as_os_str().as_encoded_bytes());
    dir.join(format!("patching-lists-{uid}-{}.json", &root_hash[..16]))
}

/// Why a directory or file may not be trusted, if it may not.
fn untrusted(meta: &std::fs::Metadata, want_dir: bool) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let kind_ok = if want_dir {
        meta.file_type().is_dir()
    } else {
        meta.file_type().is_file()
    };
    if !kind_ok {
        return Some(if want_dir {
            "not a directory (or a symlink)".into()
        } else {
            "not a regular file".into()
        });
    }
    let mode = meta.permissions().mode();
    if want_dir {
        // Another user's directory is fine (systemd hands `CacheDirectory=` to the
        // service user, and root still writes there): a file only counts when this
        // user or root owns it.
        if mode & 0o022 != 0 {
            return Some(format!(
                "directory mode {:04o} lets others write in it",
                mode & 0o7777
            ));
        }
        return None;
    }
    if meta.uid() != uid && meta.uid() != 0 {
        return Some(format!(
            "owned by uid {}, not by uid {uid} or root",
            meta.uid()
        ));
    }
    if mode & 0o022 != 0 {
        return Some(format!("mode {:04o} lets others write it", mode & 0o7777));
    }
    None
}

/// A usable payload from `path`, or why not (`Ok(None)`: no file).
fn load(path: &Path, key: &str) -> Result<Option<Payload>, String> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if let Some(why) = untrusted(&meta, false) {
        return Err(why);
    }
    if meta.len() > MAX_CACHE_BYTES {
        return Err(format!("{} bytes is too large", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_CACHE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let nl = memchr::memchr(b'\n', &bytes).ok_or("no header line")?;
    let header: Header =
        serde_json::from_slice(&bytes[..nl]).map_err(|e| format!("bad header: {e}"))?;
    if header.format != FORMAT {
        return Err(format!("format {} is not {FORMAT}", header.format));
    }
    let body = &bytes[nl + 1..];
    if crate::sha256_hex(body) != header.payload_sha256 {
        return Err("its payload does not match its checksum".into());
    }
    if header.key != key {
        // Written for other inputs: stale, not broken.
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| format!("bad payload: {e}"))
}

/// Write the payload atomically (a temporary file renamed over the old one).
fn store(dir: &Path, path: &Path, key: &str, payload: &Payload) -> Result<(), String> {
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let header = serde_json::to_vec(&Header {
        format: FORMAT,
        key: key.to_string(),
        payload_sha256: crate::sha256_hex(&body),
    })
    .map_err(|e| e.to_string())?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".patching-lists-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    tmp.write_all(&header)
        .and_then(|_| tmp.write_all(b"\n"))
        .and_then(|_| tmp.write_all(&body))
        .map_err(|e| format!("cannot write the cache: {e}"))?;
    tmp.persist(path)
        .map_err(|e| format!("cannot rename the cache into place: {}", e.error))?;
    Ok(())
}

/// The directory, created (mode 0700) when its parent exists, if it may be used.
fn usable_dir(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) => untrusted(&m, true).map_or(Ok(()), Err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create it: {e}"))?;
            let m = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
            untrusted(&m, true).map_or(Ok(()), Err)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `compute` through the cache in `dir`: the cached result when the inputs are as they
/// were, else `compute`'s, stored for the next run when it can be. Returns the result,
/// the state, and a note on a cache that was ignored or not written (for the facts).
pub(super) fn through(
    dir: Option<&Path>,
    root: &HostRoot,
    settings: &Value,
    default_release: Option<(String, String)>,
    artifacts: &mut Vec<Artifact>,
    compute: impl FnOnce(
        &HostRoot,
        Option<(String, String)>,
        &mut Vec<Artifact>,
    ) -> Result<Option<Pending>, CollectError>,
) -> Result<(Option<Pending>, State, Option<String>), CollectError> {
    let Some(dir) = dir else {
        return Ok((compute(root, default_release, artifacts)?, State::Off, None));
    };
    let mut note = None;
    let mut writable = true;
    if let Err(why) = usable_dir(dir) {
        note = Some(format!("cache directory {} not used: {why}", dir.display()));
        writable = false;
    }
    let key = key(root, settings, &default_release)?;
    let path = file_in(dir, root);
    if writable {
        match load(&path, &key) {
            Ok(Some(payload)) => {
                artifacts.extend(payload.artifacts);
                return Ok((Some(payload.pending), State::Hit, None));
            }
            Ok(None) => {}
            Err(why) => {
                note = Some(format!("ignored {}: {why}; rebuilt", path.display()));
            }
        }
    }
    let mut own = Vec::new();
    let computed = compute(root, default_release, &mut own)?;
    let pending = match computed {
        Some(p) if writable => p,
        other => {
            artifacts.extend(own);
            return Ok((other, State::Miss, note));
        }
    };
    let payload = Payload {
        pending,
        artifacts: own,
    };
    if let Err(why) = store(dir, &path, &key, &payload) {
        note.get_or_insert(format!("not written: {why}"));
    }
    artifacts.extend(payload.artifacts);
    Ok((Some(payload.pending), State::Miss, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_directory_follows_systemd_and_the_user() {
        // Only what does not depend on the environment of the test run.
        let fixture = HostRoot::new("/nonexistent-root");
        if std::env::var_os("CACHE_DIRECTORY").is_none() {
            assert_eq!(default_dir(&fixture), None);
        }
    }

    #[test]
    fn untrusted_files_and_directories_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(untrusted(&std::fs::metadata(&f).unwrap(), false), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(untrusted(&std::fs::metadata(&f).unwrap(), false)
            .unwrap()
            .contains("lets others write"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(usable_dir(dir.path()).unwrap_err().contains("others write"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(usable_dir(dir.path()), Ok(()));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert!(usable_dir(&link).is_err());
    }

    #[test]
    fn corrupt_files_are_reasons_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        for (bytes, why) in [
            (&b"no newline"[..], "no header"),
            (b"{\"format\":1}\n{}", "bad header"),
            (
                b"{\"format\":99,\"key\":\"k\",\"payload_sha256\":\"x\"}\n{}",
                "format 99",
            ),
            (
                b"{\"format\":1,\"key\":\"k\",\"payload_sha256\":\"x\"}\n{}",
                "checksum",
            ),
        ] {
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            let e = load(&p, "k").err().unwrap_or_default();
            assert!(e.contains(why), "{e} / {why}");
        }
        let body = b"[1,2]";
        let text = format!(
            "{{\"format\":1,\"key\":\"k\",\"payload_sha256\":\"{}\"}}\n",
            crate::sha256_hex(body)
        );
        std::fs::write(&p, [text.as_bytes(), body].concat()).unwrap();
        assert!(load(&p, "k").unwrap_err().contains("bad payload"));
        assert!(load(&p, "other key").unwrap().is_none());
        assert!(load(&dir.path().join("absent"), "k").unwrap().is_none());
    }
}
