//! Alerts end to end, with the real daemon and a real HTTP receiver on 127.0.0.1:
//! a weakened login.defs reaches the webhook (signed), Slack, Teams and PagerDuty as
//! one grouped message within seconds, and the recovery as a resolved notice; a 404
//! sink is given up with its reason, a 503 sink is retried until it succeeds, a
//! missing secret file and an unreachable receiver are named and retried while the
//! other sinks carry on; no secret reaches the log. With the receiver down across a
//! daemon restart, every alert arrives exactly once, in order of creation. A sink added
//! by a SIGHUP reload is used at once.

mod alerts_support;
mod common;
use alerts_support::*;
use common::*;
use std::path::Path;
use std::time::Duration;

const YEARLY: &str = "[collectors.password_policy]\nschedule = \"0 0 1 1 *\"\n[collectors.availability]\nschedule = \"0 0 1 1 *\"\n[alerts]\nretry_initial_seconds = 1\nretry_max_seconds = 2\ntimeout_seconds = 3\n";

/// Replace login.defs atomically (write a new file, rename it over the old one), so no
/// run can read it half-written.
fn replace_defs(host: &Path, text: &str) {
    let tmp = host.join("etc/.login.defs.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, host.join("etc/login.defs")).unwrap();
}

fn weaken(host: &Path, from: &str, to: &str) {
    let defs = host.join("etc/login.defs");
    let text = std::fs::read_to_string(&defs).unwrap();
    let changed = text.replace(from, to);
    assert_ne!(text, changed, "login.defs has `{from}`");
    replace_defs(host, &changed);
}

#[test]
fn sinks_receive_grouped_failures_and_recoveries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let host = d.join("host");
    copy_tree(&fixture("hardened"), &host);
    let rx = Receiver::start();
    std::fs::write(d.join("hook.secret"), "HOOKSECRET-0001\n").unwrap();
    std::fs::write(
        d.join("slack.url"),
        rx.url("/slack/T000/B000/SLACKTOKEN0001"),
    )
    .unwrap();
    std::fs::write(d.join("pd.key"), "PDROUTINGKEY0001").unwrap();
    let creds = d.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("teams-url"), rx.url("/teams")).unwrap();
    let sinks = format!(
        r#"
[alerts.sinks.hook]
type = "webhook"
url = "{hook}"
secret = "{d}/hook.secret"

[alerts.sinks.slack]
type = "slack"
url = "{d}/slack.url"

[alerts.sinks.teams]
type = "teams"
url = "credential:teams-url"

[alerts.sinks.pd]
type = "pagerduty"
routing_key = "{d}/pd.key"
url = "{pd}"

[alerts.sinks.gone]
type = "webhook"
url = "{gone}"
secret = "{d}/hook.secret"

[alerts.sinks.flaky]
type = "webhook"
url = "{flaky}"
secret = "{d}/hook.secret"

[alerts.sinks.nosecret]
type = "slack"
url = "{d}/missing.url"

[alerts.sinks.down]
type = "webhook"
url = "http://127.0.0.1:9/unreachable"
secret = "{d}/hook.secret"
"#,
        hook = rx.url("/hook"),
        pd = rx.url("/pd"),
        gone = rx.url("/gone"),
        flaky = rx.url("/flaky"),
        d = d.display()
    );
    let config = plain_config(d, &format!("{YEARLY}{sinks}"));
    let db = d.join("attestd.db");
    let daemon = Daemon::start(
        &host,
        &config,
        &db,
        &d.join("daemon.log"),
        &[("CREDENTIALS_DIRECTORY", &creds)],
    );
    assert!(
        wait_for(Duration::from_secs(30), || (daemon.count("run stored")
            >= 1)
            .then_some(()))
        .is_some(),
        "no first run; log:\n{}",
        daemon.log()
    );
    assert_eq!(
        daemon.count("alert queued"),
        0,
        "a hardened host raises no alert"
    );

    // Three controls weakened in one edit: one message with three items.
    let original = std::fs::read_to_string(host.join("etc/login.defs")).unwrap();
    let weakened = original
        .replace("PASS_MAX_DAYS\t365", "PASS_MAX_DAYS\t99999")
        .replace("PASS_MIN_DAYS\t1", "PASS_MIN_DAYS\t0")
        .replace("PASS_WARN_AGE\t14", "PASS_WARN_AGE\t3");
    replace_defs(&host, &weakened);
    let hook = wait_for(Duration::from_secs(30), || {
        rx.requests("/hook").first().cloned()
    })
    .unwrap_or_else(|| panic!("the webhook got nothing; log:\n{}", daemon.log()));
    let body = hook.json();
    let rules: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "password.max_age",
            "password.min_age",
            "password.expiry_warning"
        ],
        "{body}"
    );
    assert_eq!(body["host"], "hardened");
    let max_age = &body["items"][0];
    assert_eq!(max_age["kind"], "failing");
    assert_eq!(max_age["observed"], 99999);
    assert!(max_age["expected"]
        .as_str()
        .unwrap()
        .contains("PASS_MAX_DAYS"));
    assert!(max_age["controls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "soc2:CC6.1"));
    assert!(max_age["remediation"]
        .as_str()
        .unwrap()
        .contains("PASS_MAX_DAYS"));
    assert_eq!(
        hook.headers["x-attestd-signature"],
        expected_signature("HOOKSECRET-0001", &hook.body),
        "the signature covers the exact body"
    );
    assert_eq!(
        hook.headers["idempotency-key"],
        body["id"].as_str().unwrap()
    );

    let slack = wait_for(Duration::from_secs(10), || {
        rx.requests("/slack/*").first().cloned()
    })
    .unwrap();
    let slack = slack.json();
    assert!(slack["text"].as_str().unwrap().contains("hardened"));
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[1]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("password.max_age"));

    let teams = wait_for(Duration::from_secs(10), || {
        rx.requests("/teams").first().cloned()
    })
    .unwrap();
    let card = &teams.json()["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert!(teams.json().to_string().contains("password.min_age"));

    let pd = wait_for(Duration::from_secs(10), || {
        let r = rx.requests("/pd");
        (r.len() >= 3).then_some(r)
    })
    .unwrap();
    let pd: Vec<serde_json::Value> = pd.iter().map(|r| r.json()).collect();
    for (ev, rule) in pd.iter().zip(&rules) {
        assert_eq!(ev["event_action"], "trigger");
        assert_eq!(ev["routing_key"], "PDROUTINGKEY0001");
        assert_eq!(ev["dedup_key"], format!("attestd:hardened:{rule}"));
        assert_eq!(ev["payload"]["source"], "hardened");
    }

    // 503 twice, then accepted: retried with backoff, three attempts recorded.
    let flaky = wait_for(Duration::from_secs(20), || {
        let r = rx.requests("/flaky");
        (r.len() >= 3).then_some(r)
    })
    .unwrap_or_else(|| panic!("no retries to the 503 sink; log:\n{}", daemon.log()));
    assert_eq!(
        flaky[0].body, flaky[2].body,
        "a retry sends the same message"
    );

    let alerts = wait_for(Duration::from_secs(10), || {
        let a = alerts_json(&db, &config);
        (delivery(&a["alerts"][0], "flaky")["state"] == "delivered").then_some(a)
    })
    .expect("the 503 sink was never marked delivered");
    let first = &alerts["alerts"][0];
    assert_eq!(delivery(first, "flaky")["attempts"], 3);
    assert_eq!(delivery(first, "hook")["state"], "delivered");
    let gone = delivery(first, "gone");
    assert_eq!(gone["state"], "failed", "{gone}");
    assert_eq!(gone["attempts"], 1, "a 404 is not retried");
    assert_eq!(gone["last_status"], 404);
    let nosecret = delivery(first, "nosecret");
    assert_eq!(nosecret["state"], "pending");
    assert!(
        nosecret["last_error"]
            .as_str()
            .unwrap()
            .contains("missing.url"),
        "{nosecret}"
    );
    let down = delivery(first, "down");
    assert_eq!(down["state"], "pending");
    assert!(
        down["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{down}"
    );

    // Still failing on later runs: no new alert (transition only).
    let queued = daemon.count("alert queued");
    assert_eq!(queued, 1);

    // Recovery: a resolved notice, and PagerDuty resolves the same dedup keys.
    replace_defs(&host, &original);
    let resolved = wait_for(Duration::from_secs(30), || {
        rx.requests("/hook").get(1).cloned()
    })
    .unwrap_or_else(|| panic!("no resolved notice; log:\n{}", daemon.log()));
    let resolved = resolved.json();
    assert!(resolved["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["kind"] == "resolved"));
    assert_eq!(resolved["items"].as_array().unwrap().len(), 3);
    assert_ne!(resolved["id"], body["id"]);
    let pd = wait_for(Duration::from_secs(10), || {
        let r = rx.requests("/pd");
        (r.len() >= 6).then_some(r)
    })
    .unwrap();
    for (ev, rule) in pd[3..].iter().map(|r| r.json()).zip(&rules) {
        assert_eq!(ev["event_action"], "resolve");
        assert_eq!(ev["dedup_key"], format!("attestd:hardened:{rule}"));
    }

    // Errors are in the log, secrets are not; the ledger (with the alert rows) verifies.
    let log = daemon.log();
    assert!(log.contains("alert delivery failed permanently"), "{log}");
    assert!(log.contains("missing.url"), "{log}");
    let listing = attestd()
        .args(["alerts", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (listing, _) = text(&listing);
    assert!(listing.contains("HTTP 404"), "{listing}");
    for secret in ["HOOKSECRET", "SLACKTOKEN", "PDROUTINGKEY", "/teams"] {
        assert!(
            !log.contains(secret),
            "`{secret}` leaked into the log:\n{log}"
        );
        assert!(!listing.contains(secret), "`{secret}` leaked into `alerts`");
    }
    let status = attestd()
        .args(["status", "--format", "json", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["alerts"]["failed"], 2, "{}", status["alerts"]);
    assert!(status["alerts"]["pending"].as_u64().unwrap() >= 4);
    assert!(status["ledger_rows"]["alert_attempt"].as_u64().unwrap() >= 12);
    daemon.stop();
    attestd()
        .args(["verify", "--db"])
        .arg(&db)
        .assert()
        .success();
}

#[test]
fn receiver_down_across_restart_gets_each_alert_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let host = d.join("host");
    copy_tree(&fixture("hardened"), &host);
    let mut rx = Receiver::start();
    rx.stop();
    std::fs::write(d.join("hook.secret"), "s3cret").unwrap();
    let config = plain_config(
        d,
        &format!(
            "{YEARLY}[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{}/hook.secret\"\n",
            rx.url("/hook"),
            d.display()
        ),
    );
    let db = d.join("attestd.db");
    let log = d.join("daemon.log");
    let daemon = Daemon::start(&host, &config, &db, &log, &[]);
    assert!(
        wait_for(Duration::from_secs(30), || (daemon.count("run stored")
            >= 1)
            .then_some(()))
        .is_some()
    );

    // Three controls fail, one after another: three alerts, while the receiver is down.
    let steps = [
        ("PASS_MAX_DAYS\t365", "PASS_MAX_DAYS\t99999"),
        ("PASS_MIN_DAYS\t1", "PASS_MIN_DAYS\t0"),
        ("PASS_WARN_AGE\t14", "PASS_WARN_AGE\t3"),
    ];
    for (n, (from, to)) in steps.iter().enumerate() {
        weaken(&host, from, to);
        assert!(
            wait_for(Duration::from_secs(30), || (daemon.count("alert queued")
                > n)
                .then_some(()))
            .is_some(),
            "step {n}: no alert queued; log:\n{}",
            daemon.log()
        );
    }
    assert!(wait_for(Duration::from_secs(10), || daemon
        .log()
        .contains("will retry")
        .then_some(()))
    .is_some());
    daemon.stop();

    let before = alerts_json(&db, &config);
    let created: Vec<String> = before["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), 3, "{before}");
    assert_eq!(before["counts"]["pending"], 3);

    // attestd restarts first, then the receiver comes back.
    let daemon = Daemon::start(&host, &config, &db, &log, &[]);
    std::thread::sleep(Duration::from_secs(2));
    rx.restart();
    wait_for(Duration::from_secs(30), || {
        let r = rx.requests("/hook");
        (r.len() >= 3).then_some(r)
    })
    .unwrap_or_else(|| panic!("not delivered after restart; log:\n{}", daemon.log()));
    // Give any duplicate time to show up.
    std::thread::sleep(Duration::from_secs(3));
    let got = rx.requests("/hook");
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(
        ids, created,
        "each alert exactly once, in order of creation"
    );
    for r in &got {
        assert_eq!(
            r.headers["x-attestd-signature"],
            expected_signature("s3cret", &r.body)
        );
        assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    }
    let after = alerts_json(&db, &config);
    assert_eq!(after["counts"]["delivered"], 3, "{after}");
    assert_eq!(after["counts"]["pending"], 0);
    assert_eq!(
        daemon.count("alert queued"),
        3,
        "no new alert after the restart"
    );
    daemon.stop();
    attestd()
        .args(["verify", "--db"])
        .arg(&db)
        .assert()
        .success();
}

#[test]
fn collect_queues_with_flap_damping_and_waivers_then_deliver_and_test() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rx = Receiver::start();
    std::fs::write(d.join("hook.secret"), "k").unwrap();
    let config = plain_config(
        d,
        &format!(
            r#"[alerts]
consecutive_failures = 2
[alerts.sinks.hook]
type = "webhook"
url = "{}"
secret = "{d}/hook.secret"
[alerts.sinks.gone]
type = "webhook"
url = "{}"
secret = "{d}/hook.secret"
route = {{ severities = ["high"] }}

[[waiver]]
rule = "password.max_age"
reason = "NIST SP 800-63B"
approver = "ciso@example.com"
expires = "2099-01-01"
"#,
            rx.url("/hook"),
            rx.url("/gone"),
            d = d.display()
        ),
    );
    let db = d.join("attestd.db");
    let collect = || {
        attestd()
            .args(["collect", "--root"])
            .arg(fixture("debian12-stock"))
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap()
    };
    assert_eq!(collect().status.code(), Some(1));
    assert_eq!(
        alerts_json(&db, &config)["alerts"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "one failing run is below consecutive_failures = 2"
    );
    collect();
    let alerts = alerts_json(&db, &config);
    let list = alerts["alerts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{alerts}");
    let rules: Vec<&str> = list[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"password.min_length"), "{rules:?}");
    assert!(
        !rules.contains(&"password.max_age"),
        "a waived rule does not alert"
    );
    assert_eq!(
        alerts["counts"]["pending"].as_u64(),
        Some(list[0]["deliveries"].as_array().unwrap().len() as u64)
    );
    collect();
    assert_eq!(
        alerts_json(&db, &config)["alerts"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no repeat while still failing"
    );

    let out = attestd()
        .args(["alerts", "deliver", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("hook: 1 delivered"), "{stdout}{stderr}");
    let hook = rx.requests("/hook");
    assert_eq!(hook.len(), 1);
    assert_eq!(
        hook[0].headers["x-attestd-signature"],
        expected_signature("k", &hook[0].body)
    );
    // `gone` gets only the high-severity rules, and its 404 is given up (exit 1).
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("gone: 0 delivered, 0 to retry, 1 failed"),
        "{stdout}"
    );
    let after = alerts_json(&db, &config);
    let gone = delivery(&after["alerts"][0], "gone");
    assert_eq!(gone["state"], "failed");
    let hook_items = hook[0].json()["items"].as_array().unwrap().len();
    assert_eq!(hook_items, rules.len());
    assert!(
        hook_items > 2,
        "debian12-stock fails several rules: {rules:?}"
    );
    let routed = rx.requests("/gone")[0].json();
    let sev: Vec<&str> = routed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["severity"].as_str().unwrap())
        .collect();
    assert!(
        !sev.is_empty() && sev.iter().all(|s| *s == "high"),
        "{sev:?}"
    );
    // `alerts test`: a test message through each sink, with each result.
    let out = attestd()
        .args(["alerts", "test", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("hook (webhook): ok (200)"), "{stdout}");
    assert!(
        stdout.contains("gone (webhook): FAILED: the receiver answered HTTP 404"),
        "{stdout}"
    );
    let test_msg = rx.requests("/hook").last().unwrap().json();
    assert_eq!(test_msg["test"], true);
    let out = attestd()
        .args(["alerts", "test", "--sink", "hook", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = attestd()
        .args(["alerts", "test", "--sink", "nope", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("configured sinks: gone, hook"));
    // No sinks at all: a clear usage error.
    let bare = plain_config(&d.join("x").tap_mkdir(), "");
    let out = attestd()
        .args(["alerts", "test", "--config"])
        .arg(&bare)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no sinks configured"));
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

/// A sink added by a SIGHUP reload starts delivering at once, and hears about what is
/// already failing.
#[test]
fn sink_added_at_reload_hears_about_current_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let host = d.join("host");
    copy_tree(&fixture("hardened"), &host);
    weaken(&host, "PASS_MAX_DAYS\t365", "PASS_MAX_DAYS\t99999");
    let rx = Receiver::start();
    std::fs::write(d.join("hook.secret"), "r").unwrap();
    let config = plain_config(d, YEARLY);
    let db = d.join("attestd.db");
    let daemon = Daemon::start(&host, &config, &db, &d.join("daemon.log"), &[]);
    assert!(
        wait_for(Duration::from_secs(30), || (daemon.count("run stored")
            >= 1)
            .then_some(()))
        .is_some()
    );
    assert_eq!(daemon.count("alert queued"), 0, "no sink, no alert");
    std::fs::write(
        &config,
        format!(
            "[daemon]\npolicy_dirs = []\n{YEARLY}[alerts.sinks.hook]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{}/hook.secret\"\n",
            rx.url("/hook"),
            d.display()
        ),
    )
    .unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let got = wait_for(Duration::from_secs(30), || {
        rx.requests("/hook").first().cloned()
    })
    .unwrap_or_else(|| panic!("nothing after reload; log:\n{}", daemon.log()));
    let body = got.json();
    assert_eq!(body["items"][0]["rule"], "password.max_age", "{body}");
    assert!(daemon.log().contains("configuration reloaded"));
    daemon.stop();
}
