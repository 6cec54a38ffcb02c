//! Every shipped rule passes on at least one fixture host and fails on another, and the
//! fixture hosts judge exactly as the CIS/NIST/PCI baselines say they should.

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};

/// Every fixture host collected with its own fixture file (extra config, live peers).
fn all_statuses() -> BTreeMap<String, serde_json::Value> {
    fixture_names()
        .into_iter()
        .map(|name| {
            let host = prepare_host(&name);
            let (_, doc) = collect_json(&host.root, &host.config, &[]);
            (name, doc)
        })
        .collect()
}

#[test]
fn every_rule_has_a_passing_and_a_failing_fixture_host() {
    let docs = all_statuses();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Broken hosts prove error handling; a rule's pass and fail must come from real-looking hosts.
    for (host, doc) in docs.iter().filter(|(h, _)| !h.starts_with("broken-")) {
        for r in doc["results"].as_array().unwrap() {
            seen.entry(r["rule"].as_str().unwrap().to_string())
                .or_default()
                .insert(format!("{}@{host}", r["status"].as_str().unwrap()));
        }
    }
    // The rule list comes from the shipped policies, so a new rule without fixtures fails here.
    let config =
        attestd::config::Config::parse("embedded", attestd::config::EMBEDDED_DEFAULT).unwrap();
    let config = attestd::config::Config {
        policy_dirs: vec![],
        ..config
    };
    let policies =
        attestd::policy::PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config))
            .unwrap();
    assert!(policies.rules.len() >= 12);
    let mut missing = Vec::new();
    for rule in &policies.rules {
        let statuses = seen.get(&rule.id).cloned().unwrap_or_default();
        for want in ["pass", "fail"] {
            if !statuses.iter().any(|s| s.starts_with(&format!("{want}@"))) {
                missing.push(format!(
                    "{} has no `{want}` fixture (seen: {statuses:?})",
                    rule.id
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn stock_debian_fails_the_baseline_and_hardened_passes_it() {
    let docs = all_statuses();
    let stock = &docs["debian12-stock"];
    for (rule, want) in [
        ("password.min_length", "fail"),
        ("password.dictionary_check", "fail"),
        ("password.enforce_for_root", "not_applicable"),
        ("password.max_age", "fail"),
        ("password.min_age", "fail"),
        ("password.expiry_warning", "pass"),
        ("password.strong_hashing", "pass"),
        ("password.history", "fail"),
        ("password.lockout", "fail"),
        ("password.account_max_age", "fail"),
        ("password.no_empty_passwords", "pass"),
        ("availability.load_headroom", "pass"),
    ] {
        assert_eq!(status_of(stock, rule), want, "debian12-stock: {rule}");
    }
    let hardened = &docs["hardened"];
    for r in hardened["results"].as_array().unwrap() {
        assert_eq!(r["status"], "pass", "hardened: {}", r);
    }
    let weak = &docs["weak-accounts"];
    assert_eq!(status_of(weak, "password.no_empty_passwords"), "fail");
    assert_eq!(status_of(weak, "password.account_max_age"), "fail");
    assert_eq!(status_of(weak, "password.min_length"), "pass");
    assert_eq!(
        status_of(&docs["overloaded"], "availability.load_headroom"),
        "fail"
    );
    let legacy = &docs["legacy-hashing"];
    assert_eq!(status_of(legacy, "password.strong_hashing"), "fail");
    assert_eq!(status_of(legacy, "password.expiry_warning"), "fail");
    let defaults = &docs["debian12-pwquality-defaults"];
    assert_eq!(status_of(defaults, "password.enforce_for_root"), "fail");
    assert_eq!(status_of(defaults, "password.dictionary_check"), "pass");
    assert_eq!(
        status_of(defaults, "password.min_length"),
        "fail",
        "pwquality's default minlen is 8"
    );
}

#[test]
fn broken_hosts_are_errors_with_reasons_never_passes() {
    let docs = all_statuses();
    for (host, needle) in [
        ("broken-garbage", "/etc/login.defs"),
        ("broken-malformed", "/etc/login.defs"),
        ("broken-unreadable", "/etc/"),
    ] {
        let doc = &docs[host];
        for r in doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["collector"] == "password_policy")
        {
            assert_eq!(r["status"], "error", "{host}: {r}");
            let reason = r["reason"].as_str().unwrap();
            assert!(
                reason.contains(needle),
                "{host}: reason `{reason}` should name {needle}"
            );
        }
    }
    // Missing files are not errors: absent settings fail, nothing passes by default.
    let missing = &docs["broken-missing"];
    assert_eq!(status_of(missing, "password.min_length"), "fail");
    assert_eq!(status_of(missing, "password.max_age"), "fail");
}
