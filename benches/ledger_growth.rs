//! Database growth over a simulated year: a run every 15 minutes of both built-in
//! collectors against a fixture host whose load average and uptime change every run
//! (so availability evidence is new each time, as on a real host), with a password
//! policy change once a month (drift). Real collectors, real policies, real SQLite.
//!
//! `cargo bench --bench ledger_growth` (set ATTESTD_BENCH_RUNS for a shorter run).
//! Prints bytes on disk and insert time; it asserts nothing.

use attestd::clock::Clock;
use attestd::config::{Config, EMBEDDED_DEFAULT};
use attestd::engine::Engine;
use attestd::policy::PolicySet;
use attestd::store::Store;
use attestd_collectors::HostRoot;
use chrono::{DateTime, TimeZone, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct SimulatedClock(Mutex<DateTime<Utc>>);

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn main() {
    let runs: u64 = std::env::var("ATTESTD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(365 * 96);
    let work = tempfile::tempdir().unwrap();
    let host = work.path().join("host");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/hardened"),
        &host,
    );
    // ATTESTD_BENCH_DB_DIR keeps the database for inspection.
    let db_dir = std::env::var_os("ATTESTD_BENCH_DB_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| work.path().join("db"));
    let mut store = Store::open(&db_dir.join("attestd.db")).unwrap();
    let config = Config {
        policy_dirs: vec![],
        ..Config::parse("embedded", EMBEDDED_DEFAULT).unwrap()
    };
    let policies = PolicySet::load(&config).unwrap();
    let engine = Engine::new(Arc::new(config), Arc::new(policies), HostRoot::new(&host));
    let names = vec!["password_policy".to_string(), "availability".to_string()];
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = SimulatedClock(Mutex::new(start));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let defs = host.join("etc/login.defs");
    let original_defs = std::fs::read_to_string(&defs).unwrap();
    let mut load = 0.30f64;
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut drift_events = 0usize;
    let began = Instant::now();
    for i in 0..runs {
        let now = start + chrono::Duration::minutes(15 * i as i64);
        *clock.0.lock().unwrap() = now;
        // A bounded random walk of the 15-minute load average (it moves by a few
        // hundredths between samples), two decimals as the kernel prints.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        load = (load + ((seed % 7) as f64 - 3.0) / 100.0).clamp(0.0, 4.0);
        std::fs::write(
            host.join("proc/loadavg"),
            format!("{load:.2} {load:.2} {load:.2} 1/200 4242\n"),
        )
        .unwrap();
        std::fs::write(host.join("proc/uptime"), format!("{} 0\n", 86400 + i * 900)).unwrap();
        // Someone weakens PASS_MAX_DAYS for a day each month.
        let day = i / 96;
        let weakened = day % 30 == 10;
        let text = if weakened {
            original_defs.replace("365", "99999")
        } else {
            original_defs.clone()
        };
        std::fs::write(&defs, text).unwrap();
        let run = rt.block_on(engine.run(
            &names,
            "schedule",
            &|n| store.previous_facts(n).ok().flatten(),
            &clock,
        ));
        drift_events += store.record_run(&run).unwrap().drift.len();
    }
    let elapsed = began.elapsed();
    drop(store);
    // Fold the WAL in so the figure is the database's real size.
    let conn = rusqlite::Connection::open(db_dir.join("attestd.db")).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let bytes = dir_bytes(&db_dir);
    println!(
        "ledger_growth: {runs} runs (every 15 min, both collectors) = {:.1} simulated days",
        runs as f64 / 96.0
    );
    println!("ledger_growth: {rows} ledger rows, {drift_events} drift events");
    println!(
        "ledger_growth: {:.2} MB on disk ({:.0} bytes per run)",
        bytes as f64 / 1e6,
        bytes as f64 / runs as f64
    );
    println!(
        "ledger_growth: {:.1} s to collect, judge and insert ({:.2} ms per run)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / runs as f64
    );
}
