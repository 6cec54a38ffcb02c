//! Small text-parsing helpers shared by collectors: comment stripping, `KEY VALUE` and
//! `key = value` lines, and lines continued with a trailing `\`.
//!
//! These helpers only split text; they never read files (that is `HostRoot`'s job),
//! never decide what a value means, and never build `CollectError`s: they return plain
//! reasons so that the caller, who knows the path and line, can name both.

/// A word from a refused line, fit to quote in an error: only when it looks like a
/// keyword (ASCII letters, at most two digits, at most 40 characters), because a line
/// of a file that should not have been read there (a shadow entry, a token) must never
/// reach an error. Otherwise a description without the text.
pub fn quoted_keyword(word: &str) -> String {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    let keyword_like = !word.is_empty()
        && word.len() <= 40
        && word.chars().all(|c| c.is_ascii_alphanumeric())
        && word.starts_with(|c: char| c.is_ascii_alphabetic())
        && digits <= 2;
    if keyword_like {
        format!("`{word}`")
    } else {
        "(a word that is not a keyword; not quoted, as it may be a secret)".to_string()
    }
}

/// Which `#` starts a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comments {
    /// Only a `#` that is the first non-blank character (shadow-utils' `login.defs`).
    WholeLine,
    /// Any `#` to the end of the line (libpwquality, pam_faillock, Linux-PAM).
    Anywhere,
}

/// The line without its comment, trimmed.
pub fn strip_comment(line: &str, comments: Comments) -> &str {
    let trimmed = line.trim();
    match comments {
        Comments::WholeLine if trimmed.starts_with('#') => "",
        Comments::WholeLine => trimmed,
        Comments::Anywhere => trimmed.split('#').next().unwrap_or("").trim(),
    }
}

/// The lines that carry content, as `(1-based line number, line without comment)`.
pub fn meaningful_lines(text: &str, comments: Comments) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(move |(i, line)| (i + 1, strip_comment(line, comments)))
        .filter(|(_, line)| !line.is_empty())
}

/// Split a whitespace-separated `KEY VALUE` line (`login.defs`). The value is the rest
/// of the line, trimmed, and may be empty.
pub fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    match line.find(char::is_whitespace) {
        Some(at) => Some((&line[..at], line[at..].trim())),
        None => Some((line, "")),
    }
}

/// Split a `key = value` line as libpwquality and pam_faillock do: the key ends at
/// whitespace or `=`, an `=` between key and value is optional, and a bare key (no
/// value) gives `None`, which those tools read as a flag that is set.
pub fn split_key_equals_value(line: &str) -> Option<(&str, Option<&str>)> {
    let line = line.trim();
    let end = line
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(line.len());
    let key = &line[..end];
    if key.is_empty() {
        return None;
    }
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    Some((key, (!rest.is_empty()).then_some(rest)))
}

/// A value without one pair of surrounding double quotes (`"SHA512"` -> `SHA512`).
pub fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Logical lines of a file whose lines continue with a trailing `\`: each physical
/// line is first reduced by `strip` (comments removed, as the format says), then lines
/// ending in `\` are joined to the next with one space, and blank results dropped.
/// Each carries the number of its first physical line.
pub fn continued_lines(text: &str, mut strip: impl FnMut(&str) -> String) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip(raw);
        let (body, continues) = match line.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (line.as_str(), false),
        };
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(body.trim());
        if continues {
            pending = Some((start, joined));
        } else if !joined.trim().is_empty() {
            out.push((start, joined.trim().to_string()));
        }
    }
    if let Some((start, joined)) = pending {
        if !joined.trim().is_empty() {
            out.push((start, joined.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_the_way_each_format_does() {
        assert_eq!(strip_comment("  # all comment", Comments::WholeLine), "");
        assert_eq!(
            strip_comment("UMASK 022 # not a comment here", Comments::WholeLine),
            "UMASK 022 # not a comment here"
        );
        assert_eq!(
            strip_comment("minlen = 14 # local", Comments::Anywhere),
            "minlen = 14"
        );
        let lines: Vec<_> = meaningful_lines("# c\n\nA 1\n  B 2 \n", Comments::WholeLine).collect();
        assert_eq!(lines, vec![(3, "A 1"), (4, "B 2")]);
    }

    #[test]
    fn key_value_lines_split_on_whitespace_or_equals() {
        assert_eq!(
            split_key_value("PASS_MAX_DAYS\t 99999"),
            Some(("PASS_MAX_DAYS", "99999"))
        );
        assert_eq!(
            split_key_value("ENV_PATH PATH=/bin:/usr/bin"),
            Some(("ENV_PATH", "PATH=/bin:/usr/bin"))
        );
        assert_eq!(split_key_value("LONELY"), Some(("LONELY", "")));
        assert_eq!(
            split_key_equals_value("minlen = 14"),
            Some(("minlen", Some("14")))
        );
        assert_eq!(
            split_key_equals_value("minlen=14"),
            Some(("minlen", Some("14")))
        );
        assert_eq!(
            split_key_equals_value("minlen 14"),
            Some(("minlen", Some("14")))
        );
        assert_eq!(
            split_key_equals_value("enforce_for_root"),
            Some(("enforce_for_root", None))
        );
        assert_eq!(
            split_key_equals_value("badwords = a b c"),
            Some(("badwords", Some("a b c")))
        );
        assert_eq!(split_key_equals_value("= 3"), None);
        assert_eq!(unquote("\"SHA512\""), "SHA512");
        assert_eq!(unquote("\"half"), "\"half");
    }
}
