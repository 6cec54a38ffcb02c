//! `attestd-server bundle`: one evidence bundle for the whole fleet over a period.
//! The population (every host enrolled in the scope at any time in the period, with its
//! enrolment and retirement dates); per host its rows exactly as stored (ledger.json in
//! the host bundle's format), public key, the pushes it signed and the receipts the
//! server issued, and its summary computed by the ledger crate's `summary::Analyzer`
//! (the same code as a host bundle) with `host_not_reporting` gaps; the per-control
//! roll-up, fleet-wide exceptions and gaps, late evidence with both times, incidents,
//! the server's receipt log for the period, seeded samples of hosts and dates, an
//! index.html with a hosts × days SVG (no scripts), the OSCAL assessment results with
//! one subject per host (`oscal/assessment-results.json`, the ledger crate's
//! `oscal::fleet`), SHA256SUMS and the witness key's signature over it.
//!
//! Streams: one host at a time, its rows in batches from PostgreSQL, written as they
//! come; only per-host counters, the roll-up and each host's part of the OSCAL results
//! stay in memory (a host's summary is dropped once written). Every file goes through
//! `out::Out` (hashed as written; a `.tar.gz` gets each file as soon as it is done).
//! It only reads the database (SELECT), never writes it, and never includes a private
//! key. `picture.rs`: the hosts × days coverage picture.

mod out;
mod picture;

use crate::witness::Witness;
use attestd_ledger::fleet::{mark_not_reporting, roll_up, ControlRollup, FLEET_BUNDLE_FORMAT};
use attestd_ledger::summary::{Analyzer, Computed, LedgerAlerts, Parameters};
use attestd_ledger::{Row, RowKind};
use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::Pool;
pub(crate) use out::Out;
use picture::{day_states, svg};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Rows fetched from PostgreSQL at a time.
const BATCH: i64 = 2000;

/// What to bundle.
pub struct Options {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub scope: Option<String>,
    pub framework: Option<String>,
    pub sample_hosts: usize,
    pub sample_days: usize,
    pub seed: u64,
    pub out: PathBuf,
    /// Evidence received this much later than recorded is marked late.
    pub late_after_secs: i64,
}

/// What was written.
#[derive(Debug)]
pub struct Built {
    pub hosts: usize,
    pub rows: u64,
    pub exceptions: u64,
    pub gaps: u64,
    pub late: u64,
    pub files: usize,
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A host name as a directory name (names are checked at enrolment; this is a second
/// guard so no name can leave the bundle).
pub fn dir_name(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A member's summary.json: its name, the parameters and what the analyzer computed.
#[derive(Serialize)]
pub(crate) struct SummaryFile<'a> {
    pub host: &'a str,
    /// `organisation` for an organisation ledger; absent for a host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<&'a str>,
    pub parameters: &'a Parameters,
    pub computed: &'a Computed,
}

struct Member {
    host: String,
    scope: String,
    enrolled_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
    public_key: String,
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The sampled days as dates (`attestd_ledger::sample`, as a host bundle draws them).
fn sample_days(from: DateTime<Utc>, to: DateTime<Utc>, n: usize, seed: u64) -> Vec<String> {
    attestd_ledger::sample::sample_days(from, to, n, seed)
        .iter()
        .map(|d| d.to_string())
        .collect()
}

/// `n` of `hosts` chosen by ChaCha8 seeded with `seed` (after the days), in name order.
fn sample_hosts(hosts: &[String], n: usize, seed: u64) -> Vec<String> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x686f_7374);
    let mut picked: Vec<String> =
        rand::seq::index::sample(&mut rng, hosts.len(), n.min(hosts.len()))
            .into_iter()
            .map(|i| hosts[i].clone())
            .collect();
    picked.sort();
    picked
}

/// Build the fleet bundle into a staging directory beside `out`, then rename it (or
/// pack it) into place, so a failure leaves nothing behind.
pub async fn build(pool: &Pool, witness: &Witness, o: &Options) -> anyhow::Result<Built> {
    if o.out.exists() {
        anyhow::bail!(
            "{} already exists; choose a new --out path (bundles are never overwritten)",
            o.out.display()
        );
    }
    if o.to <= o.from {
        anyhow::bail!("--to must be after --from");
    }
    let tarball = o.out.to_string_lossy().ends_with(".tar.gz");
    let parent = o
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let stem = o
        .out
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tar.gz").to_string())
        .unwrap_or_else(|| "fleet-bundle".into());
    let staging = parent.join(format!(".{stem}.partial-{}", std::process::id()));
    std::fs::create_dir_all(&staging)?;
    let result = match Out::new(&staging, &stem, tarball) {
        Ok(mut out) => match write_all(pool, witness, o, &mut out).await {
            Ok(built) => out
                .seal(|sums| witness.sign_bytes(sums).to_vec())
                .map(|files| Built { files, ..built }),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let built = match result {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if tarball {
        std::fs::rename(staging.join("bundle.tar.gz"), &o.out)?;
    } else {
        std::fs::rename(staging.join(&stem), &o.out)?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(built)
}

async fn write_all(
    pool: &Pool,
    witness: &Witness,
    o: &Options,
    out: &mut Out,
) -> anyhow::Result<Built> {
    let c = pool.get().await?;
    let members: Vec<Member> = c
        .query(
            "SELECT h.host, h.scope, h.enrolled_at, r.retired_at, h.public_key \
             FROM hosts h LEFT JOIN host_retirements r ON r.host = h.host \
             WHERE h.enrolled_at < $1 AND (r.retired_at IS NULL OR r.retired_at >= $2) \
               AND ($3::text IS NULL OR h.scope = $3) \
               AND NOT EXISTS (SELECT 1 FROM organisation_ledgers g WHERE g.host = h.host) \
             ORDER BY h.host",
            &[&o.to, &o.from, &o.scope],
        )
        .await?
        .iter()
        .map(|r| Member {
            host: r.get(0),
            scope: r.get(1),
            enrolled_at: r.get(2),
            retired_at: r.get(3),
            public_key: r.get(4),
        })
        .collect();
    if members.is_empty() {
        anyhow::bail!("no host was enrolled in this scope during the period: nothing to bundle");
    }
    let dates = sample_days(o.from, o.to, o.sample_days, o.seed);
    let names: Vec<String> = members.iter().map(|m| m.host.clone()).collect();
    let sampled_hosts = sample_hosts(&names, o.sample_hosts, o.seed);
    let params = Parameters {
        from: ts(o.from),
        to: ts(o.to),
        framework: o.framework.clone(),
        controls: Vec::new(),
        sample_dates: dates.clone(),
        sampling: if o.sample_days > 0 {
            format!("random(n={}, seed={})", o.sample_days, o.seed)
        } else {
            "none".into()
        },
    };
    let days = ((o.to - o.from).num_seconds() as f64 / 86_400.0).ceil() as usize;
    let mut exceptions = out.create("exceptions.csv")?;
    writeln!(
        exceptions,
        "host,rule,collector,status,start,end,duration_seconds,open"
    )?;
    let mut gaps = out.create("gaps.csv")?;
    writeln!(
        gaps,
        "host,collector,start,end,duration_seconds,missed_runs,cause,ongoing"
    )?;
    let mut late = out.create("late.csv")?;
    writeln!(late, "host,seq,kind,recorded_at,received_at,delay_seconds")?;
    let mut rollup: BTreeMap<String, ControlRollup> = BTreeMap::new();
    let mut pictures = Vec::new();
    let mut population = Vec::new();
    let mut slims = Vec::new();
    // The fleet's OSCAL results, one host's part at a time.
    let mut oscal = attestd_ledger::oscal::fleet::Results::new(&params, o.scope.as_deref());
    let mut built = Built {
        hosts: members.len(),
        rows: 0,
        exceptions: 0,
        gaps: 0,
        late: 0,
        files: 0,
    };
    for m in &members {
        let hdir = format!("hosts/{}", dir_name(&m.host));
        out.write(
            &format!("{hdir}/signing-key.pub.pem"),
            m.public_key.as_bytes(),
        )?;
        let (computed, (first, last), last_recorded) =
            write_rows(&c, o, &params, &m.host, out, &hdir, |row, received| {
                built.rows += 1;
                if row.kind != RowKind::Run {
                    return Ok(());
                }
                if let Ok(rec) = attestd_ledger::summary::parse_time(&row.recorded_at) {
                    let delay = (received - rec).num_seconds();
                    if delay > o.late_after_secs && rec >= o.from {
                        built.late += 1;
                        writeln!(
                            late,
                            "{},{},{},{},{},{delay}",
                            csv_field(&m.host),
                            row.seq,
                            row.kind,
                            row.recorded_at,
                            ts(received)
                        )?;
                    }
                }
                Ok(())
            })
            .await?;
        let upto = last.unwrap_or(0);
        write_witnessed(&c, &m.host, upto, out, &hdir).await?;
        for rule in computed.rules.values() {
            for e in &rule.exceptions {
                built.exceptions += 1;
                writeln!(
                    exceptions,
                    "{},{},{},{},{},{},{},{}",
                    csv_field(&m.host),
                    csv_field(&e.rule),
                    csv_field(&e.collector),
                    e.status,
                    e.first_seen,
                    e.resolved_at.as_deref().unwrap_or(""),
                    e.duration_seconds,
                    e.open
                )?;
            }
        }
        for (name, col) in &computed.collectors {
            for g in &col.gaps {
                built.gaps += 1;
                writeln!(
                    gaps,
                    "{},{},{},{},{},{},{},{}",
                    csv_field(&m.host),
                    csv_field(name),
                    g.start,
                    g.end,
                    g.duration_seconds,
                    g.missed_runs,
                    g.cause,
                    g.ongoing
                )?;
            }
        }
        roll_up(&mut rollup, &computed);
        pictures.push((
            m.host.clone(),
            day_states(m.enrolled_at, m.retired_at, &computed, o.from, days),
        ));
        let summary = SummaryFile {
            host: &m.host,
            ledger: None,
            parameters: &params,
            computed: &computed,
        };
        out.write_json(&format!("{hdir}/summary.json"), &summary)?;
        oscal.add_host(&params, &m.host, &hdir, &computed);
        slims.push((m.host.clone(), crate::org::bundle::slim(computed)));
        population.push(serde_json::json!({
            "host": m.host,
            "dir": hdir,
            "scope": m.scope,
            "enrolled_at": ts(m.enrolled_at),
            "retired_at": m.retired_at.map(ts),
            "rows": last.map(|l| l - first.unwrap_or(l) + 1).unwrap_or(0),
            "last_recorded": last_recorded,
        }));
    }
    out.finish(exceptions)?;
    out.finish(gaps)?;
    out.finish(late)?;

    // The server's receipt log for the period, and the incidents.
    let mut log = out.create("receipt-log.jsonl")?;
    let (from_text, to_text) = (ts(o.from), ts(o.to));
    for r in c
        .query(
            "SELECT log_seq, host, seq, head, received_at, log_prev, log_head, signature \
             FROM receipts WHERE received_at >= $1 AND received_at < $2 ORDER BY log_seq",
            &[&from_text, &to_text],
        )
        .await?
    {
        serde_json::to_writer(
            &mut log,
            &serde_json::json!({"log_seq": r.get::<_, i64>(0), "host": r.get::<_, String>(1),
                "seq": r.get::<_, i64>(2), "head": r.get::<_, String>(3),
                "received_at": r.get::<_, String>(4), "log_prev": r.get::<_, String>(5),
                "log_head": r.get::<_, String>(6), "signature": r.get::<_, String>(7)}),
        )?;
        writeln!(log)?;
    }
    out.finish(log)?;
    let mut inc = out.create("incidents.csv")?;
    writeln!(inc, "host,at,seq,reason")?;
    for r in c
        .query(
            "SELECT host, at, seq, reason FROM incidents WHERE at < $1 ORDER BY at, id",
            &[&o.to],
        )
        .await?
    {
        let host: String = r.get(0);
        if !names.contains(&host) {
            continue;
        }
        let at: DateTime<Utc> = r.get(1);
        writeln!(
            inc,
            "{},{},{},{}",
            csv_field(&host),
            ts(at),
            r.get::<_, i64>(2),
            csv_field(&r.get::<_, String>(3))
        )?;
    }
    out.finish(inc)?;

    // Organisation ledgers and the fleet's statement of applicability (crate::org).
    let org = crate::org::bundle::write(&c, o, &params, out, &slims).await?;
    built.rows += org.rows;
    let controls: Vec<&ControlRollup> = rollup.values().collect();
    out.write_json("controls.json", &controls)?;
    out.write_json(
        "samples.json",
        &serde_json::json!({"seed": o.seed, "hosts": sampled_hosts, "dates": dates}),
    )?;
    let generated_at = ts(Utc::now());
    let mut results = out.create(attestd_ledger::oscal::fleet::RESULTS_FILE)?;
    oscal.write(
        &mut results,
        &params,
        &generated_at,
        env!("CARGO_PKG_VERSION"),
    )?;
    out.finish(results)?;
    let mut fleet = serde_json::json!({
            "format": FLEET_BUNDLE_FORMAT,
            "from": from_text,
            "to": to_text,
            "scope": o.scope,
            "framework": o.framework,
            "late_after_secs": o.late_after_secs,
            "generated_at": generated_at,
            "attestd_server_version": env!("CARGO_PKG_VERSION"),
            "population": population,
    });
    org.annotate(&mut fleet);
    out.write_json("fleet.json", &fleet)?;
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>attestd fleet bundle</title></head><body>\n",
    );
    page += &format!(
        "<h1>Fleet evidence, {from_text} to {to_text}</h1>\n<p>{} hosts in the population; scope {}. Every host on every day: green effective, amber an exception, red a gap (including host_not_reporting), grey not in the population.</p>\n",
        members.len(),
        html_escape(o.scope.as_deref().unwrap_or("all"))
    );
    page += &svg(&pictures, o.from, days);
    page += "<h2>Controls</h2>\n<table><tr><th>control</th><th>hosts</th><th>effective</th><th>with exceptions</th><th>with gaps</th><th>not tested</th></tr>\n";
    for r in &controls {
        page += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html_escape(&r.id),
            r.hosts,
            r.effective,
            r.with_exceptions,
            r.with_gaps,
            r.not_tested
        );
    }
    page += "</table>\n";
    page += &org.html;
    page += "</body></html>\n";
    out.write("index.html", page.as_bytes())?;
    out.write("witness.pub.pem", witness.public_pem().as_bytes())?;
    Ok(built)
}

/// A member's rows (a host's or an organisation's), from its first to the last
/// recorded before the period's end, streamed in batches into `mdir/ledger.json` and
/// the ledger crate's analyzer (`mdir` is the member's directory in the bundle); `each` sees every row with the time the server
/// received it. Returns (computed summary, (first, last) seq, last recorded).
pub(crate) async fn write_rows(
    c: &deadpool_postgres::Object,
    o: &Options,
    params: &Parameters,
    name: &str,
    out: &mut Out,
    mdir: &str,
    mut each: impl FnMut(&Row, DateTime<Utc>) -> anyhow::Result<()>,
) -> anyhow::Result<(Computed, (Option<i64>, Option<i64>), Option<String>)> {
    let names_fn = |_: &str| None::<String>;
    let alerts = LedgerAlerts::default();
    let mut analyzer =
        Analyzer::new(params.clone(), &names_fn, &alerts).map_err(|e| anyhow::anyhow!(e))?;
    let mut ledger = out.create(&format!("{mdir}/ledger.json"))?;
    // The header's first and last rows are known only at the end: write the rows, then
    // the header fields after them (ledger.json's keys may come in any order).
    write!(
        ledger,
        "{{\"format\":\"attestd-ledger/1\",\"anchor_seqs\":[],\"anchors\":[\n],\"rows\":["
    )?;
    let (mut first, mut last, mut head, mut last_recorded) =
        (None::<i64>, None::<i64>, None::<String>, None::<String>);
    let to_text = ts(o.to);
    let mut after = 0i64;
    'rows: loop {
        let batch = c
            .query(
                "SELECT seq, kind, recorded_at, body, prev_sha256, content_sha256, received_at \
                 FROM ledger_rows WHERE host = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&name, &after, &BATCH],
            )
            .await?;
        for r in &batch {
            let kind: String = r.get(1);
            let row = Row {
                seq: r.get(0),
                kind: RowKind::parse(&kind)
                    .ok_or_else(|| anyhow::anyhow!("{name}: unknown row kind {kind}"))?,
                recorded_at: r.get(2),
                body: r.get(3),
                prev_sha256: r.get(4),
                content_sha256: r.get(5),
            };
            after = row.seq;
            if row.recorded_at.as_str() >= to_text.as_str() {
                break 'rows;
            }
            each(&row, r.get(6))?;
            if first.is_some() {
                write!(ledger, ",")?;
            }
            writeln!(ledger)?;
            serde_json::to_writer(&mut ledger, &row)?;
            first.get_or_insert(row.seq);
            last = Some(row.seq);
            head = row.chain_out();
            last_recorded = Some(row.recorded_at.clone());
            alerts.observe(&row);
            analyzer
                .row(&row)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    write!(
        ledger,
        "\n],\"first_seq\":{},\"last_seq\":{},\"period_head\":{},\"database_head\":null}}\n",
        serde_json::to_string(&first)?,
        serde_json::to_string(&last)?,
        serde_json::to_string(&head)?
    )?;
    out.finish(ledger)?;
    let mut computed = analyzer.finish();
    mark_not_reporting(&mut computed, last_recorded.as_deref(), &to_text);
    Ok((computed, (first, last), last_recorded))
}

/// The pushes ledger `name` signed and the receipts the server issued for its rows up
/// to `upto`: a member's `pushes.jsonl` and `receipts.jsonl` (hosts and organisation
/// ledgers alike).
pub(crate) async fn write_witnessed(
    c: &deadpool_postgres::Object,
    name: &str,
    upto: i64,
    out: &mut Out,
    odir: &str,
) -> anyhow::Result<()> {
    let mut pushes = out.create(&format!("{odir}/pushes.jsonl"))?;
    for r in c
        .query(
            "SELECT last_seq, head, signature, received_at FROM pushes \
             WHERE host = $1 AND last_seq <= $2 ORDER BY id",
            &[&name, &upto],
        )
        .await?
    {
        let at: DateTime<Utc> = r.get(3);
        serde_json::to_writer(
            &mut pushes,
            &serde_json::json!({"seq": r.get::<_, i64>(0), "head": r.get::<_, String>(1),
                "signature": r.get::<_, String>(2), "received_at": ts(at)}),
        )?;
        writeln!(pushes)?;
    }
    out.finish(pushes)?;
    let mut receipts = out.create(&format!("{odir}/receipts.jsonl"))?;
    for r in c
        .query(
            "SELECT host, seq, head, received_at, log_seq, log_prev, signature FROM receipts \
             WHERE host = $1 AND seq <= $2 ORDER BY log_seq",
            &[&name, &upto],
        )
        .await?
    {
        let receipt = attestd_ledger::body::Receipt {
            host: r.get(0),
            seq: r.get(1),
            head: r.get(2),
            received_at: r.get(3),
            log_seq: r.get(4),
            log_prev: r.get(5),
            signature: r.get(6),
        };
        serde_json::to_writer(&mut receipts, &receipt)?;
        writeln!(receipts)?;
    }
    out.finish(receipts)?;
    Ok(())
}
