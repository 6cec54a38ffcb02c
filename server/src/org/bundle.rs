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
//! hosts' (their slim part, kept from when each was written); `attestd verify`
//! recomputes both.
//!
//! Only SELECTs; streams each ledger's rows in batches; never writes the database.

use crate::bundle::{
    dir_name, html_escape, ts, write_rows, write_witnessed, Options, Out, SummaryFile,
};
use attestd_ledger::org::{
    applicability_csv, applicability_json, fleet_applicability, referenced_files,
};
use attestd_ledger::summary::{AttestationSummary, Computed, Parameters};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Where organisation members go in a fleet bundle.
pub const DIR: &str = "organisations";
/// The fleet's statement of applicability.
pub const APPLICABILITY_JSON: &str = "applicability.json";
pub const APPLICABILITY_CSV: &str = "applicability.csv";

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

/// A host's computed summary as the slim part the statement needs: the controls'
/// tested results and the attestations. The dropped parts are freed, not only emptied
/// (a host's gaps can be megabytes, and the slim parts of every host are kept).
pub fn slim(c: Computed) -> Computed {
    Computed {
        collectors: Default::default(),
        rules: Default::default(),
        controls: c
            .controls
            .into_iter()
            .map(|mut k| {
                k.gaps = Vec::new();
                k.exceptions = Vec::new();
                k.waivers = Vec::new();
                k
            })
            .collect(),
        samples: Vec::new(),
        ..c
    }
}

/// Write the organisation members and the fleet statement of applicability into
/// `out`; `hosts` is each host of the population with its [`slim`] summary.
pub async fn write(
    c: &deadpool_postgres::Object,
    o: &Options,
    params: &Parameters,
    out: &mut Out,
    hosts: &[(String, Computed)],
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
        out.write(
            &format!("{rel}/signing-key.pub.pem"),
            l.get::<_, String>(4).as_bytes(),
        )?;
        let (computed, rows, last_recorded) =
            write_rows(c, o, params, &name, out, &rel, |_, _| Ok(())).await?;
        added.rows += rows.1.map(|l| l - rows.0.unwrap_or(l) + 1).unwrap_or(0) as u64;
        let upto = rows.1.unwrap_or(0);
        write_witnessed(c, &name, upto, out, &rel).await?;
        if let Some(a) = &computed.attestations {
            added.files += write_files(c, a, out, &rel).await?;
            summaries.push((name.clone(), a.clone()));
        }
        out.write_json(
            &format!("{rel}/summary.json"),
            &SummaryFile {
                host: &name,
                ledger: Some("organisation"),
                parameters: params,
                computed: &computed,
            },
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
    if summaries.is_empty() && hosts.iter().all(|(_, h)| h.attestations.is_none()) {
        return Ok(added);
    }
    let controls = super::catalog::controls(o.framework.as_deref())?;
    let statement = statement(&controls, &summaries, hosts);
    out.write_json(APPLICABILITY_JSON, &statement.0)?;
    out.write(APPLICABILITY_CSV, statement.1.as_bytes())?;
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

/// Every file the ledger's attestations name, from the blobs table, each checked
/// against its name.
async fn write_files(
    c: &deadpool_postgres::Object,
    a: &AttestationSummary,
    out: &mut Out,
    odir: &str,
) -> anyhow::Result<usize> {
    let files = referenced_files(a);
    if files.is_empty() {
        return Ok(0);
    }
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
        out.write(&format!("{odir}/attestations/files/{sha}"), &content)?;
    }
    Ok(files.len())
}
