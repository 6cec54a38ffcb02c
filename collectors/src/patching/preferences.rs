//! apt's pin priorities: `/etc/apt/preferences` and `/etc/apt/preferences.d/*`, and
//! `APT::Default-Release`, applied as apt's policy applies them (apt_preferences(5)):
//! a pin naming packages applies to versions of those packages (the first matching
//! one wins); a pin for `Package: *` gives a priority to a whole list file (the default
//! release first at 990, then the general pins in file order, first match wins); a
//! list without a pin gets 500, 100 when its Release says `ButAutomaticUpgrades`, 1
//! when `NotAutomatic`; dpkg's status 100.
//!
//! It owns parsing the pin files and matching a pin against a list; it never reads the
//! lists themselves and never decides which version is the candidate.

use crate::formats::deb822;
use crate::{CollectError, HostRoot};

/// What apt knows about one list file, for pin matching.
#[derive(Debug, Clone, Default)]
pub struct ListInfo {
    /// `Origin:` of its Release file (`o=`).
    pub origin: String,
    /// `Label:` (`l=`).
    pub label: String,
    /// `Suite:`, apt's "archive" (`a=`).
    pub suite: String,
    /// `Codename:` (`n=`).
    pub codename: String,
    /// `Version:` (`v=`).
    pub version: String,
    /// The component, from the list's name (`c=`).
    pub component: String,
    /// The architecture of the list (`b=`).
    pub arch: String,
    /// The host name the list was fetched from (`Pin: origin HOST`).
    pub site: String,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
    /// dpkg's status file (archive `now`), not a list.
    pub is_status: bool,
}

/// A name or value pattern: literal, glob (`*`, `?`) or `/regex/`.
#[derive(Debug, Clone)]
pub enum Pattern {
    Literal(String),
    Glob(glob::Pattern),
    Regex(regex::Regex),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        if text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
            return regex::Regex::new(&text[1..text.len() - 1])
                .map(Pattern::Regex)
                .map_err(|e| format!("bad regular expression {text}: {e}"));
        }
        if text.contains(['*', '?', '[']) {
            return glob::Pattern::new(text)
                .map(Pattern::Glob)
                .map_err(|e| format!("bad pattern {text}: {e}"));
        }
        Ok(Pattern::Literal(text.to_string()))
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Literal(l) => l == s,
            Pattern::Glob(g) => g.matches(s),
            Pattern::Regex(r) => r.is_match(s),
        }
    }
}

/// What a pin selects.
#[derive(Debug, Clone)]
pub enum PinKind {
    /// `Pin: release a=...,n=...` (letter, pattern); a bare word is an archive or
    /// codename, a bare number a version.
    Release(Vec<(char, Pattern)>),
    /// `Pin: origin HOST`.
    Origin(String),
    /// `Pin: version 1.2*` (package pins only).
    Version(Pattern),
}

/// One stanza of a preferences file.
#[derive(Debug, Clone)]
pub struct Pin {
    /// `None` for `Package: *` (a general pin); else the package patterns.
    pub packages: Option<Vec<Pattern>>,
    pub kind: PinKind,
    pub priority: i32,
    /// `file:line`.
    pub set_in: String,
}

impl Pin {
    /// Whether the pin's release or origin matches a list.
    pub fn matches_list(&self, list: &ListInfo) -> bool {
        match &self.kind {
            PinKind::Release(terms) => {
                if list.is_status {
                    return terms.iter().all(|(k, p)| *k == 'a' && p.matches("now"));
                }
                terms.iter().all(|(k, p)| match k {
                    'a' => p.matches(&list.suite),
                    'n' => p.matches(&list.codename),
                    'o' => p.matches(&list.origin),
                    'l' => p.matches(&list.label),
                    'c' => p.matches(&list.component),
                    'b' => p.matches(&list.arch),
                    'v' => p.matches(&list.version),
                    // A bare archive-or-codename term.
                    '*' => p.matches(&list.suite) || p.matches(&list.codename),
                    _ => false,
                })
            }
            PinKind::Origin(host) => {
                if list.is_status {
                    host.is_empty()
                } else {
                    *host == list.site
                }
            }
            PinKind::Version(_) => false,
        }
    }

    /// Whether a package pin applies to `name`.
    pub fn names(&self, name: &str) -> bool {
        self.packages
            .as_ref()
            .is_some_and(|ps| ps.iter().any(|p| p.matches(name)))
    }
}

/// The pins in force on a host, in the order apt reads them.
#[derive(Debug, Clone, Default)]
pub struct Preferences {
    /// `APT::Default-Release`, as a pin at 990.
    pub default_release: Option<Pin>,
    pub pins: Vec<Pin>,
}

impl Preferences {
    /// The priority of a list file: default release, then the first general pin that
    /// matches, else apt's defaults.
    pub fn list_priority(&self, list: &ListInfo) -> i32 {
        let general = self
            .default_release
            .iter()
            .chain(self.pins.iter().filter(|p| p.packages.is_none()));
        for pin in general {
            if pin.matches_list(list) {
                return pin.priority;
            }
        }
        if list.is_status || list.but_automatic_upgrades {
            100
        } else if list.not_automatic {
            1
        } else {
            500
        }
    }

    /// The priority a package pin gives to version `version` of `name` available from
    /// `lists`, when one applies (the first matching pin in file order).
    pub fn package_pin(&self, name: &str, version: &str, lists: &[&ListInfo]) -> Option<i32> {
        self.pins
            .iter()
            .filter(|p| p.packages.is_some() && p.names(name))
            .find(|p| match &p.kind {
                PinKind::Version(v) => v.matches(version),
                _ => lists.iter().any(|l| p.matches_list(l)),
            })
            .map(|p| p.priority)
    }
}

/// Read `/etc/apt/preferences` and the files of `/etc/apt/preferences.d` apt reads
/// (names of letters, digits, `_`, `-`, `.`, with no extension or `.pref`), and
/// `APT::Default-Release` (given by the caller from apt.conf). Returns the pins and
/// the files read.
pub fn load(
    root: &HostRoot,
    default_release: Option<(String, String)>,
) -> Result<(Preferences, Vec<String>), CollectError> {
    let mut files = Vec::new();
    if root.metadata("/etc/apt/preferences")?.is_some() {
        files.push("/etc/apt/preferences".to_string());
    }
    for name in root.list_dir("/etc/apt/preferences.d")?.unwrap_or_default() {
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        let ext_ok = match name.rsplit_once('.') {
            None => true,
            Some((_, ext)) => ext == "pref",
        };
        if valid && ext_ok && !name.starts_with('.') {
            files.push(format!("/etc/apt/preferences.d/{name}"));
        }
    }
    let mut prefs = Preferences::default();
    if let Some((value, set_in)) = default_release {
        prefs.default_release = Some(Pin {
            packages: None,
            kind: release_pin(&value).map_err(|reason| CollectError::Malformed {
                path: set_in.clone(),
                line: 0,
                reason: format!("APT::Default-Release: {reason}"),
            })?,
            priority: 990,
            set_in,
        });
    }
    for path in &files {
        let Some(text) = root.read_text(path)? else {
            continue;
        };
        prefs.pins.extend(parse(path, &text)?);
    }
    Ok((prefs, files))
}

/// Parse one preferences file.
pub fn parse(path: &str, text: &str) -> Result<Vec<Pin>, CollectError> {
    let mut pins = Vec::new();
    deb822::parse_all(path, text, &mut |s| {
        let bad = |reason: String| CollectError::Malformed {
            path: path.to_string(),
            line: s.line,
            reason,
        };
        let package = s
            .joined("Package")
            .ok_or_else(|| bad("a pin without a Package field".into()))?;
        let pin = s
            .get("Pin")
            .ok_or_else(|| bad("a pin without a Pin field".into()))?;
        let priority: i32 = s
            .get("Pin-Priority")
            .ok_or_else(|| bad("a pin without a Pin-Priority field".into()))?
            .parse()
            .map_err(|_| bad("field Pin-Priority: not an integer".into()))?;
        let packages = if package.trim() == "*" {
            None
        } else {
            Some(
                package
                    .split_whitespace()
                    .map(Pattern::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(format!("field Package: {e}")))?,
            )
        };
        let (word, rest) = pin.split_once(char::is_whitespace).unwrap_or((pin, ""));
        let rest = rest.trim().trim_matches('"');
        let kind = match word {
            "release" => release_pin(rest).map_err(|e| bad(format!("field Pin: {e}")))?,
            "origin" => PinKind::Origin(rest.to_string()),
            "version" => {
                if packages.is_none() {
                    return Err(bad(
                        "field Pin: a version pin needs package names, not `*`".into()
                    ));
                }
                PinKind::Version(Pattern::parse(rest).map_err(|e| bad(format!("field Pin: {e}")))?)
            }
            other => {
                return Err(bad(format!(
                    "field Pin: unknown pin type `{other}` (expected release, origin or version)"
                )))
            }
        };
        pins.push(Pin {
            packages,
            kind,
            priority,
            set_in: format!("{path}:{}", s.line),
        });
        Ok(())
    })?;
    Ok(pins)
}

fn release_pin(text: &str) -> Result<PinKind, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty release".into());
    }
    if !text.contains('=') {
        let key = if text.starts_with(|c: char| c.is_ascii_digit()) {
            'v'
        } else {
            '*'
        };
        return Ok(PinKind::Release(vec![(key, Pattern::parse(text)?)]));
    }
    let mut terms = Vec::new();
    for term in text.split(',') {
        let (k, v) = term
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("`{term}` is not KEY=VALUE"))?;
        let key = match k.trim() {
            "a" | "archive" => 'a',
            "n" | "codename" => 'n',
            "o" | "origin" => 'o',
            "l" | "label" => 'l',
            "c" | "component" => 'c',
            "b" | "architecture" => 'b',
            "v" | "version" => 'v',
            other => return Err(format!("unknown release key `{other}`")),
        };
        terms.push((key, Pattern::parse(v.trim())?));
    }
    Ok(PinKind::Release(terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(suite: &str, label: &str, site: &str) -> ListInfo {
        ListInfo {
            origin: "Debian".into(),
            label: label.into(),
            suite: suite.into(),
            codename: suite.replace("oldstable", "bookworm"),
            component: "main".into(),
            arch: "amd64".into(),
            site: site.into(),
            ..ListInfo::default()
        }
    }

    #[test]
    fn general_and_package_pins_as_apt_applies_them() {
        let text = "# local policy\nPackage: *\nPin: release a=oldstable-backports\nPin-Priority: 100\n\nPackage: nodejs nsolid\nPin: origin deb.nodesource.com\nPin-Priority: 600\n\nPackage: /^linux-image/\nPin: version 6.1.*\nPin-Priority: 1001\n";
        let pins = parse("/etc/apt/preferences.d/local", text).unwrap();
        assert_eq!(pins.len(), 3);
        assert_eq!(pins[1].set_in, "/etc/apt/preferences.d/local:6");
        let prefs = Preferences {
            default_release: Some(Pin {
                packages: None,
                kind: release_pin("bookworm-security").unwrap(),
                priority: 990,
                set_in: "x".into(),
            }),
            pins,
        };
        let backports = list("oldstable-backports", "Debian Backports", "deb.debian.org");
        let security = list("oldstable-security", "Debian-Security", "deb.debian.org");
        let stable = list("oldstable", "Debian", "deb.debian.org");
        assert_eq!(prefs.list_priority(&backports), 100);
        assert_eq!(prefs.list_priority(&security), 990);
        assert_eq!(prefs.list_priority(&stable), 500);
        let node = list("nodistro", ".", "deb.nodesource.com");
        assert_eq!(prefs.package_pin("nodejs", "20.1", &[&node]), Some(600));
        assert_eq!(prefs.package_pin("nodejs", "20.1", &[&stable]), None);
        assert_eq!(
            prefs.package_pin("linux-image-amd64", "6.1.5", &[]),
            Some(1001)
        );
        assert_eq!(prefs.package_pin("linux-image-amd64", "6.2", &[]), None);
        let na = ListInfo {
            not_automatic: true,
            ..list("experimental", "Debian", "deb.debian.org")
        };
        assert_eq!(prefs.list_priority(&na), 1);
    }

    #[test]
    fn bad_pins_name_file_line_and_field() {
        let e = parse(
            "/etc/apt/preferences",
            "Package: *\nPin: release a=x\nPin-Priority: high\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/apt/preferences:1: field Pin-Priority: not an integer"
        );
        let e = parse(
            "/etc/apt/preferences",
            "Package: *\nPin: version 1\nPin-Priority: 1\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("field Pin: a version pin"), "{e}");
        let e = parse("p", "Package: a\nPin: release q=1\nPin-Priority: 1\n").unwrap_err();
        assert!(e.to_string().contains("unknown release key `q`"), "{e}");
    }
}
