//! patching collector: whether a Debian-family host fetches and installs updates, when
//! it last did, which security updates are waiting, and whether it needs a reboot.
//!
//! It reads the `APT::Periodic` settings in `/etc/apt/apt.conf.d/`, dpkg's database
//! (is unattended-upgrades installed), the stamps apt's daily job leaves in
//! `/var/lib/apt/periodic/`, `/var/lib/apt/lists`, `/var/log/apt/history.log`, the
//! reboot flags in `/run`, and asks apt what an upgrade would install
//! (`apt-get --simulate upgrade`, read-only, no lock). Times are facts as timestamps
//! (UTC RFC 3339), never ages: an age changes by itself every run.
//!
//! It never installs, downloads or refreshes anything, and never judges how old is
//! too old.

use crate::probe::{dpkg_installed, mtime, read_optional, rfc3339, run_tool, ToolRun};
use crate::{CollectContext, CollectError, Collector, Command, Evidence, HostRoot};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Automatic updates, update recency, pending security updates, pending reboot.
pub struct Patching;

const APT_GET: &[&str] = &["/usr/bin/apt-get", "/bin/apt-get"];
const PERIODIC_DIR: &str = "/var/lib/apt/periodic";
const STAMPS: &[&str] = &[
    "update-success-stamp",
    "update-stamp",
    "upgrade-stamp",
    "unattended-upgrades-stamp",
    "download-upgradeable-stamp",
];

impl Collector for Patching {
    fn name(&self) -> &'static str {
        "patching"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        crate::host_paths(&["/etc/apt/apt.conf.d", "/run/reboot-required"])
    }
    fn default_schedule(&self) -> &'static str {
        "0 * * * *"
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let root = &ctx.root;
        let mut artifacts = Vec::new();
        let mut unavailable = Map::new();
        let apt_get = Command::locate(root, APT_GET);
        let dpkg = dpkg_installed(root, &["unattended-upgrades", "apt"])?;
        let apt_present = apt_get.is_some()
            || dpkg.as_ref().is_some_and(|d| d.contains_key("apt"))
            || root.metadata("/etc/apt")?.is_some();

        // APT::Periodic, in the order apt reads apt.conf.d (byte order, last wins).
        let mut periodic = Map::new();
        let mut periodic_set_in = Map::new();
        let files = root.list_dir("/etc/apt/apt.conf.d")?.unwrap_or_default();
        for name in files {
            if name.starts_with('.') || name.ends_with('~') || name.contains(".dpkg-") {
                continue;
            }
            let path = format!("/etc/apt/apt.conf.d/{name}");
            if root.metadata(&path)?.is_some_and(|m| m.is_dir()) {
                continue;
            }
            let Some(text) = read_optional(root, &path, &mut artifacts)? else {
                continue;
            };
            for (line_no, line) in text.lines().enumerate() {
                let l = line.trim();
                let Some(rest) = l.strip_prefix("APT::Periodic::") else {
                    continue;
                };
                let Some((key, value)) = rest.split_once(char::is_whitespace) else {
                    continue;
                };
                let value = value.trim().trim_end_matches(';').trim().trim_matches('"');
                let v = value
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| json!(value));
                periodic.insert(key.to_string(), v);
                periodic_set_in.insert(key.to_string(), json!(format!("{path}:{}", line_no + 1)));
            }
        }
        let on = |k: &str| match periodic.get(k) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0) > 0,
            Some(Value::String(s)) => !s.is_empty() && s != "0",
            _ => false,
        };
        let enable = periodic.get("Enable").is_none() || on("Enable");
        let uu_installed = dpkg
            .as_ref()
            .is_some_and(|d| d.contains_key("unattended-upgrades"));

        // When apt last refreshed its lists and upgraded.
        let mut stamps = Map::new();
        for s in STAMPS {
            stamps.insert(
                s.to_string(),
                json!(mtime(root, &format!("{PERIODIC_DIR}/{s}"))?),
            );
        }
        let lists_mtime = mtime(root, "/var/lib/apt/lists")?;
        let (last_update, last_update_source) = match (
            stamps["update-success-stamp"].as_str(),
            lists_mtime.as_deref(),
        ) {
            (Some(s), _) => (
                Some(s.to_string()),
                Some("/var/lib/apt/periodic/update-success-stamp"),
            ),
            (None, Some(l)) => (Some(l.to_string()), Some("/var/lib/apt/lists")),
            _ => (None, None),
        };
        let history = match root.read_text("/var/log/apt/history.log") {
            Ok(Some(text)) => {
                artifacts.push(crate::Artifact {
                    excerpt: None,
                    ..crate::Artifact::file("/var/log/apt/history.log", text.as_bytes())
                });
                last_upgrade_in_history(&text)
            }
            Ok(None) => {
                artifacts.push(crate::Artifact::absent("/var/log/apt/history.log"));
                None
            }
            Err(e) => {
                unavailable.insert("history".into(), json!(e.to_string()));
                None
            }
        };
        let last_upgrade = [
            stamps["upgrade-stamp"].as_str(),
            stamps["unattended-upgrades-stamp"].as_str(),
            history.as_deref(),
        ]
        .into_iter()
        .flatten()
        .max()
        .map(String::from);

        // Pending updates, from apt's own resolver.
        let security_lists = security_lists(root)?;
        let mut pending = Map::new();
        if let Some(prog) = &apt_get {
            let cmd =
                Command::new(prog).args(["--simulate", "-o", "Debug::NoLocking=true", "upgrade"]);
            match run_tool(root, cmd, &mut artifacts) {
                Ok(ToolRun::Ran(out)) if out.success() && !out.truncated => {
                    let (all, security) = parse_simulation(&out.stdout);
                    pending.insert("count".into(), json!(all));
                    pending.insert("security".into(), json!(security));
                    pending.insert("kept_back".into(), json!(kept_back(&out.stdout)));
                }
                Ok(ToolRun::Ran(out)) => {
                    unavailable.insert("pending_updates".into(), json!(out.failure_reason()));
                }
                Ok(ToolRun::NotInstalled) => {}
                Err(reason) => {
                    unavailable.insert("pending_updates".into(), json!(reason));
                }
            }
        }

        // Reboot flags left by update-notifier-common / unattended-upgrades hooks.
        let mut reboot_required = false;
        let mut reboot_pkgs: BTreeSet<String> = BTreeSet::new();
        for dir in ["/run", "/var/run"] {
            reboot_required |= root.metadata(&format!("{dir}/reboot-required"))?.is_some();
            if let Some(t) = root.read_text(&format!("{dir}/reboot-required.pkgs"))? {
                reboot_pkgs.extend(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
            }
        }
        artifacts.push(if reboot_required {
            crate::Artifact::file(
                "/run/reboot-required",
                reboot_pkgs
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
                    .as_bytes(),
            )
        } else {
            crate::Artifact::absent("/run/reboot-required")
        });

        let mut facts = json!({
            "apt": apt_present,
            "periodic": periodic,
            "periodic_set_in": periodic_set_in,
            "unattended_upgrades": {
                "installed": uu_installed,
                "enabled": uu_installed && enable && on("Update-Package-Lists") && on("Unattended-Upgrade"),
            },
            "stamps": stamps,
            "lists_mtime": lists_mtime,
            "last_update": last_update,
            "last_update_source": last_update_source,
            "last_upgrade": last_upgrade,
            "history_last_upgrade": history,
            "security_lists": security_lists,
            "reboot_required": reboot_required,
            "reboot_required_packages": reboot_pkgs.into_iter().collect::<Vec<_>>(),
            "unavailable": unavailable,
        });
        if let Some(c) = pending.get("count") {
            facts["pending_updates"] = c.clone();
            facts["pending_security_updates"] = pending["security"].clone();
            facts["kept_back"] = pending["kept_back"].clone();
        }
        Ok(Evidence { facts, artifacts })
    }
}

/// apt list files that come from a security archive (`*security*`).
fn security_lists(root: &HostRoot) -> Result<Vec<String>, CollectError> {
    Ok(root
        .list_dir("/var/lib/apt/lists")?
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.contains("security") && (n.ends_with("InRelease") || n.ends_with("_Release")))
        .collect())
}

/// `Inst NAME [OLD] (NEW ORIGIN[, ORIGIN] [ARCH])`: every package an upgrade would
/// install, and those offered by a security archive.
fn parse_simulation(text: &str) -> (usize, Vec<String>) {
    let mut all = 0;
    let mut security = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        all += 1;
        let name = rest.split_whitespace().next().unwrap_or("").to_string();
        let origins = rest.split_once('(').map(|(_, o)| o).unwrap_or("");
        if origins.contains("-security") || origins.contains("Debian-Security") {
            security.insert(name);
        }
    }
    (all, security.into_iter().collect())
}

/// Packages apt lists as "kept back": a newer version exists but `upgrade` will not
/// install it (held, or it needs new packages, as kernel updates do). apt does not say
/// where their update comes from, so one of them may be a security fix.
fn kept_back(text: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("The following") {
            inside = line.contains("kept back");
            continue;
        }
        if inside && line.starts_with("  ") {
            names.extend(line.split_whitespace().map(String::from));
        } else {
            inside = false;
        }
    }
    names.into_iter().collect()
}

/// The end of the last apt run in history.log that upgraded or installed packages.
/// apt writes local time without a zone; it is read as UTC (on hosts not on UTC the
/// result is off by the zone offset, which does not matter at the scale of days).
fn last_upgrade_in_history(text: &str) -> Option<String> {
    let mut last = None;
    for entry in text.split("\n\n") {
        if !entry.lines().any(|l| l.starts_with("Upgrade:")) {
            continue;
        }
        if let Some(end) = entry.lines().find_map(|l| l.strip_prefix("End-Date:")) {
            let cleaned = end.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Ok(t) = NaiveDateTime::parse_from_str(&cleaned, "%Y-%m-%d %H:%M:%S") {
                let s = rfc3339(t.and_utc());
                if last.as_ref().is_none_or(|l: &String| &s > l) {
                    last = Some(s);
                }
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_names_security_updates() {
        // Recorded from `apt-get --simulate upgrade` on Debian 12 (2026-11-26).
        let text = "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\nInst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])\nConf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";
        assert_eq!(parse_simulation(text), (2, vec!["libgcrypt20".to_string()]));
    }

    #[test]
    fn kept_back_packages_are_listed() {
        let text = "Calculating upgrade...\nThe following package was automatically installed and is no longer required:\n  netbase\nThe following packages have been kept back:\n  linux-image-amd64 apt\n0 upgraded, 0 newly installed, 0 to remove and 2 not upgraded.\n";
        assert_eq!(kept_back(text), vec!["apt", "linux-image-amd64"]);
    }

    #[test]
    fn history_gives_the_last_upgrade() {
        let text = "Start-Date: 2026-10-01  06:00:00\nUpgrade: a (1, 2)\nEnd-Date: 2026-10-01  06:01:00\n\nStart-Date: 2026-11-01  06:00:00\nInstall: b (1)\nEnd-Date: 2026-11-01  06:01:00\n";
        assert_eq!(
            last_upgrade_in_history(text).as_deref(),
            Some("2026-10-01T06:01:00Z")
        );
    }

    #[test]
    fn periodic_settings_last_file_wins_and_enable_zero_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/apt/apt.conf.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("20auto-upgrades"), "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n").unwrap();
        std::fs::write(
            d.join("99local"),
            "APT::Periodic::Unattended-Upgrade \"0\";\n",
        )
        .unwrap();
        std::fs::write(
            d.join("99local.dpkg-old"),
            "APT::Periodic::Unattended-Upgrade \"1\";\n",
        )
        .unwrap();
        let status = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&status).unwrap();
        std::fs::write(
            status.join("status"),
            "Package: unattended-upgrades\nStatus: install ok installed\nVersion: 2.9\n\n",
        )
        .unwrap();
        let ctx = CollectContext::new(HostRoot::new(dir.path()), Value::Null, chrono::Utc::now());
        let ev = Patching.collect(&ctx).unwrap();
        assert_eq!(ev.facts["periodic"]["Unattended-Upgrade"], 0);
        assert_eq!(
            ev.facts["periodic_set_in"]["Unattended-Upgrade"],
            "/etc/apt/apt.conf.d/99local:1"
        );
        assert_eq!(ev.facts["unattended_upgrades"]["installed"], true);
        assert_eq!(ev.facts["unattended_upgrades"]["enabled"], false);
        assert_eq!(ev.facts["last_update"], Value::Null);
        assert_eq!(ev.facts["reboot_required"], false);
    }
}
