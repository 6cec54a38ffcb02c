//! A host of a test fleet: a state directory of its own, a fixture root, and a config
//! whose `[fleet]` section points at a test server. It runs the real `attestd` binary
//! against them; it never talks to the server itself.

use super::{attestd, fixture, plain_config};
use std::path::{Path, PathBuf};

pub struct FleetHost {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config: PathBuf,
}

impl FleetHost {
    /// `extra` is config text placed before `[fleet]` (an `[alerts]` section, say);
    /// `batch_rows` is the push batch size.
    pub fn new(
        name: &str,
        fixture_name: &str,
        server: &str,
        ca: &Path,
        batch_rows: u32,
        extra: &str,
    ) -> FleetHost {
        let dir = tempfile::tempdir().unwrap();
        let config = plain_config(
            dir.path(),
            &format!(
                "{extra}\n[fleet]\nserver = {server:?}\nca_file = {:?}\nhost = {name:?}\nbatch_rows = {batch_rows}\n",
                ca.display().to_string()
            ),
        );
        FleetHost {
            name: name.into(),
            root: fixture(fixture_name),
            config,
            dir,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("attestd.db")
    }

    /// `attestd ARGS --db … --config …`: exit code, stdout, stderr.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = attestd()
            .args(args)
            .arg("--db")
            .arg(self.db())
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// One `collect --db` of the fixture root; fails the test on a usage or config error.
    pub fn collect(&self) {
        let out = attestd()
            .args(["collect", "--root"])
            .arg(&self.root)
            .arg("--db")
            .arg(self.db())
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(
            out.status.code().unwrap_or(9) <= 1,
            "collect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn push(&self) -> (i32, String, String) {
        self.run(&["push"])
    }
}
