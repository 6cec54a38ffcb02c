//! apt's downloaded package lists (`/var/lib/apt/lists`): each `Packages` list mapped
//! to the `InRelease`/`Release` file of its repository (origin, label, suite, codename:
//! what its content says, not what its file name suggests), and the versions the lists
//! offer for the packages dpkg has. Lists are read as streams, decompressed on the fly
//! when apt stored them compressed (lz4 on Docker's Debian images, gzip with
//! `Acquire::GzipIndexes`), and only the stanzas of installed packages are parsed.
//!
//! It owns reading the lists; it never fetches, never verifies signatures (apt did,
//! before writing them) and never decides which version apt would pick.

use super::preferences::ListInfo;
use super::sources::Source;
use crate::formats::deb822::{self, Relation};
use crate::{CollectError, HostRoot};
use std::collections::{HashMap, HashSet};
use std::io::Read;

pub const LISTS_DIR: &str = "/var/lib/apt/lists";
/// A Release file's fields come before its checksums; this much holds them.
const RELEASE_HEAD_BYTES: u64 = 64 * 1024;
/// The largest list read (Debian's main list is about 50 MB uncompressed).
const MAX_LIST_BYTES: u64 = 1024 * 1024 * 1024;

/// One repository's Release file.
#[derive(Debug, Clone)]
pub struct Release {
    /// Its file name under the lists directory.
    pub file: String,
    pub info: ListInfo,
    /// `Date:` as written.
    pub date: Option<String>,
    /// A security archive: a suite or codename ending in `-security`, or a label
    /// naming security (`Debian-Security`).
    pub security: bool,
}

/// One `Packages` list.
#[derive(Debug, Clone)]
pub struct Index {
    pub file: String,
    /// Index into the releases; `None` when no Release file names it.
    pub release: Option<usize>,
    pub info: ListInfo,
}

/// A version of a package offered by one or more lists.
#[derive(Debug, Clone)]
pub struct Offer {
    pub version_text: String,
    pub version: debversion::Version,
    /// Indexes (into `Lists::indexes`) of the lists offering it.
    pub lists: Vec<usize>,
    pub depends: Vec<Vec<Relation>>,
    pub conflicts: Vec<Vec<Relation>>,
    pub provides: Vec<Relation>,
}

/// What the lists offer.
#[derive(Debug, Default)]
pub struct Lists {
    pub releases: Vec<Release>,
    pub indexes: Vec<Index>,
    /// Offers by (package, architecture with `all` read as native).
    pub offers: HashMap<(String, String), Vec<Offer>>,
    /// Lists that could not be used, with the reason (named in the facts).
    pub problems: Vec<String>,
}

/// Read the Release files and the `Packages` lists for `archs`, keeping the offers of
/// the packages in `wanted`. `Ok(None)` when there is no lists directory.
pub fn read(
    root: &HostRoot,
    sources: &[Source],
    native_arch: &str,
    archs: &HashSet<String>,
    wanted: &HashSet<&str>,
) -> Result<Option<Lists>, CollectError> {
    let Some(names) = root.list_dir(LISTS_DIR)? else {
        return Ok(None);
    };
    let mut lists = Lists::default();
    // Release files: InRelease preferred over Release for the same repository.
    for name in &names {
        let prefix = if let Some(p) = name.strip_suffix("_InRelease") {
            p
        } else if let Some(p) = name.strip_suffix("_Release") {
            if names.contains(&format!("{p}_InRelease")) {
                continue;
            }
            p
        } else {
            continue;
        };
        if !sources.iter().any(|s| s.prefix == format!("{prefix}_")) {
            // Left behind by a source that is no longer configured: apt ignores it.
            continue;
        }
        let path = format!("{LISTS_DIR}/{name}");
        let head = root
            .read_range(&path, 0, RELEASE_HEAD_BYTES)?
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&head);
        let mut release = parse_release(name, &text);
        release.info.site = site_of(prefix);
        lists.releases.push(release);
    }
    for name in &names {
        let Some((stem, compression)) = packages_list(name) else {
            continue;
        };
        // `<release prefix>_<component>_binary-<arch>_Packages`
        let Some((before, arch)) = stem.rsplit_once("_binary-") else {
            continue;
        };
        if !archs.contains(arch) {
            continue;
        }
        let release = lists
            .releases
            .iter()
            .enumerate()
            .filter(|(_, r)| before.starts_with(&format!("{}_", release_prefix(&r.file))))
            .max_by_key(|(_, r)| r.file.len())
            .map(|(i, _)| i);
        let (component, mut info) = match release {
            Some(i) => {
                let prefix = release_prefix(&lists.releases[i].file);
                (
                    before[prefix.len() + 1..].to_string(),
                    lists.releases[i].info.clone(),
                )
            }
            None => {
                continue;
            }
        };
        let configured = sources.iter().any(|s| {
            s.prefix
                == format!(
                    "{}_",
                    release_prefix(&lists.releases[release.unwrap_or(0)].file)
                )
                && (s.components.is_empty()
                    || s.components.iter().any(|c| {
                        c.rsplit('/').next() == Some(component.as_str()) || *c == component
                    }))
                && (s.archs.is_empty() || arch == "all" || s.archs.iter().any(|a| a == arch))
        });
        if !configured {
            continue;
        }
        info.component = component;
        info.arch = arch.to_string();
        let index = lists.indexes.len();
        lists.indexes.push(Index {
            file: name.clone(),
            release,
            info,
        });
        let path = format!("{LISTS_DIR}/{name}");
        let Some(stream) = root.open_stream(&path, MAX_LIST_BYTES)? else {
            continue;
        };
        let reader: Box<dyn Read> = match compression {
            Compression::None => Box::new(stream),
            Compression::Lz4 => {
                Box::new(Pipelined::new(lz4_flex::frame::FrameDecoder::new(stream)))
            }
            Compression::Gzip => {
                Box::new(Pipelined::new(flate2::read::MultiGzDecoder::new(stream)))
            }
            Compression::Unsupported(ext) => {
                lists.problems.push(format!(
                    "{path}: compressed as .{ext}, which attestd does not read (set Acquire::GzipIndexes or keep lists uncompressed)"
                ));
                lists.indexes.pop();
                continue;
            }
        };
        read_offers(&path, reader, index, native_arch, wanted, &mut lists.offers)?;
    }
    Ok(Some(lists))
}

fn read_offers(
    path: &str,
    reader: Box<dyn Read>,
    index: usize,
    native_arch: &str,
    wanted: &HashSet<&str>,
    offers: &mut HashMap<(String, String), Vec<Offer>>,
) -> Result<(), CollectError> {
    let mut want = |p: Option<&[u8]>| {
        p.and_then(|p| std::str::from_utf8(p).ok())
            .is_some_and(|p| wanted.contains(p))
    };
    deb822::for_each_stanza(path, reader, &mut want, &mut |s| {
        let bad = |reason: String| CollectError::Malformed {
            path: path.to_string(),
            line: s.line,
            reason,
        };
        let name = s.get("Package").unwrap_or("");
        let version_text = s
            .get("Version")
            .ok_or_else(|| bad(format!("package {name}: no Version field")))?;
        let version: debversion::Version = version_text
            .parse()
            .map_err(|e| bad(format!("package {name}: field Version: {e}")))?;
        let mut arch = s.get("Architecture").unwrap_or(native_arch);
        if arch == "all" {
            arch = native_arch;
        }
        let rel = |field: &str| -> Result<Vec<Vec<Relation>>, CollectError> {
            match s.joined(field) {
                Some(v) => deb822::relations(&v)
                    .map_err(|e| bad(format!("package {name}: field {field}: {e}"))),
                None => Ok(Vec::new()),
            }
        };
        let entry = offers
            .entry((name.to_string(), arch.to_string()))
            .or_default();
        if let Some(existing) = entry.iter_mut().find(|o| o.version == version) {
            if !existing.lists.contains(&index) {
                existing.lists.push(index);
            }
            return Ok(());
        }
        let mut depends = rel("Pre-Depends")?;
        depends.extend(rel("Depends")?);
        let mut conflicts = rel("Conflicts")?;
        conflicts.extend(rel("Breaks")?);
        entry.push(Offer {
            version_text: version_text.to_string(),
            version,
            lists: vec![index],
            depends,
            conflicts,
            provides: rel("Provides")?.into_iter().flatten().collect(),
        });
        Ok(())
    })
}

/// Decompression on a thread of its own, handing over 256 KiB pieces (at most four in
/// flight), so that inflating a 50 MB list and picking its stanzas run side by side.
/// Pieces the reader is done with go back to the decoder: a list costs six buffers,
/// not one fresh (zeroed, page-faulted) allocation per piece.
struct Pipelined {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    back: std::sync::mpsc::Sender<Vec<u8>>,
    piece: Vec<u8>,
    at: usize,
}

const PIECE_BYTES: usize = 256 * 1024;

impl Pipelined {
    fn new<R: Read + Send + 'static>(mut inner: R) -> Pipelined {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let (back, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || loop {
            let mut piece = returned
                .try_recv()
                .unwrap_or_else(|_| vec![0u8; PIECE_BYTES]);
            piece.resize(PIECE_BYTES, 0);
            let mut filled = 0;
            let result = loop {
                match inner.read(&mut piece[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == piece.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            piece.truncate(filled);
            let done = filled == 0;
            let sent = match result {
                Ok(()) => tx.send(Ok(piece)),
                Err(e) => tx.send(Err(e)),
            };
            // The reader hung up (a parse error), or the stream ended, or failed.
            if sent.is_err() || done {
                return;
            }
        });
        Pipelined {
            rx,
            back,
            piece: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Pipelined {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.piece.len() {
            match self.rx.recv() {
                Ok(Ok(piece)) => {
                    let done = std::mem::replace(&mut self.piece, piece);
                    // The decoder may have ended; then the buffer is simply freed.
                    if done.capacity() > 0 {
                        let _ = self.back.send(done);
                    }
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The decoding thread ended after the last piece.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

enum Compression {
    None,
    Lz4,
    Gzip,
    Unsupported(String),
}

/// `..._Packages[.ext]` → (name without extension, compression).
fn packages_list(name: &str) -> Option<(&str, Compression)> {
    if let Some(stem) = name.strip_suffix("_Packages") {
        return Some((stem, Compression::None));
    }
    let (base, ext) = name.rsplit_once('.')?;
    let stem = base.strip_suffix("_Packages")?;
    let c = match ext {
        "lz4" => Compression::Lz4,
        "gz" => Compression::Gzip,
        other => Compression::Unsupported(other.to_string()),
    };
    Some((stem, c))
}

/// The prefix lists of a repository share: the Release file name without its suffix.
fn release_prefix(file: &str) -> &str {
    file.strip_suffix("_InRelease")
        .or_else(|| file.strip_suffix("_Release"))
        .unwrap_or(file)
}

/// The host a list came from: the first piece of its file name (apt turns the URI's
/// `/` into `_`, so `deb.debian.org_debian_dists_...` came from `deb.debian.org`).
fn site_of(prefix: &str) -> String {
    let host = prefix.split('_').next().unwrap_or("");
    // `user@host:port` never occurs in list names, but a port may.
    host.split(['%', ':']).next().unwrap_or(host).to_string()
}

/// The fields of a Release or InRelease file (the clear-signed wrapper skipped).
pub fn parse_release(file: &str, text: &str) -> Release {
    let mut info = ListInfo::default();
    let mut date = None;
    let mut started = !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----");
    for line in text.lines() {
        if !started {
            // The armour header ends at the first blank line.
            started = line.trim().is_empty();
            continue;
        }
        if line.starts_with(' ') {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "Origin" => info.origin = v,
            "Label" => info.label = v,
            "Suite" => info.suite = v,
            "Codename" => info.codename = v,
            "Version" => info.version = v,
            "Date" => date = Some(v),
            "NotAutomatic" => info.not_automatic = v == "yes",
            "ButAutomaticUpgrades" => info.but_automatic_upgrades = v == "yes",
            "MD5Sum" | "SHA1" | "SHA256" | "SHA512" => break,
            _ => {}
        }
        if line.starts_with("-----BEGIN PGP SIGNATURE") {
            break;
        }
    }
    let security = info.suite.ends_with("-security")
        || info.codename.ends_with("-security")
        || info.label.to_ascii_lowercase().contains("security");
    Release {
        file: file.to_string(),
        info,
        date,
        security,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_fields_from_a_clear_signed_file() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nVersion: 12\nCodename: bookworm-security\nDate: Wed, 20 May 2026 16:28:12 UTC\nSHA256:\n abc 1 main/binary-amd64/Packages\n";
        let r = parse_release("x_InRelease", text);
        assert_eq!(r.info.suite, "oldstable-security");
        assert_eq!(r.info.codename, "bookworm-security");
        assert!(r.security);
        let plain = parse_release("y_Release", "Origin: Debian\nLabel: Debian\nSuite: oldstable\nCodename: bookworm\nNotAutomatic: yes\n");
        assert!(!plain.security && plain.info.not_automatic);
    }

    #[test]
    fn list_names_give_compression_and_site() {
        assert!(matches!(
            packages_list("a_dists_b_main_binary-amd64_Packages.lz4"),
            Some(("a_dists_b_main_binary-amd64", Compression::Lz4))
        ));
        assert!(matches!(
            packages_list("a_main_binary-amd64_Packages"),
            Some((_, Compression::None))
        ));
        assert!(packages_list("a_main_i18n_Translation-en").is_none());
        assert_eq!(
            site_of("deb.debian.org_debian_dists_bookworm"),
            "deb.debian.org"
        );
        assert_eq!(
            release_prefix("deb.debian.org_debian_dists_bookworm_InRelease"),
            "deb.debian.org_debian_dists_bookworm"
        );
    }
}

#[cfg(test)]
mod pipeline_tests {
    use super::*;

    #[test]
    fn pieces_arrive_in_order_and_errors_pass_through() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        Pipelined::new(std::io::Cursor::new(data.clone()))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("lz4 frame: bad magic"))
            }
        }
        let e = Pipelined::new(Broken).read_to_end(&mut out).unwrap_err();
        assert_eq!(e.to_string(), "lz4 frame: bad magic");
    }
}
