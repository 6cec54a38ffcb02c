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

/// Maps byte offsets of one text to 1-based line numbers.
pub struct LineIndex<'a> {
    text: &'a str,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        LineIndex { text }
    }

    /// The 1-based line a byte offset falls on.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// The line a span starts on.
    pub fn line_of_span(&self, span: &Range<usize>) -> usize {
        self.line_of(span.start)
    }
}

/// Turn a TOML syntax or type error into a `FileError` with its line.
pub fn toml_error(file: &str, text: &str, err: &toml::de::Error) -> FileError {
    let line = err
        .span()
        .map(|s| LineIndex::new(text).line_of_span(&s))
        .unwrap_or(0);
    FileError {
        file: file.to_string(),
        line,
        field: String::new(),
        message: err.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let idx = LineIndex::new("a\nbb\nccc\n");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 2);
        assert_eq!(idx.line_of(5), 3);
    }

    #[test]
    fn toml_errors_carry_the_line() {
        let text = "a = 1\nb = = 2\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let fe = toml_error("x.toml", text, &err);
        assert_eq!(fe.line, 2);
        assert!(fe.to_string().starts_with("x.toml:2: "), "{fe}");
    }
}
