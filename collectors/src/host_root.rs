//! `HostRoot`: the one door through which collectors read the host's files.
//!
//! Paths are given as they are on the host (`/etc/login.defs`) and resolved under the
//! root, following symlinks inside the root (an absolute link target is re-anchored at
//! the root, so a fixture tree or a mounted image never leaks to the live `/`). Globs
//! are matched one path component at a time through the same resolution, so a
//! symlinked directory never lists names from outside the root.
//!
//! Files that can hold secrets (password hashes, private keys, attestd's own state and
//! signing key, systemd credentials) are refused by every reading method with the
//! reason, whatever path led to them (a symlink, an `Include`, a glob, a hard link);
//! only `read_sensitive`, called by the code that redacts such a file, opens them, and
//! it hands back only the caller's redacted projection. Only regular files are opened
//! (a FIFO, socket or device is refused after an `O_NONBLOCK` open, by `fstat` on the
//! descriptor), and a root made by `for_collector_run` caps the bytes one collector run
//! may read.
//!
//! It must never write, never return more than `MAX_FILE_BYTES` of one file (but for
//! the large databases opened with their own limit: `open_stream`, `read_text_large`),
//! and never put a byte of a refused file into an error.

use crate::CollectError;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Largest file a collector will read; anything bigger is an error, not a truncation.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Bytes one collector run may read through a root made by `for_collector_run`.
pub const RUN_BYTE_BUDGET: u64 = 64 * 1024 * 1024;
/// Symlink hops allowed while resolving one path (the kernel's own limit).
const MAX_SYMLINK_HOPS: usize = 40;
/// Names one glob may match; more is an error, not a silent cut.
const MAX_GLOB_MATCHES: usize = 4096;
/// Files that hold password hashes: refused by identity (device and inode) too, so a
/// hard link or a bind mount of them is refused as well.
const PASSWORD_HASH_FILES: [&str; 6] = [
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
    "/etc/security/opasswd.old",
];

/// The filesystem tree a collector observes.
#[derive(Debug, Clone)]
pub struct HostRoot {
    base: PathBuf,
    /// Bytes this collector run may still read; `None` for no budget.
    budget: Option<Arc<AtomicU64>>,
}

impl PartialEq for HostRoot {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base
    }
}
impl Eq for HostRoot {}

/// A file that can hold secrets, named by the code that redacts it when it asks
/// `read_sensitive` to open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitive {
    /// `/etc/passwd`, `/etc/shadow` and their kind: the redactor keeps the password
    /// field's state (set, locked, empty), never the field.
    PasswordDatabase,
    /// A certificate file that may also carry a private key: the redactor keeps the
    /// certificate blocks, never a key block.
    CertificateFile,
}

/// Why a resolved host path may not be opened by an ordinary read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretClass {
    PasswordHashes,
    PrivateKey,
    AttestdState,
    Credential,
}

impl SecretClass {
    fn reason(self) -> &'static str {
        match self {
            SecretClass::PasswordHashes => "it holds password hashes",
            SecretClass::PrivateKey => "it holds or is named like a private key",
            SecretClass::AttestdState => {
                "it is attestd's own state (its database or bundle-signing key)"
            }
            SecretClass::Credential => "it is a credential file",
        }
    }

    /// True when a redactor of `kind` may open a file of this class.
    fn allowed_for(self, kind: Sensitive) -> bool {
        matches!(
            (self, kind),
            (SecretClass::PasswordHashes, Sensitive::PasswordDatabase)
                | (SecretClass::PrivateKey, Sensitive::CertificateFile)
        )
    }
}

/// The secret class of a resolved host path, by name.
fn secret_class(host_path: &str) -> Option<SecretClass> {
    let name = host_path.rsplit('/').next().unwrap_or(host_path);
    if PASSWORD_HASH_FILES.contains(&host_path) {
        return Some(SecretClass::PasswordHashes);
    }
    if name == "signing-key.pem" || host_path.starts_with("/var/lib/attestd/") {
        return Some(SecretClass::AttestdState);
    }
    // Credential files: systemd credentials, and files named like a password or token
    // (restic's `--password-file`, an alert sink's secret file). /etc/attestd itself
    // is not refused: operators keep CA files there (`ca_file`).
    let credential_name = [".pass", ".password", ".secret", ".token"]
        .iter()
        .any(|ext| name.ends_with(ext));
    if credential_name
        || [
            "/run/credentials/",
            "/etc/credstore/",
            "/etc/credstore.encrypted/",
        ]
        .iter()
        .any(|d| host_path.starts_with(d))
    {
        return Some(SecretClass::Credential);
    }
    let host_key = host_path.starts_with("/etc/ssh/ssh_host_") && name.ends_with("_key");
    if host_key
        || host_path.starts_with("/etc/ssl/private/")
        || name.ends_with(".key")
        || name.starts_with("privkey")
    {
        return Some(SecretClass::PrivateKey);
    }
    None
}

/// The secret class of a file's content: a private key block or a shadow-format
/// password hash. Looked at after every ordinary read, so a copy of a secret file under
/// an innocent name is refused too.
fn secret_content(bytes: &[u8]) -> Option<SecretClass> {
    let has = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
    if has(b"PRIVATE KEY-----") || has(b"PuTTY-User-Key-File") {
        return Some(SecretClass::PrivateKey);
    }
    if may_hold_shadow_hash(bytes)
        && String::from_utf8_lossy(bytes)
            .lines()
            .any(is_shadow_hash_line)
    {
        return Some(SecretClass::PasswordHashes);
    }
    None
}

/// False only when no line can be a shadow hash line: such a line has a `$` right
/// after its first `:` or after the `!`/`*` that lock the hash. A quick scan, so that
/// large ordinary files (dpkg's status) skip the line-by-line check.
fn may_hold_shadow_hash(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'$', bytes).any(|at| at > 0 && matches!(bytes[at - 1], b':' | b'!' | b'*'))
}

/// `name:$id$...` as in shadow or gshadow: a crypt(3) hash in the second field.
fn is_shadow_hash_line(line: &str) -> bool {
    let mut fields = line.split(':');
    let (Some(name), Some(hash)) = (fields.next(), fields.next()) else {
        return false;
    };
    let hash = hash.trim_start_matches(['!', '*']);
    !name.is_empty()
        && !name.contains(char::is_whitespace)
        && hash.len() >= 8
        && hash.starts_with('$')
        && hash[1..].contains('$')
        && !hash.contains(char::is_whitespace)
}

fn refused(host_path: &str, resolved: &str, class: SecretClass) -> CollectError {
    let via = if resolved == host_path {
        String::new()
    } else {
        format!(" (it resolves to {resolved})")
    };
    CollectError::Unreadable {
        path: host_path.to_string(),
        reason: format!(
            "refused{via}: {}; attestd opens such files only in the code that redacts them",
            class.reason()
        ),
    }
}

impl HostRoot {
    /// A root at `base`; `/` means the live host.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        HostRoot {
            base: base.into(),
            budget: None,
        }
    }

    /// The live host.
    pub fn live() -> Self {
        HostRoot::new("/")
    }

    /// The same root with a fresh budget of `RUN_BYTE_BUDGET` bytes, for one collector
    /// run: a collector that reads more gets an error naming the budget.
    pub fn for_collector_run(&self) -> Self {
        self.with_budget(RUN_BYTE_BUDGET)
    }

    /// The same root with a fresh budget of `bytes`.
    pub fn with_budget(&self, bytes: u64) -> Self {
        HostRoot {
            base: self.base.clone(),
            budget: Some(Arc::new(AtomicU64::new(bytes))),
        }
    }

    /// True when this root is the running system, so facts that only exist for a live
    /// kernel (uptime, load) may be asked of it directly.
    pub fn is_live(&self) -> bool {
        self.base == Path::new("/")
    }

    /// The directory the root sits at.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Where a host path lives on this machine, with symlinks resolved inside the root.
    pub fn resolve(&self, host_path: &str) -> Result<PathBuf, CollectError> {
        self.resolve_host(host_path).map(|(on_disk, _)| on_disk)
    }

    /// The path on disk and the host path it resolves to (no symlink left in it).
    fn resolve_host(&self, host_path: &str) -> Result<(PathBuf, String), CollectError> {
        let mut resolved = PathBuf::from("/");
        let mut hops = 0;
        // The path pieces still to walk, last piece first.
        let mut queue: Vec<std::ffi::OsString> = Vec::new();
        push_components(&mut queue, Path::new(host_path));
        while let Some(part) = queue.pop() {
            if part == ".." {
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&part);
            let on_disk = self.on_disk(&candidate);
            match fs::symlink_metadata(&on_disk) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(CollectError::Unreadable {
                            path: host_path.to_string(),
                            reason: "too many levels of symbolic links (a symlink loop?)".into(),
                        });
                    }
                    let target = fs::read_link(&on_disk).map_err(|e| unreadable(host_path, &e))?;
                    if target.is_absolute() {
                        resolved = PathBuf::from("/");
                    }
                    push_components(&mut queue, &target);
                }
                _ => resolved = candidate,
            }
        }
        let host = resolved.to_string_lossy().into_owned();
        Ok((self.on_disk(&resolved), host))
    }

    fn on_disk(&self, host: &Path) -> PathBuf {
        self.base.join(host.strip_prefix("/").unwrap_or(host))
    }

    /// Open a resolved regular file for reading, or say why not. A FIFO, socket or
    /// device is refused without blocking (opened `O_NONBLOCK`, checked by `fstat`);
    /// a file of a secret class is refused unless `allowed` says its redactor asked.
    fn open_checked(
        &self,
        host_path: &str,
        allowed: Option<Sensitive>,
    ) -> Result<Option<(fs::File, fs::Metadata)>, CollectError> {
        let (path, resolved) = self.resolve_host(host_path)?;
        if let Some(class) = secret_class(&resolved) {
            if !allowed.is_some_and(|k| class.allowed_for(k)) {
                return Err(refused(host_path, &resolved, class));
            }
        }
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(host_path, &e)),
        };
        let meta = file.metadata().map_err(|e| unreadable(host_path, &e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: "is a directory, expected a file".into(),
            });
        }
        if !ft.is_file() {
            use std::os::unix::fs::FileTypeExt;
            let what = if ft.is_fifo() {
                "a FIFO"
            } else if ft.is_socket() {
                "a socket"
            } else if ft.is_block_device() || ft.is_char_device() {
                "a device"
            } else {
                "not a regular file"
            };
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: format!("refused: is {what}, expected a regular file"),
            });
        }
        if allowed != Some(Sensitive::PasswordDatabase) {
            for secret in PASSWORD_HASH_FILES {
                if let Ok(m) = fs::metadata(self.on_disk(Path::new(secret))) {
                    if m.dev() == meta.dev() && m.ino() == meta.ino() {
                        return Err(refused(host_path, secret, SecretClass::PasswordHashes));
                    }
                }
            }
        }
        Ok(Some((file, meta)))
    }

    /// Take `n` bytes from the run's budget, or say the budget is spent.
    fn charge(&self, host_path: &str, n: u64) -> Result<(), CollectError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        let spent = budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_err();
        if spent {
            budget.store(0, Ordering::Relaxed);
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: format!(
                    "this collector run has read its budget of {} MiB (an include tree or directory far larger than any real configuration?)",
                    RUN_BYTE_BUDGET / 1024 / 1024
                ),
            });
        }
        Ok(())
    }

    /// Read at most `MAX_FILE_BYTES` (+1, to tell a file over the limit) of an open file.
    fn read_capped(&self, host_path: &str, file: fs::File) -> Result<Vec<u8>, CollectError> {
        let mut buf = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| unreadable(host_path, &e))?;
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: format!("larger than the {} MiB limit", MAX_FILE_BYTES / 1024 / 1024),
            });
        }
        self.charge(host_path, buf.len() as u64)?;
        Ok(buf)
    }

    /// Read a whole file. `Ok(None)` when it does not exist; an error when it exists
    /// but cannot be read, is not a regular file, is larger than `MAX_FILE_BYTES`, or
    /// can hold secrets (by its resolved path or by its content).
    pub fn read(&self, host_path: &str) -> Result<Option<Vec<u8>>, CollectError> {
        let Some((file, _)) = self.open_checked(host_path, None)? else {
            return Ok(None);
        };
        let mut buf = self.read_capped(host_path, file)?;
        if let Some(class) = secret_content(&buf) {
            buf.fill(0);
            let resolved = self.resolve_host(host_path)?.1;
            return Err(refused(host_path, &resolved, class));
        }
        Ok(Some(buf))
    }

    /// Open a file that can hold secrets, for the code that redacts it: `redact` gets
    /// the bytes and returns the projection that may be kept; the bytes are wiped
    /// afterwards. Files of another secret class than `kind` are refused as `read`
    /// refuses them. `Ok(None)` when the file does not exist.
    pub fn read_sensitive<T>(
        &self,
        host_path: &str,
        kind: Sensitive,
        redact: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, CollectError> {
        let Some((file, _)) = self.open_checked(host_path, Some(kind))? else {
            return Ok(None);
        };
        let mut buf = self.read_capped(host_path, file)?;
        let out = redact(&buf);
        buf.fill(0);
        Ok(Some(out))
    }

    /// Open a file to read as a stream, for the few large databases a collector walks
    /// without holding them (dpkg's status, apt's package lists): at most `max_bytes`
    /// are readable, and a file larger than that is an error before anything is read.
    /// `Ok(None)` when it does not exist.
    pub fn open_stream(
        &self,
        host_path: &str,
        max_bytes: u64,
    ) -> Result<Option<std::io::Take<fs::File>>, CollectError> {
        // The same checks as every read: secret files refused, regular files only.
        let Some((file, meta)) = self.open_checked(host_path, None)? else {
            return Ok(None);
        };
        if meta.len() > max_bytes {
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: format!("larger than the {} MiB limit", max_bytes / 1024 / 1024),
            });
        }
        Ok(Some(file.take(max_bytes)))
    }

    /// `read_text` for a large text database (dpkg's status) with its own limit.
    pub fn read_text_large(
        &self,
        host_path: &str,
        max_bytes: u64,
    ) -> Result<Option<String>, CollectError> {
        let Some(mut stream) = self.open_stream(host_path, max_bytes)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        stream
            .read_to_end(&mut buf)
            .map_err(|e| unreadable(host_path, &e))?;
        if buf.contains(&0) {
            return Err(CollectError::Malformed {
                path: host_path.to_string(),
                line: 0,
                reason: "binary content (NUL bytes) where a text file was expected".into(),
            });
        }
        String::from_utf8(buf)
            .map(Some)
            .map_err(|e| CollectError::Malformed {
                path: host_path.to_string(),
                line: 0,
                reason: format!("not valid UTF-8 text ({e})"),
            })
    }

    /// Read up to `len` bytes at `offset` of a file (for large binary records such as
    /// `/var/log/lastlog`, a sparse file indexed by UID). `Ok(None)` when it does not
    /// exist; `len` is capped at `MAX_FILE_BYTES`.
    pub fn read_range(
        &self,
        host_path: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, CollectError> {
        use std::io::{Seek, SeekFrom};
        let Some((mut file, _)) = self.open_checked(host_path, None)? else {
            return Ok(None);
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| unreadable(host_path, &e))?;
        let mut buf = Vec::new();
        file.take(len.min(MAX_FILE_BYTES))
            .read_to_end(&mut buf)
            .map_err(|e| unreadable(host_path, &e))?;
        self.charge(host_path, buf.len() as u64)?;
        Ok(Some(buf))
    }

    /// Read a text file; invalid UTF-8 or NUL bytes make it malformed, because no
    /// configuration file attestd reads is binary.
    pub fn read_text(&self, host_path: &str) -> Result<Option<String>, CollectError> {
        let Some(bytes) = self.read(host_path)? else {
            return Ok(None);
        };
        bytes_to_text(host_path, bytes).map(Some)
    }

    /// The names in a directory, sorted as the tools that read drop-in directories
    /// sort them (byte order). `Ok(None)` when the directory does not exist.
    pub fn list_dir(&self, host_path: &str) -> Result<Option<Vec<String>>, CollectError> {
        let path = self.resolve(host_path)?;
        let entries = match fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(host_path, &e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(host_path, &e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
            if names.len() > MAX_GLOB_MATCHES {
                return Err(CollectError::Unreadable {
                    path: host_path.to_string(),
                    reason: format!("more than {MAX_GLOB_MATCHES} entries in one directory"),
                });
            }
        }
        names.sort();
        Ok(Some(names))
    }

    /// Host paths matching a glob pattern given as a host path (`/etc/ssh/sshd_config.d/*.conf`),
    /// sorted. The pattern is matched one component at a time, each directory resolved
    /// inside the root, so a symlinked directory is followed where it points inside the
    /// root and never lists the live host's names.
    pub fn glob(&self, host_pattern: &str) -> Result<Vec<String>, CollectError> {
        let bad = |e: glob::PatternError| CollectError::Malformed {
            path: host_pattern.to_string(),
            line: 0,
            reason: format!("bad glob pattern: {e}"),
        };
        let mut current: Vec<String> = vec![String::new()];
        let parts: Vec<&str> = host_pattern.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let mut next = Vec::new();
            if part.contains(['*', '?', '[']) {
                let pattern = glob::Pattern::new(part).map_err(bad)?;
                for dir in &current {
                    let dir_host = if dir.is_empty() { "/" } else { dir.as_str() };
                    let names = match self.list_dir(dir_host) {
                        Ok(Some(names)) => names,
                        // Like glob(3): what cannot be listed matches nothing.
                        Ok(None) | Err(CollectError::Unreadable { .. }) => continue,
                        Err(e) => return Err(e),
                    };
                    for name in names {
                        if name.starts_with('.') && !part.starts_with('.') {
                            continue;
                        }
                        if pattern.matches(&name) {
                            next.push(format!("{dir}/{name}"));
                        }
                    }
                }
            } else {
                next = current.iter().map(|d| format!("{d}/{part}")).collect();
            }
            if !last {
                // Only directories can hold the rest of the pattern.
                next.retain(|p| self.metadata(p).ok().flatten().is_some_and(|m| m.is_dir()));
            }
            if next.len() > MAX_GLOB_MATCHES {
                return Err(CollectError::Unreadable {
                    path: host_pattern.to_string(),
                    reason: format!("the pattern matches more than {MAX_GLOB_MATCHES} paths"),
                });
            }
            current = next;
        }
        let mut out: Vec<String> = current
            .into_iter()
            .filter(|p| !p.is_empty() && self.metadata(p).ok().flatten().is_some())
            .collect();
        out.sort();
        Ok(out)
    }

    /// File metadata (following symlinks inside the root); `Ok(None)` when absent.
    pub fn metadata(&self, host_path: &str) -> Result<Option<fs::Metadata>, CollectError> {
        let path = self.resolve(host_path)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unreadable(host_path, &e)),
        }
    }
}

/// Bytes as the text of a configuration file: NUL bytes or invalid UTF-8 are malformed.
pub(crate) fn bytes_to_text(host_path: &str, bytes: Vec<u8>) -> Result<String, CollectError> {
    if bytes.contains(&0) {
        return Err(CollectError::Malformed {
            path: host_path.to_string(),
            line: 0,
            reason: "binary content (NUL bytes) where a text file was expected".into(),
        });
    }
    String::from_utf8(bytes).map_err(|e| CollectError::Malformed {
        path: host_path.to_string(),
        line: 0,
        reason: format!(
            "not valid UTF-8 text (at byte {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Push a path's pieces onto a stack so that the first piece is popped first.
fn push_components(queue: &mut Vec<std::ffi::OsString>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => queue.push(n.to_owned()),
            Component::ParentDir => queue.push("..".into()),
            _ => {}
        }
    }
}

fn unreadable(host_path: &str, e: &std::io::Error) -> CollectError {
    let reason = match e.kind() {
        ErrorKind::PermissionDenied => {
            "permission denied (run as root or grant CAP_DAC_READ_SEARCH)".to_string()
        }
        _ => e.to_string(),
    };
    CollectError::Unreadable {
        path: host_path.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        fs::create_dir_all(dir.path().join("etc/alt")).unwrap();
        fs::write(dir.path().join("etc/alt/real.conf"), "inside").unwrap();
        symlink("/etc/alt/real.conf", dir.path().join("etc/link.conf")).unwrap();
        let text = root.read_text("/etc/link.conf").unwrap().unwrap();
        assert_eq!(text, "inside");
        // A link to a path that exists on the live host but not in the root is absent.
        symlink("/etc/hostname", dir.path().join("etc/escape")).unwrap();
        assert_eq!(root.read("/etc/escape").unwrap(), None);
    }

    #[test]
    fn symlink_loops_are_errors_not_hangs() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        symlink("/etc/b", dir.path().join("etc/a")).unwrap();
        symlink("/etc/a", dir.path().join("etc/b")).unwrap();
        let err = HostRoot::new(dir.path()).read("/etc/a").unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }

    #[test]
    fn huge_and_binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        fs::write(
            dir.path().join("big"),
            vec![b'a'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        assert!(root.read("/big").unwrap_err().to_string().contains("limit"));
        fs::write(dir.path().join("bin"), b"PASS\0\x01").unwrap();
        assert!(root
            .read_text("/bin")
            .unwrap_err()
            .to_string()
            .contains("binary"));
        assert_eq!(root.read("/missing").unwrap(), None);
    }

    #[test]
    fn the_quick_scan_never_hides_a_hash_line() {
        let hashes = [
            "root:$y$j9T$salt$hash:20400::::::",
            "daemon:!$6$salt$hash:1::::::",
            "locked:!!$6$salt$hash:1::::::",
            "star:*$1$salt$hashhash:1::::::",
            "grp:!*$6$salt$hash::",
        ];
        for line in hashes {
            for text in [line.to_string(), format!("a: $b\n\u{fffd}\n{line}\n")] {
                assert!(is_shadow_hash_line(line), "{line}");
                assert!(may_hold_shadow_hash(text.as_bytes()), "{text}");
                assert_eq!(
                    secret_content(text.as_bytes()),
                    Some(SecretClass::PasswordHashes),
                    "{text}"
                );
            }
        }
        // Prices and shell variables are not hashes; the scan lets them through.
        for text in [
            "Description: costs $5 a month\n",
            "PATH=$HOME/bin:$PATH\n",
            "x\n",
        ] {
            assert_eq!(secret_content(text.as_bytes()), None, "{text}");
        }
    }
}

#[cfg(test)]
mod hostile_tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const HASH: &str = "root:$y$j9T$MARKERsalt$MARKERhashMARKERhash:20400:0:99999:7:::\n";

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "etc/ssh/sshd_config.d",
            "etc/ssl/private",
            "var/lib/attestd",
            "tmp",
        ] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("etc/shadow"), HASH).unwrap();
        dir
    }

    #[test]
    fn secret_files_are_refused_whatever_path_leads_to_them() {
        let dir = tree();
        let root = HostRoot::new(dir.path());
        symlink("/etc/shadow", dir.path().join("etc/login.defs")).unwrap();
        symlink("../etc/shadow", dir.path().join("tmp/rel")).unwrap();
        fs::hard_link(dir.path().join("etc/shadow"), dir.path().join("tmp/hard")).unwrap();
        fs::write(dir.path().join("var/lib/attestd/signing-key.pem"), "k").unwrap();
        fs::write(dir.path().join("etc/ssh/ssh_host_ed25519_key"), "k").unwrap();
        fs::create_dir_all(dir.path().join("etc/attestd")).unwrap();
        fs::write(dir.path().join("etc/attestd/restic.pass"), "k").unwrap();
        for (path, why) in [
            ("/etc/shadow", "password hashes"),
            ("/etc/login.defs", "resolves to /etc/shadow"),
            ("/tmp/rel", "password hashes"),
            ("/tmp/hard", "password hashes"),
            ("/etc/ssh/../shadow", "password hashes"),
            ("/var/lib/attestd/signing-key.pem", "signing key"),
            ("/etc/attestd/restic.pass", "credential"),
            ("/etc/ssh/ssh_host_ed25519_key", "private key"),
        ] {
            let err = root.read(path).unwrap_err().to_string();
            assert!(
                err.contains("refused") && err.contains(why),
                "{path}: {err}"
            );
            assert!(!err.contains("MARKER"), "{err}");
            assert!(root.read_text(path).is_err() && root.read_range(path, 0, 9).is_err());
        }
    }

    #[test]
    fn secret_content_under_an_innocent_name_is_refused() {
        let dir = tree();
        let root = HostRoot::new(dir.path());
        fs::write(dir.path().join("tmp/copy"), format!("# x\n{HASH}")).unwrap();
        fs::write(
            dir.path().join("tmp/key.pem"),
            "-----BEGIN OPENSSH PRIVATE KEY-----\nMARKERkey\n-----END OPENSSH PRIVATE KEY-----\n",
        )
        .unwrap();
        for path in ["/tmp/copy", "/tmp/key.pem"] {
            let err = root.read(path).unwrap_err().to_string();
            assert!(err.contains("refused") && !err.contains("MARKER"), "{err}");
        }
        // The redacting reader of the right kind gets the bytes; of another kind not.
        let n = root
            .read_sensitive("/etc/shadow", Sensitive::PasswordDatabase, |b| b.len())
            .unwrap();
        assert_eq!(n, Some(HASH.len()));
        assert!(root
            .read_sensitive("/etc/shadow", Sensitive::CertificateFile, |b| b.len())
            .is_err());
    }

    #[test]
    fn fifos_are_refused_without_blocking() {
        let dir = tree();
        let fifo = dir.path().join("etc/login.defs");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let started = std::time::Instant::now();
        let err = HostRoot::new(dir.path())
            .read_text("/etc/login.defs")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a FIFO"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let live = HostRoot::live().read("/dev/zero").unwrap_err().to_string();
        assert!(live.contains("a device"), "{live}");
    }

    #[test]
    fn a_run_budget_caps_the_bytes_read() {
        let dir = tree();
        fs::write(dir.path().join("tmp/big"), vec![b'a'; 600 * 1024]).unwrap();
        let root = HostRoot::new(dir.path()).with_budget(1024 * 1024);
        assert!(root.read("/tmp/big").is_ok());
        let err = root.read("/tmp/big").unwrap_err().to_string();
        assert!(err.contains("budget"), "{err}");
        // A fresh run has a fresh budget.
        assert!(root.for_collector_run().read("/tmp/big").is_ok());
    }

    #[test]
    fn a_glob_through_a_symlinked_directory_stays_inside_the_root() {
        let dir = tree();
        let root = HostRoot::new(dir.path());
        // An absolute link to a directory the live host has but the root lacks.
        fs::remove_dir(dir.path().join("etc/ssh/sshd_config.d")).unwrap();
        symlink("/etc", dir.path().join("etc/ssh/sshd_config.d")).unwrap();
        fs::write(dir.path().join("etc/inside.conf"), "x").unwrap();
        let found = root.glob("/etc/ssh/sshd_config.d/*").unwrap();
        // Names come from the root's /etc (re-anchored), never from the live /etc.
        assert!(found.contains(&"/etc/ssh/sshd_config.d/inside.conf".to_string()));
        assert!(!found.iter().any(|p| p.ends_with("/passwd")), "{found:?}");
        let none = root.glob("/etc/ssh/sshd_config.d/ssl/*/nothing").unwrap();
        assert!(none.is_empty());
        let sub = root.glob("/etc/*/private").unwrap();
        assert_eq!(sub, vec!["/etc/ssl/private".to_string()]);
    }
}
