//! libpwquality's configuration: `/etc/security/pwquality.conf.d/*.conf` and
//! `/etc/security/pwquality.conf`, merged the way libpwquality 1.4 merges them.
//!
//! Order matters and is easy to get backwards: libpwquality reads the drop-in files
//! FIRST, in byte order of their names, and the main `pwquality.conf` LAST, so the main
//! file overrides every drop-in and a later drop-in overrides an earlier one
//! (pwquality.conf(5): "also first reads all *.conf files from the
//! /etc/security/pwquality.conf.d directory in ASCII sorted order"; checked with
//! `pwscore` from Debian 12's libpwquality-tools 1.4.5). This module owns that merge
//! and the record of which file set each key; it never applies libpwquality's defaults
//! (that is `effective`'s job) and never looks at PAM.

use super::read_optional;
use super::settings::{self, Kind, Schema};
use crate::{Artifact, CollectError, HostRoot};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The main file, read last.
pub const MAIN: &str = "/etc/security/pwquality.conf";
/// The drop-in directory, read first.
pub const DROP_IN_DIR: &str = "/etc/security/pwquality.conf.d";

/// Every key libpwquality 1.4 understands, typed.
pub const SCHEMA: Schema = Schema {
    keys: &[
        ("difok", Kind::Int),
        ("minlen", Kind::Int),
        ("dcredit", Kind::Int),
        ("ucredit", Kind::Int),
        ("lcredit", Kind::Int),
        ("ocredit", Kind::Int),
        ("minclass", Kind::Int),
        ("maxrepeat", Kind::Int),
        ("maxsequence", Kind::Int),
        ("maxclassrepeat", Kind::Int),
        ("gecoscheck", Kind::Int),
        ("dictcheck", Kind::Int),
        ("usercheck", Kind::Int),
        ("usersubstr", Kind::Int),
        ("enforcing", Kind::Int),
        ("retry", Kind::Int),
        ("enforce_for_root", Kind::Flag),
        ("local_users_only", Kind::Flag),
        ("badwords", Kind::Text),
        ("dictpath", Kind::Text),
    ],
    int_aliases: &[],
};

/// The `pwquality` facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pwquality {
    /// The files read, in the order libpwquality reads them.
    pub files: Vec<String>,
    /// The merged settings: integers, `true` for flags, strings for text keys.
    pub settings: BTreeMap<String, Value>,
    /// For each setting, the file whose value won.
    pub set_in: BTreeMap<String, String>,
}

/// Read the drop-ins and the main file, recording an artifact for each.
pub fn read(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<Pwquality, CollectError> {
    let mut merged = Pwquality::default();
    for path in drop_in_files(root)? {
        if let Some(text) = read_optional(root, &path, artifacts)? {
            merged.apply(&path, &text)?;
        }
    }
    if let Some(text) = read_optional(root, MAIN, artifacts)? {
        merged.apply(MAIN, &text)?;
    }
    Ok(merged)
}

/// The drop-in files libpwquality would read (`*.conf`, no hidden files), byte order.
fn drop_in_files(root: &HostRoot) -> Result<Vec<String>, CollectError> {
    let names = root.list_dir(DROP_IN_DIR)?.unwrap_or_default();
    Ok(names
        .into_iter()
        .filter(|n| n.ends_with(".conf") && !n.starts_with('.'))
        .map(|n| format!("{DROP_IN_DIR}/{n}"))
        .collect())
}

impl Pwquality {
    /// Merge one file over what was read before.
    pub fn apply(&mut self, path: &str, text: &str) -> Result<(), CollectError> {
        self.files.push(path.to_string());
        for (key, setting) in settings::parse(path, text, &SCHEMA)? {
            self.set_in.insert(key.clone(), path.to_string());
            self.settings.insert(key, setting.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::password_policy::tests::tree as host;

    #[test]
    fn later_drop_ins_override_earlier_and_the_main_file_overrides_all() {
        let dir = host(&[
            (
                "/etc/security/pwquality.conf.d/10-a.conf",
                "minlen = 10\nminclass = 2\n",
            ),
            (
                "/etc/security/pwquality.conf.d/20-b.conf",
                "minlen = 12\nretry = 5\n",
            ),
            ("/etc/security/pwquality.conf.d/README", "minlen = 99\n"),
            (
                "/etc/security/pwquality.conf.d/.hidden.conf",
                "minlen = 98\n",
            ),
            (
                "/etc/security/pwquality.conf",
                "retry = 3\nenforce_for_root\n",
            ),
        ]);
        let mut artifacts = Vec::new();
        let pwq = read(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        assert_eq!(
            pwq.files,
            vec![
                "/etc/security/pwquality.conf.d/10-a.conf",
                "/etc/security/pwquality.conf.d/20-b.conf",
                "/etc/security/pwquality.conf",
            ]
        );
        assert_eq!(pwq.settings["minlen"], 12);
        assert_eq!(
            pwq.set_in["minlen"],
            "/etc/security/pwquality.conf.d/20-b.conf"
        );
        assert_eq!(pwq.settings["minclass"], 2);
        assert_eq!(pwq.settings["retry"], 3);
        assert_eq!(pwq.set_in["retry"], MAIN);
        assert_eq!(pwq.settings["enforce_for_root"], true);
        assert_eq!(artifacts.len(), 3);
    }

    #[test]
    fn no_files_means_no_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mut artifacts = Vec::new();
        let pwq = read(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        assert!(pwq.files.is_empty() && pwq.settings.is_empty());
        assert_eq!(artifacts, vec![Artifact::absent(MAIN)]);
    }

    #[test]
    fn a_bad_number_in_a_drop_in_names_that_file() {
        let dir = host(&[(
            "/etc/security/pwquality.conf.d/50-x.conf",
            "\n\nminlen = abc\n",
        )]);
        let err = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/security/pwquality.conf.d/50-x.conf:3: `minlen` must be a whole number"
        );
    }
}
