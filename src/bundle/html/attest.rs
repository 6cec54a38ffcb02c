//! index.html's attestation sections: the statement of applicability over every
//! control the summary lists (each one's source: tested, attested, both, not applicable
//! with its justification, or not evidenced), the attestations counted as evidence with
//! their review state, files (by SHA-256, linked to `attestations/files/`) and review
//! trail, the revisions that do not count (rejected, superseded), each recurring
//! control's occurrences met or missed (a miss is a gap, with its dates) and the expiry
//! exceptions with their dates.
//!
//! Renders only `computed.attestations` (the ledger crate's `AttestationSummary`, the
//! same one summary.json, applicability.csv and OSCAL show): it never recomputes a
//! source, an occurrence or an exception, and never reads the ledger. Called only when
//! the period holds attestations, so pages of other bundles are unchanged.

use super::{duration, esc, natural_key, result_words};
use attestd_ledger::summary::{AttestationEntry, AttestationSummary, Computed};
use std::fmt::Write;

/// The sentence under the auditor's answer.
pub(super) fn answer(o: &mut String, a: &AttestationSummary) {
    let n = |s: &str| a.applicability.iter().filter(|r| r.source == s).count();
    let counting = a
        .attestations
        .iter()
        .filter(|e| e.counts_as_evidence && e.in_force)
        .count();
    let missed: u64 = a.series.iter().map(|s| s.missed).sum();
    let _ = write!(
        o,
        "<p id=\"attest-answer\">Attestations: <b>{counting}</b> counted as evidence ({} not counted: rejected or superseded). Statement of applicability over <b>{}</b> controls: <b>{}</b> tested, <b>{}</b> attested, <b>{}</b> both, <b>{}</b> not applicable, <b class=\"not_tested\">{}</b> not evidenced. Recurring controls: <b class=\"gaps\">{missed} missed occurrence(s)</b>; <b class=\"exceptions\">{} expiry exception(s)</b>.</p>",
        a.attestations.len() - counting,
        a.applicability.len(),
        n("tested"),
        n("attested"),
        n("both"),
        n("not_applicable"),
        n("not_evidenced"),
        a.exceptions.len(),
    );
}

fn source_words(source: &str) -> &'static str {
    match source {
        "tested" => "tested by attestd",
        "attested" => "attested",
        "both" => "tested by attestd and attested",
        "not_applicable" => "not applicable",
        _ => "not evidenced",
    }
}

fn att_links(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("<a href=\"#attestation-{0}\">{0}</a>", esc(i)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of applicability, one row per control of the summary.
pub(super) fn soa(o: &mut String, a: &AttestationSummary, computed: &Computed) {
    o.push_str("<section id=\"soa\"><h2>Statement of applicability</h2><p>Every control of the frameworks asked for, with where its evidence comes from: attestd's rules on this host (<i>tested</i>), an attestation in the ledger counted as evidence (<i>attested</i>: not rejected, not superseded), both, <i>not applicable</i> (justified by an attestation of kind <code>other</code>), or <i>not evidenced</i>.</p><table id=\"soa-table\"><tr><th>Control</th><th>Name</th><th>Source</th><th>Tested result</th><th>Attestations</th><th>Justification</th><th>Missed occurrences</th><th>Expiry exceptions</th></tr>");
    for r in &a.applicability {
        let tested = match computed.controls.iter().find(|c| c.id == r.control) {
            Some(c) => result_words(c),
            None => r
                .tested_result
                .as_deref()
                .unwrap_or("outside attestd's rules")
                .replace('_', " "),
        };
        let _ = write!(
            o,
            "<tr class=\"soa-row\" id=\"soa-{}\"><td>{}</td><td>{}</td><td class=\"source {}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td{}>{}</td></tr>",
            esc(&r.control),
            esc(&r.control),
            esc(&r.name),
            esc(&r.source),
            source_words(&r.source),
            esc(&tested),
            att_links(&r.attestations),
            esc(r.justification.as_deref().unwrap_or("")),
            if r.gaps > 0 { " class=\"gaps\"" } else { "" },
            r.gaps,
            if r.exceptions > 0 { " class=\"exceptions\"" } else { "" },
            r.exceptions
        );
    }
    o.push_str("</table></section>");
}

fn attestation_row(o: &mut String, e: &AttestationEntry) {
    let files = if e.files.is_empty() {
        "none (a person's statement)".to_string()
    } else {
        format!(
            "<ul>{}</ul>",
            e.files
                .iter()
                .map(|f| format!(
                    "<li><a href=\"attestations/files/{0}\">{1}</a> <code>sha256:{0}</code> {2} bytes, {3}</li>",
                    esc(&f.sha256),
                    esc(&f.name),
                    f.size,
                    esc(&f.media_type)
                ))
                .collect::<String>()
        )
    };
    let trail = if e.reviews.is_empty() {
        "not reviewed".to_string()
    } else {
        format!(
            "<ol>{}</ol>",
            e.reviews
                .iter()
                .map(|r| format!(
                    "<li class=\"review {}\">{} by {} at {} (ledger row {}, recorded by {}): {}</li>",
                    esc(&r.decision),
                    esc(&r.decision),
                    esc(&r.by),
                    esc(&r.recorded_at),
                    r.seq,
                    esc(&r.recorded_by),
                    esc(&r.reason)
                ))
                .collect::<String>()
        )
    };
    let mut state = esc(&e.review);
    if let Some(s) = &e.superseded_by {
        let _ = write!(
            state,
            "; superseded by <a href=\"#attestation-{0}\">{0}</a>",
            esc(s)
        );
    }
    if let Some(s) = &e.supersedes {
        let _ = write!(
            state,
            "; supersedes <a href=\"#attestation-{0}\">{0}</a>",
            esc(s)
        );
    }
    if e.not_applicable {
        state.push_str("; says the controls do not apply");
    }
    let span = if e.effective_from == e.effective_to {
        esc(&e.effective_from)
    } else {
        format!("{} to {}", esc(&e.effective_from), esc(&e.effective_to))
    };
    let _ = write!(
        o,
        "<tr class=\"attestation {}\" id=\"attestation-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} at {} (ledger row {})</td><td>{}</td><td class=\"review-state {}\">{}</td><td>{}</td><td>{}</td></tr>",
        if e.counts_as_evidence { "counted" } else { "not-counted" },
        esc(&e.id),
        esc(&e.id),
        esc(e.kind.as_str()),
        esc(&e.title),
        e.controls.iter().map(|c| format!("<a href=\"#soa-{0}\">{0}</a>", esc(c))).collect::<Vec<_>>().join(", "),
        span,
        esc(e.expires.as_deref().unwrap_or("-")),
        e.every.map(|r| r.as_str()).unwrap_or("-"),
        esc(e.performed_by.as_deref().unwrap_or("-")),
        esc(&e.recorded_by),
        esc(&e.recorded_at),
        e.seq,
        esc(&e.owner),
        esc(&e.review),
        state,
        files,
        trail
    );
}

const ATT_HEAD: &str = "<tr><th>ID</th><th>Kind</th><th>Title</th><th>Controls</th><th>Effective</th><th>Expires</th><th>Every</th><th>Performed by</th><th>Recorded by</th><th>Owner</th><th>Review</th><th>Files</th><th>Review trail</th></tr>";

/// Attestations, recurring occurrences and expiry exceptions.
pub(super) fn sections(o: &mut String, a: &AttestationSummary) {
    let (counted, other): (Vec<&AttestationEntry>, Vec<&AttestationEntry>) = a
        .attestations
        .iter()
        .partition(|e| e.counts_as_evidence && e.in_force);
    o.push_str("<section id=\"attestations\"><h2>Attestations in force</h2><p>What people stated, signed into the ledger when it was recorded, and who reviewed it. An attestation proves that this person stated this, with these files, at that time; sample the files and interview the people. Files are in <code>attestations/files/</code> under their SHA-256, covered by SHA256SUMS.</p>");
    if counted.is_empty() {
        o.push_str(
            "<p id=\"attestations-counted\">No attestation counts as evidence in this period.</p>",
        );
    } else {
        let _ = write!(o, "<table id=\"attestations-counted\">{ATT_HEAD}");
        for e in counted {
            attestation_row(o, e);
        }
        o.push_str("</table>");
    }
    if !other.is_empty() {
        let _ = write!(
            o,
            "<h3>Not counted as evidence</h3><p>Rejected at review, superseded by a later revision, or not in force in the period: kept here for the trail, never as evidence.</p><table id=\"attestations-not-counted\">{ATT_HEAD}"
        );
        for e in other {
            attestation_row(o, e);
        }
        o.push_str("</table>");
    }
    o.push_str("</section>");

    if !a.series.is_empty() {
        o.push_str("<section id=\"recurring\"><h2>Recurring controls</h2><p>Each interval of the period, counted from its start, expects one attestation of the kind; one whose effective span touches the interval meets it. A missed interval is a gap in evidence.</p>");
        let mut series: Vec<_> = a.series.iter().collect();
        series.sort_by_key(|s| (natural_key(&s.control), s.kind.as_str()));
        for s in series {
            let _ = write!(
                o,
                "<h3>{} {} every {}</h3><p>{} expected, <span class=\"effective\">{} met</span>, <span class=\"{}\">{} missed</span>.</p><table class=\"occurrences\"><tr><th>From</th><th>To</th><th>Status</th><th>Met by</th></tr>",
                esc(&s.control),
                esc(s.kind.as_str()),
                esc(s.every.as_str()),
                s.expected,
                s.met,
                if s.missed > 0 { "gaps" } else { "effective" },
                s.missed
            );
            for oc in &s.occurrences {
                let words = match oc.status.as_str() {
                    "met" => "met",
                    "missed" => "missed: gap in evidence",
                    _ => "not yet due",
                };
                let _ = write!(
                    o,
                    "<tr class=\"occurrence {}\"><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                    esc(&oc.status),
                    esc(&oc.from),
                    esc(&oc.to),
                    if oc.status == "missed" { "gaps" } else { "effective" },
                    words,
                    att_links(&oc.attestations)
                );
            }
            o.push_str("</table>");
        }
        o.push_str("</section>");
    }

    if !a.exceptions.is_empty() {
        o.push_str("<section id=\"attestation-exceptions\"><h2>Expired attestations</h2><p>An expiry inside the period that no other counted attestation of the same kind and control covered: an exception from 00:00 UTC on the expiry day until a renewal took effect.</p><table><tr><th>State</th><th>Control</th><th>Kind</th><th>Attestation</th><th>Expired</th><th>Renewed</th><th>Duration</th></tr>");
        for x in &a.exceptions {
            let (class, mark) = if x.open {
                ("open", "&#9888; open")
            } else {
                ("resolved", "&#10003; renewed")
            };
            let _ = write!(
                o,
                "<tr class=\"attestation-exception {class}\"><td class=\"{class}\">{mark}</td><td>{}</td><td>{}</td><td><a href=\"#attestation-{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.control),
                esc(x.kind.as_str()),
                esc(&x.from),
                esc(x.until.as_deref().unwrap_or("not renewed by the period end")),
                duration(x.duration_seconds),
                id = esc(&x.attestation),
            );
        }
        o.push_str("</table></section>");
    }
}
