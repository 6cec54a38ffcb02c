//! dpkg's database of packages (`/var/lib/dpkg/status`), read once and shared by every
//! collector that asks in the same run (`patching`, `malware`): the parsed database is
//! kept while the file is unchanged (same device, inode, size and modification time;
//! dpkg replaces the file on every change), so concurrent collectors parse it once.
//!
//! It owns the projection of each stanza attestd needs (name, architecture, version,
//! the three status words, relations); it never keeps descriptions or conffile hashes,
//! and never reads anything but the status file through `HostRoot`.

use crate::formats::deb822::{self, Relation};
use crate::{CollectError, HostRoot};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where dpkg keeps its database.
pub const STATUS: &str = "/var/lib/dpkg/status";
/// dpkg's status file of a host with several thousand packages is a few MiB; refuse
/// anything absurdly larger rather than filling memory.
const MAX_STATUS_BYTES: u64 = 256 * 1024 * 1024;

/// One package as dpkg records it.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub arch: String,
    pub version: String,
    /// `install`, `hold`, `deinstall`, `purge` (what the admin asked for).
    pub want: String,
    /// `installed`, `config-files`, `half-configured`, `not-installed` ...
    pub state: String,
    pub depends: Vec<Vec<Relation>>,
    pub conflicts: Vec<Vec<Relation>>,
    pub provides: Vec<Relation>,
    /// The line of the stanza in the status file.
    pub line: usize,
}

impl Package {
    /// dpkg has a version of it unpacked on disk (anything but `not-installed` and
    /// `config-files`), as apt's "current version" means.
    pub fn is_present(&self) -> bool {
        !self.version.is_empty() && self.state != "not-installed" && self.state != "config-files"
    }
    /// Fully installed (`install ok installed` or held).
    pub fn is_installed(&self) -> bool {
        self.state == "installed"
    }
    /// On hold (`apt-mark hold`, `dpkg --set-selections`): apt never upgrades it.
    pub fn is_held(&self) -> bool {
        self.want == "hold"
    }
}

/// The packages of one status file.
#[derive(Debug, Default)]
pub struct Status {
    pub packages: Vec<Package>,
    /// dpkg's native architecture (the architecture of the `dpkg` package itself).
    pub native_arch: Option<String>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Status {
    /// Packages of that name (one per architecture).
    pub fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Package> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|i| &self.packages[*i])
    }

    /// Installed versions of `names` (`install ok installed`, or held), by name.
    pub fn installed_versions(&self, names: &[&str]) -> std::collections::BTreeMap<String, String> {
        names
            .iter()
            .filter_map(|n| {
                self.named(n)
                    .find(|p| p.is_installed())
                    .map(|p| (n.to_string(), p.version.clone()))
            })
            .collect()
    }

    /// Parse a status file's text.
    pub fn parse(path: &str, text: &str) -> Result<Status, CollectError> {
        Status::parse_packages(path, text, &mut |_| true)
    }

    /// Parse only the stanzas whose `Package:` is accepted by `want` (the others are
    /// skipped unparsed).
    fn parse_packages(
        path: &str,
        text: &str,
        want: &mut dyn FnMut(Option<&[u8]>) -> bool,
    ) -> Result<Status, CollectError> {
        let mut status = Status::default();
        deb822::for_each_stanza(path, text.as_bytes(), want, &mut |s| {
            let malformed = |reason: String| CollectError::Malformed {
                path: path.to_string(),
                line: s.line,
                reason,
            };
            let Some(name) = s.get("Package") else {
                return Err(malformed("a stanza without a Package field".into()));
            };
            let words: Vec<&str> = s.get("Status").unwrap_or("").split_whitespace().collect();
            let [want, _flag, state] = words[..] else {
                return Err(malformed(format!(
                    "package {name}: field Status must have three words (want, flag, state)"
                )));
            };
            let rel = |field: &str| -> Result<Vec<Vec<Relation>>, CollectError> {
                match s.joined(field) {
                    Some(v) => deb822::relations(&v)
                        .map_err(|e| malformed(format!("package {name}: field {field}: {e}"))),
                    None => Ok(Vec::new()),
                }
            };
            let mut depends = rel("Pre-Depends")?;
            depends.extend(rel("Depends")?);
            let mut conflicts = rel("Conflicts")?;
            conflicts.extend(rel("Breaks")?);
            let provides = rel("Provides")?.into_iter().flatten().collect();
            let arch = s.get("Architecture").unwrap_or("").to_string();
            if name == "dpkg" && state == "installed" {
                status.native_arch = Some(arch.clone());
            }
            status.packages.push(Package {
                name: name.to_string(),
                arch,
                version: s.get("Version").unwrap_or("").to_string(),
                want: want.to_string(),
                state: state.to_string(),
                depends,
                conflicts,
                provides,
                line: s.line,
            });
            Ok(())
        })?;
        for (i, p) in status.packages.iter().enumerate() {
            status.by_name.entry(p.name.clone()).or_default().push(i);
        }
        Ok(status)
    }
}

/// The file identity a cached parse is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

static CACHE: Mutex<Option<(Key, Arc<Status>)>> = Mutex::new(None);

/// Installed versions of `names` (as `Status::installed_versions`), `Ok(None)` on a host
/// without dpkg. Uses the shared parse when there is one for the file as it is now;
/// otherwise only the stanzas of `names` are parsed (a collector asking for two
/// packages does not pay for the whole database; `status` parses it all when needed).
pub fn installed_versions(
    root: &HostRoot,
    names: &[&str],
) -> Result<Option<std::collections::BTreeMap<String, String>>, CollectError> {
    let Some(key) = key(root)? else {
        return Ok(None);
    };
    {
        let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, s)) = cache.as_ref() {
            if *k == key {
                return Ok(Some(s.installed_versions(names)));
            }
        }
    }
    let Some(text) = root.read_text_large(STATUS, MAX_STATUS_BYTES)? else {
        return Ok(None);
    };
    let some = Status::parse_packages(STATUS, &text, &mut |p| {
        p.is_some_and(|p| names.iter().any(|n| n.as_bytes() == p))
    })?;
    Ok(Some(some.installed_versions(names)))
}

fn key(root: &HostRoot) -> Result<Option<Key>, CollectError> {
    use std::os::unix::fs::MetadataExt;
    let Some(meta) = root.metadata(STATUS)? else {
        return Ok(None);
    };
    Ok(Some(Key {
        path: root.resolve(STATUS)?,
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
    }))
}

/// dpkg's database of `root`, `Ok(None)` on a host without dpkg. Shared: a second
/// caller (the same run, or a later one while the file is unchanged) gets the same
/// parse; concurrent callers wait for the first parse instead of repeating it.
pub fn status(root: &HostRoot) -> Result<Option<Arc<Status>>, CollectError> {
    let Some(key) = key(root)? else {
        return Ok(None);
    };
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((k, s)) = cache.as_ref() {
        if *k == key {
            return Ok(Some(s.clone()));
        }
    }
    let Some(text) = root.read_text_large(STATUS, MAX_STATUS_BYTES)? else {
        return Ok(None);
    };
    let parsed = Arc::new(Status::parse(STATUS, &text)?);
    *cache = Some((key, parsed.clone()));
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_states_holds_and_relations() {
        let text = "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\nPackage: vim\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 2:9.0\nDepends: vim-common (= 2:9.0), libc6 (>= 2.34)\nProvides: editor\n\nPackage: old\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1\n";
        let s = Status::parse(STATUS, text).unwrap();
        assert_eq!(s.native_arch.as_deref(), Some("amd64"));
        let vim = s.named("vim").next().unwrap();
        assert!(vim.is_held() && vim.is_installed());
        assert_eq!(vim.depends.len(), 2);
        assert_eq!(vim.provides[0].name, "editor");
        assert_eq!(vim.line, 6);
        assert!(!s.named("old").next().unwrap().is_present());
        assert_eq!(
            s.installed_versions(&["vim", "old", "nope"])
                .into_iter()
                .collect::<Vec<_>>(),
            vec![("vim".to_string(), "2:9.0".to_string())]
        );
    }

    #[test]
    fn bad_status_names_line_and_field() {
        let e = Status::parse(
            STATUS,
            "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: broken\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/var/lib/dpkg/status:4: package b: field Status must have three words (want, flag, state)"
        );
        let e = Status::parse(
            STATUS,
            "Package: a\nStatus: install ok installed\nDepends: x (>= 1\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/var/lib/dpkg/status:1: package a: field Depends"),
            "{e}"
        );
    }

    #[test]
    fn installed_versions_of_a_few_packages_equal_the_full_parse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        let text = "Package: apt\nStatus: install ok installed\nVersion: 2.6\n\nPackage: aide\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: vim\nStatus: hold ok installed\nVersion: 9\n\nPackage: junk\nStatus: broken\n";
        std::fs::write(dir.path().join("var/lib/dpkg/status"), text).unwrap();
        let root = HostRoot::new(dir.path());
        let names = ["apt", "aide", "vim", "absent"];
        let few = installed_versions(&root, &names).unwrap().unwrap();
        assert_eq!(
            few.into_iter().collect::<Vec<_>>(),
            vec![
                ("apt".to_string(), "2.6".to_string()),
                ("vim".to_string(), "9".to_string())
            ]
        );
        // The full parse refuses the broken stanza the narrow one never looks at.
        assert!(status(&root).is_err());
        assert!(installed_versions(&HostRoot::new("/nonexistent"), &names)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        let path = dir.path().join("var/lib/dpkg/status");
        std::fs::write(
            &path,
            "Package: a\nStatus: install ok installed\nVersion: 1\n",
        )
        .unwrap();
        let root = HostRoot::new(dir.path());
        let first = status(&root).unwrap().unwrap();
        let again = status(&root).unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        std::fs::write(
            &path,
            "Package: a\nStatus: install ok installed\nVersion: 22\n",
        )
        .unwrap();
        let changed = status(&root).unwrap().unwrap();
        assert_eq!(changed.packages[0].version, "22");
    }
}
