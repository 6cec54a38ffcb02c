//! A simulated year shared by the benchmarks: a run every 15 minutes of every enabled
//! collector against a copied fixture host whose load average and uptime change every
//! run (so availability evidence is new each time, as on a real host), with a password
//! policy weakened for one day a month (drift). Real collectors, real policies, real
//! SQLite; the clock is injected.

use attestd::clock::Clock;
use attestd::config::{Config, EMBEDDED_DEFAULT};
use attestd::engine::Engine;
use attestd::policy::PolicySet;
use attestd::store::{NoHook, Store};
use attestd_collectors::HostRoot;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex};

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

/// What a simulation produced (each bench prints what it needs).
#[allow(dead_code)]
pub struct Simulated {
    pub runs: u64,
    pub drift_events: usize,
    pub collectors: Vec<String>,
    pub seconds: f64,
}

/// Runs from `start`, every 15 minutes, into `db`; `host` is a scratch
/// directory for the fixture copy. With `all_collectors` every enabled collector runs,
/// else only password_policy and availability.
pub fn simulate(
    start: DateTime<Utc>,
    runs: u64,
    host: &Path,
    db: &Path,
    all_collectors: bool,
) -> Simulated {
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/hardened"),
        host,
    );
    let mut store = Store::open(db).unwrap();
    let text =
        format!("{EMBEDDED_DEFAULT}\n[collectors.availability]\nschedule = \"*/15 * * * *\"\n")
            .replace(
                "[collectors.availability]\nschedule = \"*/5 * * * *\"\n",
                "",
            );
    let config = Config {
        policy_dirs: vec![],
        ..Config::parse("embedded", &text).unwrap()
    };
    let names = if all_collectors {
        config.selected_collectors(&[]).unwrap()
    } else {
        vec!["password_policy".to_string(), "availability".to_string()]
    };
    let policies = PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap();
    let engine = Engine::new(Arc::new(config), Arc::new(policies), HostRoot::new(host));
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
    let churn = std::env::var_os("ATTESTD_BENCH_CHURN").is_some_and(|v| v == "1");
    let began = std::time::Instant::now();
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
        let mut text = if weakened {
            original_defs.replace("365", "99999")
        } else {
            original_defs.clone()
        };
        // ATTESTD_BENCH_CHURN=1: a comment that changes every run, so the file's hash
        // and so every password_policy observation is new evidence (the worst case).
        if churn {
            text.push_str(&format!("# touched by run {i}\n"));
        }
        std::fs::write(&defs, text).unwrap();
        let run = rt.block_on(engine.run(
            &names,
            "schedule",
            &|n| store.previous_facts(n).ok().flatten(),
            &clock,
        ));
        drift_events += store.record_run(&run, &mut NoHook).unwrap().drift.len();
    }
    Simulated {
        runs,
        drift_events,
        collectors: names,
        seconds: began.elapsed().as_secs_f64(),
    }
}
