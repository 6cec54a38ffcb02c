//! Gaps and late evidence across the fleet, with injected time (runs stored at chosen
//! times through the real pipeline, no waiting) and real parts (PostgreSQL, two
//! `attestd-server` instances on it, `attestd enroll` and `attestd push`): a host that
//! runs every 15 minutes, stops for two hours and stops pushing shows a
//! `host_not_reporting` gap from its last evidence in the fleet bundle; when its backlog
//! arrives (through the other instance) the gap is exactly the two hours it did not run,
//! no longer `host_not_reporting`, and the backlog's runs are marked late with the time
//! recorded and the time received. Both bundles verify.

mod common;
#[path = "../server/tests/support/mod.rs"]
mod pg;

use attestd::config::Config;
use attestd::policy::PolicySet;
use attestd::store::{CollectorRun, PolicySnapshot, RunInput, Store};
use chrono::{DateTime, Duration, DurationRound, Utc};
use common::*;
use pg::{admin, write_config, Server};
use std::collections::BTreeMap;
use std::path::Path;

fn policies() -> PolicySet {
    let config = Config::parse(
        attestd::config::EMBEDDED_NAME,
        attestd::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config)).unwrap()
}

/// The shipped rules with only password_policy enabled, every 15 minutes, in UTC.
fn snapshot() -> PolicySnapshot {
    let config = Config::parse(
        attestd::config::EMBEDDED_NAME,
        attestd::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    let collectors: Vec<std::sync::Arc<dyn attestd_collectors::Collector>> =
        attestd_collectors::all_collectors()
            .into_iter()
            .map(std::sync::Arc::from)
            .collect();
    let mut p = attestd::engine::policy_snapshot(&config, &policies(), &collectors);
    for (name, c) in p.collectors.iter_mut() {
        c.enabled = name == "password_policy";
        c.schedule = "*/15 * * * *".into();
    }
    p.with_time_zone(Some("UTC".into()))
}

fn run(store: &mut Store, at: DateTime<Utc>, policy: &PolicySnapshot) {
    let t = attestd::clock::rfc3339(at);
    let (outcome, verdicts) = judged_password(&policies(), Some(90), at);
    let input = RunInput {
        run_id: format!("run-{t}"),
        started_at: t.clone(),
        finished_at: t,
        trigger: "schedule".into(),
        collectors: vec![CollectorRun {
            collector: "password_policy".into(),
            version: "1".into(),
            outcome,
            duration_ms: 1,
            verdicts,
        }],
        rule_meta: BTreeMap::new(),
        policy: Some(policy.clone()),
    };
    attestd::pipeline::store(store, &input, None, None).unwrap();
}

fn host_config(dir: &Path, server: &str, ca: &Path) -> std::path::PathBuf {
    plain_config(
        dir,
        &format!(
            "\n[fleet]\nserver = {server:?}\nca_file = {:?}\nhost = \"gap-1\"\nbatch_rows = 20\n",
            ca.display().to_string()
        ),
    )
}

fn attestd_at(args: &[&str], db: &Path, config: &Path) {
    let o = attestd()
        .args(args)
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}: {:?}", text(&o));
}

/// gaps.csv's lines for collector password_policy, as (start, end, seconds, cause, ongoing).
fn gaps(bundle: &Path) -> Vec<(String, String, i64, String, bool)> {
    std::fs::read_to_string(bundle.join("gaps.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f[0] == "gap-1" && f[1] == "password_policy")
        .map(|f| {
            (
                f[2].clone(),
                f[3].clone(),
                f[4].parse().unwrap(),
                f[6].clone(),
                f[7] == "true",
            )
        })
        .collect()
}

fn bundle(config: &Path, from: &str, to: &str, out: &Path) {
    let (ok, o, e) = admin(&[
        "bundle",
        "--config",
        config.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{o}{e}");
    let v = attestd().arg("verify").arg(out).output().unwrap();
    assert!(v.status.success(), "{:?}", text(&v));
}

#[test]
fn a_host_stopped_for_two_hours_shows_that_gap_and_its_late_backlog_fills_the_rest() {
    let pg::Site { pg, dir: sdir, tls } = pg::Site::migrated();
    let (pa, pb) = (pg::free_port(), pg::free_port());
    let ca = write_config(sdir.path(), "a.toml", &pg.server_url(), pa, Some(&tls), "");
    let cb = write_config(sdir.path(), "b.toml", &pg.server_url(), pb, Some(&tls), "");
    let a = Server::start(&ca, pa);
    let b = Server::start(&cb, pb);

    let hdir = tempfile::tempdir().unwrap();
    let db = hdir.path().join("attestd.db");
    let config = host_config(hdir.path(), &a.url(), &tls.0);
    let (ok, token, err) = admin(&[
        "token",
        "create",
        "--config",
        ca.to_str().unwrap(),
        "--scope",
        "prod",
    ]);
    assert!(ok, "{err}");
    attestd_at(&["enroll", "--token", token.trim()], &db, &config);

    // Injected time: the period starts five hours before the last 15-minute boundary
    // and ends just after now (the population is the hosts enrolled before its end).
    let mut now = Utc::now();
    if now - now.duration_trunc(Duration::minutes(15)).unwrap() > Duration::minutes(14) {
        std::thread::sleep(std::time::Duration::from_secs(61));
        now = Utc::now();
    }
    let slot = now.duration_trunc(Duration::minutes(15)).unwrap();
    let p0 = slot - Duration::hours(5);
    let to = now + Duration::seconds(30);
    let policy = snapshot();
    let mut store = Store::open(&db).unwrap();
    // Runs every 15 minutes for two hours (p0 .. p0+2h), pushed to instance A.
    for i in 0..=8 {
        run(&mut store, p0 + Duration::minutes(15 * i), &policy);
    }
    attestd_at(&["push"], &db, &config);
    let stop = p0 + Duration::hours(2);
    let resume = stop + Duration::hours(2);
    let ts = |t: DateTime<Utc>| attestd::clock::rfc3339(t);

    // Before the backlog arrives: the host is not reporting from its last evidence.
    let d = tempfile::tempdir().unwrap();
    let before = d.path().join("before");
    bundle(&cb, &ts(p0), &ts(to), &before);
    let g = gaps(&before);
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0].0, ts(stop), "{g:?}");
    assert_eq!(g[0].3, "host_not_reporting", "{g:?}");
    assert!(g[0].4, "ongoing until rows arrive: {g:?}");

    // The host was stopped for two hours, then ran again (resume .. the last slot) and
    // its backlog is pushed late, through instance B.
    for i in 0..=4 {
        run(&mut store, resume + Duration::minutes(15 * i), &policy);
    }
    drop(store);
    let config_b = host_config(hdir.path(), &b.url(), &tls.0);
    let pushed = Utc::now();
    attestd_at(&["push"], &db, &config_b);
    let after = d.path().join("after");
    bundle(&ca, &ts(p0), &ts(to), &after);
    let g = gaps(&after);
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(
        (g[0].0.as_str(), g[0].1.as_str()),
        (ts(stop).as_str(), ts(resume).as_str())
    );
    assert_eq!(g[0].2, 7200, "exactly the two hours it did not run");
    assert_ne!(g[0].3, "host_not_reporting", "{g:?}");
    assert!(!g[0].4);
    // The backlog's runs received more than 30 minutes (late_after_secs) after they
    // were recorded are marked late, with both times; the newer ones are not.
    let late = std::fs::read_to_string(after.join("late.csv")).unwrap();
    let mut marked = 0;
    for i in 0..=4 {
        let at = resume + Duration::minutes(15 * i);
        let line = late
            .lines()
            .find(|l| l.starts_with("gap-1,") && l.contains(&format!(",run,{},", ts(at))));
        let delay = (pushed - at).num_seconds();
        if delay > 1800 + 120 {
            let line = line.unwrap_or_else(|| panic!("run at {at} is not marked late:\n{late}"));
            let f: Vec<&str> = line.split(',').collect();
            let received = chrono::DateTime::parse_from_rfc3339(f[4]).unwrap();
            assert!(received.with_timezone(&Utc) >= pushed - Duration::seconds(1));
            assert!(f[5].parse::<i64>().unwrap() > 1800);
            marked += 1;
        } else if delay < 1800 - 120 {
            assert!(line.is_none(), "run at {at} is marked late:\n{late}");
        }
    }
    assert!(marked >= 2, "{late}");
    drop((a, b));
}
