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
//! come; only per-host counters, the computed summaries and the roll-up stay in memory. It only reads the
//! database (SELECT), never writes it, and never includes a private key.

use crate::witness::Witness;
use attestd_ledger::fleet::{mark_not_reporting, roll_up, ControlRollup, FLEET_BUNDLE_FORMAT};
use attestd_ledger::summary::{Analyzer, Computed, LedgerAlerts, Parameters};
use attestd_ledger::{Row, RowKind};
use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
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

struct Member {
    host: String,
    scope: String,
    enrolled_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
    public_key: String,
}

/// Day states for the coverage picture.
#[derive(Clone, Copy, PartialEq)]
enum Day {
    Absent,
    Effective,
    Exception,
    Gap,
}

fn day_states(m: &Member, c: &Computed, from: DateTime<Utc>, days: usize) -> Vec<Day> {
    let mut out = Vec::with_capacity(days);
    let parse = |s: &str| attestd_ledger::summary::parse_time(s).ok();
    for d in 0..days {
        let start = from + chrono::Duration::days(d as i64);
        let end = start + chrono::Duration::days(1);
        if m.enrolled_at >= end || m.retired_at.is_some_and(|r| r < start) {
            out.push(Day::Absent);
            continue;
        }
        let overlaps = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| {
            a.is_some_and(|a| a < end) && b.is_none_or(|b| b > start)
        };
        let gap = c
            .collectors
            .values()
            .flat_map(|k| k.gaps.iter())
            .any(|g| overlaps(parse(&g.start), parse(&g.end)));
        let exc = c.rules.values().flat_map(|r| r.exceptions.iter()).any(|e| {
            overlaps(
                parse(&e.first_seen),
                e.resolved_at.as_deref().and_then(parse),
            )
        });
        out.push(if gap {
            Day::Gap
        } else if exc {
            Day::Exception
        } else {
            Day::Effective
        });
    }
    out
}

fn svg(hosts: &[(String, Vec<Day>)], from: DateTime<Utc>, days: usize) -> String {
    let (cw, ch, left, top) = (14usize, 14usize, 160usize, 40usize);
    let w = left + cw * days + 20;
    let h = top + ch * hosts.len() + 20;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"coverage of every host on every day\">\n"
    );
    for d in (0..days).step_by(7) {
        let date = (from + chrono::Duration::days(d as i64)).format("%Y-%m-%d");
        s += &format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"10\">{date}</text>\n",
            left + d * cw,
            top - 8
        );
    }
    for (i, (host, states)) in hosts.iter().enumerate() {
        let y = top + i * ch;
        s += &format!(
            "<text x=\"0\" y=\"{}\" font-size=\"10\">{}</text>\n",
            y + ch - 3,
            html_escape(host)
        );
        for (d, st) in states.iter().enumerate() {
            let (fill, label) = match st {
                Day::Absent => ("#dddddd", "not in the population"),
                Day::Effective => ("#2e7d32", "effective"),
                Day::Exception => ("#f9a825", "exception"),
                Day::Gap => ("#c62828", "gap"),
            };
            let date = (from + chrono::Duration::days(d as i64)).format("%Y-%m-%d");
            s += &format!(
                "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"><title>{} {date}: {label}</title></rect>\n",
                left + d * cw,
                cw - 1,
                ch - 1,
                html_escape(host)
            );
        }
    }
    s + "</svg>\n"
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
    let dir = staging.join(&stem);
    std::fs::create_dir_all(dir.join("hosts"))?;
    let result = write_all(pool, witness, o, &dir).await;
    let built = match result {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if tarball {
        let tmp = staging.join("bundle.tar.gz");
        {
            let f = std::fs::File::create(&tmp)?;
            let gz = flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            tar.append_dir_all(&stem, &dir)?;
            tar.into_inner()?.finish()?.flush()?;
        }
        std::fs::rename(&tmp, &o.out)?;
    } else {
        std::fs::rename(&dir, &o.out)?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(built)
}

async fn write_all(
    pool: &Pool,
    witness: &Witness,
    o: &Options,
    dir: &Path,
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
    let mut exceptions = BufWriter::new(std::fs::File::create(dir.join("exceptions.csv"))?);
    writeln!(
        exceptions,
        "host,rule,collector,status,start,end,duration_seconds,open"
    )?;
    let mut gaps = BufWriter::new(std::fs::File::create(dir.join("gaps.csv"))?);
    writeln!(
        gaps,
        "host,collector,start,end,duration_seconds,missed_runs,cause,ongoing"
    )?;
    let mut late = BufWriter::new(std::fs::File::create(dir.join("late.csv"))?);
    writeln!(late, "host,seq,kind,recorded_at,received_at,delay_seconds")?;
    let mut rollup: BTreeMap<String, ControlRollup> = BTreeMap::new();
    let mut pictures = Vec::new();
    let mut population = Vec::new();
    // (host, directory, computed summary) for the fleet's OSCAL results.
    let mut assessed = Vec::new();
    let mut built = Built {
        hosts: members.len(),
        rows: 0,
        exceptions: 0,
        gaps: 0,
        late: 0,
        files: 0,
    };
    for m in &members {
        let hdir = dir.join("hosts").join(dir_name(&m.host));
        std::fs::create_dir_all(&hdir)?;
        std::fs::write(hdir.join("signing-key.pub.pem"), &m.public_key)?;
        let (computed, (first, last), last_recorded) =
            write_rows(&c, o, &params, &m.host, &hdir, |row, received| {
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
        write_witnessed(&c, &m.host, upto, &hdir).await?;
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
        pictures.push((m.host.clone(), day_states(m, &computed, o.from, days)));
        let summary = serde_json::json!({
            "host": m.host,
            "parameters": params,
            "computed": computed,
        });
        write_json(&hdir.join("summary.json"), &summary)?;
        population.push(serde_json::json!({
            "host": m.host,
            "dir": format!("hosts/{}", dir_name(&m.host)),
            "scope": m.scope,
            "enrolled_at": ts(m.enrolled_at),
            "retired_at": m.retired_at.map(ts),
            "rows": last.map(|l| l - first.unwrap_or(l) + 1).unwrap_or(0),
            "last_recorded": last_recorded,
        }));
        assessed.push((
            m.host.clone(),
            format!("hosts/{}", dir_name(&m.host)),
            computed,
        ));
    }
    exceptions.flush()?;
    gaps.flush()?;
    late.flush()?;
    drop((exceptions, gaps, late));

    // The server's receipt log for the period, and the incidents.
    let mut log = BufWriter::new(std::fs::File::create(dir.join("receipt-log.jsonl"))?);
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
    log.flush()?;
    drop(log);
    let mut inc = BufWriter::new(std::fs::File::create(dir.join("incidents.csv"))?);
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
    inc.flush()?;
    drop(inc);

    // Organisation ledgers and the fleet's statement of applicability (crate::org).
    let org = crate::org::bundle::write(&c, o, &params, dir, &population).await?;
    built.rows += org.rows;
    let controls: Vec<&ControlRollup> = rollup.values().collect();
    write_json(
        &dir.join("controls.json"),
        &serde_json::to_value(&controls)?,
    )?;
    write_json(
        &dir.join("samples.json"),
        &serde_json::json!({"seed": o.seed, "hosts": sampled_hosts, "dates": dates}),
    )?;
    let generated_at = ts(Utc::now());
    std::fs::create_dir_all(dir.join("oscal"))?;
    write_json(
        &dir.join(attestd_ledger::oscal::fleet::RESULTS_FILE),
        &attestd_ledger::oscal::fleet::document(
            &params,
            o.scope.as_deref(),
            &assessed,
            &generated_at,
            env!("CARGO_PKG_VERSION"),
        ),
    )?;
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
    write_json(&dir.join("fleet.json"), &fleet)?;
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
    std::fs::write(dir.join("index.html"), page)?;
    std::fs::write(dir.join("witness.pub.pem"), witness.public_pem())?;

    // Sums and the witness's signature.
    let files = list_files(dir)?;
    let mut sums = String::new();
    for rel in &files {
        sums.push_str(&format!("{}  {rel}\n", sha256_file(&dir.join(rel))?));
    }
    std::fs::write(dir.join("SHA256SUMS"), &sums)?;
    std::fs::write(
        dir.join("SHA256SUMS.sig"),
        witness.sign_bytes(sums.as_bytes()),
    )?;
    built.files = files.len() + 2;
    Ok(built)
}

/// A member's rows (a host's or an organisation's), from its first to the last
/// recorded before the period's end, streamed in batches into `mdir/ledger.json` and
/// the ledger crate's analyzer; `each` sees every row with the time the server
/// received it. Returns (computed summary, (first, last) seq, last recorded).
pub(crate) async fn write_rows(
    c: &deadpool_postgres::Object,
    o: &Options,
    params: &Parameters,
    name: &str,
    mdir: &Path,
    mut each: impl FnMut(&Row, DateTime<Utc>) -> anyhow::Result<()>,
) -> anyhow::Result<(Computed, (Option<i64>, Option<i64>), Option<String>)> {
    let names_fn = |_: &str| None::<String>;
    let alerts = LedgerAlerts::default();
    let mut analyzer =
        Analyzer::new(params.clone(), &names_fn, &alerts).map_err(|e| anyhow::anyhow!(e))?;
    let mut ledger = BufWriter::new(std::fs::File::create(mdir.join("ledger.json"))?);
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
    ledger.flush()?;
    drop(ledger);
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
    odir: &Path,
) -> anyhow::Result<()> {
    let mut pushes = BufWriter::new(std::fs::File::create(odir.join("pushes.jsonl"))?);
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
    pushes.flush()?;
    let mut receipts = BufWriter::new(std::fs::File::create(odir.join("receipts.jsonl"))?);
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
    receipts.flush()?;
    Ok(())
}

pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> anyhow::Result<()> {
    let mut b = serde_json::to_vec_pretty(v)?;
    b.push(b'\n');
    std::fs::write(path, b)?;
    Ok(())
}

fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for e in std::fs::read_dir(d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                walk(base, &e.path(), out)?;
            } else if let Ok(rel) = e.path().strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.retain(|f| f != "SHA256SUMS" && f != "SHA256SUMS.sig");
    out.sort();
    Ok(out)
}

fn sha256_file(p: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}
