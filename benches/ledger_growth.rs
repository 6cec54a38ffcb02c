//! Database growth over a simulated year (benches/sim): a run every 15 minutes of the
//! password_policy and availability collectors against a fixture host whose load
//! average and uptime change every run, with a password policy change once a month
//! (drift). Real collectors, real policies, real SQLite.
//!
//! `cargo bench --bench ledger_growth` (set ATTESTD_BENCH_RUNS for a shorter run).
//! Prints bytes on disk and insert time; it asserts nothing.

#[path = "sim/mod.rs"]
mod sim;

use std::path::Path;

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
    // ATTESTD_BENCH_DB_DIR keeps the database for inspection.
    let db_dir = std::env::var_os("ATTESTD_BENCH_DB_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| work.path().join("db"));
    let start = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, 0, 0, 0).unwrap();
    let sim = sim::simulate(
        start,
        runs,
        &work.path().join("host"),
        &db_dir.join("attestd.db"),
        false,
    );
    let drift_events = sim.drift_events;
    let elapsed = std::time::Duration::from_secs_f64(sim.seconds);
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
