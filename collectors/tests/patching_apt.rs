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

// The lists cache (`patching::cache`): the same answer from the cache as without it,
// invalidated by any input file, and never trusted when it is not ours.

use attestd_collectors::patching::collect_with_cache_dir;
use std::os::unix::fs::PermissionsExt;

/// Facts computed from the lists, without any cache.
fn plain_facts(root: &Path) -> Value {
    let ctx = CollectContext::new(HostRoot::new(root), Value::Null, chrono::Utc::now());
    collect_with_cache_dir(&ctx, None).unwrap().facts
}

fn cached_facts(root: &Path, cache: &Path) -> Value {
    let ctx = CollectContext::new(HostRoot::new(root), Value::Null, chrono::Utc::now());
    collect_with_cache_dir(&ctx, Some(cache)).unwrap().facts
}

/// The facts without the two that say where they came from.
fn derived(f: &Value) -> Value {
    let mut f = f.clone();
    let m = f.as_object_mut().unwrap();
    m.remove("lists_cache");
    m.remove("lists_cache_note");
    f
}

/// A writable copy of a captured tree, and a private cache directory.
fn copied_tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/apt/bookworm-behind/root");
    let root = dir.path().join("root");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&root)
        .status()
        .unwrap();
    assert!(ok.success());
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    (dir, root, cache)
}

fn cache_file(cache: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Change a file's times without changing its content (as `touch` does).
fn touch(path: &Path) {
    let ok = Command::new("touch").arg(path).status().unwrap();
    assert!(ok.success());
}

#[test]
fn the_cache_gives_the_same_answer_and_follows_every_input() {
    let (_dir, root, cache) = copied_tree();
    let expected = plain_facts(&root);
    assert_eq!(expected["lists_cache"], "off");
    let first = cached_facts(&root, &cache);
    assert_eq!(
        first["lists_cache"], "miss",
        "{}",
        first["lists_cache_note"]
    );
    let second = cached_facts(&root, &cache);
    assert_eq!(
        second["lists_cache"], "hit",
        "{}",
        second["lists_cache_note"]
    );
    assert_eq!(derived(&first), derived(&expected));
    assert_eq!(derived(&second), derived(&expected));
    // The artifacts are the same too.
    let ctx = CollectContext::new(HostRoot::new(&root), Value::Null, chrono::Utc::now());
    let hit = collect_with_cache_dir(&ctx, Some(&cache)).unwrap();
    let plain = collect_with_cache_dir(&ctx, None).unwrap();
    assert_eq!(hit.artifacts, plain.artifacts);
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/apt/bookworm-behind/apt-get-simulate-upgrade.txt"),
    )
    .unwrap();
    assert_eq!(ours(&hit.facts), apt_answer(&text));

    let lists = root.join("var/lib/apt/lists");
    let inputs = [
        lists.join(
            "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4",
        ),
        lists.join("deb.debian.org_debian_dists_bookworm_Release"),
        root.join("var/lib/dpkg/status"),
        root.join("etc/apt/sources.list.d/debian.sources"),
    ];
    for input in inputs {
        // ctime and mtime move by at least a clock tick.
        std::thread::sleep(std::time::Duration::from_millis(20));
        touch(&input);
        let f = cached_facts(&root, &cache);
        assert_eq!(
            f["lists_cache"],
            "miss",
            "after touching {}",
            input.display()
        );
        assert_eq!(cached_facts(&root, &cache)["lists_cache"], "hit");
    }
    // A new preferences file, and a new list.
    std::fs::create_dir_all(root.join("etc/apt/preferences.d")).unwrap();
    std::fs::write(
        root.join("etc/apt/preferences.d/hold-tiff"),
        "Package: libtiff6\nPin: version *\nPin-Priority: -1\n",
    )
    .unwrap();
    let pinned = cached_facts(&root, &cache);
    assert_eq!(pinned["lists_cache"], "miss");
    assert_eq!(derived(&pinned), derived(&plain_facts(&root)));
    assert_ne!(
        derived(&pinned),
        derived(&expected),
        "the pin changes the answer"
    );
    std::fs::write(
        lists.join("example.org_dists_x_main_binary-amd64_Packages"),
        "",
    )
    .unwrap();
    assert_eq!(cached_facts(&root, &cache)["lists_cache"], "miss");
}

#[test]
fn a_cache_file_that_is_not_ours_is_ignored_and_rebuilt() {
    let (_dir, root, cache) = copied_tree();
    let expected = derived(&plain_facts(&root));
    assert_eq!(cached_facts(&root, &cache)["lists_cache"], "miss");
    let file = cache_file(&cache);

    // Tampered: a security update taken out of the payload.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("libgnutls30"), "the fixture has this update");
    std::fs::write(&file, text.replace("libgnutls30", "libgnutls31")).unwrap();
    let f = cached_facts(&root, &cache);
    assert_eq!(f["lists_cache"], "miss");
    assert!(
        f["lists_cache_note"].as_str().unwrap().contains("checksum"),
        "{}",
        f["lists_cache_note"]
    );
    assert_eq!(derived(&f), expected);
    assert_eq!(cached_facts(&root, &cache)["lists_cache"], "hit", "rebuilt");

    // Truncated.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let f = cached_facts(&root, &cache);
    assert_eq!(f["lists_cache"], "miss");
    assert_eq!(derived(&f), expected);

    // Group-writable file, then a world-writable directory.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    let f = cached_facts(&root, &cache);
    assert_eq!(f["lists_cache"], "miss");
    assert!(f["lists_cache_note"]
        .as_str()
        .unwrap()
        .contains("lets others write"));
    assert_eq!(derived(&f), expected);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let f = cached_facts(&root, &cache);
    assert_eq!(f["lists_cache"], "miss");
    assert!(f["lists_cache_note"].as_str().unwrap().contains("not used"));
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();

    // Owned by another user (needs root to chown).
    assert_eq!(cached_facts(&root, &cache)["lists_cache"], "hit");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let ok = Command::new("chown")
            .arg("65534")
            .arg(cache_file(&cache))
            .status()
            .unwrap();
        assert!(ok.success());
        let f = cached_facts(&root, &cache);
        assert_eq!(f["lists_cache"], "miss");
        assert!(f["lists_cache_note"]
            .as_str()
            .unwrap()
            .contains("owned by uid 65534"));
        assert_eq!(derived(&f), expected);
    }

    // A directory that cannot be written: computed, nothing written, still right.
    let missing = cache.join("no/such/dir");
    let f = cached_facts(&root, &missing);
    assert_eq!(f["lists_cache"], "miss");
    assert_eq!(derived(&f), expected);
    assert!(!missing.exists());
}

#[test]
fn this_hosts_answer_is_the_same_from_the_cache() {
    if !Path::new("/var/lib/apt/lists").is_dir() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let plain = plain_facts(Path::new("/"));
    let miss = cached_facts(Path::new("/"), cache.path());
    let hit = cached_facts(Path::new("/"), cache.path());
    assert_eq!(miss["lists_cache"], "miss");
    assert_eq!(hit["lists_cache"], "hit");
    assert_eq!(derived(&hit), derived(&plain));
    assert_eq!(derived(&miss), derived(&plain));
}
