//! Config that cannot panic: every number in the config has a documented range checked
//! at load (the error names file:line:key and the range), cron schedules are checked in
//! the five fields the operator wrote, a schedule that never fires is refused, and
//! duplicate keys and mistyped values name the field. A property test feeds random values
//! to every numeric key and asserts an error naming the key, or a config that loads and
//! real runs of the binary (collect twice, then alert delivery) that end without a panic.

mod common;
use attestd::config::{ranges, Config};
use common::*;
use proptest::prelude::*;
use std::path::Path;

/// `attestd collect` with a config text: (exit code, stderr).
fn collect_with(dir: &Path, text: &str) -> (i32, String) {
    let config = dir.join("attestd.toml");
    std::fs::write(&config, text).unwrap();
    let out = attestd()
        .args(["collect", "--collector", "password_policy", "--root"])
        .arg(fixture("hardened"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each value from the issue, refused by the real binary with file:line, key and range.
#[test]
fn the_values_that_panicked_or_were_accepted_are_refused_with_key_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attestd.toml").display().to_string();
    for (text, needle) in [
        (
            "[daemon]\npolicy_dirs = []\n[collectors.ssh]\ntimeout_seconds = 9223372036854775807\n",
            ":4: `collectors.ssh.timeout_seconds`: must be a whole number from 1 to 3600",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[alerts]\nrenotify_minutes = 1000000000000000\n",
            ":4: `alerts.renotify_minutes`: must be a whole number from 0 to 525600",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[alerts]\nrenotify_minutes = 18446744073709551615\n",
            "found 18446744073709551615",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[alerts]\nretry_initial_seconds = 10000000000000\nretry_max_seconds = 10000000000000\n",
            ":4: `alerts.retry_initial_seconds`: must be a whole number from 1 to 86400",
        ),
        (
            "[daemon]\npolicy_dirs = []\ncollector_timeout_seconds = 0\n",
            ":3: `daemon.collector_timeout_seconds`: must be a whole number from 1 to 3600",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[collectors.ssh]\nschedule = \"0 0 30 2 *\"\n",
            ":4: `collectors.ssh.schedule`: invalid schedule `0 0 30 2 *`: it never fires",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[collectors.ssh]\nenabled = true\nschedule = \"61 * * * *\"\n",
            ":5: `collectors.ssh.schedule`: invalid schedule `61 * * * *`: minute must be 0-59, found 61",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[collectors.ssh]\nschedule = \"0 24 * * *\"\n",
            "hour must be 0-23, found 24",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[collectors.ssh]\nschedule = \"0 0 32 * *\"\n",
            "day-of-month must be 1-31, found 32",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[collectors.ssh]\nschedule = \"0 0 * 13 *\"\n",
            "month must be 1-12 or jan-dec, found 13",
        ),
        (
            "[daemon]\npolicy_dirs = []\nwatch = true\nwatch = false\n",
            ":4: `daemon.watch`: duplicate key",
        ),
        (
            "[daemon]\npolicy_dirs = []\nwatch = 1\n",
            ":3: `daemon.watch`: invalid type: integer `1`, expected a boolean",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[alerts]\nconsecutive_failures = 99999999999\n",
            ":4: `alerts.consecutive_failures`: must be a whole number from 1 to 1000",
        ),
        (
            "[daemon]\npolicy_dirs = []\n[collectors.availability]\nprobes = [\n  { name = \"web\", url = \"http://127.0.0.1:1/\", interval_seconds = 0 },\n]\n",
            ":5: `collectors.availability.probes[0].interval_seconds`: must be a whole number from 1 to 3600",
        ),
    ] {
        let (code, stderr) = collect_with(dir.path(), text);
        assert_eq!(code, 2, "{text}\n{stderr}");
        let expected = if needle.starts_with(':') {
            format!("{file}{needle}")
        } else {
            needle.to_string()
        };
        assert!(
            stderr.contains(&expected),
            "{text}\nexpected {needle:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("less than"), "the cron crate's message: {stderr}");
    }
}

/// The ranges in docs/configuration.md are the ones the code checks.
#[test]
fn the_documented_ranges_are_the_checked_ones() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap();
    let documented: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter(|l| !l.contains("schedule"))
        .collect();
    let code = ranges::markdown_rows();
    assert_eq!(
        documented,
        code.iter().map(String::as_str).collect::<Vec<_>>(),
        "docs/configuration.md's table differs from config/ranges.rs:\n{}",
        code.join("\n")
    );
}

/// Every numeric key, as a concrete key in the test config, with the pattern it is an
/// instance of and a valid default.
const KEYS: &[(&str, &str, &str)] = &[
    (
        "daemon.collector_timeout_seconds",
        "daemon.collector_timeout_seconds",
        "5",
    ),
    (
        "collectors.password_policy.timeout_seconds",
        "collectors.*.timeout_seconds",
        "5",
    ),
    (
        "collectors.exec:probe.max_output_bytes",
        "collectors.exec:*.max_output_bytes",
        "4096",
    ),
    (
        "collectors.availability.probes[0].timeout_seconds",
        "collectors.availability.probes[].timeout_seconds",
        "5",
    ),
    (
        "collectors.availability.probes[0].interval_seconds",
        "collectors.availability.probes[].interval_seconds",
        "60",
    ),
    (
        "collectors.availability.probes[0].expected_status",
        "collectors.availability.probes[].expected_status",
        "200",
    ),
    (
        "collectors.backup.repositories[0].timeout_seconds",
        "collectors.backup.repositories[].timeout_seconds",
        "5",
    ),
    (
        "collectors.tls.connect_timeout_seconds",
        "collectors.tls.connect_timeout_seconds",
        "2",
    ),
    (
        "collectors.tls.read_timeout_seconds",
        "collectors.tls.read_timeout_seconds",
        "2",
    ),
    (
        "alerts.consecutive_failures",
        "alerts.consecutive_failures",
        "1",
    ),
    (
        "alerts.consecutive_failures_by_severity.low",
        "alerts.consecutive_failures_by_severity.*",
        "3",
    ),
    (
        "alerts.consecutive_failures_by_rule.password.max_age",
        "alerts.consecutive_failures_by_rule.*",
        "1",
    ),
    ("alerts.renotify_minutes", "alerts.renotify_minutes", "1"),
    (
        "alerts.retry_initial_seconds",
        "alerts.retry_initial_seconds",
        "1",
    ),
    ("alerts.retry_max_seconds", "alerts.retry_max_seconds", "2"),
    ("alerts.timeout_seconds", "alerts.timeout_seconds", "2"),
    ("alerts.sinks.mail.port", "alerts.sinks.*.port", "1"),
    ("attest.reminder_days", "attest.reminder_days", "14"),
];

/// A config with every numeric key set: the defaults, but `key` set to `value`.
fn config_text(dir: &Path, key: &str, value: &str) -> String {
    let v = |k: &str| {
        if k == key {
            value.to_string()
        } else {
            KEYS.iter().find(|(c, _, _)| *c == k).unwrap().2.to_string()
        }
    };
    let d = dir.display();
    format!(
        r#"[daemon]
policy_dirs = []
plugin_dir = "{d}/plugins"
watch = false
collector_timeout_seconds = {}

[collectors.password_policy]
timeout_seconds = {}

[collectors."exec:probe"]
enabled = false
command = ["/bin/true"]
max_output_bytes = {}

[collectors.availability]
probes = [
  {{ name = "web", url = "http://127.0.0.1:1/", timeout_seconds = {}, interval_seconds = {}, expected_status = {} }},
]

[collectors.backup]
repositories = [
  {{ name = "dumps", kind = "file", path = "/nonexistent/*.sql.gz", timeout_seconds = {} }},
]

[collectors.tls]
connect_timeout_seconds = {}
read_timeout_seconds = {}

[alerts]
consecutive_failures = {}
consecutive_failures_by_severity = {{ low = {} }}
consecutive_failures_by_rule = {{ "password.max_age" = {} }}
renotify_minutes = {}
retry_initial_seconds = {}
retry_max_seconds = {}
timeout_seconds = {}

[alerts.sinks.hook]
type = "webhook"
url = "http://127.0.0.1:1/hook"
secret = "{d}/hook.secret"

[alerts.sinks.mail]
type = "email"
server = "127.0.0.1"
port = {}
from = "attestd <attestd@example.com>"
to = ["security@example.com"]

[attest]
reminder_days = {}
"#,
        v("daemon.collector_timeout_seconds"),
        v("collectors.password_policy.timeout_seconds"),
        v("collectors.exec:probe.max_output_bytes"),
        v("collectors.availability.probes[0].timeout_seconds"),
        v("collectors.availability.probes[0].interval_seconds"),
        v("collectors.availability.probes[0].expected_status"),
        v("collectors.backup.repositories[0].timeout_seconds"),
        v("collectors.tls.connect_timeout_seconds"),
        v("collectors.tls.read_timeout_seconds"),
        v("alerts.consecutive_failures"),
        v("alerts.consecutive_failures_by_severity.low"),
        v("alerts.consecutive_failures_by_rule.password.max_age"),
        v("alerts.renotify_minutes"),
        v("alerts.retry_initial_seconds"),
        v("alerts.retry_max_seconds"),
        v("alerts.timeout_seconds"),
        v("alerts.sinks.mail.port"),
        v("attest.reminder_days"),
    )
}

#[test]
fn the_property_test_covers_every_documented_numeric_key() {
    let mut tested: Vec<&str> = KEYS.iter().map(|(_, p, _)| *p).collect();
    let mut documented: Vec<&str> = ranges::RANGES.iter().map(|r| r.key).collect();
    tested.sort_unstable();
    documented.sort_unstable();
    assert_eq!(tested, documented);
    // And the defaults load.
    let dir = tempfile::tempdir().unwrap();
    Config::parse("t.toml", &config_text(dir.path(), "", "")).unwrap();
}

/// Values of every kind: edges, negatives, huge, floats, strings, other types, and
/// numbers inside the key's range.
fn value_for(key: usize) -> BoxedStrategy<String> {
    let range = ranges::RANGES
        .iter()
        .find(|r| r.key == KEYS[key].1)
        .copied()
        .unwrap();
    prop_oneof![
        3 => (range.min..=range.max).prop_map(|n| n.to_string()),
        1 => Just(range.min.to_string()),
        1 => Just(range.max.to_string()),
        1 => Just((range.max + 1).to_string()),
        1 => Just((range.min - 1).to_string()),
        1 => prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("9223372036854775807".to_string()),
            Just("-9223372036854775808".to_string()),
            Just("18446744073709551615".to_string()),
            Just("99999999999999999999999".to_string()),
            Just("0x7fffffffffffffff".to_string()),
        ],
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop_oneof![
            Just("1.5".to_string()),
            Just("1e300".to_string()),
            Just("-0.0".to_string()),
            Just("nan".to_string()),
            Just("inf".to_string()),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
        ],
        1 => prop_oneof![
            Just("\"30\"".to_string()),
            "[a-z0-9 ]{0,8}".prop_map(|s| format!("\"{s}\"")),
            Just("true".to_string()),
            Just("[1]".to_string()),
            Just("{ a = 1 }".to_string()),
            Just("1979-05-27".to_string()),
        ],
    ]
    .boxed()
}

/// A config that loaded must run: two collect runs into a database (the second raises
/// a reminder through the renotify arithmetic) and one alert delivery pass against
/// closed ports (retries through the backoff arithmetic), each without a panic.
fn runs_without_panic(dir: &Path, config: &Path) -> Result<(), String> {
    let db = dir.join("attestd.db");
    let host = fixture("debian12-stock");
    let mut runs: Vec<Vec<String>> = Vec::new();
    for _ in 0..2 {
        runs.push(vec![
            "collect".into(),
            "--collector".into(),
            "password_policy".into(),
            "--root".into(),
            host.display().to_string(),
        ]);
    }
    runs.push(vec!["alerts".into(), "deliver".into()]);
    for args in runs {
        let out = attestd()
            .args(&args)
            .arg("--config")
            .arg(config)
            .arg("--db")
            .arg(&db)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("panicked") || !matches!(out.status.code(), Some(0 | 1)) {
            return Err(format!("{args:?}: {:?}\n{stderr}", out.status));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_value_of_any_numeric_key_is_refused_by_name_or_runs(
        (key, value) in (0..KEYS.len()).prop_flat_map(|k| (Just(k), value_for(k)))
    ) {
        let (name, pattern, _) = KEYS[key];
        let range = ranges::RANGES.iter().find(|r| r.key == pattern).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("hook.secret"), "s3cret").unwrap();
        let text = config_text(dir.path(), name, &value);
        let in_range = value.parse::<i64>().is_ok_and(|n| (range.min..=range.max).contains(&n));
        match Config::parse("t.toml", &text) {
            Err(e) => {
                prop_assert!(e.line > 0, "{e}");
                if in_range {
                    // A number in range can still break a rule between two keys of one
                    // table (a probe's timeout above its interval): the error names a key
                    // of that table.
                    let table = name.rsplit_once('.').map(|(t, _)| t).unwrap_or("");
                    prop_assert!(e.field.starts_with(table), "{name} = {value}: {e}");
                } else {
                    prop_assert_eq!(&e.field, name, "{} = {}: {}", name, value, e);
                    let expected = format!("from {} to {}", range.min, range.max);
                    prop_assert!(e.message.contains(&expected), "{e}");
                }
            }
            Ok(_) => {
                prop_assert!(in_range, "{name} = {value} was accepted");
                let config = dir.path().join("attestd.toml");
                std::fs::write(&config, &text).unwrap();
                let ran = runs_without_panic(dir.path(), &config);
                prop_assert!(ran.is_ok(), "{name} = {value}: {}", ran.unwrap_err());
            }
        }
    }
}

/// The shipped policies' numeric thresholds (`[variables]`), by name.
fn numeric_variables() -> Vec<String> {
    let config = Config::parse(
        attestd::config::EMBEDDED_NAME,
        attestd::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    let policies =
        attestd::policy::PolicySet::load(&attestd::policy::PolicyInputs::from_config(&config))
            .unwrap();
    policies
        .variables
        .values()
        .filter(|v| v.default.is_number())
        .map(|v| v.name.clone())
        .collect()
}

/// Any value of any kind, for keys whose type the policies declare.
fn any_value() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-5i64..100_000).prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        prop_oneof![
            Just("0".to_string()),
            Just("-9223372036854775808".to_string()),
            Just("9223372036854775807".to_string()),
            Just("18446744073709551615".to_string()),
            Just("nan".to_string()),
            Just("-inf".to_string()),
            Just("\"12\"".to_string()),
            Just("true".to_string()),
            Just("[1]".to_string()),
        ],
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// Policy thresholds are numbers in the config too: each value is refused naming the
    /// variable, or every collector runs and every rule is judged without a panic.
    #[test]
    fn any_value_of_any_numeric_variable_is_refused_by_name_or_runs(
        (name, value) in (Just(numeric_variables()), any_value())
            .prop_flat_map(|(names, value)| (proptest::sample::select(names), Just(value)))
    ) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[daemon]\npolicy_dirs = []\nplugin_dir = \"{}\"\n[variables]\n{name} = {value}\n", dir.path().display());
        let parsed = Config::parse("t.toml", &text)
            .and_then(|c| attestd::policy::PolicySet::load(&attestd::policy::PolicyInputs::from_config(&c)).map(|_| ()));
        match parsed {
            Err(e) => {
                prop_assert_eq!(e.line, 5, "{}", e);
                prop_assert_eq!(&e.field, &format!("variables.{name}"), "{}", e);
            }
            Ok(()) => {
                let config = dir.path().join("attestd.toml");
                std::fs::write(&config, &text).unwrap();
                let out = attestd()
                    .args(["collect", "--format", "json", "--root"])
                    .arg(fixture("debian12-stock"))
                    .arg("--config")
                    .arg(&config)
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                prop_assert!(
                    matches!(out.status.code(), Some(0 | 1)) && !stderr.contains("panicked"),
                    "{name} = {value}: {:?}\n{stderr}",
                    out.status
                );
            }
        }
    }
}
