//! `host.json`: who the evidence is about and what produced it: host identity
//! (machine-id, hostname, OS, kernel), the attestd version, the signing key's
//! fingerprint, and the time-sync status across the period as the `time_sync`
//! collector's rules saw it (timestamps are only as good as the clock). Never judges.

use crate::host::HostIdentity;
use attestd_ledger::summary::Computed;
use serde_json::json;

/// The host.json document.
pub fn document(
    identity: &HostIdentity,
    computed: &Computed,
    fingerprint: &str,
    generated_at: &str,
    attestd_version: &str,
) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = computed
        .rules
        .iter()
        .filter(|(_, r)| r.collector == "time_sync")
        .map(|(id, r)| {
            json!({
                "rule": id,
                "evaluations": r.evaluations,
                "exceptions": r.exceptions.len(),
                "timeline": r.timeline,
            })
        })
        .collect();
    let coverage = computed.collectors.get("time_sync");
    let status = if coverage.is_none() && rules.is_empty() {
        "not_collected"
    } else if rules.iter().all(|r| r["exceptions"] == 0)
        && coverage.is_some_and(|c| c.gaps.is_empty())
    {
        "synchronised_throughout"
    } else {
        "exceptions_or_gaps"
    };
    json!({
        "host": {
            "hostname": identity.hostname,
            "machine_id": identity.machine_id,
            "os": identity.os,
            "kernel": identity.kernel,
            "root": identity.root,
        },
        "attestd_version": attestd_version,
        "bundle_generated_at": generated_at,
        "signing_key_fingerprint": fingerprint,
        "time_sync": {
            "status": status,
            "note": if status == "not_collected" {
                "the time_sync collector recorded nothing in this period: timestamps rest on the host clock unverified"
            } else {
                "from the time_sync collector's rules; see summary.json for every exception"
            },
            "coverage": coverage,
            "rules": rules,
        },
    })
}
