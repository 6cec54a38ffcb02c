//! Debian control-file stanzas (deb822: dpkg's status database, apt's `Packages`
//! lists, `Release` files, apt preferences) read as a stream: a list of 50 MB is never
//! held whole, and a stanza the caller does not want is skipped by its `Package:` field
//! without being parsed. The stanzas it keeps are parsed by `deb822-fast`.
//!
//! It owns splitting a byte stream into stanzas with their line numbers and the
//! `Package, Depends` relation syntax; it never decides what a field means for a host,
//! and a stanza it cannot parse is an error naming file and line, never a panic.

use crate::CollectError;
use deb822_fast::borrowed::{BorrowedParagraph, BorrowedParser};
use std::io::Read;

/// Bytes read from the stream at a time.
const CHUNK: usize = 256 * 1024;
/// The longest stanza accepted (a `Packages` stanza is a few KiB; dpkg's own status
/// stanzas with long `Conffiles` lists stay far below this).
const MAX_STANZA: usize = 4 * 1024 * 1024;

/// One stanza: its first line (1-based) and its fields.
pub struct Stanza<'a> {
    pub line: usize,
    pub fields: BorrowedParagraph<'a>,
}

impl<'a> Stanza<'a> {
    /// A single-line field's value, trimmed.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields.get_single(name).map(str::trim)
    }

    /// A field's value with continuation lines joined by spaces (relation fields may be
    /// folded over several lines).
    pub fn joined(&self, name: &str) -> Option<String> {
        self.fields.get(name).map(|lines| {
            lines
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

/// Read every stanza of `reader` (named `path` in errors). `want` sees the value of
/// the stanza's `Package:` field (or `None` when it has none) before anything else is
/// done with it; stanzas it refuses are skipped unparsed. `each` receives the others.
pub fn for_each_stanza<R: Read>(
    path: &str,
    mut reader: R,
    want: &mut dyn FnMut(Option<&[u8]>) -> bool,
    each: &mut dyn FnMut(Stanza<'_>) -> Result<(), CollectError>,
) -> Result<(), CollectError> {
    // buf[start..filled] holds bytes not yet split into stanzas; the buffer is zeroed
    // only when it grows, never per read.
    let mut buf: Vec<u8> = vec![0; CHUNK * 2];
    let mut filled = 0usize;
    // Line number of buf[start].
    let mut line = 1usize;
    let mut eof = false;
    let mut start = 0usize;
    let blank = memchr::memmem::Finder::new(b"\n\n");
    loop {
        // Complete stanzas in buf[start..filled]: each ends at a blank line.
        loop {
            // Skip blank lines between stanzas.
            while start < filled && buf[start] == b'\n' {
                start += 1;
                line += 1;
            }
            let rest = &buf[start..filled];
            let end = match blank.find(rest) {
                Some(i) => i + 1,
                None if eof && !rest.is_empty() => rest.len(),
                None => break,
            };
            let stanza = &rest[..end];
            let lines_in = memchr::memchr_iter(b'\n', stanza).count();
            if want(package_field(stanza)) {
                handle(path, line, stanza, each)?;
            }
            line += lines_in;
            start += end;
        }
        if eof {
            return Ok(());
        }
        // Move the unfinished stanza to the front, and make room for a chunk.
        buf.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        if filled > MAX_STANZA {
            return Err(CollectError::Malformed {
                path: path.to_string(),
                line,
                reason: format!(
                    "a stanza longer than {} MiB (is this a deb822 file?)",
                    MAX_STANZA / 1024 / 1024
                ),
            });
        }
        if buf.len() - filled < CHUNK {
            buf.resize(filled + CHUNK, 0);
        }
        let n = loop {
            match reader.read(&mut buf[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(CollectError::Unreadable {
                        path: path.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        };
        filled += n;
        eof = n == 0;
    }
}

/// Parse every stanza of a text already in memory.
pub fn parse_all(
    path: &str,
    text: &str,
    each: &mut dyn FnMut(Stanza<'_>) -> Result<(), CollectError>,
) -> Result<(), CollectError> {
    for_each_stanza(path, text.as_bytes(), &mut |_| true, each)
}

fn handle(
    path: &str,
    line: usize,
    bytes: &[u8],
    each: &mut dyn FnMut(Stanza<'_>) -> Result<(), CollectError>,
) -> Result<(), CollectError> {
    let malformed = |reason: String| CollectError::Malformed {
        path: path.to_string(),
        line,
        reason,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| malformed(format!("a stanza that is not UTF-8 text ({e})")))?;
    // Comment-only stanzas (apt preferences allow `#` lines) carry no fields.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.starts_with('#'))
    {
        return Ok(());
    }
    let mut paragraphs = BorrowedParser::new(text)
        .parse_all()
        .map_err(|e| malformed(format!("not a deb822 stanza: {e}")))?;
    if paragraphs.len() != 1 {
        return Err(malformed(format!(
            "expected one stanza, found {}",
            paragraphs.len()
        )));
    }
    each(Stanza {
        line,
        fields: paragraphs.remove(0),
    })
}

/// The value of a stanza's `Package:` field, found without parsing the stanza:
/// `Packages` lists and dpkg's status put it first, other files anywhere.
fn package_field(stanza: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    while pos < stanza.len() {
        let end = memchr::memchr(b'\n', &stanza[pos..])
            .map(|i| pos + i)
            .unwrap_or(stanza.len());
        let l = &stanza[pos..end];
        if let Some(v) = l.strip_prefix(b"Package:") {
            return Some(v.trim_ascii());
        }
        pos = end + 1;
    }
    None
}

/// One alternative of a relation field: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// `:any`, `:native` or an architecture; `None` when not qualified.
    pub arch: Option<String>,
    pub constraint: Option<(Op, String)>,
}

/// A version operator of a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Whether `ordering` (the package's version compared with the relation's)
    /// satisfies the operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Eq => ordering == Equal,
            Op::Ge => ordering != Less,
            Op::Gt => ordering == Greater,
        }
    }
}

/// Parse a relation field (`Depends`, `Breaks`, `Provides` ...) into groups of
/// alternatives. Architecture restrictions (`[amd64]`) and build profiles (`<!nocheck>`)
/// only occur in source packages and are dropped.
pub fn relations(field: &str) -> Result<Vec<Vec<Relation>>, String> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let mut alts = Vec::new();
        for alt in group.split('|') {
            let alt = alt.trim();
            let (head, constraint) = match alt.split_once('(') {
                Some((h, rest)) => {
                    let inner = rest
                        .split_once(')')
                        .map(|(i, _)| i)
                        .ok_or_else(|| format!("unclosed `(` in relation `{alt}`"))?
                        .trim();
                    let (op, ver) = parse_op(inner)
                        .ok_or_else(|| format!("bad version constraint in relation `{alt}`"))?;
                    (h.trim(), Some((op, ver.to_string())))
                }
                None => (alt, None),
            };
            let head = head.split(['[', '<']).next().unwrap_or("").trim();
            if head.is_empty() || head.contains(char::is_whitespace) {
                return Err(format!("bad package name in relation `{alt}`"));
            }
            let (name, arch) = match head.split_once(':') {
                Some((n, a)) => (n.to_string(), Some(a.to_string())),
                None => (head.to_string(), None),
            };
            alts.push(Relation {
                name,
                arch,
                constraint,
            });
        }
        groups.push(alts);
    }
    Ok(groups)
}

fn parse_op(inner: &str) -> Option<(Op, &str)> {
    let ops = [
        (">>", Op::Gt),
        ("<<", Op::Lt),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("=", Op::Eq),
        (">", Op::Ge),
        ("<", Op::Le),
    ];
    for (token, op) in ops {
        if let Some(v) = inner.strip_prefix(token) {
            let v = v.trim();
            return (!v.is_empty()).then_some((op, v));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &[u8], chunked: bool) -> Vec<(usize, String, Option<String>)> {
        let mut out = Vec::new();
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(b.len()).min(3);
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut each = |s: Stanza<'_>| {
            out.push((
                s.line,
                s.get("Package").unwrap_or("").to_string(),
                s.joined("Depends"),
            ));
            Ok(())
        };
        let mut want = |p: Option<&[u8]>| p != Some(b"skip");
        if chunked {
            for_each_stanza("f", Slow(text), &mut want, &mut each).unwrap();
        } else {
            for_each_stanza("f", text, &mut want, &mut each).unwrap();
        }
        out
    }

    #[test]
    fn stanzas_with_lines_skips_and_folded_fields() {
        let text = b"\nPackage: a\nDepends: x,\n y (>= 1)\n\n\nPackage: skip\nVersion: 1\n\nPackage: b\nVersion: 2";
        let expected = vec![
            (2, "a".to_string(), Some("x, y (>= 1)".to_string())),
            (10, "b".to_string(), None),
        ];
        assert_eq!(collect(text, false), expected);
        assert_eq!(collect(text, true), expected);
    }

    #[test]
    fn a_broken_stanza_names_its_line() {
        let text = "Package: a\n\nPackage: b\n no colon here\nthis is not a field\n";
        let e = parse_all("/var/lib/dpkg/status", text, &mut |_| Ok(())).unwrap_err();
        assert!(e.to_string().starts_with("/var/lib/dpkg/status:3:"), "{e}");
        let bytes = b"Package: a\nVersion: \xff\n";
        let e = for_each_stanza("x", &bytes[..], &mut |_| true, &mut |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }

    #[test]
    fn relations_parse_alternatives_and_constraints() {
        let r = relations("libc6 (>= 2.36), exim4 | mail-transport-agent:any, foo [amd64] <!nocheck>, bar (<< 2:1.0-1)").unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0][0].constraint, Some((Op::Ge, "2.36".into())));
        assert_eq!(r[1][1].name, "mail-transport-agent");
        assert_eq!(r[1][1].arch.as_deref(), Some("any"));
        assert_eq!(r[2][0].name, "foo");
        assert_eq!(r[3][0].constraint, Some((Op::Lt, "2:1.0-1".into())));
        assert!(relations("a (>= 1").is_err());
        assert!(relations("a (~ 1)").is_err());
    }
}
