//! `/etc/security/faillock.conf`: pam_faillock's lockout settings (`deny`,
//! `unlock_time`, `fail_interval`, `even_deny_root`, ...), same `key = value` syntax as
//! pwquality.conf.
//!
//! It reports what the file says, typed; `unlock_time = never` is reported as 0, the
//! value pam_faillock itself stores for "never unlock". It never applies pam_faillock's
//! defaults and never looks at PAM (both are `effective`'s job).

use super::read_optional;
use super::settings::{self, Kind, Schema};
use crate::{Artifact, CollectError, HostRoot};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where the file lives on the host.
pub const PATH: &str = "/etc/security/faillock.conf";

/// Every key pam_faillock (Linux-PAM 1.5) understands, typed.
pub const SCHEMA: Schema = Schema {
    keys: &[
        ("dir", Kind::Text),
        ("audit", Kind::Flag),
        ("silent", Kind::Flag),
        ("no_log_info", Kind::Flag),
        ("local_users_only", Kind::Flag),
        ("nodelay", Kind::Flag),
        ("deny", Kind::Int),
        ("fail_interval", Kind::Int),
        ("unlock_time", Kind::Int),
        ("even_deny_root", Kind::Flag),
        ("root_unlock_time", Kind::Int),
        ("admin_group", Kind::Text),
    ],
    int_aliases: &[
        ("unlock_time", "never", 0),
        ("root_unlock_time", "never", 0),
    ],
};

/// The `faillock_conf` facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaillockConf {
    /// False when the file does not exist.
    pub present: bool,
    /// The settings it makes: integers, `true` for flags, strings for text keys.
    pub settings: BTreeMap<String, Value>,
}

/// Read and parse faillock.conf, recording the artifact.
pub fn read(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<FaillockConf, CollectError> {
    let Some(text) = read_optional(root, PATH, artifacts)? else {
        return Ok(FaillockConf::default());
    };
    let settings = settings::parse(PATH, &text, &SCHEMA)?
        .into_iter()
        .map(|(key, s)| (key, s.value))
        .collect();
    Ok(FaillockConf {
        present: true,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn settings_are_typed_and_never_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/security")).unwrap();
        fs::write(
            dir.path().join("etc/security/faillock.conf"),
            "# deny = 3\ndeny = 4\nunlock_time = never\neven_deny_root\ndir = /var/run/faillock\n",
        )
        .unwrap();
        let conf = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert!(conf.present);
        assert_eq!(conf.settings["deny"], 4);
        assert_eq!(conf.settings["unlock_time"], 0);
        assert_eq!(conf.settings["even_deny_root"], true);
        assert_eq!(conf.settings["dir"], "/var/run/faillock");
    }

    #[test]
    fn missing_file_is_not_present() {
        let dir = tempfile::tempdir().unwrap();
        let conf = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert_eq!(conf, FaillockConf::default());
    }
}
