//! The patching collector's pending updates against apt's own answer: on this machine's
//! real apt state (when it has lists) attestd's sets must equal what
//! `apt-get --simulate upgrade` prints; on the fixture trees captured from a real
//! Debian 12 host (`tests/fixtures/apt/`), they must equal the apt answer recorded
//! beside each tree, which `capture.sh` took with apt pointed at that very tree.

use attestd_collectors::patching::{kept_back, parse_simulation, Patching};
use attestd_collectors::{CollectContext, Collector, HostRoot};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn facts(root: HostRoot) -> Value {
    let ctx = CollectContext::new(root, Value::Null, chrono::Utc::now());
    Patching.collect(&ctx).unwrap().facts
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// apt's answer: (all upgrades, security upgrades, kept back).
fn apt_answer(text: &str) -> (usize, Vec<String>, Vec<String>) {
    let (all, security) = parse_simulation(text);
    (all, security, kept_back(text))
}

fn ours(f: &Value) -> (usize, Vec<String>, Vec<String>) {
    assert!(
        f["unavailable"]
            .as_object()
            .is_none_or(|u| !u.contains_key("pending_updates")),
        "{}",
        f["unavailable"]
    );
    let mut kept = strings(&f["kept_back"]);
    // apt lists held packages among the kept-back ones.
    let held_upgradable: Vec<String> = f["held_upgradable"]
        .as_array()
        .map(|_| strings(&f["held_upgradable"]))
        .unwrap_or_default();
    kept.extend(held_upgradable);
    kept.sort();
    (
        f["pending_updates"].as_u64().unwrap() as usize,
        strings(&f["pending_security_updates"]),
        kept,
    )
}

#[test]
fn this_hosts_apt_state_gives_apts_answer() {
    let lists = Path::new("/var/lib/apt/lists");
    let has_lists = std::fs::read_dir(lists)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false);
    if !has_lists || !Path::new("/usr/bin/apt-get").exists() {
        eprintln!("skipped: this machine has no apt lists to compare");
        return;
    }
    let out = Command::new("/usr/bin/apt-get")
        .args(["--simulate", "-o", "Debug::NoLocking=true", "upgrade"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = apt_answer(&String::from_utf8_lossy(&out.stdout));
    let start = std::time::Instant::now();
    let f = facts(HostRoot::live());
    eprintln!(
        "collected in {:?}: {} updates, {} security",
        start.elapsed(),
        f["pending_updates"],
        f["pending_security_updates"]
            .as_array()
            .map_or(0, |a| a.len())
    );
    let apt_all: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let our_all = strings(&f["pending_update_packages"]);
    let extra: Vec<_> = our_all.iter().filter(|n| !apt_all.contains(n)).collect();
    let missing: Vec<_> = apt_all.iter().filter(|n| !our_all.contains(n)).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "attestd only: {extra:?}; apt only: {missing:?}"
    );
    assert_eq!(ours(&f), expected);
    assert!(!strings(&f["security_lists"]).is_empty());
}

fn apt_fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/apt");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("apt-get-simulate-upgrade.txt").exists())
        .collect();
    out.sort();
    out
}

#[test]
fn captured_debian12_trees_give_the_recorded_apt_answer() {
    let trees = apt_fixtures();
    assert!(trees.len() >= 2, "fixture trees missing: {trees:?}");
    for tree in trees {
        let text = std::fs::read_to_string(tree.join("apt-get-simulate-upgrade.txt")).unwrap();
        let expected = apt_answer(&text);
        let f = facts(HostRoot::new(tree.join("root")));
        assert_eq!(ours(&f), expected, "{}", tree.display());
    }
}
