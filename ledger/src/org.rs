//! The organisation ledger: evidence that belongs to no host (company training, supplier
//! reviews, risk assessments), recorded with `attestd attest` against a ledger of its
//! own and pushed to the fleet server like a host's, witnessed by the same receipts.
//! This module owns what such a ledger may hold ([`check_row`]), the wire format of the
//! attested files it uploads ([`BLOB_PATH`], [`blob_message`]), and the fleet's
//! statement of applicability ([`fleet_applicability`]): per host and control, whether
//! attestd tested it on the host, the organisation or the host attested it, or nothing
//! evidenced it. The server computes it when it builds a fleet bundle and `attestd
//! verify` recomputes it: one implementation.
//!
//! Data and arithmetic only: no network, no keys, no database, no clock.

use crate::body::{AlertRecord, ItemKind};
use crate::summary::{AttestationEntry, AttestationSummary, Computed};
use crate::{Row, RowKind};
use serde::{Deserialize, Serialize};

/// Path where an organisation ledger uploads an attested file (the body is the file's
/// bytes; the headers below name and sign it).
pub const BLOB_PATH: &str = "/v1/blob";
/// Header: the ledger's name (as enrolled).
pub const HEADER_HOST: &str = "x-attestd-host";
/// Header: lowercase hex SHA-256 of the body.
pub const HEADER_SHA256: &str = "x-attestd-sha256";
/// Header: Ed25519 signature by the ledger's key over [`blob_message`], hex.
pub const HEADER_SIGNATURE: &str = "x-attestd-signature";

/// The answer to an accepted upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobResponse {
    pub sha256: String,
    pub size: u64,
    /// False when the server already held this content.
    pub stored: bool,
}

/// The bytes a ledger signs to upload a file of `size` bytes with this SHA-256.
pub fn blob_message(host: &str, sha256: &str, size: u64) -> Vec<u8> {
    format!("attestd-blob-v1\n{host}\n{sha256}\n{size}\n").into_bytes()
}

/// The kinds an organisation ledger holds: attestations, their reviews, the receipts
/// of its pushes, and the reminders about its attestations with their delivery
/// attempts (`attestd attest remind` on the organisation's ledger).
pub const ORGANISATION_KINDS: [RowKind; 5] = [
    RowKind::Attestation,
    RowKind::AttestationReview,
    RowKind::Receipt,
    RowKind::Alert,
    RowKind::AlertAttempt,
];

/// May this row be in an organisation ledger? An `alert` must be a reminder about an
/// attestation (every item `attestation_due`); anything a host records about itself
/// (runs, evidence, verdicts, policy, drift, probes, drift alerts) is refused.
pub fn check_row(row: &Row) -> Result<(), String> {
    if !ORGANISATION_KINDS.contains(&row.kind) {
        return Err(format!(
            "row {}: kind `{}` is a host's record; an organisation ledger holds only attestation, attestation_review, receipt and attestation reminder (alert, alert_attempt) rows",
            row.seq, row.kind
        ));
    }
    if row.kind == RowKind::Alert {
        let a: AlertRecord = row
            .decode()
            .map_err(|e| format!("row {}: not an alert: {e}", row.seq))?;
        if a.items.is_empty() || a.items.iter().any(|i| i.kind != ItemKind::AttestationDue) {
            return Err(format!(
                "row {}: an alert about a host ({}); an organisation ledger holds only attestation reminders",
                row.seq, a.run
            ));
        }
    }
    Ok(())
}

/// One host and control in the fleet's statement of applicability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostApplicability {
    pub host: String,
    /// `tested`, `attested`, `both`, `not_applicable` or `not_evidenced`.
    pub source: String,
    /// The host's tested result, when attestd's rules tested the control on it.
    pub tested_result: Option<String>,
    /// `organisation`, `host`, `organisation+host`, or empty.
    pub attested_by: String,
    /// Counting attestations for it: the organisation's first, then the host's.
    pub attestations: Vec<String>,
    /// For `not_applicable`: the attestation that says why, and its title.
    pub justification: Option<String>,
    /// Missed occurrences of its recurring attestations (organisation's and host's).
    pub gaps: u64,
    /// Expiries not renewed in time (organisation's and host's).
    pub exceptions: u64,
}

/// One control across the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetControl {
    pub control: String,
    pub name: String,
    pub hosts: u64,
    pub tested: u64,
    pub attested: u64,
    pub both: u64,
    pub not_applicable: u64,
    pub not_evidenced: u64,
    /// The organisation ledgers' counting attestations for it.
    pub organisation: Vec<String>,
    pub per_host: Vec<HostApplicability>,
}

/// What the attestations of one ledger say about one control.
#[derive(Default)]
struct Said {
    counting: Vec<String>,
    not_applicable: Option<String>,
    gaps: u64,
    exceptions: u64,
}

fn said<'a>(summaries: impl IntoIterator<Item = &'a AttestationSummary>, control: &str) -> Said {
    let mut s = Said::default();
    let counts = |e: &&AttestationEntry| {
        e.counts_as_evidence && e.in_force && e.controls.iter().any(|c| c == control)
    };
    for a in summaries {
        for e in a.attestations.iter().filter(counts) {
            if e.not_applicable {
                s.not_applicable
                    .get_or_insert_with(|| format!("{}: {}", e.id, e.title));
            } else {
                s.counting.push(e.id.clone());
            }
        }
        s.gaps += a
            .series
            .iter()
            .filter(|x| x.control == control)
            .map(|x| x.missed)
            .sum::<u64>();
        s.exceptions += a.exceptions.iter().filter(|x| x.control == control).count() as u64;
    }
    s
}

/// The fleet's statement of applicability over `controls` (`framework:ID`, name):
/// for every host of the population (its summary) and every control, the source of
/// its evidence. A control is attested for a host when an organisation ledger or the
/// host's own ledger holds a counting attestation for it (not rejected, not
/// superseded, in force in the period); occurrences and expiries are counted per
/// ledger, as each ledger's summary counts them.
pub fn fleet_applicability(
    controls: &[(String, String)],
    organisations: &[&AttestationSummary],
    hosts: &[(&str, &Computed)],
) -> Vec<FleetControl> {
    let mut out = Vec::with_capacity(controls.len());
    for (control, name) in controls {
        let org = said(organisations.iter().copied(), control);
        let mut fc = FleetControl {
            control: control.clone(),
            name: name.clone(),
            hosts: 0,
            tested: 0,
            attested: 0,
            both: 0,
            not_applicable: 0,
            not_evidenced: 0,
            organisation: org.counting.clone(),
            per_host: Vec::with_capacity(hosts.len()),
        };
        for (host, computed) in hosts {
            let tested_result = computed
                .controls
                .iter()
                .find(|c| &c.id == control)
                .map(|c| c.result.clone());
            let tested = tested_result.as_deref().is_some_and(|r| r != "not_tested");
            let own = said(computed.attestations.iter(), control);
            let attested_by = match (!org.counting.is_empty(), !own.counting.is_empty()) {
                (true, true) => "organisation+host",
                (true, false) => "organisation",
                (false, true) => "host",
                (false, false) => "",
            };
            let na = org
                .not_applicable
                .clone()
                .or_else(|| own.not_applicable.clone());
            let source = match (tested, !attested_by.is_empty()) {
                (true, true) => "both",
                (true, false) => "tested",
                (false, true) => "attested",
                (false, false) if na.is_some() => "not_applicable",
                _ => "not_evidenced",
            };
            fc.hosts += 1;
            match source {
                "both" => fc.both += 1,
                "tested" => fc.tested += 1,
                "attested" => fc.attested += 1,
                "not_applicable" => fc.not_applicable += 1,
                _ => fc.not_evidenced += 1,
            }
            fc.per_host.push(HostApplicability {
                host: host.to_string(),
                source: source.into(),
                tested_result,
                attested_by: attested_by.into(),
                attestations: org
                    .counting
                    .iter()
                    .chain(own.counting.iter())
                    .cloned()
                    .collect(),
                justification: na.filter(|_| source == "not_applicable"),
                gaps: org.gaps + own.gaps,
                exceptions: org.exceptions + own.exceptions,
            });
        }
        out.push(fc);
    }
    out
}

/// The format tag of a fleet bundle's `applicability.json`.
pub const APPLICABILITY_FORMAT: &str = "attestd-fleet-applicability/1";

/// A fleet bundle's `applicability.json`: the organisation ledgers it counts and the
/// statement per control.
pub fn applicability_json(organisations: &[&str], controls: &[FleetControl]) -> serde_json::Value {
    serde_json::json!({
        "format": APPLICABILITY_FORMAT,
        "organisations": organisations,
        "controls": controls,
    })
}

/// A fleet bundle's `applicability.csv`: one line per host and control.
pub fn applicability_csv(controls: &[FleetControl]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out = String::from(
        "host,control,name,source,tested_result,attested_by,attestations,justification,missed_occurrences,expiry_exceptions\n",
    );
    for c in controls {
        for h in &c.per_host {
            let line = [
                field(&h.host),
                field(&c.control),
                field(&c.name),
                h.source.clone(),
                h.tested_result.clone().unwrap_or_default(),
                h.attested_by.clone(),
                field(&h.attestations.join(" ")),
                field(h.justification.as_deref().unwrap_or_default()),
                h.gaps.to_string(),
                h.exceptions.to_string(),
            ];
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// The attested files (SHA-256) an organisation ledger's summary refers to.
pub fn referenced_files(a: &AttestationSummary) -> std::collections::BTreeSet<String> {
    a.attestations
        .iter()
        .flat_map(|e| e.files.iter().map(|f| f.sha256.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{AlertItem, Attestation, AttestationKind, Effective, RunRecord, Status};
    use crate::summary::attestation_summary;
    use crate::Body;

    fn row<B: Body>(seq: i64, b: &B) -> Row {
        Row::new(
            seq,
            B::KIND,
            "2026-03-01T00:00:00Z",
            b.to_body(),
            &crate::GENESIS,
        )
    }

    #[test]
    fn an_organisation_ledger_takes_attestations_and_reminders_only() {
        let a = Attestation {
            key: "att-1".into(),
            kind: AttestationKind::Training,
            title: "Awareness 2026".into(),
            controls: vec!["iso27001-2022:A.6.3".into()],
            effective: Effective {
                from: "2026-02-01".into(),
                to: "2026-02-01".into(),
            },
            expires: None,
            every: None,
            performed_by: None,
            owner: None,
            recorded_by: "hr".into(),
            files: vec![],
            supersedes: None,
            not_applicable: false,
        };
        check_row(&row(1, &a)).unwrap();
        let run = RunRecord {
            key: "r1".into(),
            started_at: "2026-03-01T00:00:00Z".into(),
            finished_at: "2026-03-01T00:00:01Z".into(),
            trigger: "schedule".into(),
            collectors: Default::default(),
        };
        let e = check_row(&row(2, &run)).unwrap_err();
        assert!(e.contains("kind `run`"), "{e}");
        let item = |kind| AlertItem {
            kind,
            rule: "attest:att-1".into(),
            title: "t".into(),
            collector: "attest".into(),
            status: Status::Pass,
            severity: "medium".into(),
            controls: vec![],
            observed: serde_json::Value::Null,
            expected: String::new(),
            reason: None,
            remediation: String::new(),
            failing_since: None,
            consecutive_failures: 0,
        };
        let mut alert = AlertRecord {
            key: "k".into(),
            host: "acme".into(),
            run: "attest-reminder:2026-03-01".into(),
            created_at: "2026-03-01T00:00:00Z".into(),
            items: vec![item(ItemKind::AttestationDue)],
            routes: Default::default(),
            test: false,
        };
        check_row(&row(3, &alert)).unwrap();
        alert.items.push(item(ItemKind::Failing));
        assert!(check_row(&row(4, &alert))
            .unwrap_err()
            .contains("about a host"));

        // The organisation's training counts for a host that tests nothing of A.6.3.
        let s = attestation_summary(
            [&row(1, &a)],
            crate::summary::parse_time("2026-01-01T00:00:00Z").unwrap(),
            crate::summary::parse_time("2026-04-01T00:00:00Z").unwrap(),
            &[],
        )
        .unwrap();
        let host: Computed = serde_json::from_value(serde_json::json!({
            "collectors": {}, "rules": {}, "controls": [], "policy_changes": [],
            "policies_in_force": [], "time_zones": [], "samples": [],
            "evidence_rows": 0, "runs": 0
        }))
        .unwrap();
        let controls = vec![
            ("iso27001-2022:A.6.3".to_string(), "Awareness".to_string()),
            ("iso27001-2022:A.5.19".to_string(), "Suppliers".to_string()),
        ];
        let soa = fleet_applicability(&controls, &[&s], &[("web-1", &host), ("web-2", &host)]);
        assert_eq!((soa[0].attested, soa[0].not_evidenced), (2, 0));
        assert_eq!(soa[0].per_host[1].attested_by, "organisation");
        assert_eq!(soa[0].per_host[1].attestations, ["att-1"]);
        assert_eq!((soa[1].attested, soa[1].not_evidenced), (0, 2));
        // Without the organisation's ledger, nothing evidences it.
        let soa = fleet_applicability(&controls, &[], &[("web-1", &host)]);
        assert_eq!(soa[0].per_host[0].source, "not_evidenced");
    }
}
