//! What `attestd collect` prints: the JSON contract of DESIGN.md and a text view of the
//! same data for people. It formats; it never judges or stores.

use crate::host::HostIdentity;
use crate::policy::{PolicySet, Status};
use crate::store::RunInput;
use serde_json::{json, Value};

/// Build the `collect` JSON document.
pub fn build(run: &RunInput, host: &HostIdentity, policies: &PolicySet) -> Value {
    let mut results = Vec::new();
    let mut summary = json!({"pass": 0, "fail": 0, "error": 0, "not_applicable": 0, "waived": 0});
    for c in &run.collectors {
        let evidence_sha = c.outcome.as_ref().ok().map(|e| e.sha256());
        for v in &c.verdicts {
            let rule = policies.rule(&v.rule);
            let counter = &mut summary[v.status.as_str()];
            *counter = json!(counter.as_u64().unwrap_or(0) + 1);
            let mut entry = json!({
                "rule": v.rule,
                "collector": c.collector,
                "status": v.status,
                "controls": rule.map(|r| r.controls.clone()).unwrap_or_default(),
                "severity": rule.map(|r| r.severity.as_str()).unwrap_or("medium"),
                "observed": v.observed,
                "expected": v.expected,
                "evidence_sha256": evidence_sha,
                "title": rule.map(|r| r.title.as_str()).unwrap_or(""),
            });
            if let Some(reason) = &v.reason {
                entry["reason"] = json!(reason);
            }
            if let Some(w) = &v.waiver {
                entry["waiver"] = json!(w);
            }
            if matches!(v.status, Status::Fail | Status::Waived) {
                entry["remediation"] = json!(rule.map(|r| r.remediation.as_str()).unwrap_or(""));
            }
            results.push(entry);
        }
    }
    json!({
        "host": host,
        "run": {"id": run.run_id, "started_at": run.started_at, "finished_at": run.finished_at},
        "results": results,
        "summary": summary,
    })
}

/// The exit code of `collect`: 1 when any rule failed or could not be judged, else 0.
pub fn exit_code(report: &Value) -> i32 {
    let n = |k: &str| report["summary"][k].as_u64().unwrap_or(0);
    if n("fail") + n("error") > 0 {
        1
    } else {
        0
    }
}

/// A text view: failures and errors first, each with what was seen, what is required,
/// the controls and the fix; then the rest one line each; then the summary.
pub fn render_text(report: &Value) -> String {
    let host = &report["host"];
    let mut out = format!(
        "attestd: {} ({}), run {} at {}\n\n",
        host["hostname"].as_str().unwrap_or("unknown host"),
        host["os"].as_str().unwrap_or("unknown OS"),
        report["run"]["id"].as_str().unwrap_or(""),
        report["run"]["finished_at"].as_str().unwrap_or("")
    );
    let empty = Vec::new();
    let results = report["results"].as_array().unwrap_or(&empty);
    let order = |s: &str| match s {
        "fail" => 0,
        "error" => 1,
        "waived" => 2,
        "pass" => 3,
        _ => 4,
    };
    let mut sorted: Vec<&Value> = results.iter().collect();
    sorted.sort_by_key(|r| {
        (
            order(r["status"].as_str().unwrap_or("")),
            r["rule"].as_str().unwrap_or("").to_string(),
        )
    });
    for r in sorted {
        let status = r["status"].as_str().unwrap_or("");
        let label = match status {
            "not_applicable" => "N/A".to_string(),
            s => s.to_uppercase(),
        };
        out.push_str(&format!(
            "{label:<6} {:<8} {:<34} {}\n",
            r["severity"].as_str().unwrap_or(""),
            r["rule"].as_str().unwrap_or(""),
            r["title"].as_str().unwrap_or("")
        ));
        if matches!(status, "fail" | "error" | "waived") {
            out.push_str(&format!(
                "       observed: {}   expected: {}\n",
                show(&r["observed"]),
                r["expected"].as_str().unwrap_or("")
            ));
            let controls: Vec<&str> = r["controls"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.push_str(&format!("       controls: {}\n", controls.join(" ")));
            if let Some(reason) = r["reason"].as_str() {
                // The first line is for people; the CEL detail stays in the JSON.
                let first = reason.lines().next().unwrap_or("");
                out.push_str(&format!("       reason:   {first}\n"));
            }
            if let Some(w) = r.get("waiver") {
                out.push_str(&format!(
                    "       waived:   {} (approved by {}, until {})\n",
                    w["reason"].as_str().unwrap_or(""),
                    w["approver"].as_str().unwrap_or(""),
                    w["expires"].as_str().unwrap_or("")
                ));
            } else if let Some(fix) = r["remediation"].as_str() {
                out.push_str(&format!("       fix:      {}\n", fix.trim()));
            }
        }
    }
    let s = &report["summary"];
    out.push_str(&format!(
        "\n{} pass, {} fail, {} error, {} not applicable, {} waived\n",
        s["pass"], s["fail"], s["error"], s["not_applicable"], s["waived"]
    ));
    out
}

/// Longest observed value shown on one line of the text view.
const SHOW_MAX_CHARS: usize = 160;

/// An observed value for the text view: long lists keep their first items and say how
/// many there are, long strings are cut with their length (the JSON keeps everything).
fn show(v: &Value) -> String {
    match v {
        Value::Null => "not set".into(),
        Value::String(s) => cut(s),
        Value::Array(items) => {
            let all: Vec<String> = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect();
            let full = all.join(", ");
            if full.chars().count() <= SHOW_MAX_CHARS {
                return format!("[{full}]");
            }
            let mut shown = Vec::new();
            let mut len = 0;
            for item in &all {
                if len + item.chars().count() + 2 > SHOW_MAX_CHARS - 40 && !shown.is_empty() {
                    break;
                }
                len += item.chars().count() + 2;
                shown.push(cut(item));
            }
            format!(
                "[{}, ... {} more] ({} items; --format json lists them all)",
                shown.join(", "),
                all.len() - shown.len(),
                all.len()
            )
        }
        other => cut(&other.to_string()),
    }
}

fn cut(s: &str) -> String {
    let n = s.chars().count();
    if n <= SHOW_MAX_CHARS {
        return s.to_string();
    }
    let head: String = s.chars().take(SHOW_MAX_CHARS - 20).collect();
    format!("{head}... ({n} characters; --format json has all)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_observed_values_are_cut_and_counted() {
        let many: Vec<String> = (0..83).map(|i| format!("libpackage-{i}")).collect();
        let shown = show(&json!(many));
        assert!(shown.chars().count() < 200, "{shown}");
        assert!(
            shown.ends_with("(83 items; --format json lists them all)"),
            "{shown}"
        );
        assert!(shown.starts_with("[libpackage-0, libpackage-1"), "{shown}");
        assert_eq!(show(&json!(["a", "b"])), "[a, b]");
        let long = "x".repeat(1392);
        assert!(show(&json!(long)).ends_with("(1392 characters; --format json has all)"));
        assert_eq!(show(&json!(3)), "3");
    }
}
