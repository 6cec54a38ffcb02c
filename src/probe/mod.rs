//! Endpoint probes: one HTTP(S) GET or TCP connect per configured probe, on the probe's
//! own interval, each result appended to the ledger as a `probe` row (the daemon) or
//! taken once (`attestd collect`). Owns running a probe with reqwest/tokio under its
//! timeout. It never judges availability (the store summarises, rules judge) and never
//! follows redirects or sends credentials.

use attestd_collectors::availability::ProbeSpec;
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::{Duration, Instant};

pub use attestd_ledger::body::ProbeResult;

/// An HTTP client for probes: rustls, no redirects, no proxy from the environment.
/// It fails on a host without a trust store (no ca-certificates package).
fn client() -> Result<reqwest::Client, String> {
    crate::crypto::install();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("attestd-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            format!("cannot set up HTTP probes ({e}); install the ca-certificates package")
        })
}

/// A probe ready to run: its spec and what it needs.
#[derive(Clone)]
pub enum Probe {
    Http {
        spec: ProbeSpec,
        url: String,
        client: reqwest::Client,
    },
    Tcp {
        spec: ProbeSpec,
        addr: String,
    },
}

impl Probe {
    pub fn spec(&self) -> &ProbeSpec {
        match self {
            Probe::Http { spec, .. } | Probe::Tcp { spec, .. } => spec,
        }
    }
}

/// The probes that can run. HTTP probes need an HTTP client, built once; on a host
/// without a trust store there is none, and the HTTP probes are not taken (the record
/// shows them as gaps, never as downtime), with the reason logged once.
pub fn runnable(specs: &[ProbeSpec]) -> Vec<Probe> {
    let mut client: Option<Result<reqwest::Client, String>> = None;
    let mut out = Vec::new();
    for spec in specs {
        match (&spec.url, &spec.tcp) {
            (Some(url), _) => {
                if let Ok(c) = client.get_or_insert_with(client_or_log) {
                    out.push(Probe::Http {
                        spec: spec.clone(),
                        url: url.clone(),
                        client: c.clone(),
                    });
                }
            }
            (None, Some(addr)) => out.push(Probe::Tcp {
                spec: spec.clone(),
                addr: addr.clone(),
            }),
            // The settings parser allows exactly one of the two.
            (None, None) => {}
        }
    }
    out
}

fn client_or_log() -> Result<reqwest::Client, String> {
    client().inspect_err(
        |e| tracing::error!(error = %e, "HTTP probes cannot run; their results will show as gaps"),
    )
}

/// Run one probe now.
pub async fn run_probe(probe: &Probe, now: DateTime<Utc>) -> ProbeResult {
    let spec = probe.spec();
    let timeout = Duration::from_secs(spec.timeout_seconds());
    let start = Instant::now();
    let (ok, status, error) = match probe {
        Probe::Http { url, client, .. } => {
            match tokio::time::timeout(timeout, client.get(url).timeout(timeout).send()).await {
                Err(_) => (
                    false,
                    None,
                    Some(format!("no answer within {} s", timeout.as_secs())),
                ),
                Ok(Err(e)) if e.is_timeout() => (
                    false,
                    None,
                    Some(format!("no answer within {} s", timeout.as_secs())),
                ),
                Ok(Err(e)) => (false, None, Some(crate::error_text::with_causes(&e))),
                Ok(Ok(resp)) => {
                    let code = resp.status().as_u16();
                    let expected = match spec.expected_status {
                        Some(want) => code == want,
                        None => (200..400).contains(&code),
                    };
                    let error = (!expected).then(|| match spec.expected_status {
                        Some(want) => format!("HTTP {code}, expected {want}"),
                        None => format!("HTTP {code}, expected 2xx or 3xx"),
                    });
                    (expected, Some(code), error)
                }
            }
        }
        Probe::Tcp { addr, .. } => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr.as_str())).await
            {
                Err(_) => (
                    false,
                    None,
                    Some(format!("no connection within {} s", timeout.as_secs())),
                ),
                Ok(Err(e)) => (false, None, Some(format!("connect {addr}: {e}"))),
                Ok(Ok(_)) => (true, None, None),
            }
        }
    };
    ProbeResult {
        key: spec.name.clone(),
        target: spec.target(),
        at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        ok,
        status,
        latency_ms: start.elapsed().as_millis() as u64,
        error,
        interval_seconds: spec.interval_seconds(),
    }
}

/// The days the availability facts look back over.
pub const WINDOW_DAYS: i64 = 30;

/// The probes the enabled collectors' settings ask for (today `availability`'s).
pub fn configured(
    config: &crate::config::Config,
    collectors: &[std::sync::Arc<dyn attestd_collectors::Collector>],
) -> Vec<ProbeSpec> {
    collectors
        .iter()
        .filter_map(|c| {
            let cfg = config.collectors.get(c.name()).filter(|cfg| cfg.enabled)?;
            Some(c.probes(&cfg.settings))
        })
        .flatten()
        .collect()
}

/// Run every probe once, concurrently.
pub async fn run_all(specs: &[ProbeSpec], now: DateTime<Utc>) -> Vec<ProbeResult> {
    let tasks: Vec<_> = runnable(specs)
        .into_iter()
        .map(|probe| tokio::spawn(async move { run_probe(&probe, now).await }))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            out.push(r);
        }
    }
    out
}

/// What the availability collector gets in `CollectContext::measurements`: per
/// configured probe, the store's summary over the last `WINDOW_DAYS` up to `to`,
/// without the error budget (a target is a rule's threshold, not a fact).
pub fn measurements(
    store: &crate::store::Store,
    specs: &[ProbeSpec],
    to: DateTime<Utc>,
) -> serde_json::Value {
    let from = to - chrono::Duration::days(WINDOW_DAYS);
    let probes: Vec<serde_json::Value> = specs
        .iter()
        .filter_map(|spec| {
            let s = store.probe_summary(&spec.name, from, to, 100.0).ok()?;
            let mut v = serde_json::to_value(&s).ok()?;
            let map = v.as_object_mut()?;
            for k in [
                "target_percent",
                "error_budget_seconds",
                "error_budget_left_seconds",
                "from",
                "to",
                "last",
            ] {
                map.remove(k);
            }
            // Whole seconds: sub-second jitter would make every run's evidence new.
            for k in ["measured_seconds", "downtime_seconds", "gap_seconds"] {
                if let Some(x) = map.get(k).and_then(|x| x.as_f64()) {
                    map.insert(k.into(), (x.round() as i64).into());
                }
            }
            map.insert("target".into(), spec.target().into());
            Some(v)
        })
        .collect();
    serde_json::json!({"window_days": WINDOW_DAYS, "probes": probes})
}

/// Start one task per configured probe: probe every `interval_seconds`, append each
/// result to the ledger through its own connection (SQLite serialises the writers).
/// The tasks end when their handles are aborted (reload, stop).
pub fn spawn_all(
    specs: &[ProbeSpec],
    database: &std::path::Path,
) -> Vec<tokio::task::JoinHandle<()>> {
    runnable(specs)
        .into_iter()
        .map(|probe| {
            let database = database.to_path_buf();
            tokio::spawn(async move {
                let spec = probe.spec();
                let mut store = match crate::store::Store::open_for_daemon(&database) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(probe = %spec.name, error = %e, "cannot open the database; this probe will not run");
                        return;
                    }
                };
                // The config keeps it 1-3600 s; `interval` panics on zero, so never pass one.
                let period = Duration::from_secs(spec.interval_seconds().max(1));
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut was_ok = None;
                loop {
                    tick.tick().await;
                    let result = run_probe(&probe, crate::clock::now()).await;
                    if was_ok != Some(result.ok) {
                        if result.ok {
                            tracing::info!(probe = %spec.name, target = %result.target, "endpoint up");
                        } else {
                            tracing::warn!(probe = %spec.name, target = %result.target, error = result.error.as_deref().unwrap_or(""), "endpoint down");
                        }
                        was_ok = Some(result.ok);
                    }
                    if let Err(e) = tokio::task::block_in_place(|| store.record_probe(&result)) {
                        tracing::error!(probe = %spec.name, error = %e, "could not store a probe result; it is a gap");
                    }
                }
            })
        })
        .collect()
}
