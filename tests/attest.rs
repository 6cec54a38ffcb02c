//! Attestations end to end, on real SQLite ledgers, real bundles written and verified
//! by the real binary, real `sha256sum -c`, `openssl pkeyutl -verify` and `minisign -V`,
//! compliance-trestle for OSCAL and a real HTTP receiver for reminders. Times that
//! matter come from an injected clock (the library's `Recorder` takes a `Clock`); the
//! CLI tests use the real clock and a period around today.

mod alerts_support;
mod common;
use attestd::attest::{blobs::BlobStore, Draft, Recorder};
use attestd::clock::Clock;
use attestd::store::Store;
use attestd_ledger::body::{AttestationKind, Effective, Recurrence, ReviewDecision};
use chrono::{DateTime, Utc};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct At(DateTime<Utc>);
impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn catalog() -> attestd::policy::Catalog {
    attestd::policy::PolicySet::load_from(None, &attestd::policy::PolicyInputs::default())
        .unwrap()
        .catalog
}

fn draft(kind: AttestationKind, controls: &[&str], from: &str, to: &str) -> Draft {
    Draft {
        kind,
        title: format!("{} {from}", kind.as_str()),
        controls: controls.iter().map(|c| c.to_string()).collect(),
        effective: Effective {
            from: from.into(),
            to: to.into(),
        },
        expires: None,
        every: None,
        performed_by: None,
        owner: None,
        files: vec![],
        not_applicable: false,
    }
}

/// Record `d` at `at` into `db`; returns the attestation id.
fn record(db: &Path, at: &str, d: Draft, supersedes: Option<&str>) -> String {
    let mut store = Store::open(db).unwrap();
    let clock = At(t(at));
    let mut r = Recorder {
        store: &mut store,
        blobs: BlobStore::beside(db),
        clock: &clock,
        user: "auditee".into(),
    };
    r.record(d, supersedes.map(str::to_string), &catalog())
        .unwrap()
        .1
        .key
}

fn review(db: &Path, at: &str, id: &str, decision: ReviewDecision) {
    let mut store = Store::open(db).unwrap();
    let clock = At(t(at));
    let mut r = Recorder {
        store: &mut store,
        blobs: BlobStore::beside(db),
        clock: &clock,
        user: "auditee".into(),
    };
    r.review(
        id,
        decision,
        "ciso@example.com",
        "checked against the HR export",
    )
    .unwrap();
}

fn bundle(db: &Path, from: &str, to: &str, out: &Path) {
    let o = attestd()
        .args(["bundle", "--from", from, "--to", to, "--db"])
        .arg(db)
        .arg("--out")
        .arg(out)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let (so, se) = text(&o);
    assert!(o.status.success(), "bundle failed: {so}\n{se}");
}

fn verify(out: &Path) -> (i32, String) {
    let o = attestd().arg("verify").arg(out).output().unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap(), format!("{so}{se}"))
}

fn sha256sum_ok(dir: &Path) -> bool {
    Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success()
}

fn signatures_ok(dir: &Path) -> bool {
    let o = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signing-key.pub.pem",
            "-rawin",
            "-in",
            "SHA256SUMS",
            "-sigfile",
            "SHA256SUMS.sig",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    let m = Command::new("minisign")
        .args([
            "-V",
            "-q",
            "-p",
            "signing-key.pub.minisign",
            "-m",
            "SHA256SUMS",
        ])
        .current_dir(dir)
        .status()
        .expect("minisign is installed");
    o.status.success() && m.success()
}

fn attestations(out: &Path) -> serde_json::Value {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    s["computed"]["attestations"].clone()
}

fn soa_row<'a>(a: &'a serde_json::Value, control: &str) -> &'a serde_json::Value {
    a["applicability"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == control)
        .unwrap_or_else(|| panic!("{control} missing from the statement of applicability"))
}

/// A year of quarterly access reviews (it-ops, one file) with the third quarter's
/// never recorded; returns the database.
fn quarterly_year(dir: &Path) -> PathBuf {
    let db = dir.join("attestd.db");
    let file = dir.join("q1-review.md");
    std::fs::write(
        &file,
        "# Q1 access review\n14 accounts reviewed, 2 removed.\n",
    )
    .unwrap();
    let controls = ["iso27001-2022:A.5.18", "soc2:CC6.3"];
    for (at, from, to) in [
        ("2025-04-03T09:00:00Z", "2025-01-01", "2025-03-31"),
        ("2025-07-02T09:00:00Z", "2025-04-01", "2025-06-30"),
        // the third quarter's review never happened
        ("2025-12-20T09:00:00Z", "2025-10-01", "2025-12-15"),
    ] {
        let mut d = draft(AttestationKind::AccessReview, &controls, from, to);
        d.every = Some(Recurrence::Quarterly);
        d.performed_by = Some("it-ops".into());
        d.files = vec![file.clone()];
        record(&db, at, d, None);
    }
    db
}

#[test]
fn a_year_of_quarterly_access_reviews_with_one_quarter_missed_shows_exactly_that_gap() {
    let dir = tempfile::tempdir().unwrap();
    let db = quarterly_year(dir.path());
    let out = dir.path().join("bundle");
    bundle(&db, "2025-01-01", "2025-12-31", &out);
    let (code, v) = verify(&out);
    assert_eq!(code, 0, "{v}");
    assert!(sha256sum_ok(&out));
    assert!(signatures_ok(&out));
    let a = attestations(&out);
    let series = a["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "one series per control: {series:?}");
    for s in series {
        assert_eq!(s["kind"], "access_review");
        assert_eq!(s["every"], "3mo");
        assert_eq!(
            (
                s["expected"].as_u64(),
                s["met"].as_u64(),
                s["missed"].as_u64()
            ),
            (Some(4), Some(3), Some(1))
        );
        let missed: Vec<(&str, &str)> = s["occurrences"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["status"] == "missed")
            .map(|o| (o["from"].as_str().unwrap(), o["to"].as_str().unwrap()))
            .collect();
        assert_eq!(missed, [("2025-07-01", "2025-09-30")]);
    }
    assert_eq!(soa_row(&a, "iso27001-2022:A.5.18")["source"], "attested");
    assert_eq!(soa_row(&a, "iso27001-2022:A.5.18")["gaps"], 1);
    // The one file is in the bundle once, under its hash, listed in SHA256SUMS.
    let sha = a["attestations"][0]["files"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("{sha}  attestations/files/{sha}")),
        "{sums}"
    );
    // OSCAL: each attestation an entity-asserted observation whose origin is a party,
    // the missed quarter a risk; compliance-trestle accepts the document.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("oscal/assessment-results.json")).unwrap())
            .unwrap();
    let ar = &doc["assessment-results"];
    let parties = ar["metadata"]["parties"].as_array().unwrap();
    let obs: Vec<&serde_json::Value> = ar["results"][0]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["title"].as_str().unwrap().starts_with("Attestation "))
        .collect();
    assert_eq!(obs.len(), 3);
    for o in &obs {
        assert_eq!(o["methods"], serde_json::json!(["EXAMINE"]));
        let actor = &o["origins"][0]["actors"][0];
        assert_eq!(actor["type"], "party");
        assert!(parties
            .iter()
            .any(|p| p["uuid"] == actor["actor-uuid"] && p["name"] == "it-ops"));
    }
    let risks = ar["results"][0]["risks"].as_array().unwrap();
    assert_eq!(
        risks
            .iter()
            .filter(|r| r["title"]
                .as_str()
                .unwrap()
                .starts_with("Missed access_review"))
            .count(),
        2
    );
    trestle_accepts(&out.join("oscal/assessment-results.json"));
}

/// index.html of a bundle as headless Chromium parses it (the page has no scripts).
fn dom_of(bundle: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", bundle.join("index.html").display()))
        .output()
        .expect("chromium is installed (.ci/run installs Debian's chromium)");
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        dom.contains("Control evidence for"),
        "chromium rendered nothing: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dom
}

/// The part of `dom` from the element with `id` to the first `end` after it.
fn element<'a>(dom: &'a str, id: &str, end: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in the page"));
    let rest = &dom[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn index_html_shows_the_missed_quarter_as_a_gap_the_attested_control_and_no_rejected_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let db = quarterly_year(dir.path());
    // A backdated third-quarter review, rejected at review: it must not fill the gap.
    let mut d = draft(
        AttestationKind::AccessReview,
        &["iso27001-2022:A.5.18", "soc2:CC6.3"],
        "2025-07-01",
        "2025-09-30",
    );
    d.every = Some(Recurrence::Quarterly);
    d.title = "Q3 access review (backdated)".into();
    let rejected = record(&db, "2025-10-02T09:00:00Z", d, None);
    review(
        &db,
        "2025-10-03T09:00:00Z",
        &rejected,
        ReviewDecision::Rejected,
    );
    let out = dir.path().join("bundle");
    bundle(&db, "2025-01-01", "2025-12-31", &out);
    let (code, v) = verify(&out);
    assert_eq!(code, 0, "verify recomputes index.html byte for byte: {v}");
    let dom = dom_of(&out);

    // The missed quarter is a gap with its dates, once per control of the series.
    let recurring = element(&dom, "recurring", "</section>");
    let gap = "<tr class=\"occurrence missed\"><td>2025-07-01</td><td>2025-09-30</td><td class=\"gaps\">missed: gap in evidence</td><td></td></tr>";
    assert_eq!(recurring.matches(gap).count(), 2, "{recurring}");
    assert_eq!(recurring.matches("class=\"occurrence missed\"").count(), 2);
    assert_eq!(recurring.matches("class=\"occurrence met\"").count(), 6);
    assert!(recurring.contains("4 expected, <span class=\"effective\">3 met</span>, <span class=\"gaps\">1 missed</span>"), "{recurring}");

    // The statement of applicability: the attested control says so, with its gap;
    // a control nothing evidences says that.
    let row = element(&dom, "soa-iso27001-2022:A.5.18", "</tr>");
    assert!(
        row.contains("<td class=\"source attested\">attested</td>"),
        "{row}"
    );
    assert!(row.contains("<td class=\"gaps\">1</td>"), "{row}");
    assert!(
        !row.contains(&rejected),
        "a rejected attestation is no evidence: {row}"
    );
    let row = element(&dom, "soa-iso27001-2022:A.5.19", "</tr>");
    assert!(
        row.contains("<td class=\"source not_evidenced\">not evidenced</td>"),
        "{row}"
    );
    let soa = element(&dom, "soa-table", "</table>");
    assert_eq!(
        soa.matches("class=\"soa-row\"").count(),
        93 + soc2_criteria()
    );

    // Evidence: the three reviews, their file by hash; the rejected one only in the
    // trail of what does not count, with who rejected it and why.
    let counted = element(&dom, "attestations-counted", "</table>");
    assert_eq!(
        counted.matches("<tr class=\"attestation counted\"").count(),
        3,
        "{counted}"
    );
    assert!(!counted.contains(&rejected), "{counted}");
    let sha = attestations(&out)["attestations"][0]["files"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        counted
            .matches(&format!("href=\"attestations/files/{sha}\""))
            .count(),
        3
    );
    assert!(counted.contains("<td>it-ops</td>"), "performer: {counted}");
    let not_counted = element(&dom, "attestations-not-counted", "</table>");
    let r = element(not_counted, &format!("attestation-{rejected}"), "</tr>");
    assert!(
        r.starts_with(&format!("id=\"attestation-{rejected}\"")),
        "{r}"
    );
    assert!(
        r.contains("<td class=\"review-state rejected\">rejected</td>"),
        "{r}"
    );
    assert!(
        r.contains("rejected by ciso@example.com at 2025-10-03T09:00:00Z")
            && r.contains("checked against the HR export"),
        "the review trail: {r}"
    );
    assert!(
        dom.contains("<b>3</b> counted as evidence (1 not counted"),
        "{dom:.4000}"
    );
}

/// Text as index.html escapes it.
fn html_esc(s: &str) -> String {
    attestd::bundle::html::esc(s)
}

/// How many SOC 2 criteria the catalog lists.
fn soc2_criteria() -> usize {
    catalog()
        .frameworks
        .get(attestd::policy::catalog::SOC2)
        .unwrap()
        .controls
        .len()
}

fn trestle_accepts(doc: &Path) {
    let script = r#"
import json, sys
from trestle.oscal.assessment_results import AssessmentResults
d = json.load(open(sys.argv[1]))
AssessmentResults.parse_obj(d["assessment-results"])
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(doc)
        .output()
        .expect("python3 with compliance-trestle (installed by .ci/run)");
    let (_, se) = text(&o);
    assert!(o.status.success(), "trestle rejected the document: {se}");
}

#[test]
fn training_that_expires_mid_period_is_an_exception_from_that_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    // Recorded the year before the period: the bundle carries it as an anchor.
    let mut d = draft(
        AttestationKind::Training,
        &["iso27001-2022:A.6.3", "soc2:CC1.4"],
        "2024-07-01",
        "2024-07-01",
    );
    d.expires = Some("2025-07-01".into());
    let first = record(&db, "2024-07-01T12:00:00Z", d, None);
    let mut d = draft(
        AttestationKind::Training,
        &["iso27001-2022:A.6.3", "soc2:CC1.4"],
        "2025-09-15",
        "2025-09-15",
    );
    d.expires = Some("2026-09-15".into());
    record(&db, "2025-09-16T08:00:00Z", d, None);
    let out = dir.path().join("bundle");
    bundle(&db, "2025-01-01", "2025-12-31", &out);
    let (code, v) = verify(&out);
    assert_eq!(code, 0, "{v}");
    let a = attestations(&out);
    let x = a["exceptions"].as_array().unwrap();
    assert_eq!(x.len(), 2, "{x:?}");
    for e in x {
        assert_eq!(e["attestation"], first.as_str());
        assert_eq!(e["from"], "2025-07-01");
        assert_eq!(e["until"], "2025-09-15T00:00:00Z");
        assert_eq!(e["duration_seconds"], 76 * 86400);
        assert_eq!(e["open"], false);
    }
    assert_eq!(a["attestations"].as_array().unwrap().len(), 2);
    assert_eq!(soa_row(&a, "iso27001-2022:A.6.3")["exceptions"], 1);
    assert!(a["series"].as_array().unwrap().is_empty());
    // index.html shows the same exception with its dates, once per control.
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    let row = format!("<td><a href=\"#attestation-{first}\">{first}</a></td><td>2025-07-01</td><td>2025-09-15T00:00:00Z</td><td>76 d 0 h 0 min 0 s</td></tr>");
    assert_eq!(page.matches(&row).count(), 2, "{page}");
}

#[test]
fn a_superseded_attestation_keeps_both_revisions_and_a_rejected_one_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    let wrong = record(
        &db,
        "2025-03-02T10:00:00Z",
        draft(
            AttestationKind::DrDrill,
            &["iso27001-2022:A.5.30"],
            "2025-02-03",
            "2025-02-03",
        ),
        None,
    );
    let right = record(
        &db,
        "2025-03-03T10:00:00Z",
        draft(
            AttestationKind::DrDrill,
            &["iso27001-2022:A.5.30"],
            "2025-02-28",
            "2025-02-28",
        ),
        Some(&wrong),
    );
    // A revision cannot be superseded twice.
    let mut store = Store::open(&db).unwrap();
    let clock = At(t("2025-03-04T10:00:00Z"));
    let err = Recorder {
        store: &mut store,
        blobs: BlobStore::beside(&db),
        clock: &clock,
        user: "auditee".into(),
    }
    .record(
        draft(
            AttestationKind::DrDrill,
            &["iso27001-2022:A.5.30"],
            "2025-02-27",
            "2025-02-27",
        ),
        Some(wrong.clone()),
        &catalog(),
    )
    .unwrap_err();
    assert!(err.contains("already superseded by"), "{err}");
    drop(store);
    let vendor = record(
        &db,
        "2025-05-10T10:00:00Z",
        draft(
            AttestationKind::VendorReview,
            &["iso27001-2022:A.5.19"],
            "2025-05-09",
            "2025-05-09",
        ),
        None,
    );
    review(
        &db,
        "2025-05-11T10:00:00Z",
        &vendor,
        ReviewDecision::Approved,
    );
    review(
        &db,
        "2025-05-12T10:00:00Z",
        &vendor,
        ReviewDecision::Rejected,
    );
    review(
        &db,
        "2025-05-12T11:00:00Z",
        &right,
        ReviewDecision::Approved,
    );
    let out = dir.path().join("bundle");
    bundle(&db, "2025-01-01", "2025-12-31", &out);
    let (code, v) = verify(&out);
    assert_eq!(code, 0, "{v}");
    let a = attestations(&out);
    let entry = |id: &str| {
        a["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))
            .clone()
    };
    let (w, r, x) = (entry(&wrong), entry(&right), entry(&vendor));
    assert_eq!(w["superseded_by"], right.as_str());
    assert_eq!(w["counts_as_evidence"], false);
    assert_eq!(r["supersedes"], wrong.as_str());
    assert_eq!(r["counts_as_evidence"], true);
    assert_eq!(r["review"], "approved");
    assert_eq!(x["review"], "rejected");
    assert_eq!(x["reviews"].as_array().unwrap().len(), 2, "the whole trail");
    assert_eq!(x["counts_as_evidence"], false);
    assert_eq!(
        soa_row(&a, "iso27001-2022:A.5.30")["attestations"],
        serde_json::json!([right])
    );
    assert_eq!(
        soa_row(&a, "iso27001-2022:A.5.19")["source"],
        "not_evidenced"
    );
    assert_eq!(
        soa_row(&a, "iso27001-2022:A.5.19")["attestations"],
        serde_json::json!([])
    );
}

#[test]
fn an_edited_attached_file_fails_verify_and_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    let file = dir.path().join("restore.txt");
    std::fs::write(
        &file,
        "Restore of db-1 from restic snapshot 4f2a: 38 min, checksums match.\n",
    )
    .unwrap();
    let mut d = draft(
        AttestationKind::RestoreTest,
        &["soc2:A1.3"],
        "2025-06-02",
        "2025-06-02",
    );
    d.files = vec![file];
    record(&db, "2025-06-02T15:00:00Z", d, None);
    let out = dir.path().join("bundle");
    bundle(&db, "2025-01-01", "2025-12-31", &out);
    assert_eq!(verify(&out).0, 0);
    assert!(sha256sum_ok(&out));
    let a = attestations(&out);
    let sha = a["attestations"][0]["files"][0]["sha256"].as_str().unwrap();
    let attached = out.join("attestations/files").join(sha);
    std::fs::write(
        &attached,
        "Restore of db-1: 38 min, checksums match (edited).\n",
    )
    .unwrap();
    let (code, v) = verify(&out);
    assert_eq!(code, 1, "{v}");
    assert!(v.contains(&format!("attestations/files/{sha}")), "{v}");
    assert!(!sha256sum_ok(&out));
    // Re-listing it in SHA256SUMS does not help: the ledger row holds the hash.
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let new = attestd::bundle::sha256_file(&attached).unwrap();
    std::fs::write(
        out.join("SHA256SUMS"),
        sums.replace(
            &format!("{sha}  attestations"),
            &format!("{new}  attestations"),
        ),
    )
    .unwrap();
    let (code, v) = verify(&out);
    assert_eq!(code, 1);
    assert!(
        v.contains("no longer hashes to the SHA-256 its attestation row records"),
        "{v}"
    );
}

fn cli(db: &Path, args: &[&str]) -> (i32, String, String) {
    let o = attestd()
        .args(args)
        .arg("--db")
        .arg(db)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let (so, se) = text(&o);
    (o.status.code().unwrap(), so, se)
}

fn id_of(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("att-"))
        .unwrap_or_else(|| panic!("no id in {stdout}"))
        .to_string()
}

#[test]
fn the_statement_of_applicability_lists_every_control_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    // attestd tests this host (the hardened fixture) now ...
    let o = attestd()
        .args(["collect", "--format", "json", "--root"])
        .arg(fixture("hardened"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(o.status.code().unwrap() <= 1, "{:?}", text(&o));
    // ... and people attest the rest, through the CLI.
    let (c, so, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "training",
            "--control",
            "iso27001-2022:A.6.3",
            "--title",
            "Awareness training 2026",
            "--effective",
            "2026-02-10",
            "--expires",
            "2027-02-10",
            "--performed-by",
            "all staff",
        ],
    );
    assert_eq!(c, 0, "{so}{se}");
    let (c, so, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "access_review",
            "--control",
            "iso27001-2022:A.8.5",
            "--control",
            "iso27001-2022:A.5.18",
            "--title",
            "Admin access review",
            "--covers",
            "2026-01-01..2026-03-31",
            "--every",
            "3mo",
        ],
    );
    assert_eq!(c, 0, "{so}{se}");
    let (c, so, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "other",
            "--not-applicable",
            "--control",
            "iso27001-2022:A.7.4",
            "--title",
            "No premises of our own: the hosting provider's report covers physical monitoring",
            "--effective",
            "2026-01-05",
        ],
    );
    assert_eq!(c, 0, "{so}{se}");
    let na = id_of(&so);
    let (c, so, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "vendor_review",
            "--control",
            "iso27001-2022:A.5.19",
            "--title",
            "Vendor review",
            "--effective",
            "2026-04-01",
        ],
    );
    assert_eq!(c, 0, "{so}{se}");
    let rejected = id_of(&so);
    let (c, so, se) = cli(
        &db,
        &[
            "attest",
            "review",
            &rejected,
            "--reject",
            "--by",
            "ciso@example.com",
            "--reason",
            "no evidence attached",
        ],
    );
    assert_eq!(c, 0, "{so}{se}");
    // --not-applicable only with kind other; a wrong kind names the flag and the value.
    let (c, _, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "training",
            "--not-applicable",
            "--control",
            "iso27001-2022:A.7.1",
            "--title",
            "x",
            "--effective",
            "2026-01-01",
        ],
    );
    assert_eq!(c, 2);
    assert!(se.contains("--not-applicable"), "{se}");
    let (c, _, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "drill",
            "--control",
            "iso27001-2022:A.7.1",
            "--title",
            "x",
            "--effective",
            "2026-01-01",
        ],
    );
    assert_eq!(c, 2);
    assert!(se.contains("--kind `drill`"), "{se}");
    let (c, _, se) = cli(
        &db,
        &[
            "attest",
            "add",
            "--kind",
            "dr_drill",
            "--control",
            "iso27001-2022:A.5.99",
            "--title",
            "x",
            "--effective",
            "2026-01-01",
        ],
    );
    assert_eq!(c, 2);
    assert!(se.contains("--control iso27001-2022:A.5.99"), "{se}");

    let out = dir.path().join("bundle");
    bundle(&db, "2026-01-01", "2026-12-31", &out);
    let (code, v) = verify(&out);
    assert_eq!(code, 0, "{v}");
    assert!(sha256sum_ok(&out));
    assert!(signatures_ok(&out));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let tested: std::collections::BTreeSet<String> = summary["computed"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] != "not_tested")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(tested.contains("iso27001-2022:A.8.5"), "{tested:?}");
    let a = &summary["computed"]["attestations"];
    let rows = a["applicability"].as_array().unwrap();
    let iso: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["control"].as_str().unwrap().starts_with("iso27001-2022:"))
        .collect();
    assert_eq!(iso.len(), 93, "every Annex A control");
    let soc2 = rows
        .iter()
        .filter(|r| r["control"].as_str().unwrap().starts_with("soc2:"))
        .count();
    assert_eq!(soc2, 61, "every SOC 2 criterion of the catalog");
    let attested = [
        "iso27001-2022:A.6.3",
        "iso27001-2022:A.8.5",
        "iso27001-2022:A.5.18",
    ];
    for r in rows {
        let id = r["control"].as_str().unwrap();
        let want = match (tested.contains(id), attested.contains(&id)) {
            (true, true) => "both",
            (true, false) => "tested",
            (false, true) => "attested",
            _ if id == "iso27001-2022:A.7.4" => "not_applicable",
            _ => "not_evidenced",
        };
        assert_eq!(r["source"], want, "{id}: {r}");
    }
    assert_eq!(soa_row(a, "iso27001-2022:A.8.5")["source"], "both");
    let just = soa_row(a, "iso27001-2022:A.7.4")["justification"]
        .as_str()
        .unwrap();
    assert!(
        just.starts_with(&na) && just.contains("hosting provider"),
        "{just}"
    );
    assert_eq!(
        soa_row(a, "iso27001-2022:A.5.19")["source"],
        "not_evidenced"
    );
    // The CSV says the same, one line per control.
    let csv = std::fs::read_to_string(out.join("applicability.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 93 + 61);
    assert!(csv
        .lines()
        .any(|l| l.starts_with("iso27001-2022:A.7.4,") && l.contains(",not_applicable,")));
    // index.html's statement says the same: A.7.4 not applicable, with why; A.8.5 both.
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    let row = |id: &str| {
        let at = page
            .find(&format!("id=\"soa-{id}\""))
            .unwrap_or_else(|| panic!("{id} missing from index.html"));
        page[at..at + page[at..].find("</tr>").unwrap()].to_string()
    };
    let na_row = row("iso27001-2022:A.7.4");
    assert!(
        na_row.contains("<td class=\"source not_applicable\">not applicable</td>")
            && na_row.contains(&html_esc(just)),
        "{na_row}"
    );
    assert!(
        row("iso27001-2022:A.8.5").contains("tested by attestd and attested"),
        "{}",
        row("iso27001-2022:A.8.5")
    );
    // Observations without files are interviews; trestle accepts the document.
    let doc = std::fs::read_to_string(out.join("oscal/assessment-results.json")).unwrap();
    assert!(doc.contains("\"INTERVIEW\""));
    trestle_accepts(&out.join("oscal/assessment-results.json"));
    // Editing the statement is caught.
    std::fs::write(
        out.join("applicability.csv"),
        csv.replace(",not_applicable,", ",attested,"),
    )
    .unwrap();
    let (code, v) = verify(&out);
    assert_eq!(code, 1);
    assert!(v.contains("applicability.csv"), "{v}");

    // attest list: the rejected one is left out unless --all; --due names what is missing.
    let (_, so, _) = cli(&db, &["attest", "list"]);
    assert!(!so.contains(&rejected), "{so}");
    let (_, so, _) = cli(&db, &["attest", "list", "--all"]);
    assert!(so.contains(&rejected) && so.contains("rejected"), "{so}");
    let (c, so, se) = cli(
        &db,
        &[
            "attest",
            "list",
            "--due",
            "--framework",
            "iso27001-2022",
            "--format",
            "json",
        ],
    );
    assert_eq!(c, 0, "{se}");
    let due: serde_json::Value = serde_json::from_str(&so).unwrap();
    let status = |control: &str| {
        due.as_array()
            .unwrap()
            .iter()
            .find(|i| i["control"] == control)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("iso27001-2022:A.6.3"), "ok");
    assert_eq!(
        status("iso27001-2022:A.5.19"),
        "missing",
        "rejected does not count"
    );
    assert_eq!(status("iso27001-2022:A.7.4"), "not_applicable");
    assert_eq!(
        status("iso27001-2022:A.5.18"),
        "overdue",
        "Q1 review, next due 2026-06-30"
    );
    assert!(due
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["control"].as_str().unwrap().starts_with("iso27001-2022:")));
}

#[test]
fn private_keys_password_hashes_and_large_files_are_refused_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    let key = dir.path().join("id_ed25519");
    std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n").unwrap();
    let shadow = dir.path().join("accounts-export.txt");
    std::fs::write(&shadow, "alice:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7:19000:0:99999:7:::\n").unwrap();
    let big = dir.path().join("big.pdf");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(21 * 1024 * 1024)
        .unwrap();
    for (file, says) in [
        (&key, "private key"),
        (&shadow, "password hash"),
        (&big, "20 MiB"),
    ] {
        let (c, _, se) = cli(
            &db,
            &[
                "attest",
                "add",
                "--kind",
                "access_review",
                "--control",
                "soc2:CC6.2",
                "--title",
                "review",
                "--effective",
                "2026-01-10",
                "--file",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(c, 2, "{se}");
        assert!(
            se.contains(file.to_str().unwrap()) && se.contains(says),
            "{se}"
        );
        assert!(
            !se.contains("b3BlbnNzaC1rZXkt") && !se.contains("X3DX6M94"),
            "never quotes the secret: {se}"
        );
    }
    let (_, so, _) = cli(&db, &["attest", "list", "--all"]);
    assert!(so.starts_with("no attestations"), "{so}");
    let blobs: PathBuf = dir.path().join("blobs/sha256");
    assert!(!blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none());
}

#[test]
fn reminders_are_alerts_once_per_attestation_and_date_naming_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("attestd.db");
    let mut receiver = alerts_support::Receiver::start();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "s3cret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config_path = dir.path().join("attestd.toml");
    std::fs::write(
        &config_path,
        format!(
            "[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{}\"\n\n[attest]\nreminder_days = 30\n",
            receiver.url("/hook"),
            secret.display()
        ),
    )
    .unwrap();
    let config = attestd::config::Config::load(Some(&config_path)).unwrap();
    assert_eq!(config.attest_reminder_days, 30);
    let mut d = draft(
        AttestationKind::Training,
        &["iso27001-2022:A.6.3"],
        "2025-11-20",
        "2025-11-20",
    );
    d.expires = Some("2026-11-20".into());
    d.owner = Some("hr-lead@example.com".into());
    let soon = record(&db, "2025-11-20T10:00:00Z", d, None);
    let mut d = draft(
        AttestationKind::DrDrill,
        &["iso27001-2022:A.5.30"],
        "2026-03-01",
        "2026-03-01",
    );
    d.every = Some(Recurrence::Yearly);
    record(&db, "2026-03-02T10:00:00Z", d, None);
    let policies = attestd::policy::PolicySet::load_from(
        None,
        &attestd::policy::PolicyInputs::from_config(&config),
    )
    .unwrap();
    let policy = attestd::pipeline::alert_policy(&config.alerts, &policies, "web-1");
    let now = t("2026-11-01T08:00:00Z");
    let mut store = Store::open(&db).unwrap();
    let sent = attestd::attest::remind::enqueue(&mut store, policy.as_ref(), now, 30).unwrap();
    assert_eq!(
        sent.len(),
        1,
        "only the training expires within 30 days: {sent:?}"
    );
    assert_eq!(sent[0].attestation, soon);
    assert_eq!(sent[0].reason, "expires");
    assert_eq!(sent[0].owner, "hr-lead@example.com");
    // Once: the next day (and every later run) queues nothing new for it.
    let again = attestd::attest::remind::enqueue(
        &mut store,
        policy.as_ref(),
        now + chrono::Duration::days(1),
        30,
    )
    .unwrap();
    assert!(again.is_empty(), "{again:?}");
    drop(store);
    let o = attestd()
        .args(["alerts", "deliver", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let reqs = receiver.requests("/hook");
    assert_eq!(reqs.len(), 1);
    let body = reqs[0].json();
    let item = &body["items"][0];
    assert_eq!(item["kind"], "attestation_due");
    assert!(
        item["title"]
            .as_str()
            .unwrap()
            .contains("owner: hr-lead@example.com"),
        "{item}"
    );
    assert!(
        item["title"].as_str().unwrap().contains("2026-11-20"),
        "{item}"
    );
    receiver.stop();
}
