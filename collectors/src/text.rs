//! Small text-parsing helpers shared by collectors: comment stripping, `KEY VALUE` and
//! `key = value` lines, and one line of a PAM service file.
//!
//! These helpers only split text; they never read files (that is `HostRoot`'s job),
//! never decide what a value means, and never build `CollectError`s: they return plain
//! reasons so that the caller, who knows the path and line, can name both.

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

/// The logical lines of a PAM file: `#` comments removed, lines ending in `\` joined
/// with the next, blank lines dropped. Each carries the number of its first line.
pub fn pam_logical_lines(text: &str) -> Vec<(usize, String)> {
    continued_lines(text, |raw| {
        strip_comment(raw, Comments::Anywhere).to_string()
    })
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

/// One module line of a PAM file: `[-]type control module-path args...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamLine {
    /// `auth`, `account`, `password` or `session`, lower-cased.
    pub kind: String,
    /// True for a `-type` line: a missing module is skipped silently.
    pub optional_module: bool,
    /// The control as written: a keyword (`required`, `include`) or a bracketed list
    /// (`[success=1 default=ignore]`) with its inner whitespace collapsed.
    pub control: String,
    /// The module path as written (`pam_unix.so` or an absolute path); for the
    /// `include` and `substack` controls, the file to include.
    pub module: String,
    /// The module arguments, brackets removed from `[bracketed args]`.
    pub args: Vec<String>,
}

/// What a logical PAM line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PamEntry {
    /// `@include FILE`: every line of another file, in place.
    Include(String),
    /// A module line.
    Module(PamLine),
}

/// The PAM management groups.
const PAM_TYPES: [&str; 4] = ["account", "auth", "password", "session"];

/// Parse one logical PAM line (comments already removed). `Ok(None)` for a blank line;
/// an error reason when Linux-PAM itself would reject the line.
pub fn parse_pam_line(line: &str) -> Result<Option<PamEntry>, String> {
    let tokens = pam_tokens(line)?;
    let Some(first) = tokens.first() else {
        return Ok(None);
    };
    if first.text == "@include" {
        return match tokens.get(1) {
            Some(target) if tokens.len() == 2 => Ok(Some(PamEntry::Include(target.text.clone()))),
            Some(_) => Err("`@include` takes exactly one file name".into()),
            None => Err("`@include` without a file name".into()),
        };
    }
    let (optional_module, kind) = match first.text.strip_prefix('-') {
        Some(kind) => (true, kind.to_ascii_lowercase()),
        None => (false, first.text.to_ascii_lowercase()),
    };
    if first.bracketed || !PAM_TYPES.contains(&kind.as_str()) {
        return Err(format!(
            "unknown module type `{}` (expected one of {})",
            first.text,
            PAM_TYPES.join(", ")
        ));
    }
    let control = tokens
        .get(1)
        .ok_or_else(|| format!("`{kind}` line without a control field"))?;
    let control = if control.bracketed {
        format!(
            "[{}]",
            control
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        )
    } else {
        control.text.clone()
    };
    let module = tokens
        .get(2)
        .ok_or_else(|| format!("`{kind} {control}` line without a module"))?;
    Ok(Some(PamEntry::Module(PamLine {
        kind,
        optional_module,
        control,
        module: module.text.clone(),
        args: tokens[3..].iter().map(|t| t.text.clone()).collect(),
    })))
}

/// One field of a PAM line.
#[derive(Debug)]
struct PamToken {
    text: String,
    /// Written as `[...]`; `text` holds what was inside the brackets.
    bracketed: bool,
}

/// Split a PAM line into fields. A field that starts with `[` runs to the matching `]`
/// and may contain spaces; inside it `\]` is a literal `]`.
fn pam_tokens(line: &str) -> Result<Vec<PamToken>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '[' {
            chars.next();
            let mut text = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&']') => text.push(chars.next().unwrap_or(']')),
                    ']' => {
                        closed = true;
                        break;
                    }
                    c => text.push(c),
                }
            }
            if !closed {
                return Err("unterminated `[` (a bracketed field needs its `]`)".into());
            }
            tokens.push(PamToken {
                text,
                bracketed: true,
            });
        } else {
            let mut text = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                text.push(c);
                chars.next();
            }
            tokens.push(PamToken {
                text,
                bracketed: false,
            });
        }
    }
    Ok(tokens)
}

/// Split a module argument into `key` and `value` (`retry=3`); a bare flag (`nullok`)
/// has no value.
pub fn split_pam_arg(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (arg, None),
    }
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

    #[test]
    fn pam_lines_with_bracketed_controls_keep_their_spaces() {
        let entry =
            parse_pam_line("password\t[success=1   default=ignore]\tpam_unix.so obscure yescrypt")
                .unwrap()
                .unwrap();
        let PamEntry::Module(line) = entry else {
            panic!("expected a module line")
        };
        assert_eq!(line.kind, "password");
        assert_eq!(line.control, "[success=1 default=ignore]");
        assert_eq!(line.module, "pam_unix.so");
        assert_eq!(line.args, vec!["obscure", "yescrypt"]);
        assert!(!line.optional_module);
    }

    #[test]
    fn pam_includes_optional_modules_and_bracketed_args() {
        assert_eq!(
            parse_pam_line("@include common-auth").unwrap(),
            Some(PamEntry::Include("common-auth".into()))
        );
        let Some(PamEntry::Module(line)) =
            parse_pam_line("-Session optional pam_exec.so [cmd=a b\\]c] quiet").unwrap()
        else {
            panic!("expected a module line")
        };
        assert!(line.optional_module);
        assert_eq!(line.kind, "session");
        assert_eq!(line.args, vec!["cmd=a b]c", "quiet"]);
        assert_eq!(parse_pam_line("").unwrap(), None);
    }

    #[test]
    fn pam_lines_pam_would_reject_are_errors() {
        assert!(parse_pam_line("passwd required pam_unix.so")
            .unwrap_err()
            .contains("passwd"));
        assert!(parse_pam_line("auth [success=1 pam_unix.so")
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_pam_line("auth required")
            .unwrap_err()
            .contains("without a module"));
        assert!(parse_pam_line("@include").is_err());
    }

    #[test]
    fn pam_continuations_join_and_keep_the_first_line_number() {
        let text =
            "# head\nauth required \\\n   pam_env.so # why\n\npassword required pam_deny.so\n";
        assert_eq!(
            pam_logical_lines(text),
            vec![
                (2, "auth required pam_env.so".to_string()),
                (5, "password required pam_deny.so".to_string())
            ]
        );
        assert_eq!(split_pam_arg("retry=3"), ("retry", Some("3")));
        assert_eq!(split_pam_arg("nullok"), ("nullok", None));
    }
}
