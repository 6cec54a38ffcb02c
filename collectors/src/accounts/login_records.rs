//! Last logins from the binary login records: `/var/log/lastlog` (one 292-byte record
//! per UID, a sparse file) and `/var/log/wtmp` (384-byte `struct utmp` records, glibc on
//! 64-bit Linux). Only the time of the newest login per account is kept: no terminal,
//! no remote host.
//!
//! It must never read more than `MAX_FILE_BYTES` of either file: lastlog is read per
//! UID at its offset, wtmp from its tail (the newest records).

use crate::{sha256_hex, Artifact, CollectError, HostRoot, MAX_FILE_BYTES};
use std::collections::BTreeMap;

pub const LASTLOG: &str = "/var/log/lastlog";
pub const WTMP: &str = "/var/log/wtmp";
const LASTLOG_RECORD: u64 = 292;
const UTMP_RECORD: u64 = 384;
/// `ut_type` of a user login.
const USER_PROCESS: i16 = 7;

/// The newest login per account name, as seconds since the epoch, and what was read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LastLogins {
    pub lastlog_present: bool,
    pub wtmp_present: bool,
    /// True when wtmp was larger than the read limit and only its newest part was read.
    pub wtmp_truncated: bool,
    /// name -> (seconds, source)
    pub by_name: BTreeMap<String, (i64, &'static str)>,
}

/// Read lastlog for the given `(name, uid)` accounts and the tail of wtmp.
pub fn read(
    root: &HostRoot,
    accounts: &[(String, u32)],
    artifacts: &mut Vec<Artifact>,
) -> Result<LastLogins, CollectError> {
    let mut out = LastLogins::default();
    if let Some(meta) = root.metadata(LASTLOG)? {
        out.lastlog_present = true;
        if meta.is_dir() {
            return Err(not_a_file(LASTLOG));
        }
        let mut seen = Vec::new();
        for (name, uid) in accounts {
            let offset = u64::from(*uid) * LASTLOG_RECORD;
            if offset + LASTLOG_RECORD > meta.len() {
                continue;
            }
            let Some(rec) = root.read_range(LASTLOG, offset, LASTLOG_RECORD)? else {
                continue;
            };
            if rec.len() as u64 != LASTLOG_RECORD {
                return Err(CollectError::Malformed {
                    path: LASTLOG.into(),
                    line: 0,
                    reason: format!("short record for UID {uid} (the file changed while read?)"),
                });
            }
            seen.extend_from_slice(&rec[..4]);
            let t = lastlog_time(&rec).unwrap_or_default();
            if t > 0 {
                out.by_name.insert(name.clone(), (i64::from(t), "lastlog"));
            }
        }
        // The hash covers only the login times read (no terminals, no hosts).
        artifacts.push(binary_artifact(LASTLOG, &seen));
    } else {
        artifacts.push(Artifact::absent(LASTLOG));
    }
    if let Some(meta) = root.metadata(WTMP)? {
        out.wtmp_present = true;
        if meta.is_dir() {
            return Err(not_a_file(WTMP));
        }
        if meta.len() % UTMP_RECORD != 0 {
            return Err(CollectError::Malformed {
                path: WTMP.into(),
                line: 0,
                reason: format!(
                    "size {} is not a whole number of {UTMP_RECORD}-byte utmp records (not a wtmp file, or a different architecture)",
                    meta.len()
                ),
            });
        }
        let limit = (MAX_FILE_BYTES / UTMP_RECORD) * UTMP_RECORD;
        let start = meta.len().saturating_sub(limit);
        out.wtmp_truncated = start > 0;
        let bytes = root
            .read_range(WTMP, start, meta.len() - start)?
            .unwrap_or_default();
        let seen = wtmp_logins(&bytes, (start / UTMP_RECORD) as usize, &mut out.by_name)?;
        artifacts.push(binary_artifact(WTMP, &seen));
    } else {
        artifacts.push(Artifact::absent(WTMP));
    }
    Ok(out)
}

/// The login times in whole utmp records (`first` is the number of records before
/// `bytes` in the file, for error messages), newest per user into `by_name`. Returns
/// the projection the artifact hashes (user names and times only).
pub(crate) fn wtmp_logins(
    bytes: &[u8],
    first: usize,
    by_name: &mut BTreeMap<String, (i64, &'static str)>,
) -> Result<Vec<u8>, CollectError> {
    let mut seen = Vec::new();
    for (i, rec) in bytes.chunks_exact(UTMP_RECORD as usize).enumerate() {
        let kind = i16::from_le_bytes([rec[0], rec[1]]);
        if !(0..=9).contains(&kind) {
            return Err(CollectError::Malformed {
                path: WTMP.into(),
                line: 0,
                reason: format!(
                    "record {} has type {kind}, not a utmp record type (0-9)",
                    first + i + 1
                ),
            });
        }
        if kind != USER_PROCESS {
            continue;
        }
        let user = c_string(&rec[44..76]);
        let secs = i64::from(i32::from_le_bytes([rec[340], rec[341], rec[342], rec[343]]));
        seen.extend_from_slice(user.as_bytes());
        seen.extend_from_slice(&secs.to_le_bytes());
        if user.is_empty() || secs <= 0 {
            continue;
        }
        let newer = by_name.get(&user).is_none_or(|(t, _)| secs > *t);
        if newer {
            by_name.insert(user, (secs, "wtmp"));
        }
    }
    Ok(seen)
}

/// The login time of one lastlog record (its first four bytes, little-endian).
pub(crate) fn lastlog_time(rec: &[u8]) -> Option<i32> {
    let b: [u8; 4] = rec.get(..4)?.try_into().ok()?;
    Some(i32::from_le_bytes(b))
}

fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn binary_artifact(path: &str, projection: &[u8]) -> Artifact {
    Artifact {
        source: path.into(),
        kind: "file".into(),
        sha256: Some(sha256_hex(projection)),
        excerpt: None,
        present: true,
        exit_status: None,
    }
}

fn not_a_file(path: &str) -> CollectError {
    CollectError::Unreadable {
        path: path.into(),
        reason: "is a directory, expected a file".into(),
    }
}

/// A wtmp record (for tests and fixture builders).
#[cfg(test)]
pub fn utmp_record(kind: i16, user: &str, secs: i32) -> Vec<u8> {
    let mut rec = vec![0u8; UTMP_RECORD as usize];
    rec[0..2].copy_from_slice(&kind.to_le_bytes());
    rec[8..13].copy_from_slice(b"pts/0");
    rec[44..44 + user.len()].copy_from_slice(user.as_bytes());
    rec[340..344].copy_from_slice(&secs.to_le_bytes());
    rec
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn lastlog_by_uid_and_newest_wtmp_login() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/log")).unwrap();
        let mut lastlog = vec![0u8; 1001 * 292];
        lastlog[1000 * 292..1000 * 292 + 4].copy_from_slice(&1_700_000_000i32.to_le_bytes());
        fs::write(dir.path().join("var/log/lastlog"), lastlog).unwrap();
        let mut wtmp = Vec::new();
        wtmp.extend(utmp_record(2, "reboot", 1_690_000_000));
        wtmp.extend(utmp_record(7, "ops", 1_750_000_000));
        wtmp.extend(utmp_record(7, "ops", 1_740_000_000));
        wtmp.extend(utmp_record(8, "", 1_750_000_100));
        fs::write(dir.path().join("var/log/wtmp"), wtmp).unwrap();
        let accounts = vec![("root".to_string(), 0), ("ops".to_string(), 1000)];
        let got = read(&HostRoot::new(dir.path()), &accounts, &mut Vec::new()).unwrap();
        assert_eq!(got.by_name["ops"], (1_750_000_000, "wtmp"));
        assert!(!got.by_name.contains_key("root"));
        assert!(got.lastlog_present && got.wtmp_present && !got.wtmp_truncated);
    }

    #[test]
    fn garbage_wtmp_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/log")).unwrap();
        fs::write(dir.path().join("var/log/wtmp"), vec![0xffu8; 384]).unwrap();
        let e = read(&HostRoot::new(dir.path()), &[], &mut Vec::new()).unwrap_err();
        assert!(
            e.to_string().contains("/var/log/wtmp") && e.to_string().contains("type"),
            "{e}"
        );
        fs::write(dir.path().join("var/log/wtmp"), b"hello").unwrap();
        let e = read(&HostRoot::new(dir.path()), &[], &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("384-byte"), "{e}");
    }
}
