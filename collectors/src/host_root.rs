//! `HostRoot`: the one door through which collectors read the host's files.
//!
//! Paths are given as they are on the host (`/etc/login.defs`) and resolved under the
//! root, following symlinks inside the root (an absolute link target is re-anchored at
//! the root, so a fixture tree or a mounted image never leaks to the live `/`).
//! It must never write, and never return more than `MAX_FILE_BYTES` of one file, but for
//! the large databases opened with their own limit (`open_stream`, `read_text_large`).

use crate::CollectError;
use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Component, Path, PathBuf};

/// Largest file a collector will read; anything bigger is an error, not a truncation.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Symlink hops allowed while resolving one path (the kernel's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The filesystem tree a collector observes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    base: PathBuf,
}

impl HostRoot {
    /// A root at `base`; `/` means the live host.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        HostRoot { base: base.into() }
    }

    /// The live host.
    pub fn live() -> Self {
        HostRoot::new("/")
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
        if self.is_live() {
            return Ok(PathBuf::from(host_path));
        }
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
            let on_disk = self
                .base
                .join(candidate.strip_prefix("/").unwrap_or(&candidate));
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
        Ok(self
            .base
            .join(resolved.strip_prefix("/").unwrap_or(&resolved)))
    }

    /// Read a whole file. `Ok(None)` when it does not exist; an error when it exists
    /// but cannot be read or is larger than `MAX_FILE_BYTES`.
    pub fn read(&self, host_path: &str) -> Result<Option<Vec<u8>>, CollectError> {
        let path = self.resolve(host_path)?;
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(host_path, &e)),
        };
        let meta = file.metadata().map_err(|e| unreadable(host_path, &e))?;
        if meta.is_dir() {
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: "is a directory, expected a file".into(),
            });
        }
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
        Ok(Some(buf))
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
        let path = self.resolve(host_path)?;
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(host_path, &e)),
        };
        let meta = file.metadata().map_err(|e| unreadable(host_path, &e))?;
        if meta.is_dir() {
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: "is a directory, expected a file".into(),
            });
        }
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
        let path = self.resolve(host_path)?;
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(host_path, &e)),
        };
        let meta = file.metadata().map_err(|e| unreadable(host_path, &e))?;
        if meta.is_dir() {
            return Err(CollectError::Unreadable {
                path: host_path.to_string(),
                reason: "is a directory, expected a file".into(),
            });
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| unreadable(host_path, &e))?;
        let mut buf = Vec::new();
        file.take(len.min(MAX_FILE_BYTES))
            .read_to_end(&mut buf)
            .map_err(|e| unreadable(host_path, &e))?;
        Ok(Some(buf))
    }

    /// Read a text file; invalid UTF-8 or NUL bytes make it malformed, because no
    /// configuration file attestd reads is binary.
    pub fn read_text(&self, host_path: &str) -> Result<Option<String>, CollectError> {
        let Some(bytes) = self.read(host_path)? else {
            return Ok(None);
        };
        if bytes.contains(&0) {
            return Err(CollectError::Malformed {
                path: host_path.to_string(),
                line: 0,
                reason: "binary content (NUL bytes) where a text file was expected".into(),
            });
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| CollectError::Malformed {
                path: host_path.to_string(),
                line: 0,
                reason: format!("not valid UTF-8 text ({e})"),
            })
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
        }
        names.sort();
        Ok(Some(names))
    }

    /// Host paths matching a glob pattern given as a host path (`/etc/ssh/sshd_config.d/*.conf`),
    /// sorted. Patterns only match inside the root.
    pub fn glob(&self, host_pattern: &str) -> Result<Vec<String>, CollectError> {
        let rel = host_pattern.trim_start_matches('/');
        let full = self.base.join(rel);
        let pattern = full.to_string_lossy().into_owned();
        let paths = glob::glob(&pattern).map_err(|e| CollectError::Malformed {
            path: host_pattern.to_string(),
            line: 0,
            reason: format!("bad glob pattern: {e}"),
        })?;
        let mut out = Vec::new();
        for p in paths.flatten() {
            if let Ok(stripped) = p.strip_prefix(&self.base) {
                out.push(format!("/{}", stripped.to_string_lossy()));
            }
        }
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
}
