//! Collectors in a killable worker process. The daemon (and `collect`) starts one once
//! per run, as `attestd-worker collect-worker` (the small binary installed beside
//! attestd, `worker_binary::worker_exe`) or, without it, as `attestd collect-worker`, which
//! serves the same way: the worker reads every
//! request of the run (collector, root, settings, history, time) on stdin, runs the
//! collectors concurrently, one thread each, and writes each collector's evidence or
//! error back as one framed JSON message as soon as it is ready, so an answer that
//! came is never lost to a later failure. The parent sets the worker's resource limits
//! (memory, CPU time, open files) before it starts, puts it in a process group of its
//! own, and kills that group when a collector passes its timeout; a runaway parser then
//! costs a killed process, never the daemon's memory or threads, and the parent never
//! runs collector code at all.
//!
//! What a shared worker cannot tell, the parent works out with more workers:
//!
//! - a collector past its deadline: the group is killed, that collector is `error`
//!   ("timed out after N s; its worker process was killed"), every answer already read
//!   is kept, and a new worker runs the collectors still unfinished, each with its
//!   whole timeout again (an innocent collector is never failed by its neighbour; each
//!   round ends at least one collector, so a run ends);
//! - a worker that dies (memory, CPU time, a signal, a crash) with several collectors
//!   unfinished: each of them runs again in a worker of its own, so the culprit gets an
//!   `error` naming the limit it hit and the others their real evidence. A worker of one
//!   collector that dies is that collector's `error`.
//!
//! This module owns both ends of that pipe. It never judges and never stores: the
//! parent's engine does, with what comes back.

use attestd_collectors::{collector_by_name, CollectContext, Evidence, HostRoot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The hidden subcommand the worker runs as.
pub const SUBCOMMAND: &str = "collect-worker";

/// The stack of each collector thread in a worker: what the worker's main thread had
/// when it ran one collector (the usual 8 MiB `RLIMIT_STACK`), so no parser has less
/// room to recurse than before.
pub const COLLECTOR_STACK_BYTES: usize = 8 << 20;

/// The most a worker reads of its request (every collector's settings and previous
/// facts).
const MAX_REQUEST_BYTES: u64 = 128 << 20;

/// The worker's exit status when its request cannot be read.
const EXIT_UNREADABLE_REQUEST: i32 = 4;

/// The worker's exit status when it was built from other sources than its parent and
/// the parent's own binary could not be started in its place.
const EXIT_OTHER_BUILD: i32 = 5;

/// Resource limits of one worker.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Writable private memory (RLIMIT_DATA: heap and anonymous mappings), bytes, for
    /// the worker as a whole, plus `COLLECTOR_STACK_BYTES` per collector thread (the
    /// kernel counts thread stacks as data). A collector that needs more is broken or
    /// attacked: no legitimate host file set comes near it, all collectors together.
    /// Not RLIMIT_AS: the tools a collector runs inherit the limit, and Go programs
    /// (restic) reserve far more address space than they use.
    pub memory_bytes: u64,
    /// Open files (RLIMIT_NOFILE) per collector; a worker of several collectors gets
    /// the sum, so one collector's descriptors cannot make a neighbour fail.
    pub open_files: u64,
    /// Bytes of evidence one collector may hand back.
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

/// What the worker is asked to do for one collector.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// One collector of a run and the wall time it may take.
#[derive(Debug, Clone)]
pub struct Job {
    pub request: Request,
    pub timeout: Duration,
}

/// What crosses stdin: the collectors one worker runs.
#[derive(Serialize)]
struct BatchOut<'a> {
    requests: Vec<&'a Request>,
}

#[derive(Deserialize)]
struct BatchIn {
    requests: Vec<Request>,
}

/// What the worker answers for one collector.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Evidence(Evidence),
    Error(String),
}

/// One answer on stdout: `index` (the request's place in the batch) and the length of
/// the `Reply` JSON that follows, both big-endian `u32`.
const FRAME_HEADER_BYTES: usize = 8;

/// The worker's entry point, the first thing both binaries' `main` call: when the
/// command line is exactly `PROGRAM collect-worker`, serve one batch and exit (with
/// SIGPIPE at its default, so a worker whose parent is gone ends); otherwise return.
/// Must be called before any thread starts.
///
/// Started as `PROGRAM collect-worker SOURCE_ID FALLBACK` (a worker binary other than
/// the parent's own, `spawn_unlimited`), it serves only when it was built from the
/// same sources as its parent (`SOURCE_ID`); a stale one (a `cargo build --bin
/// attestd` that left an older attestd-worker beside the new attestd) replaces itself
/// with `FALLBACK collect-worker`, the parent's own binary, so no run ever observes
/// with other collectors than the parent's.
pub fn serve_if_asked() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().take(5).collect();
    if args.get(1).map(|a| a.as_os_str()) != Some(SUBCOMMAND.as_ref()) {
        return;
    }
    match &args[..] {
        [_, _] => {}
        [_, _, id, fallback] if id.as_os_str() != SOURCE_ID => {
            exec_fallback(fallback);
            std::process::exit(EXIT_OTHER_BUILD);
        }
        [_, _, _, _] => {}
        _ => return,
    }
    // SAFETY: called before any thread starts (see above); resets one signal's
    // disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(serve());
}

/// Replace this process with `FALLBACK collect-worker` (stdin, stdout, limits and
/// process group carry over); returns only when that cannot start.
fn exec_fallback(fallback: &std::ffi::OsStr) {
    use std::os::unix::process::CommandExt;
    let _ = std::process::Command::new(fallback).arg(SUBCOMMAND).exec();
}

/// The sources this binary was built from (a hash build.rs takes of the package's and
/// its path dependencies' sources): the same in attestd and attestd-worker built
/// together, different in a worker left from another build.
pub const SOURCE_ID: &str = env!("ATTESTD_SOURCE_ID");

/// The worker's side: serve one batch from stdin. Exit code 0 when every reply was
/// written (each reply says whether its collector could observe).
pub fn serve() -> i32 {
    let mut input = Vec::new();
    if std::io::stdin()
        .take(MAX_REQUEST_BYTES)
        .read_to_end(&mut input)
        .is_err()
    {
        return 3;
    }
    let Ok(batch) = serde_json::from_slice::<BatchIn>(&input) else {
        return EXIT_UNREADABLE_REQUEST;
    };
    drop(input);
    let (tx, rx) = std::sync::mpsc::channel::<(u32, Reply)>();
    for (index, req) in batch.requests.into_iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let thread_tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("collector".into())
            .stack_size(COLLECTOR_STACK_BYTES)
            .spawn(move || {
                let reply = run(req);
                let _ = thread_tx.send((index, reply));
            });
        if let Err(e) = spawned {
            let _ = tx.send((
                index,
                Reply::Error(format!("its worker could not start a thread for it ({e})")),
            ));
        }
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    // Answers go out in the order they are ready; the loop ends when every thread has
    // sent its own.
    for (index, reply) in rx {
        let body = match serde_json::to_vec(&reply) {
            Ok(b) => b,
            Err(e) => serde_json::to_vec(&Reply::Error(format!(
                "its evidence cannot be encoded: {e}"
            )))
            .unwrap_or_default(),
        };
        drop(reply);
        let body = if u32::try_from(body.len()).is_ok() {
            body
        } else {
            serde_json::to_vec(&Reply::Error("its evidence exceeded 4 GiB".into()))
                .unwrap_or_default()
        };
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[..4].copy_from_slice(&index.to_be_bytes());
        header[4..].copy_from_slice(&(body.len() as u32).to_be_bytes());
        if out.write_all(&header).is_err() || out.write_all(&body).is_err() || out.flush().is_err()
        {
            return 3;
        }
    }
    0
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

/// One job's outcome and when it was settled, from the start of `observe_all`.
pub type Settled = (Result<Evidence, String>, Duration);

/// What `observe_all` hands back.
#[derive(Debug)]
pub struct Observed {
    /// One per job, in the jobs' order.
    pub results: Vec<Settled>,
    /// How many worker processes the run took: 1 when nothing went wrong.
    pub workers_started: usize,
    /// Whether the first round ran in the worker started beforehand (`Prestarted`).
    pub used_prestarted: bool,
}

/// The parent's side: run every job in one worker started from `exe`, each under its
/// own timeout, under `limits`. Every failure is an error naming what happened, and
/// only the collectors it concerns get it (see the module's comment).
pub async fn observe_all(
    exe: &Path,
    jobs: Vec<Job>,
    limits: Limits,
    prestarted: Option<Prestarted>,
) -> Observed {
    // A worker started beforehand for exactly these jobs has been running them since
    // it was handed them: the collectors' times count from then.
    let all: Vec<usize> = (0..jobs.len()).collect();
    let mut prestarted = prestarted.filter(|p| p.fits(&jobs, &all, limits));
    let start = prestarted
        .as_ref()
        .map_or_else(Instant::now, |p| p.handed_at);
    let jobs = Arc::new(jobs);
    let mut results: Vec<Option<Settled>> = (0..jobs.len()).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..jobs.len()).collect();
    let mut workers_started = 0;
    let mut used_prestarted = false;
    while !pending.is_empty() {
        workers_started += 1;
        let round = one_worker(exe, &jobs, &pending, limits, prestarted.take()).await;
        used_prestarted |= round.prestarted;
        for (i, outcome, at) in round.answers {
            results[i] = Some((outcome, at - start));
        }
        pending.retain(|&i| results[i].is_none());
        match round.end {
            End::Answered => {}
            End::TimedOut(late) => {
                let now = start.elapsed();
                for i in late {
                    results[i] = Some((Err(timed_out(&jobs[i])), now));
                }
                pending.retain(|&i| results[i].is_none());
            }
            End::Failed(reason) if round.started <= 1 => {
                // A worker of one collector: the failure is its own. (A worker that
                // could not start at all fails every collector alike.)
                let now = start.elapsed();
                for &i in &pending {
                    results[i] = Some((Err(reason.clone()), now));
                }
                pending.clear();
            }
            End::Failed(_) => {
                // Which collector killed a shared worker is unknown (even with one left
                // unfinished: a finished one may have held the memory): each unfinished
                // one runs again alone, and its own worker's end is its answer. So an
                // error naming a limit always comes from a worker of that collector.
                let mut alone = tokio::task::JoinSet::new();
                for &i in &pending {
                    let (exe, jobs) = (exe.to_path_buf(), jobs.clone());
                    alone.spawn(async move { (i, observe_alone(&exe, &jobs, i, limits).await) });
                }
                workers_started += pending.len();
                while let Some(done) = alone.join_next().await {
                    if let Ok((i, outcome)) = done {
                        results[i] = Some((outcome, start.elapsed()));
                    }
                }
                for &i in &pending {
                    if results[i].is_none() {
                        let reason = "its worker's supervisor task failed (this is a bug in attestd; please report it)";
                        results[i] = Some((Err(reason.into()), start.elapsed()));
                    }
                }
                pending.clear();
            }
        }
    }
    Observed {
        results: results
            .into_iter()
            .map(|r| r.expect("every job settled"))
            .collect(),
        workers_started,
        used_prestarted,
    }
}

/// Job `i` in a worker of its own: its answer, its timeout or the worker's end.
async fn observe_alone(
    exe: &Path,
    jobs: &[Job],
    i: usize,
    limits: Limits,
) -> Result<Evidence, String> {
    let round = one_worker(exe, jobs, &[i], limits, None).await;
    if let Some((_, outcome, _)) = round.answers.into_iter().next() {
        return outcome;
    }
    match round.end {
        End::TimedOut(_) => Err(timed_out(&jobs[i])),
        End::Failed(reason) => Err(reason),
        End::Answered => Err("its worker ended without an answer".into()),
    }
}

fn timed_out(job: &Job) -> String {
    format!(
        "timed out after {} s; its worker process was killed (raise timeout_seconds in [collectors.{}] if the host is slow)",
        job.timeout.as_secs(),
        job.request.collector
    )
}

/// How one worker ended.
enum End {
    /// Every collector it ran answered.
    Answered,
    /// These collectors passed their deadline; the worker was killed.
    TimedOut(Vec<usize>),
    /// It could not start, or ended before every collector answered: why.
    Failed(String),
}

struct Round {
    /// (job, outcome, when it came).
    answers: Vec<(usize, Result<Evidence, String>, Instant)>,
    end: End,
    /// Collectors the worker was started with (0 when it could not start).
    started: usize,
    /// Whether the worker was the one started beforehand.
    prestarted: bool,
}

/// The limits of a worker running `ids`: the memory limit plus a stack per collector
/// thread, the sum of the collectors' CPU budgets (each its timeout plus one second:
/// concurrent threads add up their CPU time, and no legitimate collector uses more CPU
/// than wall time), and open files per collector. The wall timeouts stay the guard that
/// names the collector; the shared limits only stop what escapes them.
fn worker_limits(jobs: &[Job], ids: &[usize], limits: Limits) -> (u64, u64, u64) {
    limits_for(ids.iter().map(|&i| jobs[i].timeout), limits)
}

/// `worker_limits` for collectors with these timeouts.
fn limits_for(
    timeouts: impl ExactSizeIterator<Item = Duration>,
    limits: Limits,
) -> (u64, u64, u64) {
    let n = timeouts.len() as u64;
    let memory = limits
        .memory_bytes
        .saturating_add(n.saturating_mul(COLLECTOR_STACK_BYTES as u64));
    let cpu = timeouts
        .map(|t| t.as_secs().saturating_add(1))
        .fold(0u64, u64::saturating_add);
    let files = limits.open_files.saturating_mul(n.max(1));
    (memory, cpu, files)
}

/// Start a worker process under the given limits; it waits for its request on stdin.
/// Must be called within a tokio runtime.
fn spawn_worker(
    exe: &Path,
    memory: u64,
    cpu_seconds: u64,
    open_files: u64,
) -> std::io::Result<tokio::process::Child> {
    let child = spawn_unlimited(exe)?;
    lower_worker_limits(&child, memory, cpu_seconds, open_files);
    Ok(child)
}

/// Start a worker process with the limits it inherits; it waits for its request on
/// stdin, and `lower_worker_limits` must be in force before that is written.
fn spawn_unlimited(exe: &Path) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg(SUBCOMMAND);
    // A binary other than this one (attestd-worker) is told which sources it must have
    // been built from, and what to run instead when it was not (`serve_if_asked`).
    if let Ok(own) = std::env::current_exe() {
        if own != exe {
            cmd.arg(SOURCE_ID).arg(own);
        }
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        // The worker inherits the daemon's environment (HOME, TMPDIR, TZ): collectors'
        // tools need it, and the command runner clears it for each tool it starts.
        .process_group(0)
        .kill_on_drop(true);
    // No code runs between fork and exec (that would make std fork the whole parent,
    // 1-4 ms here, instead of posix_spawn's vfork): the limits are set on the started
    // worker with prlimit(2). It runs no collector before they are in force: it waits
    // for its request on stdin, which is written only after they are set.
    cmd.spawn()
}

/// Lower a started worker's limits (prlimit(2)), before its requests are written.
fn lower_worker_limits(
    child: &tokio::process::Child,
    memory: u64,
    cpu_seconds: u64,
    open_files: u64,
) {
    if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
        // A sandbox that refuses prlimit (a stricter unit than ours) still gets the
        // timeout's kill; the limits are defence in depth. Lowering only: a limit
        // above the inherited hard limit is clamped to it.
        let _ = lower_limit(pid, libc::RLIMIT_DATA, memory, memory);
        let _ = lower_limit(
            pid,
            libc::RLIMIT_CPU,
            cpu_seconds,
            cpu_seconds.saturating_add(1),
        );
        let _ = lower_limit(pid, libc::RLIMIT_NOFILE, open_files, open_files);
    }
}

/// A worker process started before anything about the run is known (`attestd
/// collect` starts one before it reads its config), so that its exec, dynamic loading
/// and relocation (2 to 3 ms) overlap the parent's start-up. It waits on stdin and
/// runs nothing until `Prestarted::start_on` has set its limits and handed it its
/// requests; dropped unused, it is killed and reaped.
pub struct Spare {
    child: tokio::process::Child,
}

impl Spare {
    /// Start one. `None` when it cannot start (the run then starts its own worker and
    /// reports why that failed). Must be called within a tokio runtime.
    pub fn start(exe: &Path) -> Option<Spare> {
        spawn_unlimited(exe).ok().map(|child| Spare { child })
    }

    /// Its process id (`None` once it has been reaped).
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A worker started, and handed its requests, before the run that uses it is set up,
/// so that its start-up (exec, dynamic loading, relocation: a few ms) and its
/// collectors overlap the parent's loading of the policies. It is used for the first
/// round of a run whose requests are byte for byte the ones it was handed, under the
/// same limits; otherwise it is killed on drop and a worker is started as usual. It
/// never changes what runs or under which limits.
pub struct Prestarted {
    child: tokio::process::Child,
    /// The batch it was handed, as written.
    batch: Vec<u8>,
    limits: (u64, u64, u64),
    /// The requests' time (every request of a batch has the same).
    now: DateTime<Utc>,
    /// When it was handed them: its collectors' deadlines count from here.
    handed_at: Instant,
    /// Writes the batch (a worker killed before it read it ends the write).
    writer: tokio::task::JoinHandle<()>,
}

impl Prestarted {
    /// Start a worker for `jobs` (the ones the engine's `worker_jobs` gives) under `limits`
    /// (the same the run computes) and hand it their requests now. `None` when there
    /// is nothing to run or it cannot start: the run then starts its own and reports
    /// the error. Must be called within a tokio runtime.
    pub fn start(exe: &Path, jobs: &[Job], limits: Limits) -> Option<Prestarted> {
        Prestarted::start_on(Spare::start(exe)?, jobs, limits)
    }

    /// As `start`, on a worker that is already running: its limits are lowered to the
    /// run's, then it is handed the requests. `None` (and `spare` killed) when there is
    /// nothing to run. Must be called within a tokio runtime.
    pub fn start_on(spare: Spare, jobs: &[Job], limits: Limits) -> Option<Prestarted> {
        let now = jobs.first()?.request.now;
        let ids: Vec<usize> = (0..jobs.len()).collect();
        let batch = encode_batch(jobs, &ids).ok()?;
        let (memory, cpu, files) = worker_limits(jobs, &ids, limits);
        let mut child = spare.child;
        lower_worker_limits(&child, memory, cpu, files);
        let writer = hand_requests(&mut child, batch.clone());
        Some(Prestarted {
            child,
            batch,
            limits: (memory, cpu, files),
            now,
            handed_at: Instant::now(),
            writer,
        })
    }

    /// The time its requests carry.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Was it started for a worker running `ids` of `jobs` under `limits`?
    fn fits(&self, jobs: &[Job], ids: &[usize], limits: Limits) -> bool {
        self.limits == worker_limits(jobs, ids, limits)
            && encode_batch(jobs, ids).is_ok_and(|b| b == self.batch)
    }
}

/// Write a started worker's requests to its stdin. The worker reads them whole before
/// it runs anything; it may die first, and then its exit status says why.
fn hand_requests(child: &mut tokio::process::Child, input: Vec<u8>) -> tokio::task::JoinHandle<()> {
    let mut stdin = child.stdin.take().expect("a worker's stdin is piped");
    tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    })
}

/// The request bytes of a worker running `ids`.
fn encode_batch(jobs: &[Job], ids: &[usize]) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&BatchOut {
        requests: ids.iter().map(|&i| &jobs[i].request).collect(),
    })
}

/// Start one worker for `ids` and read its answers until all came, one passed its
/// deadline, or the worker ended. `prestarted`, when given, was started for exactly
/// these requests and limits (`observe_all` checks) and already has them.
async fn one_worker(
    exe: &Path,
    jobs: &[Job],
    ids: &[usize],
    limits: Limits,
    prestarted: Option<Prestarted>,
) -> Round {
    let failed = |reason: String| Round {
        answers: Vec::new(),
        end: End::Failed(reason),
        started: 0,
        prestarted: false,
    };
    let (memory, cpu_seconds, open_files) = worker_limits(jobs, ids, limits);
    let was_prestarted = prestarted.is_some();
    let (mut child, spawned_at, writer) = match prestarted {
        Some(p) => (p.child, p.handed_at, p.writer),
        None => {
            let input = match encode_batch(jobs, ids) {
                Ok(v) => v,
                Err(e) => return failed(format!("cannot encode the request: {e}")),
            };
            match spawn_worker(exe, memory, cpu_seconds, open_files) {
                Ok(mut c) => {
                    let writer = hand_requests(&mut c, input);
                    (c, Instant::now(), writer)
                }
                Err(e) => {
                    return failed(format!(
                        "cannot start the collector worker {}: {e}",
                        exe.display()
                    ))
                }
            }
        }
    };
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let mut answers = Vec::new();
    let mut open: Vec<usize> = ids.to_vec();
    let end = loop {
        let deadline = open
            .iter()
            .map(|&i| spawned_at + jobs[i].timeout)
            .min()
            .expect("a worker has a collector left");
        tokio::select! {
            frame = read_frame(&mut stdout, limits.max_reply_bytes) => match frame {
                Ok(Some((index, reply))) => {
                    let Some(&i) = usize::try_from(index).ok().and_then(|x| ids.get(x)) else {
                        continue;
                    };
                    let Some(at) = open.iter().position(|&o| o == i) else {
                        continue;
                    };
                    open.swap_remove(at);
                    answers.push((i, reply, Instant::now()));
                    if open.is_empty() {
                        break End::Answered;
                    }
                }
                Ok(None) | Err(_) => break End::Failed(String::new()),
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                let late = open.iter().copied().filter(|&i| spawned_at + jobs[i].timeout <= now).collect();
                break End::TimedOut(late);
            }
        }
    };
    writer.abort();
    let end = match end {
        End::TimedOut(mut late) => {
            // Answers written before the kill are still in the pipe: keep them (a late
            // collector that made it is not late).
            kill_group(pid);
            let drain = async {
                while let Ok(Some((index, reply))) =
                    read_frame(&mut stdout, limits.max_reply_bytes).await
                {
                    let Some(&i) = usize::try_from(index).ok().and_then(|x| ids.get(x)) else {
                        continue;
                    };
                    if let Some(at) = open.iter().position(|&o| o == i) {
                        open.swap_remove(at);
                        answers.push((i, reply, Instant::now()));
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
            late.retain(|i| open.contains(i));
            if open.is_empty() {
                End::Answered
            } else {
                End::TimedOut(late)
            }
        }
        End::Failed(_) => {
            // The pipe closed with collectors unanswered: the worker ended. Its status
            // names the limit it hit.
            let status = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            kill_group(pid);
            End::Failed(match status {
                Ok(Ok(status)) => died(&status, limits.memory_bytes, cpu_seconds),
                Ok(Err(e)) => format!("cannot wait for the worker: {e}"),
                Err(_) => "its worker closed its answers and did not exit; it was killed".into(),
            })
        }
        other => other,
    };
    // Done, or past a deadline: the worker and whatever it started go.
    kill_group(pid);
    if !matches!(end, End::Answered) {
        let _ = child.wait().await;
    }
    // A worker that answered everything is not waited for (its exit, unmapping its
    // memory, is off the run's path): dropping it leaves the reaping to tokio.
    Round {
        answers,
        end,
        started: ids.len(),
        prestarted: was_prestarted,
    }
}

/// Read one answer: `None` at the end of the stream. A body over `max` bytes is
/// skipped and becomes that collector's error.
async fn read_frame<R: AsyncRead + Unpin>(
    stdout: &mut R,
    max: usize,
) -> std::io::Result<Option<(u32, Result<Evidence, String>)>> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match stdout.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let index = u32::from_be_bytes(header[..4].try_into().expect("4 bytes"));
    let len = u32::from_be_bytes(header[4..].try_into().expect("4 bytes")) as u64;
    if len > max as u64 {
        let skipped =
            tokio::io::copy(&mut (&mut *stdout).take(len), &mut tokio::io::sink()).await?;
        if skipped < len {
            return Ok(None);
        }
        return Ok(Some((
            index,
            Err(format!(
                "its evidence exceeded the worker's limit of {} MiB",
                max >> 20
            )),
        )));
    }
    let mut body = vec![0u8; len as usize];
    match stdout.read_exact(&mut body).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let outcome = match serde_json::from_slice::<Reply>(&body) {
        Ok(Reply::Evidence(e)) => Ok(e),
        Ok(Reply::Error(e)) => Err(e),
        Err(_) => Err("the worker's answer is not valid (it was cut off or corrupted)".into()),
    };
    Ok(Some((index, outcome)))
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
        None if status.code() == Some(EXIT_OTHER_BUILD) => {
            "its worker binary was built from other sources than attestd, and attestd's own binary could not be started in its place; build or install attestd and attestd-worker together".into()
        }
        None if status.code() == Some(EXIT_UNREADABLE_REQUEST) => {
            "its worker could not read its request (this is a bug in attestd; please report it)"
                .into()
        }
        None => format!(
            "its worker exited with status {} without an answer",
            status.code().unwrap_or(-1)
        ),
    }
}

/// Lower `resource` of process `pid` to `soft`/`hard`, never above the limit it has
/// (raising needs a capability the service does not have).
fn lower_limit(
    pid: libc::pid_t,
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> std::io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit reads the limit into a local struct (no new limit given).
    if unsafe { libc::prlimit(pid, resource, std::ptr::null(), &mut current) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let hard = hard.min(current.rlim_max);
    let limit = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: prlimit with a valid pointer to a local struct and no old-limit output.
    if unsafe { libc::prlimit(pid, resource, &limit, std::ptr::null_mut()) } != 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, secs: u64) -> Job {
        Job {
            request: Request {
                collector: name.into(),
                root: None,
                settings: serde_json::Value::Null,
                previous_facts: None,
                measurements: None,
                now: DateTime::<Utc>::UNIX_EPOCH,
            },
            timeout: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_shared_worker_adds_up_cpu_budgets_stacks_and_files() {
        let jobs = vec![job("ssh", 30), job("tls", 10), job("backup", 600)];
        let limits = Limits::default();
        let (memory, cpu, files) = worker_limits(&jobs, &[0, 1, 2], limits);
        assert_eq!(memory, (1 << 30) + 3 * (8 << 20));
        assert_eq!(cpu, 31 + 11 + 601);
        assert_eq!(files, 3 * 256);
        // A worker of one collector has today's limits (plus its thread's stack).
        assert_eq!(
            worker_limits(&jobs, &[1], limits),
            ((1 << 30) + (8 << 20), 11, 256)
        );
        // Huge timeouts saturate instead of wrapping.
        let huge = vec![job("a", u64::MAX), job("b", u64::MAX)];
        assert_eq!(worker_limits(&huge, &[0, 1], limits).1, u64::MAX);
    }

    #[test]
    fn lowering_a_limit_never_asks_for_more_than_the_hard_limit() {
        // Of a child, so this test process keeps its limits.
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
        // Asking for more than the hard limit is clamped, not refused; the limit is set
        // on a started child, as on a worker waiting for its request.
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "read go; ulimit -n; ulimit -t"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let want = current.rlim_max.saturating_add(1000);
        lower_limit(pid, libc::RLIMIT_NOFILE, want, want).unwrap();
        lower_limit(pid, libc::RLIMIT_CPU, 7, 8).unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let shown = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let expected = if current.rlim_max == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            current.rlim_max.to_string()
        };
        assert_eq!(shown, format!("{expected}\n7"));
    }
}
