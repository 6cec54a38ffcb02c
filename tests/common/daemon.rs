//! The real `attestd run` as a child process for integration tests: started against a
//! tree, config and database, logging to a file the test reads; signalled and stopped
//! like systemd would. Killed when dropped, so a failing test leaves no daemon behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Poll until `f` returns Some, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// The daemon as a child process, logging (plain text, level info) to a file.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Start `attestd run` with extra environment `env`. The log file is appended to,
    /// so a restarted daemon's log follows the previous one's.
    pub fn start(
        root: &Path,
        config: &Path,
        db: &Path,
        log: &Path,
        env: &[(&str, &Path)],
    ) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_attestd"));
        cmd.args(["run", "--root"])
            .arg(root)
            .arg("--config")
            .arg(config)
            .arg("--db")
            .arg(db)
            .env("ATTESTD_LOG", "info")
            // Plain text to the log file even when the tests run under systemd, and no
            // credentials but the ones a test gives.
            .env_remove("JOURNAL_STREAM")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            log: log.to_path_buf(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many times `needle` appears in the log.
    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Send a signal (`-HUP`, `-TERM`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// `attestd reload` (as the unit's ExecReload does, asserting the daemon accepted
    /// `config`), then wait until the run the reload starts is stored: the log then
    /// holds more than `runs_before` "run stored" lines.
    pub fn reload_and_wait(&self, config: &Path, runs_before: usize) {
        let out = Command::new(env!("CARGO_BIN_EXE_attestd"))
            .args(["reload", "--timeout-seconds", "30", "--pid"])
            .arg(self.child.id().to_string())
            .arg("--config")
            .arg(config)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "reload: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for(Duration::from_secs(60), || {
            (self.count("run stored") > runs_before).then_some(())
        })
        .unwrap_or_else(|| panic!("no run after the reload; log:\n{}", self.log()));
    }

    /// SIGTERM, and the exit status once it has stopped (at most 15 s).
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
        wait_for(Duration::from_secs(15), || self.child.try_wait().unwrap())
            .expect("the daemon did not stop within 15 s of SIGTERM")
    }

    /// SIGTERM, and assert a clean exit.
    pub fn stop(mut self) {
        let status = self.terminate();
        assert!(status.success(), "exit {status:?}; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
