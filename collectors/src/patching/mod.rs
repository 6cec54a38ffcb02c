//! patching collector: whether a Debian-family host fetches and installs updates, when
//! it last did, which updates (and which security updates) are waiting, and whether it
//! needs a reboot.
//!
//! It reads the `APT::Periodic` settings in `/etc/apt/apt.conf.d/`, dpkg's database
//! (shared with other collectors, `crate::dpkg`), the stamps apt's daily job leaves in
//! `/var/lib/apt/periodic/`, `/var/log/apt/history.log` and the reboot flags in `/run`.
//! What an upgrade would install is worked out without apt: the lists under
//! `/var/lib/apt/lists` mapped to their Release files (`lists`), the pins (`preferences`)
//! and apt's candidate and keep-back rules (`upgrade`). `apt-get --simulate upgrade` runs
//! only when the `cross_check_with_apt_get` setting asks for it, and its answer is
//! recorded beside attestd's. Times are facts as timestamps (UTC RFC 3339), never ages:
//! an age changes by itself every run.
//!
//! It never installs, downloads or refreshes anything, and never judges how old is
//! too old.

pub mod cache;
mod lists;
mod preferences;
mod sources;
mod upgrade;

use crate::probe::{dpkg_installed, mtime, read_optional, rfc3339, run_tool, ToolRun};
use crate::{CollectContext, CollectError, Collector, Command, Evidence, HostRoot};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Automatic updates, update recency, pending security updates, pending reboot.
pub struct Patching;

/// `[collectors.patching]` settings.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchingSettings {
    /// Also run `apt-get --simulate upgrade` (about 1.5 s and 80 MB on a Debian 12
    /// host) and record its answer and whether it agrees with attestd's own
    /// (`apt_get_cross_check`). Off by default.
    #[serde(default)]
    pub cross_check_with_apt_get: bool,
    /// Keep the pending-update computation in the cache directory (`cache`) and reuse
    /// it while dpkg's status, the lists, the sources and the pins are unchanged. On by
    /// default; the fact `lists_cache` says `hit`, `miss` or `off`.
    #[serde(default = "yes")]
    pub lists_cache: bool,
}

fn yes() -> bool {
    true
}

impl Default for PatchingSettings {
    fn default() -> Self {
        PatchingSettings {
            cross_check_with_apt_get: false,
            lists_cache: true,
        }
    }
}

fn parse_settings(settings: &Value) -> Result<PatchingSettings, String> {
    match settings {
        Value::Null => Ok(PatchingSettings::default()),
        other => serde_json::from_value(other.clone()).map_err(|e| e.to_string()),
    }
}

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
    fn check_settings(&self, settings: &Value) -> Result<(), String> {
        parse_settings(settings).map(|_| ())
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        collect_with_cache_dir(ctx, cache::default_dir(&ctx.root).as_deref())
    }
}

/// The collector's work, with the lists cache in `cache_dir` (`None`: no cache; the
/// `lists_cache` setting can turn it off too). `Patching::collect` passes
/// `cache::default_dir`.
pub fn collect_with_cache_dir(
    ctx: &CollectContext,
    cache_dir: Option<&std::path::Path>,
) -> Result<Evidence, CollectError> {
    let settings = parse_settings(&ctx.settings).map_err(CollectError::Settings)?;
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
    let mut default_release: Option<(String, String)> = None;
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
            if let Some(v) = l.strip_prefix("APT::Default-Release") {
                let v = v.trim().trim_end_matches(';').trim().trim_matches('"');
                if !v.is_empty() {
                    default_release = Some((v.to_string(), format!("{path}:{}", line_no + 1)));
                }
                continue;
            }
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

    // Pending updates: worked out from dpkg's status, the lists and the pins.
    let mut pending = Map::new();
    let mut security_lists = Vec::new();
    let mut releases = Vec::new();
    let mut preference_files = Vec::new();
    let mut plan_security: Option<Vec<String>> = None;
    let cache_dir = cache_dir.filter(|_| settings.lists_cache);
    let through = cache::through(
        cache_dir,
        root,
        &ctx.settings,
        default_release,
        &mut artifacts,
        pending_updates,
    );
    let (mut lists_cache, mut lists_cache_note) = (cache::State::Off, None);
    let computed = through.map(|(p, state, note)| {
        lists_cache = state;
        lists_cache_note = note;
        p
    });
    match computed {
        Ok(Some(p)) => {
            security_lists = p.security_lists;
            releases = p.releases;
            preference_files = p.preference_files;
            plan_security = Some(p.security.clone());
            pending = p.facts;
            for problem in p.problems {
                unavailable
                    .entry("lists")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .expect("an array")
                    .push(json!(problem));
            }
        }
        Ok(None) => {}
        Err(e) => {
            unavailable.insert("pending_updates".into(), json!(e.to_string()));
        }
    }

    // apt's own answer, only when asked for.
    let mut cross_check = Value::Null;
    if settings.cross_check_with_apt_get {
        cross_check = apt_get_cross_check(root, plan_security.as_deref(), &mut artifacts);
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
        "last_update_source": last_update_source,
        "history_last_upgrade": history,
        "security_lists": security_lists,
        "releases": releases,
        "preference_files": preference_files,
        "apt_get_cross_check": cross_check,
        "lists_cache": lists_cache.as_str(),
        "lists_cache_note": lists_cache_note,
        "reboot_required": reboot_required,
        "reboot_required_packages": reboot_pkgs.into_iter().collect::<Vec<_>>(),
        "unavailable": unavailable,
    });
    for (k, v) in pending {
        facts[k.as_str()] = v;
    }
    // Times that no file records are left out, with the files that were looked
    // for, so that a rule about them says which file is missing instead of
    // judging a null.
    match last_update {
        Some(t) => facts["last_update"] = json!(t),
        None => {
            facts["unavailable"]["last_update"] = json!(
                    "neither /var/lib/apt/periodic/update-success-stamp nor /var/lib/apt/lists exists, so nothing records an apt update"
                );
        }
    }
    match last_upgrade {
        Some(t) => facts["last_upgrade"] = json!(t),
        None => {
            facts["unavailable"]["last_upgrade"] = json!(
                    "no upgrade is recorded: /var/lib/apt/periodic/upgrade-stamp and unattended-upgrades-stamp are absent and /var/log/apt/history.log has no upgrade"
                );
        }
    }
    Ok(Evidence { facts, artifacts })
}

/// What `pending_updates` found (kept in the lists cache as it is).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    /// The facts: `pending_updates`, `pending_security_updates`, `kept_back`,
    /// `kept_back_security`, `held`, `held_security`, `security_updates`.
    facts: Map<String, Value>,
    security: Vec<String>,
    security_lists: Vec<String>,
    releases: Vec<Value>,
    preference_files: Vec<String>,
    problems: Vec<String>,
}

/// Installed versus candidate versions, without apt. `Ok(None)` on a host without
/// dpkg's database or without lists (not a Debian-family host, or never updated).
fn pending_updates(
    root: &HostRoot,
    default_release: Option<(String, String)>,
    artifacts: &mut Vec<crate::Artifact>,
) -> Result<Option<Pending>, CollectError> {
    let Some(status) = crate::dpkg::status(root)? else {
        return Ok(None);
    };
    let native = status.native_arch.clone().unwrap_or_else(|| "amd64".into());
    let mut archs: std::collections::HashSet<String> = status
        .packages
        .iter()
        .filter(|p| p.is_present() && p.arch != "all")
        .map(|p| p.arch.clone())
        .collect();
    archs.insert(native.clone());
    archs.insert("all".into());
    let wanted: std::collections::HashSet<&str> = status
        .packages
        .iter()
        .filter(|p| p.is_present())
        .map(|p| p.name.as_str())
        .collect();
    let (sources, source_files) = sources::load(root)?;
    for f in &source_files {
        if let Some(t) = root.read_text(f)? {
            artifacts.push(crate::Artifact::file(f, t.as_bytes()));
        }
    }
    let Some(lists) = lists::read(root, &sources, &native, &archs, &wanted)? else {
        return Ok(None);
    };
    let (prefs, preference_files) = preferences::load(root, default_release)?;
    for f in &preference_files {
        if let Some(t) = root.read_text(f)? {
            artifacts.push(crate::Artifact::file(f, t.as_bytes()));
        }
    }
    let plan = upgrade::plan(&status, &lists, &prefs);
    let names = |v: &[upgrade::Upgrade], security_only: bool| -> Vec<String> {
        v.iter()
            .filter(|u| !security_only || u.security)
            .map(|u| u.package.clone())
            .collect()
    };
    let security = names(&plan.upgrades, true);
    let mut facts = Map::new();
    facts.insert("pending_updates".into(), json!(plan.upgrades.len()));
    facts.insert(
        "pending_update_packages".into(),
        json!(names(&plan.upgrades, false)),
    );
    facts.insert("pending_security_updates".into(), json!(security));
    facts.insert("kept_back".into(), json!(names(&plan.kept_back, false)));
    facts.insert(
        "kept_back_security".into(),
        json!(names(&plan.kept_back, true)),
    );
    facts.insert("held".into(), json!(plan.held_packages));
    facts.insert("held_upgradable".into(), json!(names(&plan.held, false)));
    facts.insert("held_security".into(), json!(names(&plan.held, true)));
    let details: Vec<Value> = plan
        .upgrades
        .iter()
        .map(|u| (u, "upgrade"))
        .chain(plan.kept_back.iter().map(|u| (u, "kept_back")))
        .chain(plan.held.iter().map(|u| (u, "held")))
        .filter(|(u, _)| u.security)
        .map(|(u, how)| {
            json!({"package": u.package, "installed": u.installed, "candidate": u.candidate,
                   "from": u.from, "by_upgrade": how})
        })
        .collect();
    facts.insert("security_updates".into(), json!(details));
    let pins: Vec<Value> = prefs
        .default_release
        .iter()
        .chain(&prefs.pins)
        .map(|p| json!({"set_in": p.set_in, "priority": p.priority}))
        .collect();
    facts.insert("pins".into(), json!(pins));
    let releases = lists
        .releases
        .iter()
        .map(|r| {
            json!({
                "file": format!("{}/{}", lists::LISTS_DIR, r.file),
                "origin": r.info.origin, "label": r.info.label, "suite": r.info.suite,
                "codename": r.info.codename, "date": r.date, "security": r.security,
                "priority": prefs.list_priority(&r.info),
                "lists": lists.indexes.iter().filter(|ix| ix.release.is_some_and(|j| lists.releases[j].file == r.file))
                    .map(|ix| ix.file.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    for r in &lists.releases {
        let path = format!("{}/{}", lists::LISTS_DIR, r.file);
        if let Some(head) = root.read_range(&path, 0, 4096)? {
            artifacts.push(crate::Artifact {
                excerpt: None,
                ..crate::Artifact::file(&path, &head)
            });
        }
    }
    let mut problems = lists.problems;
    problems.extend(plan.problems);
    Ok(Some(Pending {
        facts,
        security,
        security_lists: lists
            .releases
            .iter()
            .filter(|r| r.security)
            .map(|r| r.file.clone())
            .collect(),
        releases,
        preference_files,
        problems,
    }))
}

/// Run `apt-get --simulate upgrade` and compare its security set with attestd's.
fn apt_get_cross_check(
    root: &HostRoot,
    ours: Option<&[String]>,
    artifacts: &mut Vec<crate::Artifact>,
) -> Value {
    let Some(prog) = Command::locate(root, APT_GET) else {
        return json!({"ran": false, "reason": "apt-get is not installed"});
    };
    let cmd = Command::new(&prog).args(["--simulate", "-o", "Debug::NoLocking=true", "upgrade"]);
    match run_tool(root, cmd, artifacts) {
        Ok(ToolRun::Ran(out)) if out.success() && !out.truncated => {
            let (all, security) = parse_simulation(&out.stdout);
            let agrees = ours.map(|o| o == security.as_slice());
            json!({"ran": true, "pending_updates": all, "pending_security_updates": security,
                   "kept_back": kept_back(&out.stdout), "agrees": agrees})
        }
        Ok(ToolRun::Ran(out)) => json!({"ran": false, "reason": out.failure_reason()}),
        Ok(ToolRun::NotInstalled) => json!({"ran": false, "reason": "apt-get is not installed"}),
        Err(reason) => json!({"ran": false, "reason": reason}),
    }
}

/// `Inst NAME [OLD] (NEW ORIGIN[, ORIGIN] [ARCH])`: every package an upgrade would
/// install, and those offered by a security archive.
pub fn parse_simulation(text: &str) -> (usize, Vec<String>) {
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
pub fn kept_back(text: &str) -> Vec<String> {
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
