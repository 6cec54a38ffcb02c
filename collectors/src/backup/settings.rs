//! `[collectors.backup]` settings: the repositories to look at. Owns their validation;
//! never reads a password (only the path of the file that holds it).

use serde::Deserialize;
use std::collections::BTreeMap;

/// Environment variables that would put a secret into the config file itself.
const SECRET_ENV: &[&str] = &[
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_COMMAND",
    "BORG_PASSPHRASE",
    "BORG_PASSCOMMAND",
    "BORG_PASSPHRASE_FD",
];

/// The collector's settings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// The backup repositories this host's data goes to.
    #[serde(default)]
    pub repositories: Vec<RepositorySpec>,
}

/// Which tool reads a repository.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A restic repository (`restic snapshots --json`).
    Restic,
    /// A Borg repository (`borg list --json`).
    Borg,
    /// Any other tool: the newest file matching `path` (a glob).
    File,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Restic => "restic",
            Kind::Borg => "borg",
            Kind::File => "file",
        }
    }
}

/// One repository.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RepositorySpec {
    /// A short name for reports (unique).
    pub name: String,
    /// `restic`, `borg` or `file`.
    pub kind: Kind,
    /// restic/borg: the repository location as the tool takes it (`/srv/restic`,
    /// `sftp:backup@nas:/restic`, `ssh://backup@nas/./borg`). Credentials in a URL are
    /// not reported.
    pub repository: Option<String>,
    /// file: a glob of the backup files (`/var/backups/db/*.sql.gz`).
    pub path: Option<String>,
    /// restic/borg: the file holding the repository password. attestd never reads it;
    /// restic gets `--password-file`, borg `BORG_PASSCOMMAND=/bin/cat FILE`.
    pub password_file: Option<String>,
    /// Whether the repository is on another host. Default: inferred from the location
    /// (`sftp:`, `rest:`, `s3:`, `b2:`, `azure:`, `gs:`, `swift:`, `rclone:`, `ssh://`,
    /// `user@host:path`).
    pub off_host: Option<bool>,
    /// Extra environment for the tool (for example `AWS_SHARED_CREDENTIALS_FILE`).
    /// Values are never recorded; password variables are refused.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A file the restore-test job appends to (`TIME ok|failed note` per line).
    pub restore_test_marker: Option<String>,
    /// A file the integrity-check job (`restic check`, `borg check`) appends to, same format.
    pub check_marker: Option<String>,
    /// Seconds the tool may run (default 60).
    pub timeout_seconds: Option<u64>,
    /// restic/borg: hours between two integrity checks attestd runs itself
    /// (`restic check`, `borg check`), counted from the previous run's check; default
    /// 24; 0 = never (the check marker alone then counts).
    pub check_interval_hours: Option<u64>,
    /// restic: `--read-data-subset` of each check (`5%`, `1/20`, `500M`; default 5%;
    /// `0` reads no data and checks the structure only).
    pub check_read_data_subset: Option<String>,
    /// borg: pass `--verify-data` (reads and decrypts every chunk; slow). Default false.
    pub check_verify_data: Option<bool>,
    /// Seconds a check may run (default 600). The collector's own `timeout_seconds`
    /// must leave room for it.
    pub check_timeout_seconds: Option<u64>,
}

/// Parse and validate the settings, with messages that name the repository and field.
pub fn parse(settings: &serde_json::Value) -> Result<BackupSettings, String> {
    let mut map = match settings {
        serde_json::Value::Null => return Ok(BackupSettings::default()),
        serde_json::Value::Object(m) => m.clone(),
        other => return Err(format!("expected a table, found {other}")),
    };
    let parsed: BackupSettings = serde_json::from_value(serde_json::Value::Object(
        std::mem::take(&mut map),
    ))
    .map_err(|e| format!("{e} (each repository takes name, kind, repository or path, password_file, off_host, env, restore_test_marker, check_marker, timeout_seconds, check_interval_hours, check_read_data_subset, check_verify_data, check_timeout_seconds)"))?;
    let mut names = std::collections::BTreeSet::new();
    for (i, r) in parsed.repositories.iter().enumerate() {
        let at = format!("repositories[{i}] ({})", r.name);
        if r.name.trim().is_empty() {
            return Err(format!("repositories[{i}].name: must not be empty"));
        }
        if !names.insert(r.name.clone()) {
            return Err(format!("{at}.name: the name is used twice"));
        }
        match r.kind {
            Kind::Restic | Kind::Borg => {
                if r.repository.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return Err(format!(
                        "{at}.repository: a {} repository needs its location",
                        r.kind.as_str()
                    ));
                }
                if r.path.is_some() {
                    return Err(format!(
                        "{at}.path: only `file` repositories take a path; use `repository`"
                    ));
                }
                if r.kind == Kind::Restic && r.password_file.is_none() {
                    return Err(format!("{at}.password_file: restic repositories are always encrypted; name the file holding the password"));
                }
            }
            Kind::File => {
                if r.path.as_deref().is_none_or(|p| !p.starts_with('/')) {
                    return Err(format!(
                        "{at}.path: a `file` repository needs an absolute glob such as /var/backups/db/*.sql.gz"
                    ));
                }
                if r.repository.is_some() || r.password_file.is_some() {
                    return Err(format!("{at}: `file` repositories take `path` only, not repository or password_file"));
                }
            }
        }
        for (field, value) in [
            ("password_file", &r.password_file),
            ("restore_test_marker", &r.restore_test_marker),
            ("check_marker", &r.check_marker),
        ] {
            if let Some(v) = value {
                if !v.starts_with('/') {
                    return Err(format!(
                        "{at}.{field}: must be an absolute path, found {v:?}"
                    ));
                }
                if v.contains('\'') {
                    return Err(format!("{at}.{field}: borg cannot be given a path with a single quote safely; rename the file"));
                }
            }
        }
        for key in r.env.keys() {
            if SECRET_ENV.contains(&key.as_str()) {
                return Err(format!("{at}.env.{key}: secrets do not belong in the config; put the password in a file and name it in password_file"));
            }
        }
        if r.check_timeout_seconds == Some(0) {
            return Err(format!("{at}.check_timeout_seconds: must be at least 1"));
        }
        if r.kind != Kind::Restic && r.check_read_data_subset.is_some() {
            return Err(format!("{at}.check_read_data_subset: only restic repositories take it (borg: check_verify_data)"));
        }
        if r.kind != Kind::Borg && r.check_verify_data.is_some() {
            return Err(format!("{at}.check_verify_data: only borg repositories take it (restic: check_read_data_subset)"));
        }
        if r.kind == Kind::File && r.check_interval_hours.is_some() {
            return Err(format!("{at}.check_interval_hours: `file` repositories have no check tool; record checks in check_marker"));
        }
        if let Some(subset) = &r.check_read_data_subset {
            if !valid_subset(subset) {
                return Err(format!("{at}.check_read_data_subset: expected a percentage (5%), a part (1/20) or a size (500M), found {subset:?}"));
            }
        }
        if r.timeout_seconds == Some(0) {
            return Err(format!("{at}.timeout_seconds: must be at least 1"));
        }
    }
    Ok(parsed)
}

/// restic's `--read-data-subset` forms: `N%`, `n/t`, or a size with an optional unit.
fn valid_subset(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.');
    if let Some(p) = s.strip_suffix('%') {
        return digits(p) && p.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v));
    }
    if let Some((n, t)) = s.split_once('/') {
        return match (n.parse::<u64>(), t.parse::<u64>()) {
            (Ok(n), Ok(t)) => n >= 1 && n <= t,
            _ => false,
        };
    }
    let num = s.trim_end_matches(['K', 'M', 'G', 'T']);
    s == "0" || (digits(num) && num.len() + 1 >= s.len())
}

/// Whether a location names another host, from its form.
pub fn location_is_off_host(kind: Kind, location: &str) -> bool {
    const REMOTE: &[&str] = &[
        "sftp:", "rest:", "s3:", "b2:", "azure:", "gs:", "swift:", "rclone:", "ssh://",
    ];
    if REMOTE.iter().any(|p| location.starts_with(p)) {
        return true;
    }
    // borg's scp-like form: user@host:path
    kind == Kind::Borg
        && !location.starts_with('/')
        && location
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'))
}

/// The location without any password in a URL's user part (`rest:https://u:p@h/` ->
/// `rest:https://u:***@h/`).
pub fn redact_location(location: &str) -> String {
    if let Some(scheme_end) = location.find("://") {
        let rest = &location[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{}{user}:***{}", &location[..scheme_end + 3], &rest[at..]);
            }
        }
    }
    location.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_names_the_repository_and_field() {
        let e =
            parse(&json!({"repositories": [{"name": "a", "kind": "restic", "repository": "/r"}]}))
                .unwrap_err();
        assert!(e.contains("repositories[0] (a).password_file"), "{e}");
        let e = parse(&json!({"repositories": [{"name": "a", "kind": "file", "path": "x"}]}))
            .unwrap_err();
        assert!(e.contains("absolute glob"), "{e}");
        let e = parse(&json!({"repositories": [{"name": "a", "kind": "borg", "repository": "/r", "env": {"BORG_PASSPHRASE": "x"}}]})).unwrap_err();
        assert!(e.contains("secrets do not belong"), "{e}");
        let e = parse(&json!({"repositories": [{"name": "a", "kind": "tape"}]})).unwrap_err();
        assert!(e.contains("tape"), "{e}");
        let e = parse(&json!({"repositories": [{"name": "a", "kind": "restic", "repository": "/r", "password_file": "/p", "check_read_data_subset": "lots"}]})).unwrap_err();
        assert!(
            e.contains("repositories[0] (a).check_read_data_subset: expected"),
            "{e}"
        );
        let e = parse(&json!({"repositories": [{"name": "a", "kind": "restic", "repository": "/r", "password_file": "/p", "check_verify_data": true}]})).unwrap_err();
        assert!(e.contains("only borg"), "{e}");
        for ok in ["5%", "100%", "1/20", "500M", "2G", "0"] {
            assert!(valid_subset(ok), "{ok}");
        }
        for bad in ["101%", "0/5", "6/5", "M", "5%%", "x"] {
            assert!(!valid_subset(bad), "{bad}");
        }
        let e = parse(&json!({"repos": []})).unwrap_err();
        assert!(e.contains("repos"), "{e}");
        assert!(parse(&serde_json::Value::Null)
            .unwrap()
            .repositories
            .is_empty());
    }

    #[test]
    fn off_host_is_inferred_and_urls_lose_their_password() {
        assert!(location_is_off_host(Kind::Restic, "sftp:bk@nas:/restic"));
        assert!(!location_is_off_host(Kind::Restic, "/srv/restic"));
        assert!(location_is_off_host(Kind::Borg, "bk@nas:borg"));
        assert!(!location_is_off_host(Kind::Borg, "/srv/borg"));
        assert_eq!(
            redact_location("rest:https://u:secret@h:8000/repo"),
            "rest:https://u:***@h:8000/repo"
        );
        assert_eq!(redact_location("/srv/restic"), "/srv/restic");
    }
}
