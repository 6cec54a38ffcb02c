//! `/etc/login.defs`: the password-aging defaults shadow-utils gives new accounts and
//! the hash method it uses (`PASS_MAX_DAYS`, `PASS_MIN_DAYS`, `PASS_WARN_AGE`,
//! `ENCRYPT_METHOD`).
//!
//! Parsed as shadow-utils' getdef.c does: whitespace-separated `KEY VALUE`, comments only
//! on whole lines, one pair of double quotes removed, the last occurrence of a key wins.
//! A missing file is not an error (`present: false`, every value null). It never
//! applies shadow-utils' built-in defaults: an unset key is reported as null.

use super::read_optional;
use crate::formats::text::{meaningful_lines, split_key_value, unquote, Comments};
use crate::{Artifact, CollectError, HostRoot};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where the file lives on the host.
pub const PATH: &str = "/etc/login.defs";

/// The `login_defs` facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginDefs {
    /// False when the file does not exist.
    pub present: bool,
    /// Maximum days a password may be used.
    pub pass_max_days: Option<i64>,
    /// Minimum days between password changes.
    pub pass_min_days: Option<i64>,
    /// Days of warning before a password expires.
    pub pass_warn_age: Option<i64>,
    /// The hash method as written (`SHA512`, `YESCRYPT`).
    pub encrypt_method: Option<String>,
}

/// Read and parse `/etc/login.defs`, recording the artifact.
pub fn read(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<LoginDefs, CollectError> {
    match read_optional(root, PATH, artifacts)? {
        Some(text) => parse(PATH, &text),
        None => Ok(LoginDefs {
            present: false,
            pass_max_days: None,
            pass_min_days: None,
            pass_warn_age: None,
            encrypt_method: None,
        }),
    }
}

/// Parse the text of a login.defs file.
pub fn parse(path: &str, text: &str) -> Result<LoginDefs, CollectError> {
    // Last occurrence wins, so only the final value of a key is checked: an earlier,
    // overridden bad value is as harmless to us as it is to shadow-utils.
    let mut last: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (line, content) in meaningful_lines(text, Comments::WholeLine) {
        if let Some((key, value)) = split_key_value(content) {
            last.insert(key, (line, unquote(value)));
        }
    }
    let number = |key: &str| -> Result<Option<i64>, CollectError> {
        let Some(&(line, value)) = last.get(key) else {
            return Ok(None);
        };
        value
            .parse::<i64>()
            .map(Some)
            .map_err(|_| CollectError::Malformed {
                path: path.into(),
                line,
                reason: format!("{key} must be a whole number of days"),
            })
    };
    Ok(LoginDefs {
        present: true,
        pass_max_days: number("PASS_MAX_DAYS")?,
        pass_min_days: number("PASS_MIN_DAYS")?,
        pass_warn_age: number("PASS_WARN_AGE")?,
        encrypt_method: last
            .get("ENCRYPT_METHOD")
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_occurrence_wins_and_quotes_are_removed() {
        let text = "# PASS_MAX_DAYS 1\nPASS_MAX_DAYS\tabc\nPASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nENCRYPT_METHOD \"YESCRYPT\"\n";
        let defs = parse(PATH, text).unwrap();
        assert_eq!(defs.pass_max_days, Some(90));
        assert_eq!(defs.pass_min_days, Some(1));
        assert_eq!(defs.pass_warn_age, None);
        assert_eq!(defs.encrypt_method.as_deref(), Some("YESCRYPT"));
    }

    #[test]
    fn a_word_for_days_is_malformed_with_its_line() {
        let err = parse(PATH, "UMASK 022\nPASS_MAX_DAYS x\n").unwrap_err();
        let CollectError::Malformed { path, line, .. } = err else {
            panic!("expected Malformed, got {err:?}")
        };
        assert_eq!((path.as_str(), line), (PATH, 2));
    }

    #[test]
    fn a_missing_file_is_absent_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut artifacts = Vec::new();
        let defs = read(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        assert!(!defs.present);
        assert_eq!(defs.pass_max_days, None);
        assert!(!artifacts[0].present);
    }
}
