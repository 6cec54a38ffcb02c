//! Typed `key = value` settings, as pwquality.conf and faillock.conf write them and as
//! pam_pwquality and pam_faillock take them as module arguments.
//!
//! This module owns the question "what type does this key have": integers become JSON
//! integers (or a `Malformed` error naming path and line), flags become `true`, anything
//! else stays a string. It never reads files and never applies defaults.

use crate::formats::text::{meaningful_lines, split_key_equals_value, Comments};
use crate::CollectError;
use serde_json::Value;
use std::collections::BTreeMap;

/// The type of one known key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number; anything else is malformed.
    Int,
    /// Set by its presence, with no value.
    Flag,
    /// Free text (a path, a word list).
    Text,
}

/// The keys one file format knows, with their types.
pub struct Schema {
    /// `(key, kind)` pairs.
    pub keys: &'static [(&'static str, Kind)],
    /// A word that also counts as an integer (pam_faillock's `unlock_time=never` is 0).
    pub int_aliases: &'static [(&'static str, &'static str, i64)],
}

impl Schema {
    /// The kind of a key; keys the schema does not list are kept as text.
    pub fn kind(&self, key: &str) -> Kind {
        self.keys
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Kind::Text, |(_, kind)| *kind)
    }

    /// True when the key is one this format defines.
    pub fn knows(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| *k == key)
    }

    /// The typed value of `key`, or a reason why `raw` does not fit.
    pub fn value(&self, key: &str, raw: Option<&str>) -> Result<Value, String> {
        match (self.kind(key), raw) {
            (Kind::Flag, _) => Ok(Value::Bool(true)),
            (Kind::Int, None) => Err(format!("`{key}` needs a whole-number value")),
            (Kind::Int, Some(raw)) => self.int(key, raw).map(Value::from),
            (Kind::Text, None) => Ok(Value::Bool(true)),
            (Kind::Text, Some(raw)) => Ok(Value::String(raw.to_string())),
        }
    }

    fn int(&self, key: &str, raw: &str) -> Result<i64, String> {
        if let Some((_, _, n)) = self
            .int_aliases
            .iter()
            .find(|(k, word, _)| *k == key && *word == raw)
        {
            return Ok(*n);
        }
        raw.parse::<i64>()
            .map_err(|_| format!("`{key}` must be a whole number"))
    }
}

/// One setting as found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The typed value.
    pub value: Value,
    /// The line it was set on (1-based).
    pub line: usize,
}

/// Parse a `key = value` file; a later line for the same key replaces an earlier one.
pub fn parse(
    path: &str,
    text: &str,
    schema: &Schema,
) -> Result<BTreeMap<String, Setting>, CollectError> {
    let mut out = BTreeMap::new();
    for (line, content) in meaningful_lines(text, Comments::Anywhere) {
        let Some((key, raw)) = split_key_equals_value(content) else {
            return Err(CollectError::Malformed {
                path: path.into(),
                line,
                reason: "expected `key = value` or a bare key".into(),
            });
        };
        let value = schema
            .value(key, raw)
            .map_err(|reason| CollectError::Malformed {
                path: path.into(),
                line,
                reason,
            })?;
        out.insert(key.to_string(), Setting { value, line });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        keys: &[
            ("minlen", Kind::Int),
            ("enforce_for_root", Kind::Flag),
            ("unlock_time", Kind::Int),
        ],
        int_aliases: &[("unlock_time", "never", 0)],
    };

    #[test]
    fn integers_flags_and_text_are_typed() {
        let text = "minlen = 14\nminlen=15 # later wins\nenforce_for_root\ndictpath = /usr/share/dict\nunlock_time = never\n";
        let s = parse("/x.conf", text, &SCHEMA).unwrap();
        assert_eq!(
            s["minlen"],
            Setting {
                value: Value::from(15),
                line: 2
            }
        );
        assert_eq!(s["enforce_for_root"].value, Value::Bool(true));
        assert_eq!(s["dictpath"].value, Value::from("/usr/share/dict"));
        assert_eq!(s["unlock_time"].value, Value::from(0));
    }

    #[test]
    fn a_word_where_a_number_belongs_names_path_and_line() {
        let err = parse(
            "/etc/security/pwquality.conf",
            "# c\nminlen = abc\n",
            &SCHEMA,
        )
        .unwrap_err();
        match err {
            CollectError::Malformed { path, line, reason } => {
                assert_eq!(path, "/etc/security/pwquality.conf");
                assert_eq!(line, 2);
                assert!(
                    reason.contains("minlen") && !reason.contains("abc"),
                    "{reason}"
                );
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        assert!(parse("/x", "minlen\n", &SCHEMA).is_err());
    }
}
