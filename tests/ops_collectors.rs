//! The operations collectors (audit_logging, firewall, patching, disk_encryption,
//! time_sync, malware) and `exec:NAME` plugins, through the real `attestd` binary.
//!
//! nftables, chrony, auditd, iptables, apt and lsblk: where a test cannot change the
//! machine's own state (load a firewall into the host, step its clock, load audit rules,
//! install updates), the fixture hosts replay outputs recorded from the real tools; each
//! recording says where it came from in the host's `attestd-recorded-commands.toml`.
//! Where the tool can run for real here (nft in a private network namespace, lsblk,
//! plugins), the tests run it live.

mod common;
use common::*;
use std::path::Path;

fn result<'a>(doc: &'a serde_json::Value, rule: &str) -> &'a serde_json::Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no result for {rule}"))
}

fn collect_prepared(name: &str) -> serde_json::Value {
    let host = prepare_host(name);
    collect_json(&host.root, &host.config, &[]).1
}

#[test]
fn each_operations_rule_passes_and_fails_on_the_hosts_built_for_it() {
    // Recorded outputs: hardened (nft 1.0.6, auditctl 3.0.9, chrony 4.3 synchronised,
    // apt 2.6.1 with nothing to upgrade), debian12-stock (an empty nft ruleset, apt with
    // pending security updates, lsblk of an unencrypted disk), ops-neglected
    // (iptables-legacy-save with INPUT ACCEPT, chrony 4.3 that never synchronised).
    let hardened = collect_prepared("hardened");
    let stock = collect_prepared("debian12-stock");
    let neglected = collect_prepared("ops-neglected");
    let expectations: &[(&str, &str, &str, &str)] = &[
        // rule, hardened, debian12-stock, ops-neglected
        ("audit.auditd_active", "pass", "fail", "fail"),
        ("audit.rules_loaded", "pass", "fail", "fail"),
        ("audit.journal_persistent", "pass", "pass", "fail"),
        ("audit.remote_forwarding", "pass", "fail", "fail"),
        ("audit.log_retention", "pass", "not_applicable", "fail"),
        ("audit.logins_recorded", "pass", "fail", "fail"),
        ("firewall.default_deny_input", "pass", "fail", "fail"),
        ("firewall.no_unfiltered_listeners", "pass", "fail", "fail"),
        ("firewall.public_ports_approved", "pass", "fail", "fail"),
        ("patching.automatic_updates", "pass", "fail", "fail"),
        ("patching.lists_fresh", "pass", "fail", "error"),
        ("patching.security_updates_applied", "pass", "fail", "fail"),
        ("patching.recent_upgrade", "pass", "fail", "fail"),
        ("patching.no_pending_reboot", "pass", "pass", "fail"),
        ("disk.data_encrypted", "pass", "fail", "error"),
        ("time.sync_service", "pass", "pass", "fail"),
        ("time.synchronised", "pass", "pass", "fail"),
        ("malware.protection_present", "pass", "fail", "fail"),
        ("malware.protection_current", "pass", "fail", "fail"),
    ];
    for (rule, h, s, n) in expectations {
        assert_eq!(status_of(&hardened, rule), *h, "hardened: {rule}");
        assert_eq!(status_of(&stock, rule), *s, "debian12-stock: {rule}");
        assert_eq!(status_of(&neglected, rule), *n, "ops-neglected: {rule}");
    }
    // What a reader of the report sees next to the verdicts.
    assert_eq!(
        result(&neglected, "firewall.no_unfiltered_listeners")["observed"],
        serde_json::json!(["tcp/0.0.0.0:6379"]),
        "Redis listens with no rule while INPUT accepts everything"
    );
    assert_eq!(
        result(&stock, "firewall.no_unfiltered_listeners")["observed"],
        serde_json::json!(["tcp/0.0.0.0:22", "tcp/[::]:22", "udp/0.0.0.0:68"])
    );
    let pending = result(&stock, "patching.security_updates_applied")["observed"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        pending.contains(&serde_json::json!("libpng16-16")),
        "{pending:?}"
    );
    // What is missing for the login trail is named.
    assert_eq!(
        result(&stock, "audit.logins_recorded")["observed"],
        serde_json::json!([
            "no /var/log/wtmp (successful logins)",
            "no /var/log/btmp (failed logins)",
            "no /var/log/lastlog",
            "wtmp: no logrotate rule",
            "btmp: no logrotate rule",
            "/var/log/wtmp not watched by audit rules",
            "/var/log/btmp not watched by audit rules",
            "/var/log/lastlog not watched by audit rules"
        ])
    );
    // A missing ruleset is named, not shown as an empty list.
    assert_eq!(
        result(&stock, "firewall.public_ports_approved")["observed"],
        "no firewall ruleset is loaded (nft, iptables and ufw hold no rules): every listening port is open to any address"
    );
    // Absent files are named, not judged as null.
    let r = result(&neglected, "patching.lists_fresh");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .starts_with("the fact `last_update` is missing: neither /var/lib/apt/periodic/update-success-stamp nor /var/lib/apt/lists exists"),
        "{r}"
    );
    assert_eq!(
        result(&neglected, "patching.security_updates_applied")["observed"],
        "no security archive: no configured source under /var/lib/apt/lists has a Release file with a -security suite"
    );
    assert!(result(&stock, "audit.log_retention")["reason"]
        .as_str()
        .unwrap()
        .contains("neither /etc/logrotate.d/rsyslog nor /etc/logrotate.d/syslog-ng exists"));
    assert_eq!(
        result(&neglected, "patching.no_pending_reboot")["observed"],
        serde_json::json!(["libc6", "linux-image-6.1.0-41-amd64"])
    );
    assert_eq!(result(&hardened, "audit.rules_loaded")["observed"], 8);
    // ufw on iptables-nft (recorded from real ufw 0.36.2): its view replaces nft's, and
    // ufw's DHCP-reply, mDNS and UPnP rules open nothing to new connections.
    let ufw = collect_prepared("ufw-host");
    for rule in [
        "firewall.default_deny_input",
        "firewall.no_unfiltered_listeners",
        "firewall.public_ports_approved",
    ] {
        assert_eq!(status_of(&ufw, rule), "pass", "ufw-host: {rule}");
    }
    assert_eq!(
        result(&ufw, "firewall.public_ports_approved")["observed"],
        serde_json::json!(["tcp/22"])
    );
    assert_eq!(
        result(&stock, "disk.data_encrypted")["observed"],
        serde_json::json!(["/", "/var", "/home", "/srv"])
    );
    assert!(
        result(&neglected, "disk.data_encrypted")["reason"]
            .as_str()
            .unwrap()
            .contains("/proc/mounts"),
        "the error names the missing mount table"
    );
}

/// A copy of the hardened host with its recorded commands edited, collected once.
fn hardened_with(edit: impl Fn(&str) -> String, extra_config: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let rec = host.join("attestd-recorded-commands.toml");
    let text = std::fs::read_to_string(&rec).unwrap();
    let edited = edit(&text);
    assert_ne!(text, edited, "the edit must change the recordings");
    std::fs::write(&rec, edited).unwrap();
    let config = plain_config(dir.path(), extra_config);
    collect_json(&host, &config, &[]).1
}

/// Replace the recording of the command with exactly this argv (as written inside the
/// brackets) by `with`.
fn replace_recording(text: &str, argv: &str, with: &str) -> String {
    let mut out = String::new();
    for (i, block) in text.split("[[command]]").enumerate() {
        if i == 0 {
            out.push_str(block);
        } else if block.trim_start().starts_with(&format!("argv = [{argv}]")) {
            out.push_str(&format!(
                "[[command]]\nargv = [{argv}]\n{with}\nrecorded = \"edited by tests/ops_collectors.rs\"\n\n"
            ));
        } else {
            out.push_str("[[command]]");
            out.push_str(block);
        }
    }
    out
}

#[test]
fn a_tool_that_fails_or_hangs_is_an_error_with_its_reason_never_a_pass() {
    let doc = hardened_with(
        |t| {
            replace_recording(
                t,
                r#""/usr/sbin/nft", "-j", "list", "ruleset""#,
                "status = 1\nstderr = \"netlink: Error: cache initialization failed: Operation not permitted\"",
            )
        },
        "",
    );
    for rule in [
        "firewall.default_deny_input",
        "firewall.no_unfiltered_listeners",
        "firewall.public_ports_approved",
    ] {
        let r = result(&doc, rule);
        assert_eq!(r["status"], "error", "{r}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("exited with 1: netlink: Error: cache initialization failed"),
            "{r}"
        );
    }
    let doc = hardened_with(
        |t| replace_recording(t, r#""/usr/bin/chronyc", "-c", "tracking""#, "hang = true"),
        "",
    );
    let r = result(&doc, "time.synchronised");
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("did not finish"),
        "{r}"
    );
    let doc = hardened_with(
        |t| {
            replace_recording(
                t,
                r#""/usr/bin/lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINTS""#,
                "stdout = \"lsblk: garbage\"",
            )
        },
        "",
    );
    let r = result(&doc, "disk.data_encrypted");
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("not the JSON lsblk"),
        "{r}"
    );
    // systemd that cannot answer: the audit rule is an error naming systemctl, not a fail.
    let doc = hardened_with(
        |t| {
            replace_recording(
                t,
                r#""/usr/bin/systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "auditd.service""#,
                "status = 1\nstderr = \"System has not been booted with systemd as init system (PID 1). Can't operate.\"",
            )
        },
        "",
    );
    let r = result(&doc, "audit.auditd_active");
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("not been booted with systemd"),
        "{r}"
    );
}

#[test]
fn held_and_kept_back_security_updates_are_not_a_clean_bill_of_health() {
    // Held and kept-back security updates count as pending: a tree captured from a real
    // Debian 12 host with libgnutls30 and libtiff6 on hold (tests/fixtures/apt).
    let dir = tempfile::tempdir().unwrap();
    let (_, doc) = collect_json(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apt/bookworm-behind/root"),
        &plain_config(dir.path(), ""),
        &["--collector", "patching"],
    );
    let r = result(&doc, "patching.security_updates_applied");
    assert_eq!(r["status"], "fail", "{r}");
    assert_eq!(
        r["observed"],
        serde_json::json!([
            "liblcms2-2",
            "libpng16-16",
            "python3-jwt",
            "libgnutls-dane0 (kept back)",
            "libgnutls30 (held)",
            "libtiff6 (held)"
        ])
    );
}

#[test]
fn a_host_without_the_tool_fails_the_rule_it_does_not_skip_it() {
    // No nft (and no iptables) in the tree: no firewall at all is a failure.
    let doc = hardened_with(
        |t| t.replace("\"/usr/sbin/nft\"", "\"/usr/sbin/nft-gone\""),
        "",
    );
    assert_eq!(status_of(&doc, "firewall.default_deny_input"), "fail");
    assert_eq!(status_of(&doc, "firewall.public_ports_approved"), "fail");
    assert_eq!(
        result(&doc, "firewall.no_unfiltered_listeners")["observed"],
        serde_json::json!([
            "tcp/0.0.0.0:22",
            "tcp/[::]:22",
            "tcp/0.0.0.0:443",
            "tcp/[::]:443",
            "tcp/[::]:9100"
        ])
    );
    // No chronyc and no timesyncd: no time service.
    let doc = hardened_with(
        |t| t.replace("\"/usr/bin/chronyc\"", "\"/usr/bin/chronyc-gone\""),
        "",
    );
    assert_eq!(status_of(&doc, "time.sync_service"), "fail");
    assert_eq!(status_of(&doc, "time.synchronised"), "fail");
}

#[test]
fn settings_change_what_is_checked_and_bad_settings_are_named() {
    // An EDR agent named in the config: asked of systemd, its absence recorded.
    let doc = hardened_with(
        |t| {
            format!(
                "{t}[[command]]\nargv = [\"/usr/bin/systemctl\", \"show\", \"--property=LoadState,ActiveState,UnitFileState\", \"falcon-sensor.service\"]\nstdout = \"LoadState=loaded\\nActiveState=failed\\nUnitFileState=enabled\\n\"\nrecorded = \"systemd 252 show format, typed by hand\"\n"
            )
        },
        "[collectors.malware]\nedr_services = [\"falcon-sensor.service\"]\n[collectors.disk_encryption]\ndata_mounts = [\"/\", \"/var\", \"/boot\"]\n",
    );
    assert_eq!(status_of(&doc, "malware.protection_present"), "pass");
    // /boot is a plain partition: listed as unencrypted.
    assert_eq!(
        result(&doc, "disk.data_encrypted")["observed"],
        serde_json::json!(["/boot"])
    );
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(
        dir.path(),
        "[collectors.disk_encryption]\ndata_mounts = [\"srv\"]\n",
    );
    let out = attestd()
        .args(["collect", "--root"])
        .arg(fixture("hardened"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collectors.disk_encryption") && err.contains("not an absolute path"),
        "{err}"
    );
}

/// Run a shell line in a fresh network namespace (root only); `None` when this machine
/// does not allow it.
fn in_netns(script: &str) -> Option<std::process::Output> {
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .ok()?;
    if !probe.status.success() || !Path::new("/usr/sbin/nft").exists() {
        return None;
    }
    Some(
        std::process::Command::new("unshare")
            .args(["-n", "sh", "-c", script])
            .output()
            .unwrap(),
    )
}

#[test]
fn live_nft_in_a_network_namespace_judges_a_real_ruleset() {
    let bin = assert_cmd::cargo::cargo_bin("attestd");
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let rules = fixture("hardened").join("recorded/nftables.conf");
    // The recorded ruleset is valid for the real nft.
    let check = std::process::Command::new("/usr/sbin/nft")
        .args(["--check", "-f"])
        .arg(&rules)
        .output();
    if let Ok(check) = check {
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let accept_all = dir.path().join("accept.nft");
    std::fs::write(
        &accept_all,
        "flush ruleset\ntable inet filter {\n chain input {\n  type filter hook input priority filter; policy accept;\n  tcp dport 22 accept\n }\n}\n",
    )
    .unwrap();
    for (ruleset, deny, unfiltered) in [
        (rules.as_path(), "pass", serde_json::json!([])),
        (
            accept_all.as_path(),
            "fail",
            serde_json::json!(["tcp/0.0.0.0:8089"]),
        ),
    ] {
        // A real listener on 8089 (no rule names it) and the real nft in the namespace.
        let script = format!(
            "ip link set lo up 2>/dev/null; nft -f '{}' || exit 97; python3 -c 'import socket,time; s=socket.socket(); s.bind((\"0.0.0.0\", 8089)); s.listen(); time.sleep(30)' & sleep 0.5; '{}' collect --collector firewall --format json --config '{}'; kill $!",
            ruleset.display(),
            bin.display(),
            config.display()
        );
        let Some(out) = in_netns(&script) else {
            eprintln!("skipped: no network namespaces or nft on this machine");
            return;
        };
        assert_ne!(
            out.status.code(),
            Some(97),
            "nft -f failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(
            status_of(&doc, "firewall.default_deny_input"),
            deny,
            "{doc}"
        );
        assert_eq!(
            result(&doc, "firewall.no_unfiltered_listeners")["observed"],
            unfiltered
        );
    }
}

#[test]
fn live_auditctl_count_is_what_the_kernel_reports() {
    // Reads the kernel's audit rules without changing them; needs root and auditd's tools.
    let Ok(out) = std::process::Command::new("/usr/sbin/auditctl")
        .arg("-l")
        .output()
    else {
        eprintln!("skipped: auditctl is not installed");
        return;
    };
    if !out.status.success() {
        eprintln!("skipped: auditctl -l needs root here");
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = text
        .lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != "No rules")
        .count();
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let (_, doc) = collect_json(Path::new("/"), &config, &["--collector", "audit_logging"]);
    assert_eq!(
        result(&doc, "audit.rules_loaded")["observed"],
        expected,
        "{doc}"
    );
}

#[test]
fn live_collect_on_this_host_gives_verdicts_or_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let out = attestd()
        .args(["collect", "--format", "json", "--config"])
        .arg(&config)
        .args([
            "--collector",
            "disk_encryption",
            "--collector",
            "time_sync",
            "--collector",
            "audit_logging",
            "--collector",
            "patching",
            "--collector",
            "malware",
        ])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in doc["results"].as_array().unwrap() {
        if r["status"] == "error" {
            let reason = r["reason"].as_str().unwrap_or("");
            assert!(reason.len() > 20, "an error must say why: {r}");
        }
    }
    // lsblk runs for real: "/" is judged (or its device named as unseeable).
    let r = result(&doc, "disk.data_encrypted");
    match r["status"].as_str().unwrap() {
        "pass" | "fail" => {}
        _ => assert!(r["reason"].as_str().unwrap().contains("/"), "{r}"),
    }
}

// ---------- exec:NAME plugins ----------

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("collectors/examples")
        .join(name)
}

/// A sysctl tree for the example plugin.
fn sysctls(dir: &Path, aslr: &str, kptr: &str) -> std::path::PathBuf {
    let root = dir.join("sys");
    std::fs::create_dir_all(root.join("kernel")).unwrap();
    std::fs::create_dir_all(root.join("net/ipv4")).unwrap();
    std::fs::write(root.join("kernel/randomize_va_space"), aslr).unwrap();
    std::fs::write(root.join("kernel/kptr_restrict"), kptr).unwrap();
    std::fs::write(root.join("kernel/dmesg_restrict"), "1\n").unwrap();
    std::fs::write(root.join("net/ipv4/ip_forward"), "0\n").unwrap();
    root
}

fn plugin_config(dir: &Path, sys: &Path) -> std::path::PathBuf {
    let policies = dir.join("policies.d");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        example("kernel-sysctl.toml"),
        policies.join("kernel-sysctl.toml"),
    )
    .unwrap();
    let path = dir.join("attestd.toml");
    std::fs::write(
        &path,
        format!(
            "[daemon]\npolicy_dirs = [\"{}\"]\nplugin_dir = \"{}\"\n\n[collectors.\"exec:kernel-sysctl\"]\ncommand = [\"{}\", \"{}\"]\ntimeout_seconds = 10\n",
            policies.display(),
            dir.join("no-drop-ins").display(),
            example("kernel-sysctl").display(),
            sys.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_example_plugin_runs_end_to_end_with_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let sys = sysctls(dir.path(), "2\n", "1\n");
    let config = plugin_config(dir.path(), &sys);
    let out = attestd()
        .args([
            "collect",
            "--format",
            "json",
            "--collector",
            "exec:kernel-sysctl",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(status_of(&doc, "example.kernel_aslr"), "pass");
    assert_eq!(status_of(&doc, "example.kernel_pointers_hidden"), "pass");
    // The same plugin on a weaker kernel fails, showing what it saw.
    std::fs::write(sys.join("kernel/randomize_va_space"), "1\n").unwrap();
    std::fs::remove_file(sys.join("kernel/kptr_restrict")).unwrap();
    let (code, doc) = collect_json(
        Path::new("/"),
        &config,
        &["--collector", "exec:kernel-sysctl"],
    );
    assert_eq!(code, 1);
    assert_eq!(status_of(&doc, "example.kernel_aslr"), "fail");
    assert_eq!(result(&doc, "example.kernel_aslr")["observed"], 1);
    // A setting it could not read is null: an error, never a pass.
    assert_eq!(status_of(&doc, "example.kernel_pointers_hidden"), "error");
}

#[test]
fn drop_in_plugins_are_found_and_unsafe_ones_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let drop_ins = dir.path().join("collectors.d");
    std::fs::create_dir_all(&drop_ins).unwrap();
    let plugin = drop_ins.join("hello.sh");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"greeting\": \"hello\", \"path\": \"'\"$PATH\"'\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let policies = dir.path().join("policies.d");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("hello.toml"),
        "[[rule]]\nid = \"local.hello\"\ntitle = \"The plugin greets\"\ncollector = \"exec:hello\"\nseverity = \"low\"\ncontrols = [\"soc2:CC7.1\"]\ncheck = \"facts.greeting == 'hello'\"\nexpected = \"hello\"\nrationale = \"r\"\nsources = []\nremediation = \"x\"\n",
    )
    .unwrap();
    let config = dir.path().join("attestd.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\npolicy_dirs = [\"{}\"]\nplugin_dir = \"{}\"\n",
            policies.display(),
            drop_ins.display()
        ),
    )
    .unwrap();
    let (code, doc) = collect_json(Path::new("/"), &config, &["--collector", "exec:hello"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(status_of(&doc, "local.hello"), "pass");
    // Writable by others: refused with the file named, before anything runs.
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = attestd()
        .args(["collect", "--collector", "exec:hello", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hello.sh") && err.contains("others can change"),
        "{err}"
    );
}

#[test]
fn a_rule_for_an_unconfigured_plugin_is_a_file_and_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies.d");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        example("kernel-sysctl.toml"),
        policies.join("kernel-sysctl.toml"),
    )
    .unwrap();
    let config = dir.path().join("attestd.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\npolicy_dirs = [\"{}\"]\nplugin_dir = \"{}\"\n",
            policies.display(),
            dir.path().join("none").display()
        ),
    )
    .unwrap();
    let out = attestd()
        .args(["collect", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kernel-sysctl.toml:8"), "{err}");
    assert!(
        err.contains("no plugin `exec:kernel-sysctl` is configured"),
        "{err}"
    );
    // A plugin table without a command is a config error naming the field.
    std::fs::write(
        &config,
        "[daemon]\npolicy_dirs = []\n\n[collectors.\"exec:x\"]\nschedule = \"@daily\"\n",
    )
    .unwrap();
    let out = attestd()
        .args(["collect", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":4") && err.contains("`command` is required"),
        "{err}"
    );
}

#[test]
fn clamav_signatures_are_judged_by_their_age() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir_all(host.join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(host.join("var/lib/clamav")).unwrap();
    std::fs::write(
        host.join("var/lib/dpkg/status"),
        "Package: clamav\nStatus: install ok installed\nVersion: 1.0.9+dfsg-1~deb12u1\n\nPackage: clamav-freshclam\nStatus: install ok installed\nVersion: 1.0.9+dfsg-1~deb12u1\n",
    )
    .unwrap();
    let set_age = |name: &str, days: u64| {
        let path = host.join("var/lib/clamav").join(name);
        std::fs::write(&path, "stand-in: only the time is read").unwrap();
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86400);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    set_age("main.cvd", 200);
    set_age("daily.cvd", 30);
    set_age("daily.cld", 0);
    let config = plain_config(dir.path(), "");
    let (_, doc) = collect_json(&host, &config, &["--collector", "malware"]);
    assert_eq!(status_of(&doc, "malware.protection_present"), "pass");
    assert_eq!(
        status_of(&doc, "malware.protection_current"),
        "pass",
        "{doc}"
    );
    // freshclam stopped ten days ago: the newest daily database is too old.
    set_age("daily.cld", 10);
    let (_, doc) = collect_json(&host, &config, &["--collector", "malware"]);
    assert_eq!(status_of(&doc, "malware.protection_present"), "pass");
    assert_eq!(status_of(&doc, "malware.protection_current"), "fail");
}
