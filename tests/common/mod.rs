//! Helpers shared by the integration tests: fixture paths, the real `attestd` binary,
//! and copies of fixture hosts that a test may change.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// A fixture host tree under tests/fixtures/hosts.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(name)
}

/// Every fixture host name.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    names.sort();
    names
}

/// The attestd binary built for this test run, with no system config in the way.
pub fn attestd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("attestd").unwrap();
    cmd.env_remove("ATTESTD_LOG").env_remove("RUST_LOG");
    cmd
}

/// A config file that uses only the embedded policies (no /etc/attestd/policies.d).
pub fn plain_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("attestd.toml");
    std::fs::write(&path, format!("[daemon]\npolicy_dirs = []\n{extra}")).unwrap();
    path
}

/// `attestd collect --root HOST --format json` parsed, with the exit code.
pub fn collect_json(host: &Path, config: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = attestd()
        .args(["collect", "--format", "json", "--root"])
        .arg(host)
        .arg("--config")
        .arg(config)
        .args(extra)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "collect printed no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, doc)
}

/// Status of one rule in a collect document.
pub fn status_of<'a>(doc: &'a serde_json::Value, rule: &str) -> &'a str {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no result for {rule}"))["status"]
        .as_str()
        .unwrap()
}

/// Copy a directory tree (symlinks as symlinks).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if ft.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Weaken a copied host the way an operator might: `PASS_MAX_DAYS 365` becomes 99999.
pub fn weaken_max_age(host: &Path) {
    let defs = host.join("etc/login.defs");
    let text = std::fs::read_to_string(&defs).unwrap();
    let weakened = text.replace("PASS_MAX_DAYS\t365", "PASS_MAX_DAYS\t99999");
    assert_ne!(
        text, weakened,
        "the fixture's login.defs sets PASS_MAX_DAYS<TAB>365"
    );
    std::fs::write(&defs, weakened).unwrap();
}
