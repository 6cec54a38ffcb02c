//! The access collectors (`session_timeout`, `ssh`, `accounts`, `file_permissions`) on
//! the fixture hosts, as a user runs them: which rules pass and fail where, errors that
//! name the broken file, and sshd's own answer (`sshd -T`) for the effective values.
//!
//! Owners and modes: git keeps neither, so fixture trees that need them carry an
//! `attestd-fixture-modes` manifest that the harness (`tests/common`) applies to a
//! private copy of the tree (chmod, and chown as root; CI runs as root) before attestd
//! reads it. attestd itself never reads the manifest.

mod common;
use attestd_collectors::{collector_by_name, CollectContext, HostRoot};
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const ACCESS_COLLECTORS: [&str; 4] = ["session_timeout", "ssh", "accounts", "file_permissions"];

fn run(host: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    collect_json(host, &config, &[]).1
}

fn facts(collector: &str, root: &Path) -> serde_json::Value {
    let ctx = CollectContext::new(
        HostRoot::new(root),
        serde_json::Value::Null,
        chrono::Utc::now(),
    );
    collector_by_name(collector)
        .unwrap()
        .collect(&ctx)
        .unwrap_or_else(|e| panic!("{collector} on {}: {e}", root.display()))
        .facts
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0
}

#[test]
fn each_access_rule_passes_and_fails_where_the_baseline_says() {
    let hardened = run(&fixture("hardened"));
    for r in hardened["results"].as_array().unwrap() {
        // The committed wtmp has fixed dates, which age: inactivity is judged below on
        // the hardened host as its fixture file prepares it (logins days ago).
        if r["rule"] == "accounts.inactive_accounts" {
            continue;
        }
        if ACCESS_COLLECTORS.contains(&r["collector"].as_str().unwrap()) {
            // Owners need root to set; without it only the owner checks may fail.
            if !is_root() && r["collector"] == "file_permissions" {
                continue;
            }
            assert_eq!(r["status"], "pass", "hardened: {r}");
        }
    }
    let stock = run(&fixture("debian12-stock"));
    for (rule, want) in [
        ("session.idle_timeout", "fail"),
        ("session.ssh_client_alive", "fail"),
        ("ssh.root_login_disabled", "fail"),
        ("ssh.max_auth_tries", "fail"),
        ("ssh.login_grace_time", "fail"),
        ("ssh.no_empty_passwords", "pass"),
        ("ssh.x11_forwarding_disabled", "fail"),
        ("ssh.strong_algorithms", "fail"),
        ("ssh.log_level", "pass"),
        ("ssh.mfa_enforced", "fail"),
        ("accounts.root_is_the_only_uid0", "pass"),
        ("accounts.system_accounts_cannot_log_in", "pass"),
        ("accounts.every_account_has_a_password_entry", "pass"),
        ("accounts.sudo_requires_password", "pass"),
        ("accounts.sudo_no_grant_to_everyone", "pass"),
        ("file_permissions.sudoers", "not_applicable"),
        ("file_permissions.sshd_config", "fail"),
        ("file_permissions.cron", "fail"),
        ("accounts.inactive_accounts", "not_applicable"),
    ] {
        assert_eq!(status_of(&stock, rule), want, "debian12-stock: {rule}");
    }
    let weak = run(&fixture("weak-access"));
    for (rule, want) in [
        ("session.idle_timeout", "fail"),
        ("ssh.root_login_disabled", "fail"),
        ("ssh.no_empty_passwords", "fail"),
        ("ssh.strong_algorithms", "fail"),
        ("ssh.log_level", "fail"),
        ("ssh.max_auth_tries", "pass"),
        ("accounts.root_is_the_only_uid0", "fail"),
        ("accounts.system_accounts_cannot_log_in", "fail"),
        ("accounts.every_account_has_a_password_entry", "fail"),
        ("accounts.sudo_requires_password", "fail"),
        ("accounts.sudo_no_grant_to_everyone", "fail"),
        ("file_permissions.account_databases", "fail"),
        ("file_permissions.shadow_databases", "fail"),
        ("file_permissions.sudoers", "fail"),
        ("file_permissions.sshd_config", "fail"),
        ("file_permissions.ssh_host_keys", "fail"),
        ("accounts.inactive_accounts", "fail"),
    ] {
        assert_eq!(status_of(&weak, rule), want, "weak-access: {rule}");
    }
    // Without sshd, the SSH rules do not apply (and do not pass).
    let no_sshd = run(&fixture("weak-accounts"));
    assert_eq!(
        status_of(&no_sshd, "ssh.root_login_disabled"),
        "not_applicable"
    );
    assert_eq!(
        status_of(&no_sshd, "session.ssh_client_alive"),
        "not_applicable"
    );
}

#[test]
fn facts_say_why_weak_access_fails() {
    let root = fixture("weak-access");
    let ssh = facts("ssh", &root);
    assert_eq!(ssh["permit_root_login"], "no", "the global value");
    assert_eq!(ssh["match_blocks"][0]["criteria"], "Address 10.0.0.0/8");
    assert_eq!(ssh["match_blocks"][0]["settings"]["permitrootlogin"], "yes");
    // The collector reports the lists sshd offers; which are weak is policy
    // (`ssh_weak_*` variables), so the rule's observed value names them.
    let doc = run(&root);
    let observed = &doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "ssh.strong_algorithms")
        .unwrap()["observed"];
    assert_eq!(
        observed,
        &serde_json::json!([
            "aes128-cbc",
            "3des-cbc",
            "umac-64-etm@openssh.com",
            "hmac-sha1-etm@openssh.com",
            "umac-64@openssh.com",
            "hmac-sha1"
        ])
    );
    let acc = facts("accounts", &root);
    assert_eq!(acc["uid0_accounts"], serde_json::json!(["root", "toor"]));
    assert_eq!(
        acc["login_capable_system_accounts"],
        serde_json::json!(["backup"])
    );
    assert_eq!(acc["empty_password_accounts"], serde_json::json!(["kiosk"]));
    assert_eq!(
        acc["no_password_accounts"],
        serde_json::json!(["contractor"])
    );
    let rules = acc["sudoers"]["rules"].as_array().unwrap();
    let files: Vec<&str> = acc["sudoers"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        !files.contains(&"/etc/sudoers.d/disabled.bak"),
        "sudo skips names with a dot: {files:?}"
    );
    let nopasswd: Vec<_> = rules.iter().filter(|r| r["nopasswd"] == true).collect();
    assert_eq!(nopasswd.len(), 1);
    assert_eq!(nopasswd[0]["users"], serde_json::json!(["debian"]));
    assert_eq!(nopasswd[0]["all_commands"], true);
    assert_eq!(
        acc["privileged_groups"]["sudo"]["members"],
        serde_json::json!(["debian"])
    );
    let session = facts("session_timeout", &root);
    assert_eq!(
        (
            &session["tmout"]["value"],
            &session["tmout"]["readonly"],
            &session["tmout"]["exported"]
        ),
        (
            &serde_json::json!(600),
            &serde_json::json!(false),
            &serde_json::json!(true)
        )
    );
    assert_eq!(
        session["sshd"]["idle_limit_seconds"],
        serde_json::Value::Null
    );
}

#[test]
fn hardened_login_records_come_from_the_binary_files_in_the_tree() {
    let acc = facts("accounts", &fixture("hardened"));
    let by = |n: &str| {
        acc["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by("ops")["last_login"], "2026-11-20T08:00:00Z");
    assert_eq!(by("deploy")["last_login"], "2026-10-02T12:00:00Z");
    assert_eq!(by("deploy")["last_login_source"], "wtmp");
    assert_eq!(by("root")["last_login"], serde_json::Value::Null);
    assert_eq!(acc["login_records"]["lastlog"], true);
}

#[test]
fn broken_hosts_error_with_the_file_that_broke() {
    for (host, collector, needle) in [
        (
            "broken-garbage",
            "ssh",
            "/etc/ssh/sshd_config:0: binary content",
        ),
        ("broken-garbage", "session_timeout", "/etc/ssh/sshd_config"),
        ("broken-garbage", "accounts", "/var/log/wtmp"),
        (
            "broken-malformed",
            "ssh",
            "/etc/ssh/sshd_config:36: `maxauthtries`",
        ),
        (
            "broken-malformed",
            "session_timeout",
            "/etc/ssh/sshd_config:36",
        ),
        ("broken-malformed", "accounts", "/etc/sudoers:5"),
        (
            "broken-unreadable",
            "ssh",
            "/etc/ssh/sshd_config: is a directory",
        ),
        (
            "broken-unreadable",
            "accounts",
            "/etc/sudoers: too many levels of symbolic links",
        ),
        (
            "broken-unreadable",
            "file_permissions",
            "/etc/gshadow: too many levels",
        ),
    ] {
        let doc = run(&fixture(host));
        let results: Vec<_> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["collector"] == collector)
            .collect();
        assert!(!results.is_empty());
        for r in results {
            assert_eq!(r["status"], "error", "{host}: {r}");
            let reason = r["reason"].as_str().unwrap();
            assert!(
                reason.contains(needle),
                "{host}: `{reason}` should name {needle}"
            );
        }
    }
    // Missing account files: the account rules cannot judge, so they error.
    let missing = run(&fixture("broken-missing"));
    assert_eq!(
        status_of(&missing, "accounts.root_is_the_only_uid0"),
        "error"
    );
    assert_eq!(
        status_of(&missing, "file_permissions.shadow_databases"),
        "fail"
    );
}

#[test]
fn a_huge_drop_in_is_an_error_not_a_truncated_read() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    std::fs::write(
        host.join("etc/ssh/sshd_config.d/99-huge.conf"),
        "# padding\n".repeat(500_000),
    )
    .unwrap();
    let doc = run(&host);
    assert_eq!(status_of(&doc, "ssh.root_login_disabled"), "error");
    let r = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "ssh.root_login_disabled")
        .unwrap();
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("99-huge.conf: larger than"),
        "{r}"
    );
}

#[test]
fn a_loosened_mode_is_caught_and_the_harness_applied_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let shadow = host.join("etc/shadow");
    assert_eq!(
        std::fs::metadata(&shadow).unwrap().mode() & 0o7777,
        0o640,
        "the manifest's mode reached the copy"
    );
    assert_eq!(
        status_of(&run(&host), "file_permissions.shadow_databases"),
        if is_root() { "pass" } else { "fail" }
    );
    std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o644)).unwrap();
    let doc = run(&host);
    assert_eq!(status_of(&doc, "file_permissions.shadow_databases"), "fail");
    let r = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "file_permissions.shadow_databases")
        .unwrap();
    assert!(
        r["observed"].to_string().contains("/etc/shadow 0644"),
        "{r}"
    );
}

// ---- sshd's own answer ------------------------------------------------------------

/// `sshd -T` for a copy of a tree's /etc/ssh whose Include lines point into the copy.
fn sshd_t(tree: &Path) -> BTreeMap<String, String> {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sshd is not installed: apt-get install -y openssh-server (.ci/run does)");
    let work = tempfile::tempdir().unwrap();
    let ssh = work.path().join("etc/ssh");
    copy_tree(&tree.join("etc/ssh"), &ssh);
    rewrite_includes(&ssh, &ssh);
    // sshd -T insists on its privilege separation directory, as the service does.
    let _ = std::fs::create_dir_all("/run/sshd");
    let key = work.path().join("hostkey");
    let gen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let out = Command::new(sshd)
        .arg("-T")
        .arg("-f")
        .arg(ssh.join("sshd_config"))
        .arg("-h")
        .arg(&key)
        .args([
            "-C",
            "user=nobody-in-particular,host=client.example,addr=127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sshd -T failed for {}: {}",
        tree.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.split_once(' ') {
            map.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
    }
    map
}

/// Point every `Include` of the copied files at the copy: absolute `/etc/ssh/...` and
/// relative paths (sshd takes those from its compiled-in /etc/ssh).
fn rewrite_includes(dir: &Path, ssh: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rewrite_includes(&path, ssh);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let rewritten: Vec<String> = text
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                if !trimmed.to_ascii_lowercase().starts_with("include") {
                    return line.to_string();
                }
                let args: Vec<String> = trimmed
                    .split_whitespace()
                    .skip(1)
                    .map(|a| match a.strip_prefix("/etc/ssh/") {
                        Some(rest) => ssh.join(rest).display().to_string(),
                        None if !a.starts_with('/') => ssh.join(a).display().to_string(),
                        None => a.to_string(),
                    })
                    .collect();
                format!("Include {}", args.join(" "))
            })
            .collect();
        std::fs::write(&path, rewritten.join("\n") + "\n").unwrap();
    }
}

/// The collector's facts in `sshd -T`'s words.
fn ours(tree: &Path) -> BTreeMap<String, String> {
    let f = facts("ssh", tree);
    let yn = |k: &str| if f[k] == true { "yes" } else { "no" }.to_string();
    let list = |k: &str| {
        f[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let methods = match f["authentication_methods"].as_array() {
        None => "any".to_string(),
        Some(lists) => lists
            .iter()
            .map(|l| {
                l.as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    let root_login = match f["permit_root_login"].as_str().unwrap() {
        // sshd -T prints the older name of the same setting.
        "prohibit-password" => "without-password".to_string(),
        other => other.to_string(),
    };
    let log_level = match f["log_level"].as_str().unwrap() {
        // sshd -T prints QUIET as SILENT.
        "QUIET" => "SILENT".to_string(),
        other => other.to_string(),
    };
    BTreeMap::from([
        ("permitrootlogin".into(), root_login),
        (
            "passwordauthentication".into(),
            yn("password_authentication"),
        ),
        (
            "kbdinteractiveauthentication".into(),
            yn("kbd_interactive_authentication"),
        ),
        ("pubkeyauthentication".into(), yn("pubkey_authentication")),
        ("permitemptypasswords".into(), yn("permit_empty_passwords")),
        ("x11forwarding".into(), yn("x11_forwarding")),
        ("usepam".into(), yn("use_pam")),
        ("authenticationmethods".into(), methods),
        ("maxauthtries".into(), f["max_auth_tries"].to_string()),
        ("logingracetime".into(), f["login_grace_time"].to_string()),
        (
            "clientaliveinterval".into(),
            f["client_alive_interval"].to_string(),
        ),
        (
            "clientalivecountmax".into(),
            f["client_alive_count_max"].to_string(),
        ),
        ("loglevel".into(), log_level),
        ("ciphers".into(), list("ciphers")),
        ("macs".into(), list("macs")),
        ("kexalgorithms".into(), list("kex_algorithms")),
    ])
}

fn write_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn effective_values_match_sshd_t() {
    // Configs that exercise sshd's reading rules beyond the fixture hosts.
    let tricky = write_tree(&[
        (
            "etc/ssh/sshd_config",
            "# relative includes are taken from /etc/ssh\nInclude conf.d/*.conf extra.conf\npermitrootlogin=yes\nMAXAUTHTRIES 2\nChallengeResponseAuthentication no\nLoginGraceTime 1m30s\nClientAliveInterval 2m\nClientAliveCountMax 5\nMACs -*sha1*,umac-64*\nKexAlgorithms ^curve25519-sha256\nCiphers +aes256-cbc\nLogLevel debug\nAuthenticationMethods publickey,password publickey,keyboard-interactive:pam\nMatch User backup\n  PasswordAuthentication no\n  MaxAuthTries 1\n",
        ),
        (
            "etc/ssh/conf.d/10-first.conf",
            "PermitRootLogin forced-commands-only\nX11Forwarding yes\n",
        ),
        ("etc/ssh/conf.d/20-second.conf", "PermitRootLogin no\nKbdInteractiveAuthentication yes\n"),
        ("etc/ssh/extra.conf", "UsePAM yes\nPermitEmptyPasswords yes\n"),
    ]);
    // Match blocks in an included file end with that file; an Include inside a Match
    // block belongs to it; neither touches the global values.
    let matches = write_tree(&[
        (
            "etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\nMatch Group sftp\n  Include /etc/ssh/in-match.conf\nMatch all\nBanner \"/etc/issue net\"\n",
        ),
        (
            "etc/ssh/sshd_config.d/10-match.conf",
            "Match User deploy\n  PermitRootLogin yes\n  X11Forwarding yes\n",
        ),
        (
            "etc/ssh/sshd_config.d/20-after.conf",
            "LogLevel VERBOSE\nClientAliveInterval 300\nAuthenticationMethods any\n",
        ),
        ("etc/ssh/in-match.conf", "PasswordAuthentication no\nMaxAuthTries 2\n"),
    ]);
    let m = facts("ssh", matches.path());
    assert_eq!(m["log_level"], "VERBOSE", "20-after.conf is global again");
    assert_eq!(m["match_blocks"].as_array().unwrap().len(), 3);
    assert_eq!(m["match_blocks"][1]["settings"]["maxauthtries"], "2");
    let mut trees: Vec<PathBuf> = ["debian12-stock", "hardened", "weak-access"]
        .into_iter()
        .map(fixture)
        .collect();
    trees.push(tricky.path().to_path_buf());
    trees.push(matches.path().to_path_buf());
    for tree in &trees {
        let theirs = sshd_t(tree);
        for (key, value) in ours(tree) {
            assert_eq!(
                theirs.get(&key),
                Some(&value),
                "{}: `{key}` differs from sshd -T",
                tree.display()
            );
        }
    }
}

#[test]
fn accounts_unused_past_the_limit_fail_and_recent_logins_pass() {
    // hardened: its fixture file writes a wtmp with ops 2 days ago (deploy is key-only).
    let host = prepare_host("hardened");
    let (_, doc) = collect_json(&host.root, &host.config, &["--collector", "accounts"]);
    assert_eq!(status_of(&doc, "accounts.inactive_accounts"), "pass");
    // weak-access: debian last logged in on 2025-01-10; kiosk (empty password) and
    // contractor (no shadow entry) are judged by other rules.
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let (_, doc) = collect_json(
        &fixture("weak-access"),
        &config,
        &["--collector", "accounts"],
    );
    let r = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "accounts.inactive_accounts")
        .unwrap();
    assert_eq!(r["status"], "fail", "{r}");
    assert_eq!(r["observed"][0]["name"], "debian", "{r}");
    assert_eq!(
        r["observed"][0]["last_login"], "2025-01-10T09:00:00Z",
        "{r}"
    );
    // A shorter limit turns hardened's 2-day-old login into a failure as well.
    let strict = plain_config(dir.path(), "[variables]\naccount_inactive_days = 1\n");
    let (_, doc) = collect_json(&host.root, &strict, &["--collector", "accounts"]);
    assert_eq!(status_of(&doc, "accounts.inactive_accounts"), "fail");
}

#[test]
fn cron_permissions_apply_only_where_a_cron_daemon_runs_them() {
    // debian12-stock with its cron files (0755 directories) but without the daemon, as
    // on a container image: nothing runs those files, so the rule does not apply.
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture_source("debian12-stock"), &host);
    std::fs::remove_file(host.join("usr/sbin/cron")).unwrap();
    let doc = run(&host);
    let r = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "file_permissions.cron")
        .unwrap();
    assert_eq!(r["status"], "not_applicable", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .starts_with("no cron daemon is installed"),
        "{r}"
    );
    assert_eq!(facts("file_permissions", &host)["cron_installed"], false);
    assert_eq!(
        facts("file_permissions", &fixture_source("debian12-stock"))["cron_daemon"],
        "/usr/sbin/cron"
    );
}
