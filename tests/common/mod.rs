//! Helpers shared by the integration tests: fixture paths, the real `attestd` binary,
//! and copies of fixture hosts that a test may change.
#![allow(dead_code)]

mod daemon;
pub mod fleet_host;
pub mod oscal;
pub mod secrets;
pub mod tarpit;
#[allow(unused_imports)] // not every test crate runs the daemon
pub use daemon::{wait_for, Daemon};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, OnceLock};

/// A fixture host tree under tests/fixtures/hosts, ready to be read: when the tree has
/// an `attestd-fixture-modes` manifest, a private copy with those owners and modes.
pub fn fixture(name: &str) -> PathBuf {
    let source = fixture_source(name);
    if !source.join(MODES_MANIFEST).exists() {
        return source;
    }
    static PREPARED: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut prepared = PREPARED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    prepared
        .entry(name.to_string())
        .or_insert_with(|| prepare_fixture(&source, name))
        .clone()
}

/// The fixture tree as it is in git.
pub fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(name)
}

/// The manifest of owners and modes a fixture tree needs (git keeps neither). Read only
/// by this harness, never by attestd. Lines: `MODE UID:GID PATH`, `#` comments.
pub const MODES_MANIFEST: &str = "attestd-fixture-modes";

/// Copy a fixture into this test process's scratch directory and apply its manifest.
/// chown needs root (CI runs as root); without it the owners stay the caller's, which
/// the file_permissions rules then report, and a warning says so.
fn prepare_fixture(source: &Path, name: &str) -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_copies(scratch);
    let target = scratch
        .join(format!("fixtures-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&target);
    copy_tree(source, &target);
    std::fs::remove_file(target.join(MODES_MANIFEST)).unwrap();
    apply_modes(&source.join(MODES_MANIFEST), &target);
    target
}

/// Apply a modes manifest to a tree.
pub fn apply_modes(manifest: &Path, tree: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(manifest).unwrap();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            panic!(
                "{}:{}: expected `MODE UID:GID PATH`",
                manifest.display(),
                i + 1
            )
        };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [mode, owner, path] = parts[..] else {
            bad()
        };
        let mode = u32::from_str_radix(mode, 8).unwrap_or_else(|_| bad());
        let (uid, gid) = owner.split_once(':').unwrap_or_else(|| bad());
        let (uid, gid): (u32, u32) = (
            uid.parse().unwrap_or_else(|_| bad()),
            gid.parse().unwrap_or_else(|_| bad()),
        );
        let file = tree.join(path);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(e) = std::os::unix::fs::chown(&file, Some(uid), Some(gid)) {
            static WARNED: OnceLock<()> = OnceLock::new();
            WARNED.get_or_init(|| {
                eprintln!(
                    "warning: cannot chown fixture files ({e}); run the tests as root (CI does) for fixture owners to hold"
                )
            });
        }
    }
}

/// Scratch copies left by test processes that are gone.
fn remove_stale_copies(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("fixtures-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
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

/// Copy a directory tree (symlinks as symlinks, modes kept).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::metadata(from).unwrap().permissions()).unwrap();
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

/// The file in a fixture host that only the test harness reads: extra config for that
/// host and live peers (servers, setup commands) its rules need. See
/// tests/fixtures/README.md.
pub const FIXTURE_FILE: &str = "attestd-fixture.toml";

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FixtureSpec {
    /// Config text appended to the test config (after placeholders are filled).
    #[serde(default)]
    config: String,
    /// Commands run in order before collecting; each must exit 0.
    #[serde(default)]
    setup: Vec<FixtureCommand>,
    /// Servers started before collecting and killed afterwards.
    #[serde(default)]
    server: Vec<FixtureServer>,
    /// Collect a copy of the host tree in `{tmp}/root` (and make `{root}` name the copy),
    /// so that setup commands may write into it (for example tool output recorded at
    /// test time, whose dates must be recent).
    #[serde(default)]
    copy_root: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureCommand {
    argv: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureServer {
    argv: Vec<String>,
    /// The `{port.NAME}` the harness waits for before collecting.
    port: String,
}

/// A fixture host ready to collect: its config (with any extra config from its fixture
/// file) and the servers it needs, which stop when this is dropped.
pub struct PreparedHost {
    pub root: PathBuf,
    pub config: PathBuf,
    pub tmp: tempfile::TempDir,
    servers: Vec<std::process::Child>,
}

impl Drop for PreparedHost {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// Prepare fixture host `name`: fill the placeholders of its fixture file (`{root}` the
/// host tree, `{fixtures}` tests/fixtures, `{tmp}` a fresh temporary directory, `{port.NAME}` a free loopback port),
/// run its setup commands, start its servers and write its config.
pub fn prepare_host(name: &str) -> PreparedHost {
    let root = fixture(name);
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = root.join(FIXTURE_FILE);
    let spec: FixtureSpec = match std::fs::read_to_string(&spec_path) {
        Ok(text) => {
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()))
        }
        Err(_) => FixtureSpec::default(),
    };
    let root = if spec.copy_root {
        let copy = tmp.path().join("root");
        copy_tree(&root, &copy);
        copy
    } else {
        root
    };
    let mut ports = std::collections::BTreeMap::new();
    let mut fill = |s: &str| -> String {
        let mut out = s
            .replace("{root}", &root.to_string_lossy())
            .replace(
                "{fixtures}",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
            )
            .replace("{tmp}", &tmp.path().to_string_lossy());
        while let Some(start) = out.find("{port.") {
            let end = start + out[start..].find('}').expect("unclosed {port.NAME}");
            let key = out[start + 6..end].to_string();
            let port = *ports.entry(key).or_insert_with(free_port);
            out.replace_range(start..=end, &port.to_string());
        }
        out
    };
    let fill_argv = |argv: &[String], fill: &mut dyn FnMut(&str) -> String| -> Vec<String> {
        argv.iter().map(|a| fill(a)).collect()
    };
    for cmd in &spec.setup {
        let argv = fill_argv(&cmd.argv, &mut fill);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(tmp.path())
            .output()
            .unwrap_or_else(|e| panic!("{name}: setup {argv:?}: {e}"));
        assert!(
            out.status.success(),
            "{name}: setup {argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut servers = Vec::new();
    let mut waits = Vec::new();
    for server in &spec.server {
        let argv = fill_argv(&server.argv, &mut fill);
        let port: u16 = fill(&format!("{{port.{}}}", server.port)).parse().unwrap();
        let child = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(tmp.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: server {argv:?}: {e}"));
        servers.push(child);
        waits.push((port, argv));
    }
    let config_text = fill(&spec.config);
    let config = plain_config(tmp.path(), &config_text);
    let host = PreparedHost {
        root: root.clone(),
        config,
        tmp,
        servers,
    };
    for (port, argv) in waits {
        wait_for_port(port, &argv);
    }
    host
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait (up to 10 s) until something accepts connections on 127.0.0.1:port.
pub fn wait_for_port(port: u16, what: &dyn std::fmt::Debug) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what:?} did not listen on 127.0.0.1:{port} within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The `password_policy` collector's real evidence from the `hardened` fixture host,
/// with `PASS_MAX_DAYS` set to `max_days`: what a host whose only change is that
/// setting would record. Collected once per process.
pub fn password_evidence(max_days: i64) -> attestd_collectors::Evidence {
    static BASE: OnceLock<attestd_collectors::Evidence> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let c = attestd_collectors::collector_by_name("password_policy").expect("built in");
        let ctx = attestd_collectors::CollectContext::new(
            attestd_collectors::HostRoot::new(fixture("hardened")),
            serde_json::Value::Null,
            chrono::Utc::now(),
        );
        c.collect(&ctx).expect("the hardened fixture collects")
    });
    let mut e = base.clone();
    e.facts["login_defs"]["pass_max_days"] = serde_json::json!(max_days);
    e
}

/// Verdicts for `password_policy` judged by the real rules: on evidence with
/// `max_days`, or on the collector's failure (`None`).
pub fn judged_password(
    policies: &attestd::policy::PolicySet,
    max_days: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> (
    Result<attestd_collectors::Evidence, String>,
    Vec<attestd::policy::Verdict>,
) {
    let outcome = match max_days {
        Some(d) => Ok(password_evidence(d)),
        None => Err("cannot read /etc/login.defs: permission denied".to_string()),
    };
    let verdicts = attestd::policy::evaluate_collector(
        policies,
        "password_policy",
        outcome.as_ref().map_err(String::as_str),
        &[],
        now,
    );
    (outcome, verdicts)
}

/// A host whose sshd configuration includes, at every level, three files that each
/// include the whole next level.
pub fn include_bomb(root: &Path, depth: usize) {
    let ssh = root.join("etc/ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("sshd_config"), "Include /etc/ssh/l1/*.conf\n").unwrap();
    include_levels(&ssh, depth);
}

/// `SSH/l1` to `SSH/lDEPTH` (`SSH` a host's `etc/ssh`): three files per level, each
/// including every file of the next level; the last level sets `MaxAuthTries 3`.
pub fn include_levels(ssh: &Path, depth: usize) {
    for level in 1..=depth {
        let dir = ssh.join(format!("l{level}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..3 {
            let body = if level < depth {
                format!("Include /etc/ssh/l{}/*.conf\n", level + 1)
            } else {
                "MaxAuthTries 3\n".to_string()
            };
            std::fs::write(dir.join(format!("{i}.conf")), body).unwrap();
        }
    }
}
