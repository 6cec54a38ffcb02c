//! Judging facts: runs a collector's rules (CEL) over its facts and yields one
//! `Verdict` per rule, applying waivers in force. Never a false pass: a rule that
//! cannot be evaluated is `error` with the reason, and errors are never waived.

use super::Waiver;
use super::{PolicySet, Rule};
use attestd_collectors::Evidence;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

pub use attestd_ledger::body::{AppliedWaiver, Status, Verdict};

/// Judge every rule of `collector` against what it returned: its evidence, or the
/// reason it could not observe.
pub fn evaluate_collector(
    policies: &PolicySet,
    collector: &str,
    outcome: Result<&Evidence, &str>,
    waivers: &[Waiver],
    now: DateTime<Utc>,
) -> Vec<Verdict> {
    let rules: Vec<&Rule> = policies.rules_for(collector).collect();
    let evidence = match outcome {
        Ok(e) => e,
        Err(reason) => {
            return rules
                .iter()
                .map(|r| Verdict {
                    rule: r.id.clone(),
                    status: Status::Error,
                    observed: serde_json::Value::Null,
                    expected: expected_text(r, policies),
                    reason: Some(format!("collector `{collector}` failed: {reason}")),
                    waiver: None,
                })
                .collect();
        }
    };
    let facts = json_to_cel(&evidence.facts);
    let unavailable = unavailable_reasons(&evidence.facts);
    let mut context = cel::Context::default();
    context.add_variable_from_value("facts", facts);
    context.add_variable_from_value("vars", policies.vars_cel().clone());
    // The run's start time, so rules can compare dated facts (a certificate's
    // `not_after`) with it instead of collectors storing ages that change every run.
    context.add_variable_from_value("now", cel::Value::Timestamp(now.fixed_offset()));
    rules
        .iter()
        .map(|rule| {
            let mut verdict = judge(rule, &context, &unavailable);
            verdict.expected = expected_text(rule, policies);
            if verdict.status == Status::Fail {
                if let Some(w) = waivers
                    .iter()
                    .find(|w| w.rule == rule.id && w.expires > now)
                {
                    verdict.status = Status::Waived;
                    verdict.waiver = Some(AppliedWaiver {
                        reason: w.reason.clone(),
                        approver: w.approver.clone(),
                        expires: w.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    });
                }
            }
            verdict
        })
        .collect()
}

pub(crate) fn judge(rule: &Rule, context: &cel::Context, unavailable: &str) -> Verdict {
    let mut verdict = Verdict {
        rule: rule.id.clone(),
        status: Status::Error,
        observed: serde_json::Value::Null,
        expected: String::new(),
        reason: None,
        waiver: None,
    };
    if let Some(observed) = &rule.observed {
        verdict.observed = match observed.execute(context) {
            Ok(v) => v.json().unwrap_or(serde_json::Value::Null),
            Err(_) => serde_json::Value::Null,
        };
    }
    if let Some(applies) = &rule.applies {
        match applies.execute(context) {
            Ok(cel::Value::Bool(false)) => {
                verdict.status = Status::NotApplicable;
                verdict.reason =
                    Some("the rule's `applies` condition is false on this host".into());
                return verdict;
            }
            Ok(cel::Value::Bool(true)) => {}
            Ok(other) => {
                verdict.reason = Some(format!("`applies` returned {other:?}, not true or false"));
                return verdict;
            }
            Err(e) => {
                verdict.reason = Some(format!("cannot evaluate `applies`: {e}{unavailable}"));
                return verdict;
            }
        }
    }
    match rule.check.execute(context) {
        Ok(cel::Value::Bool(true)) => verdict.status = Status::Pass,
        Ok(cel::Value::Bool(false)) => verdict.status = Status::Fail,
        Ok(other) => {
            verdict.reason = Some(format!("`check` returned {other:?}, not true or false"))
        }
        Err(e) => verdict.reason = Some(format!("cannot evaluate `check`: {e}{unavailable}")),
    }
    verdict
}

/// Collectors list facts they could not gather under `unavailable`; those reasons
/// explain most evaluation errors better than CEL can.
pub(crate) fn unavailable_reasons(facts: &serde_json::Value) -> String {
    match facts.get("unavailable").and_then(|u| u.as_object()) {
        Some(map) if !map.is_empty() => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(&v.to_string())))
                .collect();
            format!(" (unavailable facts: {})", parts.join("; "))
        }
        _ => String::new(),
    }
}

/// The rule's `expected` text with `{variable}` replaced by the value in force.
pub fn expected_text(rule: &Rule, policies: &PolicySet) -> String {
    let mut text = rule.expected_template.clone();
    for (name, var) in &policies.variables {
        let needle = format!("{{{name}}}");
        if text.contains(&needle) {
            let value = match &var.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text = text.replace(&needle, &value);
        }
    }
    text
}

/// Convert JSON to a CEL value. Integers become CEL `int` (so `facts.x >= 14` compares
/// like with like), other numbers `double`.
pub fn json_to_cel(value: &serde_json::Value) -> cel::Value {
    use serde_json::Value as J;
    match value {
        J::Null => cel::Value::Null,
        J::Bool(b) => cel::Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => cel::Value::String(Arc::new(s.clone())),
        J::Array(items) => cel::Value::List(Arc::new(items.iter().map(json_to_cel).collect())),
        J::Object(map) => {
            let converted: HashMap<String, cel::Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_cel(v)))
                .collect();
            cel::Value::from(converted)
        }
    }
}
