//! Collectors in a killable worker process. The daemon (and `collect`) re-executes its
//! own binary as `attestd collect-worker` for each built-in collector of a run: the
//! worker reads one request (collector, root, settings, history, time) on stdin, runs
//! the collector, writes its evidence or its error as JSON on stdout and exits. The
//! parent sets the worker's resource limits (memory, CPU time, open files) before
//! it starts, puts it in a process group of its own, and kills that group at the
//! collector's timeout; a runaway parser then costs one killed process, never the
//! daemon's memory or threads, and the parent never runs collector code at all.
//!
//! This module owns both ends of that pipe. It never judges and never stores: the
//! parent's engine does, with what comes back.

use attestd_collectors::{collector_by_name, CollectContext, Evidence, HostRoot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The hidden subcommand the worker runs as.
pub const SUBCOMMAND: &str = "collect-worker";

/// Resource limits of one worker.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Writable private memory (RLIMIT_DATA: heap and anonymous mappings), bytes. A
    /// collector that needs more is broken or attacked: no legitimate host file set
    /// comes near it. Not RLIMIT_AS: the tools a collector runs inherit the limit, and
    /// Go programs (restic) reserve far more address space than they use.
    pub memory_bytes: u64,
    /// Open files (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Bytes of evidence the worker may hand back.
    pub max_reply_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: 1 << 30,
            open_files: 256,
            max_reply_bytes: 32 << 20,
        }
    }
}

/// What the worker is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub collector: String,
    /// The host root; none for the live host (`/`).
    pub root: Option<PathBuf>,
    pub settings: serde_json::Value,
    pub previous_facts: Option<serde_json::Value>,
    pub measurements: Option<serde_json::Value>,
    pub now: DateTime<Utc>,
}

impl Request {
    pub fn new(collector: &str, ctx: &CollectContext) -> Request {
        Request {
            collector: collector.to_string(),
            root: (!ctx.root.is_live()).then(|| ctx.root.base().to_path_buf()),
            settings: ctx.settings.clone(),
            previous_facts: ctx.previous_facts.clone(),
            measurements: ctx.measurements.clone(),
            now: ctx.now,
        }
    }
}

/// What the worker answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Evidence(Evidence),
    Error(String),
}

/// The worker's side: serve one request from stdin; the exit code is 0 whenever a reply
/// was written (the reply says whether the collector could observe).
pub fn serve() -> i32 {
    let mut input = Vec::new();
    if std::io::stdin()
        .take(64 << 20)
        .read_to_end(&mut input)
        .is_err()
    {
        return 3;
    }
    let reply = match serde_json::from_slice::<Request>(&input) {
        Ok(req) => run(req),
        Err(e) => Reply::Error(format!("the worker got an unreadable request: {e}")),
    };
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &reply).is_ok() && out.flush().is_ok();
    if written {
        0
    } else {
        3
    }
}

fn run(req: Request) -> Reply {
    let Some(collector) = collector_by_name(&req.collector) else {
        return Reply::Error(format!("no built-in collector `{}`", req.collector));
    };
    // A fresh byte budget for this collector run, as in-process runs get.
    let root = match &req.root {
        Some(p) => HostRoot::new(p),
        None => HostRoot::live(),
    }
    .for_collector_run();
    let ctx = CollectContext {
        root,
        settings: req.settings,
        previous_facts: req.previous_facts,
        measurements: req.measurements,
        now: req.now,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| collector.collect(&ctx))) {
        Ok(Ok(evidence)) => Reply::Evidence(evidence),
        Ok(Err(e)) => Reply::Error(e.to_string()),
        Err(_) => {
            Reply::Error("collector panicked (this is a bug in attestd; please report it)".into())
        }
    }
}

/// The parent's side: run `req` in a worker started from `exe`, under `timeout` and
/// `limits`. Every failure of the worker is an error naming what happened.
pub async fn observe(
    exe: &Path,
    req: &Request,
    timeout: Duration,
    limits: Limits,
) -> Result<Evidence, String> {
    let input = serde_json::to_vec(req).map_err(|e| format!("cannot encode the request: {e}"))?;
    let cpu_seconds = timeout.as_secs().saturating_add(1);
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        // The worker inherits the daemon's environment (HOME, TMPDIR, TZ): collectors'
        // tools need it, and the command runner clears it for each tool it starts.
        .process_group(0)
        .kill_on_drop(true);
    let (memory, open_files) = (limits.memory_bytes, limits.open_files);
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // A sandbox that refuses setrlimit (a stricter unit than ours) still gets
            // the timeout's kill; the limits are defence in depth.
            let _ = set_limit(libc::RLIMIT_DATA, memory, memory);
            let _ = set_limit(libc::RLIMIT_CPU, cpu_seconds, cpu_seconds + 1);
            let _ = set_limit(libc::RLIMIT_NOFILE, open_files, open_files);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the collector worker {}: {e}", exe.display()))?;
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let max = limits.max_reply_bytes;
    let exchange = async {
        // The worker may die before reading everything; its exit status says why.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
        let mut reply = Vec::new();
        let read = (&mut stdout)
            .take(max as u64 + 1)
            .read_to_end(&mut reply)
            .await;
        let status = child.wait().await;
        (read, reply, status)
    };
    let (read, reply, status) = match tokio::time::timeout(timeout, exchange).await {
        Ok(done) => done,
        Err(_) => {
            kill_group(pid);
            return Err(format!(
                "timed out after {} s; its worker process was killed (raise timeout_seconds in [collectors.{}] if the host is slow)",
                timeout.as_secs(),
                req.collector
            ));
        }
    };
    kill_group(pid);
    read.map_err(|e| format!("cannot read the worker's answer: {e}"))?;
    if reply.len() > max {
        return Err(format!(
            "its evidence exceeded the worker's limit of {} MiB",
            max >> 20
        ));
    }
    let status = status.map_err(|e| format!("cannot wait for the worker: {e}"))?;
    if !status.success() || reply.is_empty() {
        return Err(died(&status, memory, cpu_seconds));
    }
    match serde_json::from_slice::<Reply>(&reply) {
        Ok(Reply::Evidence(e)) => Ok(e),
        Ok(Reply::Error(e)) => Err(e),
        Err(_) => Err("the worker's answer is not valid (it was cut off or corrupted)".into()),
    }
}

/// Why a worker ended without an answer, naming the limit it hit where that is known.
fn died(status: &std::process::ExitStatus, memory: u64, cpu_seconds: u64) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(libc::SIGXCPU) => format!(
            "its worker used up its CPU time limit ({cpu_seconds} s) and was stopped"
        ),
        Some(libc::SIGKILL) => format!(
            "its worker was killed (its CPU time limit of {cpu_seconds} s ran out, or the system ran out of memory)"
        ),
        Some(libc::SIGABRT) | Some(libc::SIGSEGV) | Some(libc::SIGBUS) => format!(
            "its worker ran out of its memory limit ({} MiB) and was stopped",
            memory >> 20
        ),
        Some(sig) => format!("its worker was ended by signal {sig}"),
        None => format!(
            "its worker exited with status {} without an answer",
            status.code().unwrap_or(-1)
        ),
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit with a valid pointer to a local struct.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Kill the worker's process group (the worker and anything it started).
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on a process group we created; failure (already gone) is fine.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}
