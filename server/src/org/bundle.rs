//! The organisation in a fleet bundle. Each organisation ledger enrolled before the
//! period's end (and not retired before its start) is a member of its own under
//! `organisations/NAME/`, laid out like a host's: `ledger.json` (its rows exactly as
//! stored, from its first row to the last recorded before the period's end),
//! `signing-key.pub.pem`, `pushes.jsonl`, `receipts.jsonl`, `summary.json` (the ledger
//! crate's `Analyzer` over its rows: the attestations in force with their review
//! trail, occurrences and expiries), and `attestations/files/<sha256>` (every file its
//! attestations name, from the `blobs` table, so SHA256SUMS and `sha256sum -c` cover
//! them). Then the fleet's statement of applicability (`applicability.json`,
//! `applicability.csv`: per host and control, tested on the host, attested by the
//! organisation or the host, both, not applicable or not evidenced), computed by
//! `attestd_ledger::org::fleet_applicability` from the organisation's summaries and the
//! host summaries already written; `attestd verify` recomputes both.
//!
//! Only SELECTs; streams each ledger's rows in batches; never writes the database.

use crate::bundle::{dir_name, write_witnessed, Options};
use attestd_ledger::org::{
    applicability_csv, applicability_json, fleet_applicability, referenced_files,
};
use attestd_ledger::summary::{Analyzer, AttestationSummary, Computed, LedgerAlerts, Parameters};
use attestd_ledger::{Row, RowKind};
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Where organisation members go in a fleet bundle.
pub const DIR: &str = "organisations";
/// The fleet's statement of applicability.
pub const APPLICABILITY_JSON: &str = "applicability.json";
pub const APPLICABILITY_CSV: &str = "applicability.csv";

const BATCH: i64 = 2000;

/// What the organisation part added, for `fleet.json` and `index.html`.
#[derive(Default)]
pub struct Added {
    /// fleet.json's `organisations` (absent when there is no organisation ledger).
    pub population: Vec<serde_json::Value>,
    /// A section of index.html (empty when nothing was added).
    pub html: String,
    pub rows: u64,
    pub files: usize,
}

impl Added {
    /// Add `organisations` to fleet.json when there is one.
    pub fn annotate(&self, fleet: &mut serde_json::Value) {
        if !self.population.is_empty() {
            fleet["organisations"] = serde_json::Value::Array(self.population.clone());
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A summary.json of the bundle (already written) as the slim part the statement
/// needs: the controls' tested results and the attestations.
pub fn slim(computed: &serde_json::Value) -> anyhow::Result<Computed> {
    let mut c: Computed = serde_json::from_value(computed.clone())?;
    c.collectors.clear();
    c.rules.clear();
    c.samples.clear();
    for k in &mut c.controls {
        k.gaps.clear();
        k.exceptions.clear();
        k.waivers.clear();
    }
    Ok(c)
}

/// Write the organisation members and the fleet statement of applicability into
/// `dir`; `population` is fleet.json's host population (its `host` and `dir`).
pub async fn write(
    c: &deadpool_postgres::Object,
    o: &Options,
    params: &Parameters,
    dir: &Path,
    population: &[serde_json::Value],
) -> anyhow::Result<Added> {
    let mut added = Added::default();
    let ledgers = c
        .query(
            "SELECT h.host, h.scope, h.enrolled_at, r.retired_at, h.public_key \
             FROM organisation_ledgers g JOIN hosts h ON h.host = g.host \
             LEFT JOIN host_retirements r ON r.host = h.host \
             WHERE h.enrolled_at < $1 AND (r.retired_at IS NULL OR r.retired_at >= $2) \
             ORDER BY h.host",
            &[&o.to, &o.from],
        )
        .await?;
    let mut summaries: Vec<(String, AttestationSummary)> = Vec::new();
    for l in &ledgers {
        let name: String = l.get(0);
        let rel = format!("{DIR}/{}", dir_name(&name));
        let odir = dir.join(&rel);
        std::fs::create_dir_all(&odir)?;
        std::fs::write(odir.join("signing-key.pub.pem"), l.get::<_, String>(4))?;
        let (computed, rows, last_recorded) = write_rows(c, o, params, &name, &odir).await?;
        added.rows += rows.1.map(|l| l - rows.0.unwrap_or(l) + 1).unwrap_or(0) as u64;
        let upto = rows.1.unwrap_or(0);
        write_witnessed(c, &name, upto, &odir).await?;
        if let Some(a) = &computed.attestations {
            added.files += write_files(c, a, &odir).await?;
            summaries.push((name.clone(), a.clone()));
        }
        write_json(
            &odir.join("summary.json"),
            &serde_json::json!({
                "host": name,
                "ledger": "organisation",
                "parameters": params,
                "computed": computed,
            }),
        )?;
        let enrolled: DateTime<Utc> = l.get(2);
        let retired: Option<DateTime<Utc>> = l.get(3);
        added.population.push(serde_json::json!({
            "organisation": name,
            "dir": rel,
            "scope": l.get::<_, String>(1),
            "enrolled_at": ts(enrolled),
            "retired_at": retired.map(ts),
            "rows": rows.1.map(|l| l - rows.0.unwrap_or(l) + 1).unwrap_or(0),
            "last_recorded": last_recorded,
        }));
    }
    // The fleet's statement of applicability, when any ledger holds attestations.
    let mut hosts: Vec<(String, Computed)> = Vec::new();
    for m in population {
        let host = m["host"].as_str().unwrap_or_default().to_string();
        let rel = m["dir"].as_str().unwrap_or_default();
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(rel).join("summary.json"))?)?;
        hosts.push((host, slim(&s["computed"])?));
    }
    if summaries.is_empty() && hosts.iter().all(|(_, h)| h.attestations.is_none()) {
        return Ok(added);
    }
    let controls = super::catalog::controls(o.framework.as_deref())?;
    let statement = statement(&controls, &summaries, &hosts);
    write_json(&dir.join(APPLICABILITY_JSON), &statement.0)?;
    std::fs::write(dir.join(APPLICABILITY_CSV), statement.1.as_bytes())?;
    added.html = html(&statement.0, &summaries);
    Ok(added)
}

/// applicability.json and applicability.csv, from the organisations' summaries and the
/// hosts' (the ledger crate's functions, which `attestd verify` calls too).
fn statement(
    controls: &[(String, String)],
    orgs: &[(String, AttestationSummary)],
    hosts: &[(String, Computed)],
) -> (serde_json::Value, String) {
    let org_refs: Vec<&AttestationSummary> = orgs.iter().map(|(_, a)| a).collect();
    let names: Vec<&str> = orgs.iter().map(|(n, _)| n.as_str()).collect();
    let host_refs: Vec<(&str, &Computed)> = hosts.iter().map(|(h, c)| (h.as_str(), c)).collect();
    let fc = fleet_applicability(controls, &org_refs, &host_refs);
    (applicability_json(&names, &fc), applicability_csv(&fc))
}

fn html(statement: &serde_json::Value, orgs: &[(String, AttestationSummary)]) -> String {
    let mut p = String::from("<h2 id=\"organisation\">Organisation evidence</h2>\n");
    for (name, a) in orgs {
        p += &format!(
            "<h3>{}</h3>\n<table><tr><th>attestation</th><th>kind</th><th>title</th><th>controls</th><th>effective</th><th>review</th><th>counts</th><th>files</th></tr>\n",
            html_escape(name)
        );
        for e in &a.attestations {
            let files: Vec<String> = e
                .files
                .iter()
                .map(|f| {
                    format!(
                        "<a href=\"{DIR}/{}/attestations/files/{}\">{}</a>",
                        html_escape(&dir_name(name)),
                        f.sha256,
                        html_escape(&f.name)
                    )
                })
                .collect();
            p += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}..{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                html_escape(&e.id),
                e.kind.as_str(),
                html_escape(&e.title),
                html_escape(&e.controls.join(", ")),
                e.effective_from,
                e.effective_to,
                html_escape(&e.review),
                e.counts_as_evidence,
                files.join(" ")
            );
        }
        p += "</table>\n";
    }
    p += "<h2 id=\"fleet-soa\">Statement of applicability (fleet)</h2>\n<p>Per control, how many hosts have it tested by attestd, attested (by the organisation or the host), both, not applicable, or not evidenced; applicability.csv has every host.</p>\n<table><tr><th>control</th><th>name</th><th>hosts</th><th>tested</th><th>attested</th><th>both</th><th>not applicable</th><th>not evidenced</th><th>organisation's attestations</th></tr>\n";
    for c in statement["controls"].as_array().into_iter().flatten() {
        let orgs: Vec<&str> = c["organisation"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        p += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html_escape(c["control"].as_str().unwrap_or_default()),
            html_escape(c["name"].as_str().unwrap_or_default()),
            c["hosts"],
            c["tested"],
            c["attested"],
            c["both"],
            c["not_applicable"],
            c["not_evidenced"],
            html_escape(&orgs.join(" "))
        );
    }
    p + "</table>\n"
}

/// The ledger's rows into ledger.json and the analyzer: (computed, (first, last),
/// last recorded).
async fn write_rows(
    c: &deadpool_postgres::Object,
    o: &Options,
    params: &Parameters,
    name: &str,
    odir: &Path,
) -> anyhow::Result<(Computed, (Option<i64>, Option<i64>), Option<String>)> {
    let names_fn = |_: &str| None::<String>;
    let alerts = LedgerAlerts::default();
    let mut analyzer =
        Analyzer::new(params.clone(), &names_fn, &alerts).map_err(|e| anyhow::anyhow!(e))?;
    let mut ledger = BufWriter::new(std::fs::File::create(odir.join("ledger.json"))?);
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
                "SELECT seq, kind, recorded_at, body, prev_sha256, content_sha256 \
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
    let mut computed = analyzer.finish();
    attestd_ledger::fleet::mark_not_reporting(&mut computed, last_recorded.as_deref(), &to_text);
    Ok((computed, (first, last), last_recorded))
}

/// Every file the ledger's attestations name, from the blobs table, each checked
/// against its name.
async fn write_files(
    c: &deadpool_postgres::Object,
    a: &AttestationSummary,
    odir: &Path,
) -> anyhow::Result<usize> {
    let files = referenced_files(a);
    if files.is_empty() {
        return Ok(0);
    }
    let fdir = odir.join("attestations").join("files");
    std::fs::create_dir_all(&fdir)?;
    for sha in &files {
        let Some(r) = c
            .query_opt("SELECT content FROM blobs WHERE sha256 = $1", &[sha])
            .await?
        else {
            anyhow::bail!("attested file {sha}: not in the blobs table, although a stored attestation row names it");
        };
        let content: Vec<u8> = r.get(0);
        if hex::encode(Sha256::digest(&content)) != *sha {
            anyhow::bail!("attested file {sha}: the stored content no longer hashes to its name");
        }
        std::fs::write(fdir.join(sha), content)?;
    }
    Ok(files.len())
}

fn write_json(path: &Path, v: &serde_json::Value) -> anyhow::Result<()> {
    let mut b = serde_json::to_vec_pretty(v)?;
    b.push(b'\n');
    std::fs::write(path, b)?;
    Ok(())
}
