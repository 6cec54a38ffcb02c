//! The grammar of one PAM service file: logical lines (comments, `\` continuations)
//! and one `[-]type control module-path args...` line or `@include`, as Linux-PAM
//! accepts them. `stack` resolves whole stacks from these lines.
//!
//! Like `text`, it only splits text: it never reads files and never decides what a
//! module does; it returns plain reasons so the caller can name file and line.

pub mod stack;

use super::text::{continued_lines, strip_comment, Comments};

/// The logical lines of a PAM file: `#` comments removed, lines ending in `\` joined
/// with the next, blank lines dropped. Each carries the number of its first line.
pub fn pam_logical_lines(text: &str) -> Vec<(usize, String)> {
    continued_lines(text, |raw| {
        strip_comment(raw, Comments::Anywhere).to_string()
    })
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
            "unknown module type {} (expected one of {})",
            super::text::quoted_keyword(&first.text),
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
        .ok_or_else(|| format!("`{kind}` line without a module"))?;
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
