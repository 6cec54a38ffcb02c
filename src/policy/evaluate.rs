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
    // CEL recurses per level of an expression: all of it on a stack deep enough.
    super::cel_bounds::on_deep_stack(|| {
        evaluate_collector_here(policies, collector, outcome, waivers, now)
    })
}

fn evaluate_collector_here(
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
    let unavailable = unavailable_map(&evidence.facts);
    let mut context = super::cel_env::context();
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

/// Judge one rule in `context`, on a stack deep enough for its expressions (in place
/// when the caller is on one already).
fn judge(
    rule: &Rule,
    context: &cel::Context,
    unavailable: &serde_json::Map<String, serde_json::Value>,
) -> Verdict {
    super::cel_bounds::on_deep_stack(|| judge_here(rule, context, unavailable))
}

fn judge_here(
    rule: &Rule,
    context: &cel::Context,
    unavailable: &serde_json::Map<String, serde_json::Value>,
) -> Verdict {
    let observed = match &rule.observed {
        Some(observed) => match observed
            .program()
            .and_then(|p| p.execute(context).map_err(|_| ""))
        {
            Ok(v) => v.json().unwrap_or(serde_json::Value::Null),
            Err(_) => serde_json::Value::Null,
        },
        None => serde_json::Value::Null,
    };
    let (status, reason) = decide(rule, context, unavailable);
    Verdict {
        rule: rule.id.clone(),
        status,
        observed,
        expected: String::new(),
        reason,
        waiver: None,
    }
}

/// The status alone (`applies`, then `check`; `observed` is not evaluated), for
/// `verify`, which compares statuses and evaluates the same rule at every run. Runs in
/// place: the caller must already be on a deep stack (`cel_bounds::on_deep_stack`).
pub(crate) fn status_of(
    rule: &Rule,
    context: &cel::Context,
    unavailable: &serde_json::Map<String, serde_json::Value>,
) -> Status {
    decide(rule, context, unavailable).0
}

/// `applies`, then `check`: the status, and the reason when it is not a plain result.
fn decide(
    rule: &Rule,
    context: &cel::Context,
    unavailable: &serde_json::Map<String, serde_json::Value>,
) -> (Status, Option<String>) {
    if let Some(applies) = &rule.applies {
        let program = match applies.program() {
            Ok(p) => p,
            Err(e) => return (Status::Error, Some(e.to_string())),
        };
        match program.execute(context) {
            Ok(cel::Value::Bool(false)) => {
                let reason = rule.applies_reason.clone().unwrap_or_else(|| {
                    "the rule's `applies` condition is false on this host".into()
                });
                return (Status::NotApplicable, Some(reason));
            }
            Ok(cel::Value::Bool(true)) => {}
            Ok(other) => {
                return (
                    Status::Error,
                    Some(format!("`applies` returned {other:?}, not true or false")),
                )
            }
            Err(e) => {
                return (
                    Status::Error,
                    Some(error_reason("applies", &e.to_string(), unavailable)),
                )
            }
        }
    }
    let program = match rule.check.program() {
        Ok(p) => p,
        Err(e) => return (Status::Error, Some(e.to_string())),
    };
    match program.execute(context) {
        Ok(cel::Value::Bool(true)) => (Status::Pass, None),
        Ok(cel::Value::Bool(false)) => (Status::Fail, None),
        Ok(other) => (
            Status::Error,
            Some(format!("`check` returned {other:?}, not true or false")),
        ),
        Err(e) => (
            Status::Error,
            Some(error_reason("check", &e.to_string(), unavailable)),
        ),
    }
}

/// Collectors list facts they could not gather under `unavailable`, keyed by the fact.
pub(crate) fn unavailable_map(
    facts: &serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    facts
        .get("unavailable")
        .and_then(|u| u.as_object())
        .cloned()
        .unwrap_or_default()
}

/// The reason of an `error` verdict, for people first: which fact is missing and why
/// (from the collector's `unavailable` list), then, on a second line, what CEL said
/// (`collect`'s text view shows the first line, its JSON both).
fn error_reason(
    what: &str,
    cel_error: &str,
    unavailable: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let missing = cel_error
        .strip_prefix("No such key: ")
        .map(|k| k.trim().to_string());
    let human = match (&missing, missing.as_ref().and_then(|k| unavailable.get(k))) {
        (Some(key), Some(why)) => format!("the fact `{key}` is missing: {}", text(why)),
        (Some(key), None) if !unavailable.is_empty() => format!(
            "the fact `{key}` is missing; the collector could not gather: {}",
            unavailable
                .iter()
                .map(|(k, v)| format!("{k} ({})", text(v)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (Some(key), None) => format!(
            "the fact `{key}` is missing from what the collector reported (a rule written for another version of the collector?)"
        ),
        (None, _) if !unavailable.is_empty() => format!(
            "the rule's `{what}` cannot be judged on these facts; the collector could not gather: {}",
            unavailable
                .iter()
                .map(|(k, v)| format!("{k} ({})", text(v)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        (None, _) => format!("the rule's `{what}` cannot be judged on these facts"),
    };
    format!("{human}\nCEL: cannot evaluate `{what}`: {cel_error}")
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
