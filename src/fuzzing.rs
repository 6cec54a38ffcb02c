//! Entry points for the cargo-fuzz targets in `fuzz/` that reach the daemon's own
//! parsers: the config loader (`attestd.toml`), the policy loader (rule TOML), the CEL
//! compile and evaluate path, and five-field cron schedules. Each takes arbitrary bytes
//! and drives the code the way the daemon does, past the parse into what is computed
//! from a value that loaded (timetables, retry waits, the policy binding, verdicts).
//!
//! This module exists so the targets reach code that stays private to the crate; it is
//! hidden from the documentation and is not an API. Its functions must never panic on
//! any input (that is what the fuzzers check), never read the clock (times are fixed
//! here), never write anywhere, and never open the store.

use crate::config::Config;
use crate::policy::{Catalog, PolicyInputs, PolicySet};
use crate::schedule::{Timetable, UnixCron};
use attestd_collectors::Evidence;
use chrono::{DateTime, TimeZone, Utc};
use std::sync::OnceLock;

/// The file name the fuzzed config is loaded under.
const CONFIG_NAME: &str = "/etc/attestd/attestd.toml";
/// The file name the fuzzed rule file is loaded under: an operator's policy directory,
/// so its expressions are compiled at load as operators' rules are.
const RULE_FILE_NAME: &str = "/etc/attestd/policies.d/fuzz.toml";

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A fixed run time (the fuzzers never read the clock).
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 30)
        .single()
        .unwrap_or_default()
}

/// The shipped catalog and rule files, parsed once.
fn shipped() -> &'static (Catalog, Vec<(String, String)>) {
    static SHIPPED: OnceLock<(Catalog, Vec<(String, String)>)> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let set = PolicySet::load_from(None, &PolicyInputs::default())
            .expect("the embedded policies load");
        (set.catalog.clone(), crate::policy::embedded_rule_files())
    })
}

/// Facts of every JSON type, nested, with a few names shipped rules read.
fn sample_evidence() -> Evidence {
    Evidence {
        facts: serde_json::json!({
            "pass_max_days": 90,
            "min_length": 14,
            "enabled": true,
            "name": "sshd",
            "ratio": 0.5,
            "missing": null,
            "not_after": "2027-01-01T00:00:00Z",
            "list": [1, "two", [3], {"four": 4}],
            "map": {"a": {"b": {"c": [true, false]}}},
            "unavailable": {"min_length": "no such file"},
        }),
        artifacts: Vec::new(),
    }
}

/// `attestd.toml`: the loader with its range checks, then what the daemon computes from
/// a config that loaded: every collector's next fire times, the alert retry waits, and
/// the binding of variables and waivers to the shipped policies.
pub fn config_toml(data: &[u8]) {
    let Ok(config) = Config::parse(CONFIG_NAME, &text(data)) else {
        return;
    };
    schedules_of(&config);
    for attempt in [1, 2, 31, u32::MAX] {
        let _ = crate::alert::worker::backoff(attempt, &config.alerts);
    }
    if !config.variables.is_empty() || !config.waivers.is_empty() {
        let (catalog, rules) = shipped();
        let mut inputs = PolicyInputs::from_config(&config);
        // Operators' directories are read from disk; the fuzzer's text is the input.
        inputs.policy_dirs.clear();
        let _ = PolicySet::from_rule_files(catalog.clone(), rules, &inputs);
    }
}

/// The timetable the daemon builds from a loaded config, stepped a few times.
fn schedules_of(config: &Config) {
    let now = fixed_now();
    let mut table = Timetable::new(
        config
            .collectors
            .iter()
            .filter(|(_, c)| c.enabled)
            .map(|(n, c)| (n.clone(), c.schedule.clone())),
        &now,
    );
    for _ in 0..3 {
        let Some(at) = table.next_fire() else {
            break;
        };
        let _ = table.take_due(&at);
    }
    for c in config.collectors.values() {
        let _ = now.checked_add_signed(
            chrono::TimeDelta::from_std(c.timeout).unwrap_or(chrono::TimeDelta::MAX),
        );
    }
}

/// A rule file as an operator drops it in a policy directory: parsed and compiled with
/// the shipped catalog, then each of its rules judged over sample facts.
pub fn rule_toml(data: &[u8]) {
    let (catalog, _) = shipped();
    let files = [(RULE_FILE_NAME.to_string(), text(data))];
    let Ok(set) = PolicySet::from_rule_files(catalog.clone(), &files, &PolicyInputs::default())
    else {
        return;
    };
    judge_all(&set);
}

/// A CEL expression as a rule's `check` (with `observed` and `applies` the same text),
/// compiled by the policy loader and judged over sample facts.
pub fn cel(data: &[u8]) {
    if let Some(set) = cel_rule_set(data) {
        judge_all(&set);
    }
}

/// The policy set of one rule whose expressions are `data`, if it loads.
fn cel_rule_set(data: &[u8]) -> Option<PolicySet> {
    let expr = text(data);
    let quoted = toml::Value::String(expr).to_string();
    let file = format!(
        "[variables.fuzz_number]\ndefault = 3\ndescription = \"a number\"\n\n\
         [[rule]]\nid = \"fuzz.cel\"\ntitle = \"fuzzed\"\ncollector = \"ssh\"\nseverity = \"low\"\n\
         controls = [\"soc2:CC6.1\"]\ncheck = {quoted}\nobserved = {quoted}\napplies = {quoted}\n\
         expected = \"anything\"\nrationale = \"fuzz\"\nsources = []\nremediation = \"none\"\n"
    );
    let (catalog, _) = shipped();
    let files = [(RULE_FILE_NAME.to_string(), file)];
    PolicySet::from_rule_files(catalog.clone(), &files, &PolicyInputs::default()).ok()
}

fn judge_all(set: &PolicySet) {
    let evidence = sample_evidence();
    let collectors: std::collections::BTreeSet<&str> =
        set.rules.iter().map(|r| r.collector.as_str()).collect();
    for collector in collectors {
        let _ = crate::policy::evaluate_collector(set, collector, Ok(&evidence), &[], fixed_now());
        let _ = crate::policy::evaluate_collector(set, collector, Err("fuzz"), &[], fixed_now());
    }
}

/// A five-field schedule: parsed on its own and stepped through a few fire times (UTC
/// and a zone with a daylight-saving change), and as `schedule` of a collector in the
/// config, as the loader reads it.
pub fn cron(data: &[u8]) {
    let t = text(data);
    if let Ok(cron) = UnixCron::parse(&t) {
        let mut at = fixed_now();
        for _ in 0..4 {
            match cron.next_after(&at) {
                Some(next) => at = next,
                None => break,
            }
        }
        let berlin = fixed_now().with_timezone(&chrono_tz::Europe::Berlin);
        let _ = cron.next_after(&berlin);
    }
    let quoted = toml::Value::String(t).to_string();
    if let Ok(config) = Config::parse(
        CONFIG_NAME,
        &format!("[collectors.ssh]\nschedule = {quoted}\n"),
    ) {
        schedules_of(&config);
    }
}

/// One fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target by name, for `bench/fuzz.sh` and the smoke test below.
pub const TARGETS: &[(&str, Target)] = &[
    ("config_toml", config_toml),
    ("rule_toml", rule_toml),
    ("cel", cel),
    ("cron", cron),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_survives_a_few_awkward_inputs() {
        let inputs: Vec<&[u8]> = vec![
            b"",
            b"\0\xff\xfe",
            b"[daemon]\ncollector_timeout_seconds = 18446744073709551615\n",
            b"[alerts]\nretry_initial_seconds = 86400\nretry_max_seconds = 86400\n",
            b"[variables]\npassword_min_length = 99999999999\n",
            b"[[rule]]\nid = \"a.b\"\n",
            b"facts.list.map(x, x == x).size() > 0 && now > timestamp('2000-01-01T00:00:00Z')",
            b"1 / 0 == 1 % 0",
            // Aborted the process (stack overflow in the CEL parser) before cel_bounds.
            b"((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))",
            b"0 0 30 2 *",
            b"*/0 * * * *",
            b"59 23 31 12 7",
            b"@yearly",
        ];
        // The wrapper reaches the evaluator for a valid expression.
        let set = super::cel_rule_set(b"facts.enabled && vars.fuzz_number == 3").unwrap();
        let verdicts = crate::policy::evaluate_collector(
            &set,
            "ssh",
            Ok(&super::sample_evidence()),
            &[],
            super::fixed_now(),
        );
        assert_eq!(
            verdicts[0].status,
            crate::policy::Status::Pass,
            "{verdicts:?}"
        );
        for (_, target) in super::TARGETS {
            for input in &inputs {
                target(input);
            }
        }
    }
}
