//! Hostile host files against the parsers (issue 14, D1 and D6): include trees that
//! grow without end, aliases that name themselves, FIFOs where a file should be, huge
//! files, and secrets where a config line should be. Each must end quickly in a named
//! error or in bounded facts, and no error may quote a secret. Test builds only.

use crate::formats::{pam, sshd_config};
use crate::test_support::tree;
use crate::{CollectContext, CollectError, Collector, HostRoot};
use std::time::{Duration, Instant};

const HASH: &str = "$y$j9T$MARKERsalt0123$MARKERhashMARKERhashMARKERhash0123456789";

/// Files `f0`..`f{depth}` where each includes the next one three times.
fn include_tree(dir: &str, depth: usize, line: impl Fn(&str) -> String) -> Vec<(String, String)> {
    (0..=depth)
        .map(|i| {
            let next = format!("{dir}/f{}", i + 1);
            let body = if i == depth {
                String::new()
            } else {
                [line(&next), line(&next), line(&next)].join("\n") + "\n"
            };
            (format!("{dir}/f{i}"), body)
        })
        .collect()
}

fn owned(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

#[test]
fn an_sshd_include_tree_3_wide_15_deep_ends_quickly_in_an_error() {
    let mut files = include_tree("/etc/ssh/t", 15, |p| format!("Include {p}"));
    files.push((sshd_config::MAIN.into(), "Include /etc/ssh/t/f0\n".into()));
    let dir = tree(&owned(&files));
    let started = Instant::now();
    let err = sshd_config::read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("more than 256 files"), "{err}");
}

#[test]
fn a_pam_include_tree_3_wide_12_deep_ends_quickly_in_an_error() {
    let mut files = include_tree("/etc/pam.d", 12, |p| format!("@include {p}"));
    files.push((pam::stack::PASSWORD_FILE.into(), "@include f0\n".into()));
    files.push((
        pam::stack::AUTH_FILE.into(),
        "auth required pam_unix.so\n".into(),
    ));
    // Each leaf holds a module line, so the stack itself would grow as 3^15.
    let leaf = files
        .iter_mut()
        .find(|(p, _)| p == "/etc/pam.d/f12")
        .unwrap();
    leaf.1 = "password required pam_unix.so\n".into();
    let dir = tree(&owned(&files));
    let started = Instant::now();
    let err = pam::stack::read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("includes expanded"), "{err}");
}

#[test]
fn a_sudoers_alias_naming_itself_is_a_cycle_error_not_a_spin() {
    let dir = tree(&[(
        crate::accounts::sudoers::SUDOERS,
        "Cmnd_Alias LOOP = LOOP, LOOP, LOOP, LOOP, LOOP, LOOP, LOOP, LOOP\nUser_Alias U = V\nUser_Alias V = alice\nU ALL = (root) LOOP\n",
    )]);
    let started = Instant::now();
    let err = crate::accounts::sudoers::read(&HostRoot::new(dir.path()), &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        err.contains("alias cycle: LOOP -> LOOP") && err.contains(":1:"),
        "{err}"
    );
    // Nested aliases without a cycle expand through every level.
    let dir = tree(&[(
        crate::accounts::sudoers::SUDOERS,
        "Cmnd_Alias A = B\nCmnd_Alias B = ALL\nUser_Alias U = V\nUser_Alias V = alice\nU ALL = (root) A\n",
    )]);
    let s = crate::accounts::sudoers::read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
    assert_eq!(s.rules[0].users, vec!["alice"]);
    assert!(s.rules[0].all_commands);
}

#[test]
fn a_sudoers_include_tree_is_bounded() {
    let mut files = include_tree("/etc/sudo", 15, |p| format!("@include {p}"));
    files.push((
        crate::accounts::sudoers::SUDOERS.into(),
        "@include /etc/sudo/f0\n".into(),
    ));
    let dir = tree(&owned(&files));
    let started = Instant::now();
    let err =
        crate::accounts::sudoers::read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("more than 256 files"), "{err}");
}

#[test]
fn a_fifo_as_login_defs_is_an_error_at_once() {
    let dir = tree(&[("/etc/pam.d/common-password", "")]);
    let fifo = dir.path().join("etc/login.defs");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let ctx = CollectContext::new(
        HostRoot::new(dir.path()),
        serde_json::Value::Null,
        chrono::Utc::now(),
    );
    let started = Instant::now();
    let err = crate::password_policy::PasswordPolicy
        .collect(&ctx)
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(err.to_string().contains("FIFO"), "{err}");
}

#[test]
fn a_3_mb_pam_file_is_summarised_not_stored_whole() {
    // Mostly comments: read, hashed, quoted in a bounded excerpt, facts small.
    let mut big = "password required pam_unix.so yescrypt\n".to_string();
    while big.len() < 3_200_000 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    big.push_str("password required pam_pwhistory.so remember=5\n");
    let dir = tree(&[
        ("/etc/pam.d/common-password", &big),
        ("/etc/login.defs", "PASS_MAX_DAYS 90\n"),
    ]);
    let ctx = CollectContext::new(
        HostRoot::new(dir.path()),
        serde_json::Value::Null,
        chrono::Utc::now(),
    );
    let ev = crate::password_policy::PasswordPolicy
        .collect(&ctx)
        .unwrap();
    let size = ev.canonical_json().len();
    assert!(size < 64 * 1024, "evidence is {size} bytes");
    // Module lines by the hundred thousand: an error naming the bound, never a cut stack.
    let many = "password required pam_unix.so\n".repeat(110_000);
    let dir = tree(&[("/etc/pam.d/common-password", &many)]);
    let err = pam::stack::read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("more than 512 module lines"),
        "{err}"
    );
}

/// Every message a parser gives for a line that is a secret, not a config line.
fn messages_for_secret_lines() -> Vec<String> {
    let line = format!("root:{HASH}:20400:0:99999:7:::");
    let root_dir = tree(&[]);
    let root = HostRoot::new(root_dir.path());
    let mut out = Vec::new();
    let mut push = |r: Result<String, String>| out.push(r.unwrap_or_else(|e| e));
    push(
        sshd_config::parse_text(&root, "/etc/ssh/sshd_config", &line)
            .map(|_| "parsed".into())
            .map_err(|e| e.to_string()),
    );
    push(
        sshd_config::parse_text(&root, "/x", &format!("PermitRootLogin {HASH}"))
            .map(|_| "parsed".into())
            .map_err(|e| e.to_string()),
    );
    for kw in ["MaxAuthTries", "ClientAliveInterval", "LogLevel", "UsePAM"] {
        push(
            sshd_config::parse_text(&root, "/x", &format!("{kw} {HASH}"))
                .map(|_| "parsed".into())
                .map_err(|e| e.to_string()),
        );
    }
    for text in [
        line.clone(),
        format!("password {HASH} pam_unix.so"),
        format!("auth {HASH}"),
    ] {
        let dir = tree(&[("/etc/pam.d/common-password", &text)]);
        push(
            pam::stack::read(&HostRoot::new(dir.path()), &mut Vec::new())
                .map(|_| "parsed".into())
                .map_err(|e| e.to_string()),
        );
    }
    for (path, text) in [
        ("/etc/login.defs", format!("PASS_MAX_DAYS {HASH}")),
        ("/etc/sudoers", line.clone()),
        ("/etc/sudoers", format!("alice bob {HASH} = ALL")),
        ("/etc/security/pwquality.conf", format!("minlen = {HASH}")),
        ("/etc/security/pwquality.conf", line.clone()),
    ] {
        let dir = tree(&[(path, &text), ("/etc/pam.d/common-password", "")]);
        let ctx = CollectContext::new(
            HostRoot::new(dir.path()),
            serde_json::Value::Null,
            chrono::Utc::now(),
        );
        let r = if path == "/etc/sudoers" {
            crate::accounts::sudoers::read(&ctx.root, &mut Vec::new()).map(|_| ())
        } else {
            crate::password_policy::PasswordPolicy
                .collect(&ctx)
                .map(|_| ())
        };
        push(
            r.map(|_| "parsed".into())
                .map_err(|e: CollectError| e.to_string()),
        );
    }
    out
}

#[test]
fn no_parser_error_quotes_a_secret_line() {
    for message in messages_for_secret_lines() {
        assert!(
            !message.contains("MARKER"),
            "a secret was quoted: {message}"
        );
    }
}
