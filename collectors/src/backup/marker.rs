//! Marker files an operator's jobs write after a restore test or an integrity check:
//! the format, and reading the newest entry. It never runs a restore or a check itself.
//!
//! Format (one event per line, newest anywhere; blank lines and `#` comments ignored):
//!
//! ```text
//! 2026-11-20T03:00:00Z ok restored /etc from snapshot 1a2b3c4d, 1204 files compared
//! 2026-08-14T03:00:00Z failed restic restore: wrong password
//! ```
//!
//! The first field is an RFC 3339 time, the second `ok` or `failed`, the rest a note.

use crate::{Artifact, CollectError, HostRoot};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The newest entry of a marker file as facts (`{at, result, note, entries}`), `Null`
/// when the file does not exist or holds no entry. A line that does not follow the
/// format is an error naming the file and line.
pub fn newest_entry(
    root: &HostRoot,
    path: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Value, CollectError> {
    let Some(text) = root.read_text(path)? else {
        artifacts.push(Artifact::absent(path));
        return Ok(Value::Null);
    };
    artifacts.push(Artifact::file(path, text.as_bytes()));
    let mut newest: Option<(DateTime<Utc>, String, String)> = None;
    let mut entries = 0u64;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let malformed = |reason: String| CollectError::Malformed {
            path: path.to_string(),
            line: i + 1,
            reason,
        };
        let mut fields = line.splitn(3, char::is_whitespace);
        let time = fields.next().unwrap_or("");
        let at = DateTime::parse_from_rfc3339(time)
            .map_err(|_| {
                malformed(format!(
                    "expected an RFC 3339 time such as 2026-11-20T03:00:00Z first, found {time:?}"
                ))
            })?
            .with_timezone(&Utc);
        let result = fields.next().unwrap_or("");
        if result != "ok" && result != "failed" {
            return Err(malformed(format!(
                "expected `ok` or `failed` after the time, found {result:?}"
            )));
        }
        let note = fields.next().unwrap_or("").trim().to_string();
        entries += 1;
        if newest.as_ref().is_none_or(|(t, _, _)| at >= *t) {
            newest = Some((at, result.to_string(), note));
        }
    }
    Ok(match newest {
        Some((at, result, note)) => json!({
            "at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "result": result,
            "note": note,
            "entries": entries,
        }),
        None => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Value, CollectError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.log"), text).unwrap();
        newest_entry(&HostRoot::new(dir.path()), "/m.log", &mut Vec::new())
    }

    #[test]
    fn the_newest_entry_wins_wherever_it_is() {
        let v = read("# restore tests\n2026-11-20T03:00:00Z ok restored /etc\n2026-08-01T00:00:00+02:00 failed x\n").unwrap();
        assert_eq!(v["at"], "2026-11-20T03:00:00Z");
        assert_eq!(v["result"], "ok");
        assert_eq!(v["note"], "restored /etc");
        assert_eq!(v["entries"], 2);
        assert_eq!(read("# nothing yet\n").unwrap(), Value::Null);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = read("2026-11-20T03:00:00Z ok\nyesterday ok\n").unwrap_err();
        assert!(e.to_string().contains("/m.log:2"), "{e}");
        let e = read("2026-11-20T03:00:00Z passed\n").unwrap_err();
        assert!(e.to_string().contains("`ok` or `failed`"), "{e}");
    }
}
