//! Load generator for bench/fleet.sh: simulated hosts, each with its own Ed25519 key,
//! enrolled with a one-use token, pushing signed chained segments through the real HTTPS
//! API of one or more `attestd-server` instances. Owns only the benchmark's traffic and
//! its figures (printed as `key=value` lines); it must never be pointed at a production
//! database (it inserts enrolment tokens directly as the database owner) and keeps no
//! key anywhere but in memory.
//!
//! The rows come from a template ledger made by a real `attestd collect` run twice on a
//! fixture host (`sqlite3 -json` of its ledger): the first run's rows (policy, evidence,
//! verdicts, drift, run) are each host's first push; every later 15-minute run is the
//! second run's steady state: a new `availability` evidence row, its verdicts row and
//! the run row pointing at them, with times moved to the simulated run's time.

use attestd_ledger::fleet::push_message;
use attestd_ledger::{Row, RowKind, GENESIS};
use chrono::{DateTime, Duration as CDuration, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Parser)]
struct Args {
    /// The database owner's URL (tokens are inserted directly).
    #[arg(long)]
    pg: String,
    /// Comma-separated server base URLs; host i enrols at server i % n, push k of host i
    /// goes to server (i + k) % n.
    #[arg(long)]
    servers: String,
    /// The servers' CA certificate (PEM).
    #[arg(long)]
    ca: String,
    /// `sqlite3 -json` dump of a template ledger with exactly two runs.
    #[arg(long)]
    template: String,
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// 15-minute runs per host after the first.
    #[arg(long, default_value_t = 4)]
    runs: usize,
    /// Runs per push after the first push (1 = a host pushing after every run).
    #[arg(long, default_value_t = 1)]
    runs_per_push: usize,
    /// The first run's time (RFC 3339).
    #[arg(long, default_value = "2026-11-01T00:00:00Z")]
    start: DateTime<Utc>,
    /// Host names are PREFIX-NNNNN, enrolled in scope PREFIX.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Concurrent hosts (default: all of them).
    #[arg(long, default_value_t = 0)]
    concurrency: usize,
}

struct Template {
    first: Vec<(RowKind, Value)>,
    /// The second run's rows (evidence and verdicts that changed, then the run), with
    /// their seqs in the template.
    steady: Vec<(RowKind, Value, i64)>,
}

fn load_template(path: &str) -> anyhow::Result<Template> {
    let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(path)?)?;
    let mut parsed = Vec::new();
    for r in &rows {
        let kind = r["kind"].as_str().unwrap_or_default();
        let kind = RowKind::parse(kind)
            .ok_or_else(|| anyhow::anyhow!("{path}: seq {}: unknown kind {kind}", r["seq"]))?;
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap_or("null"))?;
        parsed.push((kind, body, r["seq"].as_i64().unwrap_or_default()));
    }
    let runs: Vec<usize> = parsed
        .iter()
        .enumerate()
        .filter(|(_, (k, _, _))| *k == RowKind::Run)
        .map(|(i, _)| i)
        .collect();
    anyhow::ensure!(
        runs.len() == 2 && runs[1] == parsed.len() - 1,
        "{path}: want a ledger of exactly two runs"
    );
    let first = parsed[..=runs[0]]
        .iter()
        .map(|(k, b, _)| (*k, b.clone()))
        .collect();
    let steady = parsed[runs[0] + 1..].to_vec();
    Ok(Template { first, steady })
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Host {
    name: String,
    key: SigningKey,
    seq: i64,
    prev: [u8; 32],
    index: usize,
}

impl Host {
    fn row(&mut self, kind: RowKind, at: &str, body: &Value) -> Row {
        self.seq += 1;
        let r = Row::new(self.seq, kind, at, body.to_string(), &self.prev);
        self.prev = r.chain_out_bytes().expect("hex");
        r
    }

    /// The rows of run `n` (n >= 1: a steady-state run), the template's second run with
    /// its seqs, references and times moved.
    fn steady_run(&mut self, t: &Template, at: DateTime<Utc>, n: usize) -> Vec<Row> {
        let at_s = ts(at);
        let mut map = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(t.steady.len());
        let remap = |v: &mut Value, map: &std::collections::HashMap<i64, i64>| {
            if let Some(new) = v.as_i64().and_then(|old| map.get(&old)) {
                *v = json!(new);
            }
        };
        for (kind, body, old) in &t.steady {
            let mut b = body.clone();
            match kind {
                RowKind::Evidence => b["collected_at"] = json!(at_s),
                RowKind::Verdicts => remap(&mut b["evidence"], &map),
                RowKind::Run => {
                    if let Some(cs) = b["collectors"].as_object_mut() {
                        for entry in cs.values_mut() {
                            remap(&mut entry["evidence"], &map);
                            remap(&mut entry["verdicts"], &map);
                        }
                    }
                    b["started_at"] = json!(ts(at - CDuration::seconds(3)));
                    b["finished_at"] = json!(at_s);
                    b["trigger"] = json!("timer");
                    b["key"] = json!(format!("{}-{n}", self.name));
                }
                _ => {}
            }
            let r = self.row(*kind, &at_s, &b);
            map.insert(*old, r.seq);
            out.push(r);
        }
        out
    }

    fn body(&self, rows: &[Row]) -> Value {
        let last = rows.last().expect("rows");
        let sig = self.key.sign(&push_message(
            &self.name,
            last.seq,
            &last.chain_out().expect("hex"),
        ));
        json!({"host": self.name, "rows": rows, "signature": hex::encode(sig.to_bytes())})
    }
}

/// 503/429 answers (an overloaded server) retried after their `Retry-After`.
static BUSY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<()> {
    let mut r = client.post(url).json(body).send().await?;
    for _ in 0..50 {
        let busy = r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE
            || r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS;
        if !busy {
            break;
        }
        BUSY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secs: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(1);
        let spread = u64::from(rand::random::<u16>() % 500);
        tokio::time::sleep(std::time::Duration::from_millis(secs * 1000 + spread)).await;
        r = client.post(url).json(body).send().await?;
    }
    let status = r.status();
    if !status.is_success() {
        anyhow::bail!("{url}: {status}: {}", r.text().await.unwrap_or_default());
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Args = clap::Parser::parse();
    let template = Arc::new(load_template(&args.template)?);
    let servers: Arc<Vec<String>> = Arc::new(
        args.servers
            .split(',')
            .map(|s| s.trim_end_matches('/').to_string())
            .collect(),
    );
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&args.ca)?)?])
        .pool_max_idle_per_host(args.hosts.max(1))
        .build()?;
    let limit = Arc::new(tokio::sync::Semaphore::new(if args.concurrency == 0 {
        args.hosts.max(1)
    } else {
        args.concurrency
    }));

    // Tokens, inserted as the owner (the same hashing as `attestd-server token create`).
    let (pg, conn) = tokio_postgres::connect(&args.pg, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let mut tokens = Vec::with_capacity(args.hosts);
    let stmt = pg
        .prepare("INSERT INTO tokens (token_sha256, scope, created_at) VALUES ($1, $2, now())")
        .await?;
    for i in 0..args.hosts {
        let token = format!(
            "atk_{}",
            hex::encode(Sha256::digest(format!(
                "{}-{i}-{}",
                args.prefix,
                std::process::id()
            )))
        );
        pg.execute(
            &stmt,
            &[&hex::encode(Sha256::digest(token.as_bytes())), &args.prefix],
        )
        .await?;
        tokens.push(token);
    }

    // Enrolment.
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (client, servers, limit, prefix) = (
            client.clone(),
            servers.clone(),
            limit.clone(),
            args.prefix.clone(),
        );
        set.spawn(async move {
            let _p = limit.acquire().await?;
            let mut seed = [0u8; 32];
            seed.copy_from_slice(&Sha256::digest(format!("{prefix}-key-{i}")));
            let key = SigningKey::from_bytes(&seed);
            let name = format!("{prefix}-{i:05}");
            let pem = key.verifying_key().to_public_key_pem(LineEnding::LF)?;
            let url = format!("{}/v1/enroll", servers[i % servers.len()]);
            post(
                &client,
                &url,
                &json!({"token": token, "host": name, "public_key": pem}),
            )
            .await?;
            anyhow::Ok(Host {
                name,
                key,
                seq: 0,
                prev: GENESIS,
                index: i,
            })
        });
    }
    let mut hosts = Vec::new();
    while let Some(h) = set.join_next().await {
        hosts.push(h??);
    }
    let enroll_s = t0.elapsed().as_secs_f64();
    println!(
        "enrolled_hosts={} enroll_seconds={enroll_s:.2}",
        hosts.len()
    );

    // Phase 1: each host's first run (its whole first ledger) in one push.
    let t1 = Instant::now();
    let first_rows: usize = template.first.len() * hosts.len();
    let mut set = tokio::task::JoinSet::new();
    for mut h in hosts {
        let (client, servers, limit, template) = (
            client.clone(),
            servers.clone(),
            limit.clone(),
            template.clone(),
        );
        let at = ts(args.start);
        set.spawn(async move {
            let _p = limit.acquire().await?;
            let rows: Vec<Row> = template
                .first
                .iter()
                .map(|(k, b)| {
                    let mut b = b.clone();
                    if *k == RowKind::Evidence {
                        b["collected_at"] = json!(at);
                    }
                    h.row(*k, &at, &b)
                })
                .collect();
            let url = format!("{}/v1/push", servers[h.index % servers.len()]);
            post(&client, &url, &h.body(&rows)).await?;
            anyhow::Ok(h)
        });
    }
    let mut hosts = Vec::new();
    while let Some(h) = set.join_next().await {
        hosts.push(h??);
    }
    let s1 = t1.elapsed().as_secs_f64();
    println!(
        "first_push_rows={first_rows} first_pushes={} first_seconds={s1:.2} first_rows_per_s={:.0} first_pushes_per_s={:.1}",
        hosts.len(),
        first_rows as f64 / s1,
        hosts.len() as f64 / s1
    );

    // Phase 2: the later runs, `runs_per_push` per push, alternating servers.
    let t2 = Instant::now();
    let per = args.runs_per_push.max(1);
    let mut set = tokio::task::JoinSet::new();
    for mut h in hosts {
        let (client, servers, limit, template) = (
            client.clone(),
            servers.clone(),
            limit.clone(),
            template.clone(),
        );
        let (runs, start) = (args.runs, args.start);
        set.spawn(async move {
            let _p = limit.acquire().await?;
            let (mut rows_n, mut pushes) = (0usize, 0usize);
            let mut n = 1;
            while n <= runs {
                let mut rows = Vec::new();
                for k in n..(n + per).min(runs + 1) {
                    rows.extend(h.steady_run(
                        &template,
                        start + CDuration::minutes(15 * k as i64),
                        k,
                    ));
                }
                n += per;
                let url = format!(
                    "{}/v1/push",
                    servers[(h.index + pushes + 1) % servers.len()]
                );
                post(&client, &url, &h.body(&rows)).await?;
                rows_n += rows.len();
                pushes += 1;
            }
            anyhow::Ok((rows_n, pushes))
        });
    }
    let (mut rows, mut pushes) = (0usize, 0usize);
    while let Some(r) = set.join_next().await {
        let (r, p) = r??;
        rows += r;
        pushes += p;
    }
    let s2 = t2.elapsed().as_secs_f64();
    println!(
        "run_rows={rows} run_pushes={pushes} run_seconds={s2:.2} run_rows_per_s={:.0} run_pushes_per_s={:.1}",
        rows as f64 / s2,
        pushes as f64 / s2
    );
    let total = (first_rows + rows) as f64;
    println!(
        "total_rows={total} total_seconds={:.2} total_rows_per_s={:.0}",
        s1 + s2,
        total / (s1 + s2)
    );
    println!(
        "overloaded_answers={}",
        BUSY.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
