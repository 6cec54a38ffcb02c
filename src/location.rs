//! Where in a file something was written: turns TOML spans into `file:line` and builds
//! the errors users see for bad config and policy files. It never reads files itself.

use std::fmt;
use std::ops::Range;

/// An error in a file a user wrote, pointing at the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    /// The field or key the error is about, such as `rule[3].controls` or `variables.x`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.file, self.line)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for FileError {}

/// An error about one field of a section, before the file and line are known: the
/// config loader turns it into a [`FileError`] at the field's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The key path, such as `alerts.sinks.ops.url`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error one section further out (`url` inside `sinks.ops` becomes
    /// `sinks.ops.url`).
    pub fn within(self, prefix: &str) -> FieldError {
        FieldError {
            field: format!("{prefix}.{}", self.field),
            message: self.message,
        }
    }
}

/// Maps byte offsets of one text to 1-based line numbers: the offsets of the line
/// breaks are found once, and each lookup is a binary search (rule files ask for
/// hundreds of lines each).
pub struct LineIndex {
    /// Byte offset of every `\n`, in order.
    breaks: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        LineIndex {
            breaks: text
                .bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        }
    }

    /// The 1-based line a byte offset falls on (an offset past the end is on the last
    /// line).
    pub fn line_of(&self, offset: usize) -> usize {
        // Line breaks before `offset`, plus one.
        self.breaks.partition_point(|&b| b < offset) + 1
    }

    /// The line a span starts on.
    pub fn line_of_span(&self, span: &Range<usize>) -> usize {
        self.line_of(span.start)
    }
}

/// Turn a TOML syntax or type error into a `FileError` with its line and, where the
/// error is about one key (a duplicate key, a value of the wrong type), that key.
pub fn toml_error(file: &str, text: &str, err: &toml::de::Error) -> FileError {
    let line = err
        .span()
        .map(|s| LineIndex::new(text).line_of_span(&s))
        .unwrap_or(0);
    let field = err
        .span()
        .and_then(|s| field_at(text, &s, err.message()))
        .unwrap_or_default();
    FileError {
        file: file.to_string(),
        line,
        field,
        message: err.message().trim().to_string(),
    }
}

/// The dotted key a TOML error span points at: the value's key for a type error, the
/// key (under the table header above it) for a duplicate key.
fn field_at(text: &str, span: &Range<usize>, message: &str) -> Option<String> {
    if message.contains("duplicate key") {
        let key = text.get(span.clone())?.trim().trim_matches('"');
        let line_start = text[..span.start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        // A duplicated table header names itself.
        if text[line_start..span.start].trim_start().starts_with('[') {
            let end = text[span.start..].find(']').map(|i| span.start + i)?;
            return Some(
                text[line_start..end]
                    .trim()
                    .trim_start_matches('[')
                    .trim()
                    .to_string(),
            );
        }
        let header = text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| {
                l.trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            });
        return Some(match header {
            Some(h) if !h.is_empty() => format!("{h}.{key}"),
            _ => key.to_string(),
        });
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_span(doc.get_ref(), span, &mut path).then(|| join_path(&path))
}

fn find_span(table: &toml::de::DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        if find_in_value(v, span, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<String>,
) -> bool {
    let here = value.span();
    if here == *span {
        return true;
    }
    match value.get_ref() {
        toml::de::DeValue::Table(t) => find_span(t, span, path),
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                if find_in_value(item, span, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if !out.is_empty() && !p.starts_with('[') {
            out.push('.');
        }
        out.push_str(p);
    }
    out
}

/// The line of the key at `path` (`["collectors", "ssh", "schedule"]`; `"[2]"` steps
/// into an array) in a TOML document, if the document parses and holds it.
pub fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut span = None;
    let mut value: Option<&toml::Spanned<toml::de::DeValue<'_>>> = None;
    for step in path {
        if let Some(i) = step.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let toml::de::DeValue::Array(items) = value?.get_ref() else {
                return None;
            };
            let item = items.get(i.parse::<usize>().ok()?)?;
            span = Some(item.span());
            value = Some(item);
        } else {
            if let Some(v) = value {
                match v.get_ref() {
                    toml::de::DeValue::Table(t) => table = t,
                    _ => return None,
                }
            }
            let (key, v) = table.get_key_value(*step)?;
            span = Some(key.span());
            value = Some(v);
        }
    }
    Some(LineIndex::new(text).line_of_span(&span?))
}

/// An error about a key inside the table at `table` (such as a collector's settings),
/// from a message that may start with the key's path: `probes[0] (web).url: ...` names
/// `TABLE.probes[0].url` at that key's line; otherwise the message's leading word or
/// first `` `quoted` `` key gives the line (0 when none is found) and the table is named.
pub fn nested_error(file: &str, text: &str, table: &[&str], message: String) -> FileError {
    let table_name = table.join(".");
    if let Some((path, rest)) = leading_path(&message) {
        let mut steps = table.to_vec();
        steps.extend(path_steps(&path));
        if let Some(line) = key_line(text, &steps) {
            return FileError {
                file: file.to_string(),
                line,
                field: format!("{table_name}.{path}"),
                message: rest.to_string(),
            };
        }
    }
    let lead: String = message
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let quoted = message.split('`').nth(1).unwrap_or("");
    let line = [lead.as_str(), quoted]
        .iter()
        .find_map(|k| {
            let mut steps = table.to_vec();
            steps.push(k);
            key_line(text, &steps)
        })
        .unwrap_or(0);
    FileError {
        file: file.to_string(),
        line,
        field: table_name,
        message,
    }
}

/// `probes[0].url` and the rest of `probes[0] (web).url: must ...` (the `(name)` part is
/// dropped from the path), when the message starts with a path followed by `:`.
fn leading_path(message: &str) -> Option<(String, &str)> {
    let mut path = String::new();
    let mut rest = message;
    loop {
        let ident = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '[' || c == ']'))
            .unwrap_or(rest.len());
        if ident == 0 {
            return None;
        }
        path.push_str(&rest[..ident]);
        rest = &rest[ident..];
        if let Some(after) = rest.strip_prefix(" (") {
            rest = &after[after.find(')')? + 1..];
        }
        match rest.strip_prefix('.') {
            Some(after) => {
                path.push('.');
                rest = after;
            }
            None => break,
        }
    }
    let rest = rest.strip_prefix(':')?.trim_start();
    Some((path, rest))
}

/// `probes[0].url` as key-line steps: `probes`, `[0]`, `url`.
fn path_steps(path: &str) -> Vec<&str> {
    let mut steps = Vec::new();
    for seg in path.split('.') {
        match seg.find('[') {
            Some(i) => {
                steps.push(&seg[..i]);
                let mut idx = &seg[i..];
                while let Some(end) = idx.find(']') {
                    steps.push(&idx[..=end]);
                    idx = &idx[end + 1..];
                }
            }
            None => steps.push(seg),
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let text = "a\nbb\nccc\n";
        let idx = LineIndex::new(text);
        // Every offset, against counting the line breaks before it.
        for offset in 0..=text.len() + 3 {
            let expected = text.as_bytes()[..offset.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            assert_eq!(idx.line_of(offset), expected, "offset {offset}");
        }
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 2);
        assert_eq!(idx.line_of(5), 3);
        assert_eq!(LineIndex::new("").line_of(7), 1);
    }

    #[test]
    fn toml_errors_carry_the_line() {
        let text = "a = 1\nb = = 2\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let fe = toml_error("x.toml", text, &err);
        assert_eq!(fe.line, 2);
        assert!(fe.to_string().starts_with("x.toml:2: "), "{fe}");
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Doc {
        alerts: Option<Alerts>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Alerts {
        k: Option<u32>,
        list: Option<Vec<u32>>,
    }

    fn field_of(text: &str) -> (usize, String) {
        let err = toml::from_str::<Doc>(text).unwrap_err();
        let fe = toml_error("x.toml", text, &err);
        (fe.line, fe.field)
    }

    #[test]
    fn duplicate_keys_and_wrong_types_name_the_field() {
        assert_eq!(field_of("[alerts]\nk = 1\nk = 2\n"), (3, "alerts.k".into()));
        assert_eq!(field_of("[alerts]\n[alerts]\n"), (2, "alerts".into()));
        assert_eq!(field_of("[alerts]\nk = \"x\"\n"), (2, "alerts.k".into()));
        assert_eq!(field_of("[alerts]\nk = -1\n"), (2, "alerts.k".into()));
        assert_eq!(
            field_of("[alerts]\nlist = [1, \"two\"]\n"),
            (2, "alerts.list[1]".into())
        );
        let err = toml::from_str::<Doc>("[alerts]\nk = 1.5\n").unwrap_err();
        let shown = toml_error("x.toml", "[alerts]\nk = 1.5\n", &err).to_string();
        assert!(shown.starts_with("x.toml:2: `alerts.k`: "), "{shown}");
    }

    #[test]
    fn key_lines() {
        let text = "[collectors.ssh]\n\nschedule = \"x\"\n";
        assert_eq!(key_line(text, &["collectors", "ssh", "schedule"]), Some(3));
        assert_eq!(key_line(text, &["collectors", "ssh", "nope"]), None);
        let text = "[c]\np = [\n  { a = 1 },\n  { a = 2,\n    b = 3 },\n]\n";
        assert_eq!(key_line(text, &["c", "p", "[1]", "b"]), Some(5));
        assert_eq!(key_line(text, &["c", "p", "[1]"]), Some(4));
    }
}
