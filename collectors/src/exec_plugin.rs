//! `exec:NAME` plugins: an executable the operator provides that prints facts as one
//! JSON object on stdout. It is configured as `[collectors."exec:NAME"]` with
//! `command = ["/abs/path", "arg", ...]`, or found as an executable file `NAME` (any
//! extension is dropped) in `/etc/attestd/collectors.d/`.
//!
//! The plugin runs through the command runner like every other tool: no shell, an
//! absolute path, a cleared environment (`PATH`, `LC_ALL=C`), a timeout that kills its
//! process group, and a cap on its output. Exit status 0 and a JSON object on stdout
//! are facts; anything else is an error naming what was wrong. Its rules are written by
//! the operator (`collector = "exec:NAME"`). Protocol: `docs/plugins.md`.
//!
//! At every run, before anything is executed, the program's directory and every parent
//! up to `/` must be owned by root or attestd's own user and not group- or
//! world-writable (a root-owned sticky directory such as `/tmp` is accepted: nobody
//! else can rename entries in it). The program is then opened once, `O_NOFOLLOW`, its
//! owner, mode and type are checked on that descriptor, and the descriptor is what is
//! executed (`/proc/self/fd/N`), so a file swapped in between check and run never runs.
//!
//! It must never run a plugin through a shell, never run a file that others could have
//! changed (group- or world-writable, owned by another user, or in a directory such
//! users can write), never run a program by a path it did not check, and never judge
//! the facts a plugin prints.

use crate::{CollectContext, CollectError, Collector, Command, CommandError, Evidence};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Where drop-in plugins live by default.
pub const PLUGIN_DIR: &str = "/etc/attestd/collectors.d";
/// Output a plugin may print by default.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// The prefix that marks a plugin collector's name.
pub const PREFIX: &str = "exec:";

/// One configured plugin.
#[derive(Debug, Clone)]
pub struct ExecPlugin {
    /// `exec:NAME`, interned for the life of the process.
    name: &'static str,
    /// The program (absolute) and its arguments.
    command: Vec<String>,
    /// How long the program may run before its process group is killed.
    timeout: Duration,
    /// Bytes of stdout accepted; more is an error.
    max_output_bytes: usize,
}

/// `[collectors."exec:NAME"]` settings (besides enabled, schedule, timeout_seconds).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The program (an absolute path) and its arguments; no shell is involved.
    command: Option<Vec<String>>,
    /// How many bytes of stdout the plugin may print (default 1 MiB); more is an error.
    max_output_bytes: Option<usize>,
}

/// True when `name` names a plugin (`exec:...`).
pub fn is_plugin_name(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// Check a plugin name: `exec:` then lowercase letters, digits, `_` or `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let short = name.strip_prefix(PREFIX).unwrap_or("");
    let ok = short.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && short
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "plugin name `{name}` must be `exec:` followed by lowercase letters, digits, `_` or `-`"
        ))
    }
}

/// Check a plugin's settings: `command` must be a non-empty list whose first element is
/// an absolute path.
pub fn check_settings(name: &str, settings: &Value) -> Result<(), String> {
    check_name(name)?;
    parse_settings(settings).map(|_| ())
}

fn parse_settings(settings: &Value) -> Result<(Vec<String>, usize), String> {
    let s: Settings = if settings.is_null() {
        Settings {
            command: None,
            max_output_bytes: None,
        }
    } else {
        serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?
    };
    let command = s.command.ok_or(
        "`command` is required: the plugin's absolute path and its arguments, e.g. command = [\"/usr/local/lib/attestd/check-x\", \"--json\"]",
    )?;
    let Some(program) = command.first() else {
        return Err("`command` must not be empty".into());
    };
    if !Path::new(program).is_absolute() {
        return Err(format!(
            "command: `{program}` is not an absolute path (attestd never searches PATH and runs no shell)"
        ));
    }
    let max = s.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES);
    if max == 0 {
        return Err("max_output_bytes must be positive".into());
    }
    Ok((command, max))
}

/// Names live as long as the process; each distinct plugin name is kept once, so
/// reloading the config does not grow memory.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

impl ExecPlugin {
    /// A plugin from its validated settings; `timeout` is the collector's timeout (the
    /// process is killed a little before it, so its own error is the one reported).
    pub fn new(name: &str, settings: &Value, timeout: Duration) -> Result<ExecPlugin, String> {
        check_name(name)?;
        let (command, max_output_bytes) = parse_settings(settings)?;
        Ok(ExecPlugin {
            name: intern(name),
            command,
            // 9/10 of it, without the multiplication that overflows on a huge timeout.
            timeout: (timeout - timeout / 10).max(Duration::from_millis(500)),
            max_output_bytes,
        })
    }
}

/// Executable files in a drop-in directory as `(exec:NAME, path)`, in name order.
/// Hidden files, editor backups and non-executable files are skipped; a file that is
/// writable by group or others, or owned by another user than root or attestd's own,
/// is an error (it would let someone else run code as attestd).
pub fn discover(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    check_directory_chain(dir)?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') || file_name.ends_with('~') || file_name.contains(".dpkg-") {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mode = meta.permissions().mode();
        if !meta.is_file() || mode & 0o111 == 0 {
            continue;
        }
        if mode & 0o022 != 0 || !trusted_owner(meta.uid()) {
            return Err(format!(
                "{}: refusing to run a plugin that others can change (mode {:o}, owner uid {}); make it owned by root and not group- or world-writable (chmod go-w)",
                path.display(),
                mode & 0o7777,
                meta.uid()
            ));
        }
        let stem = file_name.split('.').next().unwrap_or("").to_string();
        let name = format!("{PREFIX}{stem}");
        check_name(&name).map_err(|m| format!("{}: {m}", path.display()))?;
        found.push((name, path));
    }
    found.sort();
    Ok(found)
}

/// A plugin's stdout as facts: one JSON object, or an error naming the line.
pub(crate) fn facts_from_stdout(command_line: &str, stdout: &str) -> Result<Value, CollectError> {
    let facts: Value = serde_json::from_str(stdout).map_err(|e| CollectError::Malformed {
        path: command_line.to_string(),
        line: e.line(),
        reason: format!("stdout is not JSON: {e}"),
    })?;
    if !facts.is_object() {
        return Err(CollectError::Malformed {
            path: command_line.to_string(),
            line: 1,
            reason: "stdout must be one JSON object (`{...}`) of facts".into(),
        });
    }
    Ok(facts)
}

/// True for root and for the user attestd runs as.
fn trusted_owner(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    uid == 0 || uid == unsafe { libc::geteuid() }
}

/// Check `dir` and every parent up to `/`: each must be a directory owned by root or
/// attestd's user, and not group- or world-writable, unless it is a root-owned sticky
/// directory (such as `/tmp`), in which nobody else can rename or replace entries.
pub fn check_directory_chain(dir: &Path) -> Result<(), String> {
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .join(dir)
    };
    let mut current = Some(absolute.as_path());
    while let Some(d) = current {
        let meta = std::fs::metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
        let mode = meta.permissions().mode();
        let sticky_root = mode & 0o1000 != 0 && meta.uid() == 0;
        if !meta.is_dir() {
            return Err(format!("{}: not a directory", d.display()));
        }
        if !trusted_owner(meta.uid()) || (mode & 0o022 != 0 && !sticky_root) {
            return Err(format!(
                "refusing to run plugins from {}: {} (mode {:o}, owner uid {}) can be changed by other users, who could replace the plugin; make it owned by root and not group- or world-writable (chmod go-w)",
                absolute.display(),
                d.display(),
                mode & 0o7777,
                meta.uid()
            ));
        }
        current = d.parent();
    }
    Ok(())
}

/// Open a plugin program for running: its directory chain checked, the file opened
/// once without following a symlink, and owner, mode and type checked on the open
/// descriptor. The descriptor is what runs (`Command::program_fd`).
pub fn open_program(path: &Path) -> Result<std::fs::File, String> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    if !parent.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    check_directory_chain(parent)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => format!(
                "{} is a symbolic link; name the program itself (plugins are opened without following links)",
                path.display()
            ),
            _ if e.kind() == std::io::ErrorKind::NotFound => {
                format!("{} does not exist", path.display())
            }
            _ => format!("{}: {e}", path.display()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if mode & 0o111 == 0 {
        return Err(format!("{} is not executable", path.display()));
    }
    if mode & 0o022 != 0 || !trusted_owner(meta.uid()) {
        return Err(format!(
            "{}: refusing to run a plugin that others can change (mode {:o}, owner uid {}); make it owned by root and not group- or world-writable (chmod go-w)",
            path.display(),
            mode & 0o7777,
            meta.uid()
        ));
    }
    Ok(file)
}

impl Collector for ExecPlugin {
    fn name(&self) -> &'static str {
        self.name
    }
    fn version(&self) -> &'static str {
        "plugin"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        Vec::new()
    }
    fn check_settings(&self, settings: &Value) -> Result<(), String> {
        check_settings(self.name, settings)
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let mut cmd = Command::new(&self.command[0])
            .args(self.command[1..].iter().cloned())
            .timeout(self.timeout)
            .max_output_bytes(self.max_output_bytes);
        if ctx.root.is_live() {
            // Checked at every run, and the checked descriptor is what runs.
            let program = open_program(Path::new(&self.command[0])).map_err(|reason| {
                if reason.ends_with("does not exist") {
                    CollectError::Other(format!(
                        "plugin program {} does not exist; fix `command` in [collectors.\"{}\"] or install it",
                        self.command[0], self.name
                    ))
                } else {
                    CollectError::Other(format!("plugin {}: {reason}", self.name))
                }
            })?;
            cmd = cmd.program_fd(program);
        }
        let out = cmd.run(&ctx.root).map_err(|e| match e {
            CommandError::NotInstalled { program } => CollectError::Other(format!(
                "plugin program {program} does not exist; fix `command` in [collectors.\"{}\"] or install it",
                self.name
            )),
            other => CollectError::Other(format!("plugin {}: {other}", self.name)),
        })?;
        if out.truncated {
            return Err(CollectError::Other(format!(
                "plugin {} printed more than {} bytes (raise max_output_bytes if that is expected)",
                self.name, self.max_output_bytes
            )));
        }
        if !out.success() {
            return Err(CollectError::Other(format!(
                "plugin {}: {}",
                self.name,
                out.failure_reason()
            )));
        }
        let facts = facts_from_stdout(&out.command_line(), &out.stdout)?;
        Ok(Evidence {
            facts,
            artifacts: vec![out.artifact()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostRoot;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn ctx() -> CollectContext {
        CollectContext::new(HostRoot::live(), Value::Null, chrono::Utc::now())
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn plugin(path: &Path, timeout_ms: u64) -> ExecPlugin {
        ExecPlugin::new(
            "exec:t",
            &json!({"command": [path.to_str().unwrap()]}),
            Duration::from_millis(timeout_ms),
        )
        .unwrap()
    }

    #[test]
    fn settings_are_checked() {
        assert!(check_settings("exec:ok", &json!({"command": ["/bin/true"]})).is_ok());
        let e = check_settings("exec:ok", &json!({})).unwrap_err();
        assert!(e.contains("`command` is required"), "{e}");
        let e = check_settings("exec:ok", &json!({"command": ["true"]})).unwrap_err();
        assert!(e.contains("absolute path"), "{e}");
        assert!(check_settings("exec:Bad Name", &json!({"command": ["/bin/true"]})).is_err());
        assert!(
            check_settings("exec:ok", &json!({"command": ["/bin/true"], "shell": true})).is_err()
        );
    }

    #[test]
    fn json_objects_are_facts_and_everything_else_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = script(dir.path(), "good", r#"echo '{"answer": 42}'"#);
        let ev = plugin(&good, 5000).collect(&ctx()).unwrap();
        assert_eq!(ev.facts["answer"], 42);
        assert_eq!(ev.artifacts[0].exit_status, Some(0));

        let list = script(dir.path(), "list", "echo '[1,2]'");
        let e = plugin(&list, 5000).collect(&ctx()).unwrap_err();
        assert!(e.to_string().contains("one JSON object"), "{e}");

        let garbage = script(dir.path(), "garbage", "echo 'not json'");
        let e = plugin(&garbage, 5000).collect(&ctx()).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");

        let failing = script(dir.path(), "failing", "echo 'no database' >&2; exit 3");
        let e = plugin(&failing, 5000).collect(&ctx()).unwrap_err();
        assert!(e.to_string().contains("exited with 3: no database"), "{e}");

        let hang = script(dir.path(), "hang", "sleep 30");
        let start = std::time::Instant::now();
        let e = plugin(&hang, 600).collect(&ctx()).unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));

        let missing = dir.path().join("missing");
        let e = plugin(&missing, 5000).collect(&ctx()).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn output_is_capped_and_the_environment_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let big = script(dir.path(), "big", "head -c 5000 /dev/zero | tr '\\0' x");
        let p = ExecPlugin::new(
            "exec:big",
            &json!({"command": [big.to_str().unwrap()], "max_output_bytes": 100}),
            Duration::from_secs(5),
        )
        .unwrap();
        let e = p.collect(&ctx()).unwrap_err();
        assert!(e.to_string().contains("more than 100 bytes"), "{e}");
        std::env::set_var("ATTESTD_PLUGIN_TEST_TOKEN", "s3cret");
        let env = script(
            dir.path(),
            "env",
            r#"printf '{"token": "%s"}' "${ATTESTD_PLUGIN_TEST_TOKEN:-}""#,
        );
        let ev = plugin(&env, 5000).collect(&ctx()).unwrap();
        assert_eq!(ev.facts["token"], "");
    }

    #[test]
    fn drop_ins_must_not_be_writable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "pkg-audit.sh", "true");
        std::fs::write(dir.path().join("README"), "not executable").unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "exec:pkg-audit");
        let loose = script(dir.path(), "loose", "true");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = discover(dir.path()).unwrap_err();
        assert!(e.contains("others can change"), "{e}");
        assert!(discover(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_plugin_directory_others_can_write_is_refused_at_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("collectors.d");
        std::fs::create_dir(&plugins).unwrap();
        let p = script(&plugins, "inventory", r#"echo '{"ok": true}'"#);
        let plugin = plugin(&p, 5000);
        assert_eq!(plugin.collect(&ctx()).unwrap().facts["ok"], true);
        // Loaded and checked once; the directory opened up afterwards: the next run refuses.
        std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = plugin.collect(&ctx()).unwrap_err().to_string();
        assert!(
            e.contains("can be changed by other users") && e.contains("777"),
            "{e}"
        );
        let e = discover(&plugins).unwrap_err();
        assert!(e.contains("can be changed by other users"), "{e}");
        // A group-writable parent further up is refused as well.
        std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
        let e = plugin.collect(&ctx()).unwrap_err().to_string();
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
        // A symlink is not followed.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = plugins.join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let e = super::tests::plugin(&link, 5000)
            .collect(&ctx())
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn a_plugin_replaced_by_mv_after_the_check_does_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("evil-ran");
        let p = script(dir.path(), "inventory", r#"echo '{"who": "checked"}'"#);
        let evil = script(
            dir.path(),
            "evil",
            &format!("touch {}; echo '{{\"who\": \"evil\"}}'", marker.display()),
        );
        // Checked and opened, then swapped before it runs.
        let program = open_program(&p).unwrap();
        std::fs::rename(&evil, &p).unwrap();
        let out = Command::new(p.to_str().unwrap())
            .program_fd(program)
            .run(&crate::HostRoot::live())
            .unwrap();
        assert_eq!(out.stdout.trim(), r#"{"who": "checked"}"#, "{}", out.stderr);
        assert!(!marker.exists(), "the swapped-in file ran");
        // The next run checks and opens the new file: it is what runs then.
        let ev = plugin(&p, 5000).collect(&ctx()).unwrap();
        assert_eq!(ev.facts["who"], "evil");
    }
}
