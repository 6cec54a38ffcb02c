//! The one runner for external commands a collector needs (`nft`, `chronyc`, `restic`,
//! `systemctl`, plugins): no shell, an absolute program path, a cleared environment, a
//! timeout that kills the whole process group, and a cap on captured output. The command
//! line and exit status become the evidence artifact.
//!
//! Against a fixture root (`--root DIR`) nothing is executed: the output is replayed
//! from `DIR/attestd-recorded-commands.toml`, where a fixture keeps what the real tool
//! printed on a real host (see `docs/collectors.md`). A program the manifest does not
//! list counts as not installed in that tree.
//!
//! It must never run anything through a shell, never inherit the daemon's environment,
//! and never put environment values (which may name secrets) into artifacts or errors.

use crate::{excerpt_of, sha256_hex, Artifact, CollectError, HostRoot};
use serde::Deserialize;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use wait_timeout::ChildExt;

/// Where a fixture tree keeps the recorded output of the tools collectors run.
pub const RECORDED_COMMANDS_PATH: &str = "/attestd-recorded-commands.toml";
/// Output kept from one stream by default; more is cut and flagged as truncated.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// How long a command may run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The only `PATH` a command sees (tools such as `restic` call helpers by name).
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command to run: an absolute program path and its arguments, never a shell line.
#[derive(Debug, Clone)]
pub struct Command {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
    max_output_bytes: usize,
    /// An open descriptor of the checked program: when set, this descriptor is what
    /// runs (through `/proc/self/fd/N`), never the path, so the file cannot be swapped
    /// between the check and the run.
    program_fd: Option<std::sync::Arc<std::fs::File>>,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The program and its arguments, as run.
    pub argv: Vec<String>,
    /// The exit status, or `None` when a signal ended it.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// True when either stream was longer than the cap and was cut.
    pub truncated: bool,
}

/// Why a command gave no output to judge.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program is not on this host (or not recorded in this fixture tree).
    #[error("{program} is not installed")]
    NotInstalled { program: String },
    /// It ran longer than its timeout and was killed.
    #[error("`{command_line}` did not finish within {seconds} s and was killed")]
    TimedOut { command_line: String, seconds: u64 },
    /// It could not be started or its output could not be read.
    #[error("`{command_line}`: {reason}")]
    Failed {
        command_line: String,
        reason: String,
    },
}

impl From<CommandError> for CollectError {
    fn from(e: CommandError) -> Self {
        CollectError::Other(e.to_string())
    }
}

impl Command {
    /// A command for `program`, which must be an absolute path.
    pub fn new(program: &str) -> Self {
        Command {
            argv: vec![program.to_string()],
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            program_fd: None,
        }
    }

    /// Run this open descriptor of the program instead of opening its path again (the
    /// path stays the command line's first word and the program's `argv[0]`).
    pub fn program_fd(mut self, file: std::fs::File) -> Self {
        self.program_fd = Some(std::sync::Arc::new(file));
        self
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.argv.push(arg.into());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set one environment variable (the environment is otherwise empty but for `PATH`
    /// and `LC_ALL=C`). Values never appear in artifacts or errors.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long the command may run before its process group is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many bytes of each stream to keep.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// The program path.
    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// The command line for people: arguments joined by spaces (no environment).
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    /// Run it on `root`: executed on the live host, replayed from the recorded outputs
    /// under a fixture root.
    pub fn run(&self, root: &HostRoot) -> Result<CommandOutput, CommandError> {
        if !Path::new(self.program()).is_absolute() {
            return Err(self.failed(
                "the program must be an absolute path (attestd never searches PATH)".into(),
            ));
        }
        if root.is_live() {
            self.execute()
        } else {
            self.replay(root)
        }
    }

    /// The first of `candidates` that is installed on `root` (an executable file on a
    /// live host, a program with recorded output under a fixture root).
    pub fn locate(root: &HostRoot, candidates: &[&str]) -> Option<String> {
        candidates
            .iter()
            .find(|c| {
                if root.is_live() {
                    is_executable(Path::new(c))
                } else {
                    recorded_commands(root)
                        .map(|r| {
                            r.iter()
                                .any(|rc| rc.argv.first().map(String::as_str) == Some(c))
                        })
                        .unwrap_or(false)
                }
            })
            .map(|c| c.to_string())
    }

    fn failed(&self, reason: String) -> CommandError {
        CommandError::Failed {
            command_line: self.command_line(),
            reason,
        }
    }

    fn execute(&self) -> Result<CommandOutput, CommandError> {
        let mut cmd = match &self.program_fd {
            Some(file) => {
                use std::os::fd::AsRawFd;
                let fd = file.as_raw_fd();
                let mut cmd = std::process::Command::new(format!("/proc/self/fd/{fd}"));
                cmd.arg0(self.program());
                // SAFETY: fcntl is async-signal-safe; it only clears close-on-exec on a
                // descriptor this process owns, so that a `#!` interpreter can open
                // /proc/self/fd/N (the kernel hands it that path) after the exec.
                unsafe {
                    cmd.pre_exec(move || {
                        if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                cmd
            }
            None => {
                if !Path::new(self.program()).exists() {
                    return Err(CommandError::NotInstalled {
                        program: self.program().to_string(),
                    });
                }
                std::process::Command::new(self.program())
            }
        };
        cmd.args(&self.argv[1..])
            .env_clear()
            .env("PATH", SAFE_PATH)
            .env("LC_ALL", "C")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout kills helpers it started too.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| self.failed(format!("cannot start: {e}")))?;
        let cap = self.max_output_bytes;
        let out_reader = spawn_reader(child.stdout.take(), cap);
        let err_reader = spawn_reader(child.stderr.take(), cap);
        let status = match child.wait_timeout(self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(CommandError::TimedOut {
                    command_line: self.command_line(),
                    seconds: self.timeout.as_secs(),
                });
            }
            Err(e) => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(self.failed(format!("cannot wait for it: {e}")));
            }
        };
        // The group may still hold the pipes open (a daemonised helper); end it.
        kill_group(child.id());
        let (stdout, out_cut) = out_reader.join().unwrap_or_default();
        let (stderr, err_cut) = err_reader.join().unwrap_or_default();
        Ok(CommandOutput {
            argv: self.argv.clone(),
            status: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            truncated: out_cut || err_cut,
        })
    }

    fn replay(&self, root: &HostRoot) -> Result<CommandOutput, CommandError> {
        let recorded = recorded_commands(root).map_err(|e| self.failed(e))?;
        let program_known = recorded
            .iter()
            .any(|r| r.argv.first().map(String::as_str) == Some(self.program()));
        if !program_known {
            return Err(CommandError::NotInstalled {
                program: self.program().to_string(),
            });
        }
        let Some(entry) = recorded.into_iter().find(|r| r.argv == self.argv) else {
            return Err(self.failed(format!(
                "no recorded output for this command line in {RECORDED_COMMANDS_PATH} under the root"
            )));
        };
        if entry.hang {
            return Err(CommandError::TimedOut {
                command_line: self.command_line(),
                seconds: self.timeout.as_secs(),
            });
        }
        let stdout = match &entry.stdout_file {
            Some(file) => {
                let host_path = format!("/{}", file.trim_start_matches('/'));
                root.read_text(&host_path)
                    .map_err(|e| self.failed(e.to_string()))?
                    .ok_or_else(|| {
                        self.failed(format!("recorded stdout_file {host_path} is missing"))
                    })?
            }
            None => entry.stdout.unwrap_or_default(),
        };
        Ok(CommandOutput {
            argv: self.argv.clone(),
            status: Some(entry.status),
            stdout,
            stderr: entry.stderr.unwrap_or_default(),
            truncated: false,
        })
    }
}

impl CommandOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The command line for people.
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    /// The evidence artifact: the command line, its exit status, the SHA-256 of what it
    /// printed on stdout and a short excerpt of it.
    pub fn artifact(&self) -> Artifact {
        self.artifact_with_excerpt(Some(excerpt_of(&self.stdout)))
    }

    /// The artifact without quoting stdout (for output that could hold secrets or that
    /// is too noisy to quote); the hash still covers it.
    pub fn artifact_unquoted(&self) -> Artifact {
        self.artifact_with_excerpt(None)
    }

    fn artifact_with_excerpt(&self, excerpt: Option<String>) -> Artifact {
        Artifact {
            source: self.command_line(),
            kind: "command".into(),
            sha256: Some(sha256_hex(self.stdout.as_bytes())),
            excerpt,
            present: true,
            exit_status: Some(self.status.unwrap_or(-1)),
        }
    }

    /// A short reason for a failed run: the exit status and the first line of stderr.
    pub fn failure_reason(&self) -> String {
        let first = self
            .stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("(nothing on stderr)");
        match self.status {
            Some(code) => format!("`{}` exited with {code}: {first}", self.command_line()),
            None => format!("`{}` was killed by a signal: {first}", self.command_line()),
        }
    }
}

/// One recorded command in a fixture's `attestd-recorded-commands.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedCommand {
    /// The exact argv, program path first.
    argv: Vec<String>,
    /// The exit status the real tool returned.
    #[serde(default)]
    status: i32,
    /// What it printed on stdout, inline.
    stdout: Option<String>,
    /// Or a file in the fixture tree holding stdout (a path relative to the root).
    stdout_file: Option<String>,
    /// What it printed on stderr.
    stderr: Option<String>,
    /// Pretend the command hangs (replayed as a timeout).
    #[serde(default)]
    hang: bool,
    /// Where and when the output was recorded (for people; not used).
    #[allow(dead_code)]
    recorded: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedFile {
    #[serde(default)]
    command: Vec<RecordedCommand>,
}

fn recorded_commands(root: &HostRoot) -> Result<Vec<RecordedCommand>, String> {
    let Some(text) = root
        .read_text(RECORDED_COMMANDS_PATH)
        .map_err(|e| e.to_string())?
    else {
        return Ok(Vec::new());
    };
    toml::from_str::<RecordedFile>(&text)
        .map(|f| f.command)
        .map_err(|e| format!("{RECORDED_COMMANDS_PATH}: {e}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Read a stream to its end on a thread, keeping at most `cap` bytes (the rest is
/// drained so the child never blocks on a full pipe).
fn spawn_reader<R: Read + Send + 'static>(
    stream: Option<R>,
    cap: usize,
) -> std::thread::JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let Some(mut stream) = stream else {
            return (Vec::new(), false);
        };
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    if n > room {
                        truncated = true;
                    }
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        (kept, truncated)
    })
}

fn kill_group(pid: u32) {
    // SAFETY: killpg only sends a signal; a group that is already gone returns ESRCH.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn runs_without_a_shell_and_with_a_cleared_environment() {
        std::env::set_var("ATTESTD_TEST_SECRET", "hunter2");
        let out = Command::new("/usr/bin/env")
            .env("ONLY", "this")
            .run(&HostRoot::live())
            .unwrap();
        assert!(out.success());
        assert!(out.stdout.contains("ONLY=this"));
        assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
        let a = out.artifact();
        assert_eq!(a.kind, "command");
        assert_eq!(a.exit_status, Some(0));
        assert_eq!(a.source, "/usr/bin/env");
        // A `;` is an argument, not a command separator.
        let out = Command::new("/bin/echo")
            .arg("a; touch /tmp/x")
            .run(&HostRoot::live())
            .unwrap();
        assert_eq!(out.stdout, "a; touch /tmp/x\n");
    }

    #[test]
    fn missing_programs_and_relative_paths_are_named() {
        let e = Command::new("/usr/bin/no-such-tool")
            .run(&HostRoot::live())
            .unwrap_err();
        assert!(matches!(e, CommandError::NotInstalled { .. }), "{e}");
        let e = Command::new("ls").run(&HostRoot::live()).unwrap_err();
        assert!(e.to_string().contains("absolute path"), "{e}");
    }

    #[test]
    fn a_hung_command_and_its_children_are_killed_at_the_timeout() {
        let start = Instant::now();
        let e = Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .timeout(Duration::from_millis(300))
            .run(&HostRoot::live())
            .unwrap_err();
        assert!(matches!(e, CommandError::TimedOut { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_is_capped_and_flagged() {
        let out = Command::new("/usr/bin/head")
            .args(["-c", "100000", "/dev/zero"])
            .max_output_bytes(1000)
            .run(&HostRoot::live())
            .unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.truncated);
    }

    #[test]
    fn fixture_roots_replay_recorded_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rec")).unwrap();
        std::fs::write(dir.path().join("rec/tracking.csv"), "A,1\n").unwrap();
        std::fs::write(
            dir.path().join("attestd-recorded-commands.toml"),
            r#"
[[command]]
argv = ["/usr/bin/chronyc", "-c", "tracking"]
stdout_file = "rec/tracking.csv"
recorded = "chrony 4.3 on Debian 12"

[[command]]
argv = ["/usr/sbin/nft", "-j", "list", "ruleset"]
status = 1
stderr = "Operation not permitted"

[[command]]
argv = ["/usr/bin/slow"]
hang = true
"#,
        )
        .unwrap();
        let root = HostRoot::new(dir.path());
        let out = Command::new("/usr/bin/chronyc")
            .args(["-c", "tracking"])
            .run(&root)
            .unwrap();
        assert_eq!(out.stdout, "A,1\n");
        let out = Command::new("/usr/sbin/nft")
            .args(["-j", "list", "ruleset"])
            .run(&root)
            .unwrap();
        assert!(!out.success());
        assert!(out.failure_reason().contains("Operation not permitted"));
        let e = Command::new("/usr/sbin/nft").run(&root).unwrap_err();
        assert!(e.to_string().contains("no recorded output"), "{e}");
        let e = Command::new("/usr/sbin/auditctl").run(&root).unwrap_err();
        assert!(matches!(e, CommandError::NotInstalled { .. }));
        let e = Command::new("/usr/bin/slow").run(&root).unwrap_err();
        assert!(matches!(e, CommandError::TimedOut { .. }));
        assert_eq!(
            Command::locate(&root, &["/usr/sbin/iptables-save", "/usr/sbin/nft"]).as_deref(),
            Some("/usr/sbin/nft")
        );
    }
}
