//! Bundle time and peak memory over a simulated year: a run every 15 minutes of every
//! enabled collector (benches/sim), then the real release binary writes the year's
//! bundle (directory and .tar.gz) and verifies it. Peak RSS is the child's
//! `ru_maxrss` from wait4. Targets: bundle under 10 s, peak RSS under 100 MB.
//!
//! `cargo bench --bench bundle_year` (ATTESTD_BENCH_RUNS for a shorter period;
//! ATTESTD_BENCH_DB_DIR keeps and reuses the simulated database; ATTESTD_BENCH_CHURN=1
//! makes every password_policy observation new evidence, the worst case). Prints figures; it
//! asserts nothing.

#[path = "sim/mod.rs"]
mod sim;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Run the binary, returning (seconds, peak RSS in MB, success).
fn measure(args: &[&std::ffi::OsStr]) -> (f64, f64, bool, String) {
    let began = Instant::now();
    let log = tempfile::NamedTempFile::new().unwrap();
    // Reaped by wait4 below (std's wait cannot report rusage).
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_attestd"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; usage is a valid out-pointer.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    let secs = began.elapsed().as_secs_f64();
    let err = std::fs::read_to_string(log.path()).unwrap_or_default();
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (secs, usage.ru_maxrss as f64 / 1024.0, ok, err)
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn main() {
    let runs: u64 = std::env::var("ATTESTD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(365 * 96);
    let work = tempfile::tempdir().unwrap();
    let db_dir = std::env::var_os("ATTESTD_BENCH_DB_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| work.path().join("db"));
    let db = db_dir.join("attestd.db");
    // A past year, so that the whole period has happened (bundles stop at now).
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2025, 1, 1, 0, 0, 0).unwrap();
    if db.exists() {
        println!("bundle_year: reusing {}", db.display());
    } else {
        let s = sim::simulate(start, runs, &work.path().join("host"), &db, true);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let evidence: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM ledger WHERE kind = 'evidence'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))
            .unwrap();
        println!("bundle_year: {rows} ledger rows, {evidence} of them evidence");
        println!(
            "bundle_year: simulated {} runs of {} collectors ({}) in {:.1} s, {} drift events",
            s.runs,
            s.collectors.len(),
            s.collectors.join(", "),
            s.seconds,
            s.drift_events
        );
    }
    let config = work.path().join("attestd.toml");
    std::fs::write(&config, "[daemon]\npolicy_dirs = []\n").unwrap();
    let days = (runs / 96).max(1);
    let from = start.date_naive().to_string();
    let to = (start.date_naive() + chrono::Duration::days(days as i64 - 1)).to_string();
    for out in ["year", "year.tar.gz"] {
        let path = work.path().join(out);
        let (secs, rss, ok, err) = measure(&[
            "bundle".as_ref(),
            "--from".as_ref(),
            from.as_ref(),
            "--to".as_ref(),
            to.as_ref(),
            "--samples".as_ref(),
            "10".as_ref(),
            "--seed".as_ref(),
            "1".as_ref(),
            "--db".as_ref(),
            db.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
            "--out".as_ref(),
            path.as_os_str(),
        ]);
        assert!(ok, "bundle failed: {err}");
        let bytes = if path.is_dir() {
            dir_bytes(&path)
        } else {
            std::fs::metadata(&path).unwrap().len()
        };
        println!(
            "bundle_year: bundle {out}: {secs:.2} s, peak RSS {rss:.1} MB, {:.1} MB written (targets: < 10 s, < 100 MB)",
            bytes as f64 / 1e6
        );
        let (secs, rss, ok, err) = measure(&["verify".as_ref(), path.as_os_str()]);
        println!(
            "bundle_year: verify {out}: {secs:.2} s, peak RSS {rss:.1} MB, {}",
            if ok {
                "intact".to_string()
            } else {
                format!("FAILED: {err}")
            }
        );
    }
}
