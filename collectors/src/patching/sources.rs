//! apt's configured sources (`/etc/apt/sources.list`, `sources.list.d/*.list` one-line
//! entries and `*.sources` deb822 stanzas), turned into the list file names apt gives
//! their downloads (apt's `URItoFileName`: scheme and credentials dropped, reserved
//! characters quoted as `%xx`, `/` replaced by `_`). apt uses only the lists of sources
//! that are configured: a list left behind by a removed source is not read.
//!
//! It owns that mapping; it never reads the lists and never records a credential of a
//! source URI (only the derived file names, which have none).

use crate::formats::deb822;
use crate::{CollectError, HostRoot};

/// One `deb` source: the list file prefix of its suite, and its components and
/// architectures (empty: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `deb.debian.org_debian_dists_bookworm_` (what its lists' names start with).
    pub prefix: String,
    pub components: Vec<String>,
    pub archs: Vec<String>,
}

/// The configured sources and the files they were read from.
pub fn load(root: &HostRoot) -> Result<(Vec<Source>, Vec<String>), CollectError> {
    let mut files = Vec::new();
    if root.metadata("/etc/apt/sources.list")?.is_some() {
        files.push("/etc/apt/sources.list".to_string());
    }
    for name in root
        .list_dir("/etc/apt/sources.list.d")?
        .unwrap_or_default()
    {
        if name.ends_with(".list") || name.ends_with(".sources") {
            files.push(format!("/etc/apt/sources.list.d/{name}"));
        }
    }
    let mut sources = Vec::new();
    for path in &files {
        let Some(text) = root.read_text(path)? else {
            continue;
        };
        if path.ends_with(".sources") {
            sources.extend(parse_deb822(path, &text)?);
        } else {
            sources.extend(parse_one_line(path, &text)?);
        }
    }
    Ok((sources, files))
}

fn parse_one_line(path: &str, text: &str) -> Result<Vec<Source>, CollectError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: &str| CollectError::Malformed {
            path: path.to_string(),
            line: i + 1,
            reason: reason.to_string(),
        };
        let (kind, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("expected `deb URI SUITE [COMPONENT...]`"))?;
        if kind != "deb" {
            if kind == "deb-src" {
                continue;
            }
            return Err(bad("an entry must start with deb or deb-src"));
        }
        let mut rest = rest.trim();
        let mut archs = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let (opts, tail) = after
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` of the options"))?;
            for opt in opts.split_whitespace() {
                if let Some(v) = opt.strip_prefix("arch=") {
                    archs = v.split(',').map(String::from).collect();
                }
            }
            rest = tail.trim();
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 2 {
            return Err(bad("expected `deb URI SUITE [COMPONENT...]`"));
        }
        out.push(Source {
            prefix: prefix(words[0], words[1]),
            components: words[2..].iter().map(|s| s.to_string()).collect(),
            archs,
        });
    }
    Ok(out)
}

fn parse_deb822(path: &str, text: &str) -> Result<Vec<Source>, CollectError> {
    let mut out = Vec::new();
    deb822::parse_all(path, text, &mut |s| {
        let bad = |reason: &str| CollectError::Malformed {
            path: path.to_string(),
            line: s.line,
            reason: reason.to_string(),
        };
        let words = |f: &str| -> Vec<String> {
            s.joined(f)
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        if s.get("Enabled").is_some_and(|v| v == "no") || !words("Types").iter().any(|t| t == "deb")
        {
            return Ok(());
        }
        let uris = words("URIs");
        let suites = words("Suites");
        if uris.is_empty() || suites.is_empty() {
            return Err(bad("a source needs URIs and Suites"));
        }
        for uri in &uris {
            for suite in &suites {
                out.push(Source {
                    prefix: prefix(uri, suite),
                    components: words("Components"),
                    archs: words("Architectures"),
                });
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The list file name prefix of a suite of a URI, as apt derives it.
pub fn prefix(uri: &str, suite: &str) -> String {
    let mut u = uri
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(uri)
        .to_string();
    // Credentials are never part of the name.
    if let Some((host, path)) = u.split_once('/') {
        let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
        u = format!("{host}/{path}");
    } else if let Some((_, h)) = u.rsplit_once('@') {
        u = h.to_string();
    }
    if !u.ends_with('/') {
        u.push('/');
    }
    let full = if let Some(flat) = suite.strip_suffix('/') {
        format!("{u}{flat}/")
    } else {
        format!("{u}dists/{suite}/")
    };
    let mut out = String::new();
    for c in full.chars() {
        if "\\|{}[]<>\"^~_=!@#$%^&*".contains(c) || c.is_whitespace() || !c.is_ascii() {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("%{byte:02x}"));
            }
        } else if c == '/' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_apts_list_names() {
        assert_eq!(
            prefix("http://deb.debian.org/debian", "bookworm"),
            "deb.debian.org_debian_dists_bookworm_"
        );
        assert_eq!(
            prefix("https://deb.nodesource.com/node_20.x", "nodistro"),
            "deb.nodesource.com_node%5f20.x_dists_nodistro_"
        );
        assert_eq!(
            prefix("https://user:secret@example.org/repo/", "./"),
            "example.org_repo_._"
        );
    }

    #[test]
    fn both_formats_and_their_errors() {
        let one = parse_one_line(
            "/etc/apt/sources.list",
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] https://packages.cloud.google.com/apt cloud-sdk-bookworm main\ndeb-src http://x/ y main\n",
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].archs, vec!["amd64"]);
        let e = parse_one_line("/etc/apt/sources.list", "\ndeb http://x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/apt/sources.list:2: expected `deb URI SUITE [COMPONENT...]`"
        );
        let d = parse_deb822(
            "/etc/apt/sources.list.d/debian.sources",
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://x/\nSuites: y\nEnabled: no\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].prefix, "deb.debian.org_debian_dists_bookworm-updates_");
        let e = parse_deb822(
            "/etc/apt/sources.list.d/a.sources",
            "Types: deb\nSuites: y\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/apt/sources.list.d/a.sources:1:"),
            "{e}"
        );
    }
}
