//! Prometheus metrics of one instance: pushes, rows stored, refusals by reason, database
//! latency, and (read from the database at scrape time, so every instance reports the
//! same) hosts by state. Never labels anything with a token or a key.

use crate::db::{self, DbError};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Instant;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    pushes: Counter,
    rows: Counter,
    refused: Family<Labels, Counter>,
    hosts: Family<Labels, Gauge>,
    db: Histogram,
    late_after: i64,
    not_reporting_after: i64,
}

impl Metrics {
    pub fn new(late_after: i64, not_reporting_after: i64) -> Metrics {
        let mut registry = Registry::with_prefix("attestd_server");
        let pushes = Counter::default();
        let rows = Counter::default();
        let refused = Family::<Labels, Counter>::default();
        let hosts = Family::<Labels, Gauge>::default();
        let db = Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]);
        registry.register("pushes", "Pushes accepted", pushes.clone());
        registry.register("rows", "Ledger rows stored", rows.clone());
        registry.register("refused", "Requests refused, by reason", refused.clone());
        registry.register("hosts", "Enrolled hosts by state", hosts.clone());
        registry.register("db_seconds", "Database time per request", db.clone());
        for code in crate::check::CODES {
            let _ = refused.get_or_create(&vec![("reason".to_string(), code.to_string())]);
        }
        Metrics {
            registry,
            pushes,
            rows,
            refused,
            hosts,
            db,
            late_after,
            not_reporting_after,
        }
    }

    pub fn refused(&self, code: &str) {
        self.refused
            .get_or_create(&vec![("reason".to_string(), code.to_string())])
            .inc();
    }

    pub fn pushed(&self, rows: u64) {
        self.pushes.inc();
        self.rows.inc_by(rows);
    }

    pub fn db_latency(&self, since: Instant) {
        self.db.observe(since.elapsed().as_secs_f64());
    }

    pub async fn render(&self, pool: &deadpool_postgres::Pool) -> Result<String, DbError> {
        let hosts = db::hosts(pool, self.late_after, self.not_reporting_after).await?;
        for state in [
            "reporting",
            "late",
            "not_reporting",
            "forked",
            "retired",
            "organisation",
        ] {
            let n = hosts.iter().filter(|h| h.state == state).count();
            self.hosts
                .get_or_create(&vec![("state".to_string(), state.to_string())])
                .set(n as i64);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("metrics encode to a string");
        Ok(out)
    }
}
