//! The password_policy collector run end to end against the fixture hosts in
//! `tests/fixtures/hosts/` and against generated trees: the facts a rule author relies
//! on, the errors a user sees for broken hosts, and that no hash ever leaves the host.

use super::*;
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::fs;
use std::path::Path;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/hosts");

fn ctx_at(root: &Path) -> CollectContext {
    CollectContext::new(
        HostRoot::new(root),
        Value::Null,
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
    )
}

fn collect(host: &str) -> Result<Evidence, CollectError> {
    PasswordPolicy.collect(&ctx_at(&Path::new(FIXTURES).join(host)))
}

fn facts(host: &str) -> Value {
    collect(host)
        .unwrap_or_else(|e| panic!("{host}: {e}"))
        .facts
}

fn account<'a>(facts: &'a Value, name: &str) -> &'a Value {
    facts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no account {name}"))
}

pub(super) use crate::test_support::tree;

#[test]
fn debian12_stock_has_no_quality_history_or_lockout_module() {
    let f = facts("debian12-stock");
    assert_eq!(
        f["login_defs"],
        json!({"present": true, "pass_max_days": 99999, "pass_min_days": 0,
               "pass_warn_age": 7, "encrypt_method": "SHA512"})
    );
    assert_eq!(
        f["pwquality"],
        json!({"files": [], "settings": {}, "set_in": {}})
    );
    assert_eq!(f["faillock_conf"], json!({"present": true, "settings": {}}));
    assert_eq!(
        f["effective"],
        json!({
            "quality_module": null, "minlen": 6, "minclass": 0, "dictcheck": false,
            "enforce_for_root": false, "enforcing": true,
            "history_module": null, "remember": 0, "hash_method": "yescrypt",
            "lockout_module": null, "lockout_deny": null, "lockout_unlock_time": null
        })
    );
    let unix = &f["pam"]["password_stack"][0];
    assert_eq!(
        unix,
        &json!({"type": "password", "control": "[success=1 default=ignore]",
                "module": "pam_unix.so", "args": {"obscure": true, "yescrypt": true},
                "file": "/etc/pam.d/common-password", "line": 25})
    );
    assert_eq!(f["pam"]["auth_stack"][0]["args"], json!({"nullok": true}));
    assert_eq!(f["login_accounts"], 2);
    let debian = account(&f, "debian");
    assert_eq!(debian["password"], "set");
    assert_eq!(debian["max_days"], 99999);
    assert_eq!(debian["last_change_date"], "2023-12-09");
    assert_eq!(account(&f, "root")["uid"], 0);
    assert_eq!(f["unavailable"], json!({}));
}

#[test]
fn pwquality_installed_but_unconfigured_gets_libpwquality_defaults() {
    let f = facts("debian12-pwquality-defaults");
    assert_eq!(
        f["pwquality"]["files"],
        json!(["/etc/security/pwquality.conf"])
    );
    assert_eq!(f["pwquality"]["settings"], json!({}));
    let e = &f["effective"];
    assert_eq!(e["quality_module"], "pam_pwquality");
    assert_eq!(
        (e["minlen"].clone(), e["minclass"].clone()),
        (json!(8), json!(0))
    );
    assert_eq!(
        (e["dictcheck"].clone(), e["enforce_for_root"].clone()),
        (json!(true), json!(false))
    );
}

#[test]
fn hardened_reports_the_drop_in_minlen_history_and_lockout() {
    let f = facts("hardened");
    assert_eq!(
        f["login_defs"],
        json!({"present": true, "pass_max_days": 365, "pass_min_days": 1,
               "pass_warn_age": 14, "encrypt_method": "YESCRYPT"})
    );
    let e = &f["effective"];
    assert_eq!(e["quality_module"], "pam_pwquality");
    assert_eq!(e["minlen"], 15);
    assert_eq!(e["minclass"], 4);
    assert_eq!(
        (e["dictcheck"].clone(), e["enforce_for_root"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        (e["history_module"].clone(), e["remember"].clone()),
        (json!("pam_pwhistory"), json!(24))
    );
    assert_eq!(e["hash_method"], "yescrypt");
    assert_eq!(
        (
            e["lockout_module"].clone(),
            e["lockout_deny"].clone(),
            e["lockout_unlock_time"].clone()
        ),
        (json!("pam_faillock"), json!(5), json!(900))
    );
    let pwq = &f["pwquality"];
    assert_eq!(pwq["settings"]["minlen"], 15);
    assert_eq!(
        pwq["set_in"]["minlen"],
        "/etc/security/pwquality.conf.d/50-local.conf"
    );
    assert_eq!(pwq["set_in"]["dictcheck"], "/etc/security/pwquality.conf");
    assert_eq!(
        pwq["files"],
        json!([
            "/etc/security/pwquality.conf.d/40-cis.conf",
            "/etc/security/pwquality.conf.d/50-local.conf",
            "/etc/security/pwquality.conf"
        ])
    );
    assert_eq!(
        f["faillock_conf"]["settings"],
        json!({"deny": 5, "unlock_time": 900})
    );
    let authfail = &f["pam"]["auth_stack"][2];
    assert_eq!(authfail["control"], "[default=die]");
    assert_eq!(authfail["args"], json!({"authfail": true}));
    assert_eq!(f["pam"]["password_stack"][0]["args"], json!({"retry": "3"}));
    let accounts = f["accounts"].as_array().unwrap();
    assert_eq!(f["login_accounts"], 3);
    assert!(accounts
        .iter()
        .all(|a| a["max_days"].as_i64().unwrap() <= 365));
    assert!(accounts.iter().all(|a| a["empty_password"] == false));
    assert_eq!(account(&f, "deploy")["password"], "locked");
}

#[test]
fn weak_accounts_fail_per_account_while_globals_match_hardened() {
    let weak = facts("weak-accounts");
    let hardened = facts("hardened");
    for key in [
        "login_defs",
        "pwquality",
        "faillock_conf",
        "pam",
        "effective",
    ] {
        assert_eq!(weak[key], hardened[key], "{key}");
    }
    let temp = account(&weak, "temp");
    assert_eq!(
        (temp["password"].clone(), temp["empty_password"].clone()),
        (json!("empty"), json!(true))
    );
    let legacy = account(&weak, "legacy");
    assert_eq!(legacy["max_days"], 99999);
    assert_eq!(legacy["last_change_date"], "2019-04-14");
    assert_eq!(weak["login_accounts"], 5);
}

#[test]
fn broken_hosts_fail_with_the_path_and_line_a_user_can_fix() {
    match collect("broken-garbage").unwrap_err() {
        CollectError::Malformed { path, reason, .. } => {
            assert_eq!(path, "/etc/login.defs");
            assert!(reason.contains("binary"), "{reason}");
        }
        other => panic!("broken-garbage: {other:?}"),
    }
    match collect("broken-malformed").unwrap_err() {
        CollectError::Malformed { path, line, reason } => {
            assert_eq!((path.as_str(), line), ("/etc/login.defs", 165));
            // The key and the line, never the value (D1: a value may be a secret).
            assert!(
                reason.contains("PASS_MAX_DAYS") && !reason.contains("abc"),
                "{reason}"
            );
        }
        other => panic!("broken-malformed: {other:?}"),
    }
    match collect("broken-unreadable").unwrap_err() {
        CollectError::Unreadable { path, reason } => {
            assert_eq!(path, "/etc/login.defs");
            assert!(reason.contains("directory"), "{reason}");
        }
        other => panic!("broken-unreadable: {other:?}"),
    }
    // Past the login.defs directory, the PAM symlink loop is the next wall.
    let root = HostRoot::new(Path::new(FIXTURES).join("broken-unreadable"));
    match pam::read(&root, &mut Vec::new()).unwrap_err() {
        CollectError::Unreadable { path, reason } => {
            assert_eq!(path, "/etc/pam.d/common-password");
            assert!(reason.contains("symbolic links"), "{reason}");
        }
        other => panic!("broken-unreadable pam: {other:?}"),
    }
}

#[test]
fn an_empty_host_is_absence_not_an_error() {
    let ev = collect("broken-missing").unwrap();
    let f = &ev.facts;
    assert_eq!(f["login_defs"]["present"], false);
    assert_eq!(f["login_defs"]["pass_max_days"], Value::Null);
    assert_eq!(f["pwquality"]["settings"], json!({}));
    assert_eq!(f["faillock_conf"]["present"], false);
    assert_eq!(f["pam"], json!({"password_stack": [], "auth_stack": []}));
    assert_eq!(f["effective"]["minlen"], 6);
    assert_eq!(f["effective"]["hash_method"], Value::Null);
    assert_eq!(f["accounts"], Value::Null);
    assert_eq!(f["login_accounts"], Value::Null);
    assert_eq!(
        f["unavailable"]["accounts"],
        "missing /etc/passwd; missing /etc/shadow"
    );
    assert!(ev.artifacts.iter().all(|a| !a.present));
}

#[test]
fn no_fixture_ever_leaks_a_hash_into_evidence() {
    let mut hosts: Vec<String> = fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    hosts.sort();
    assert!(hosts.len() >= 7, "{hosts:?}");
    for host in &hosts {
        let text = match collect(host) {
            Ok(ev) => String::from_utf8(ev.canonical_json()).unwrap(),
            Err(e) => e.to_string(),
        };
        for needle in ["$y$", "$6$", "FAKE"] {
            assert!(!text.contains(needle), "{host}: evidence contains {needle}");
        }
    }
}

#[test]
fn shadow_and_passwd_artifacts_are_redacted_hashes_of_a_projection() {
    let ev = collect("hardened").unwrap();
    let shadow = ev
        .artifacts
        .iter()
        .find(|a| a.source == "/etc/shadow")
        .unwrap();
    assert_eq!(shadow.excerpt, None);
    let raw = fs::read(Path::new(FIXTURES).join("hardened/etc/shadow")).unwrap();
    assert_ne!(shadow.sha256, Some(crate::evidence::sha256_hex(&raw)));
    let login_defs = ev
        .artifacts
        .iter()
        .find(|a| a.source == "/etc/login.defs")
        .unwrap();
    assert!(login_defs
        .excerpt
        .as_deref()
        .unwrap()
        .contains("PASS_MAX_DAYS\t365"));
}

#[test]
fn an_unreadable_shadow_leaves_the_policy_facts_intact() {
    let dir = tree(&[
        ("/etc/login.defs", "PASS_MAX_DAYS 60\n"),
        ("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
    ]);
    fs::create_dir(dir.path().join("etc/shadow")).unwrap();
    let f = PasswordPolicy.collect(&ctx_at(dir.path())).unwrap().facts;
    assert_eq!(f["login_defs"]["pass_max_days"], 60);
    assert_eq!(f["accounts"], Value::Null);
    assert_eq!(f["login_accounts"], 1);
    assert!(f["unavailable"]["accounts"]
        .as_str()
        .unwrap()
        .starts_with("cannot read /etc/shadow"));
}

#[test]
fn module_arguments_beat_files_and_includes_are_followed() {
    let dir = tree(&[
        ("/etc/security/pwquality.conf", "minlen = 12\nminclass = 2\n"),
        ("/etc/security/faillock.conf", "deny = 5\nunlock_time = 900\n"),
        ("/etc/pam.d/common-password", "@include quality\npassword required pam_unix.so sha512 remember=5\n"),
        ("/etc/pam.d/quality", "password requisite pam_pwquality.so minlen=16 enforce_for_root\n"),
        ("/etc/pam.d/common-auth", "auth [default=die] pam_faillock.so authfail deny=3 unlock_time=60\nauth required pam_unix.so\n"),
    ]);
    let f = PasswordPolicy.collect(&ctx_at(dir.path())).unwrap().facts;
    let e = &f["effective"];
    assert_eq!(
        (e["minlen"].clone(), e["minclass"].clone()),
        (json!(16), json!(2))
    );
    assert_eq!(e["enforce_for_root"], true);
    assert_eq!(
        (e["history_module"].clone(), e["remember"].clone()),
        (json!("pam_unix"), json!(5))
    );
    assert_eq!(e["hash_method"], "sha512");
    assert_eq!(
        (e["lockout_deny"].clone(), e["lockout_unlock_time"].clone()),
        (json!(3), json!(60))
    );
    assert_eq!(f["pam"]["password_stack"][0]["file"], "/etc/pam.d/quality");
    // The file still says what it says; only `effective` combines.
    assert_eq!(f["pwquality"]["settings"]["minlen"], 12);
}

#[test]
fn a_bad_number_in_pwquality_conf_fails_the_collector() {
    let dir = tree(&[("/etc/security/pwquality.conf", "# local\nminlen = abc\n")]);
    let err = PasswordPolicy.collect(&ctx_at(dir.path())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/security/pwquality.conf:2: `minlen` must be a whole number"
    );
}

#[test]
fn collector_metadata() {
    assert_eq!(PasswordPolicy.name(), "password_policy");
    assert_eq!(PasswordPolicy.version(), "1");
    assert_eq!(PasswordPolicy.default_schedule(), "*/15 * * * *");
    let watched = PasswordPolicy.watched_paths(&Value::Null);
    assert!(watched.contains(&PathBuf::from("/etc/pam.d")));
    assert!(watched.contains(&PathBuf::from("/etc/security/pwquality.conf.d")));
    assert_eq!(watched.len(), 7);
}
