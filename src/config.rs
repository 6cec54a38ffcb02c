//! The operator's configuration: `/etc/attestd/attestd.toml`, or the embedded default.
//!
//! Owns parsing and validating what can be checked without the policies (syntax,
//! unknown keys, collector names, cron schedules, collector settings). Variables and
//! waivers are checked against the policies in `policy::bind`. It never touches the
//! store and never holds secrets: anything secret is named by a file path.

pub mod alerts;
pub mod fleet;
pub mod ranges;
pub mod sinks;

use crate::location::{toml_error, FieldError, FileError, LineIndex};
use crate::schedule::UnixCron;
use attestd_collectors::{collector_by_name, exec_plugin};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The default configuration, shipped as `/etc/attestd/attestd.toml` and embedded so
/// that `attestd collect` works on a host where nothing is installed.
pub const EMBEDDED_DEFAULT: &str = include_str!("../packaging/attestd.toml");
/// Where the packaged daemon reads its configuration.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/attestd/attestd.toml";
/// The schedule of a plugin that sets none.
const PLUGIN_SCHEDULE: &str = "*/15 * * * *";
/// The name shown for the embedded default in messages.
pub const EMBEDDED_NAME: &str = "<embedded default config>";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    daemon: DaemonSection,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, toml::Value>,
    #[serde(default)]
    collectors: BTreeMap<Spanned<String>, toml::Table>,
    #[serde(default, rename = "waiver")]
    waivers: Vec<Spanned<WaiverSection>>,
    /// `[alerts]`: noise control, retries and sinks (see `alerts::AlertsSection`).
    #[serde(default)]
    alerts: alerts::AlertsSection,
    #[serde(default)]
    fleet: Option<fleet::FleetSection>,
    #[serde(default)]
    attest: AttestSection,
}

/// `[attest]`: attestations (docs/attest.md).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AttestSection {
    /// Days ahead an attestation falling due or expiring is alerted (1-365, default 14).
    reminder_days: Option<u32>,
}

/// The default of `[attest] reminder_days`.
pub const DEFAULT_REMINDER_DAYS: u32 = 14;

/// `[daemon]`: how the daemon runs.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DaemonSection {
    /// The SQLite database; default `/var/lib/attestd/attestd.db` as root, else under
    /// `$XDG_STATE_HOME/attestd/`.
    database: Option<PathBuf>,
    /// Extra directories of rule files (`*.toml`), read after the shipped policies.
    #[serde(default)]
    policy_dirs: Vec<PathBuf>,
    /// Re-run a collector within seconds when a file it reads changes (default true).
    watch: Option<bool>,
    /// Seconds a collector may run before its rules are marked `error` (default 30).
    collector_timeout_seconds: Option<u64>,
    /// Directory of drop-in `exec:NAME` plugins: each executable file `NAME` in it is a
    /// collector (default `/etc/attestd/collectors.d`). See docs/plugins.md.
    plugin_dir: Option<PathBuf>,
    /// Unix socket of the status endpoint (`/health`, `/metrics`); `""` turns it off.
    /// Default: `$RUNTIME_DIRECTORY/status.sock` under systemd, `/run/attestd/status.sock`
    /// as root, else `$XDG_RUNTIME_DIR/attestd/status.sock`.
    status_socket: Option<Spanned<PathBuf>>,
    /// Also serve the status endpoint over TCP on this loopback address, such as
    /// `127.0.0.1:9477` (off by default; only loopback addresses are accepted).
    status_listen: Option<Spanned<String>>,
}

/// `[[waiver]]`: an accepted exception to one rule, until it expires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverSection {
    /// The rule id the waiver applies to.
    rule: Spanned<String>,
    /// Why the failure is accepted (shown to the auditor).
    reason: String,
    /// Who accepted it.
    approver: String,
    /// `YYYY-MM-DD` (the waiver ends at 00:00 UTC that day) or an RFC 3339 time.
    expires: Spanned<String>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, or `EMBEDDED_NAME`.
    pub source: String,
    pub database: Option<PathBuf>,
    pub policy_dirs: Vec<PathBuf>,
    pub watch: bool,
    /// The status endpoint's unix socket, `None` when turned off.
    pub status_socket: Option<PathBuf>,
    /// The status endpoint's optional loopback TCP address.
    pub status_listen: Option<std::net::SocketAddr>,
    pub collectors: BTreeMap<String, CollectorConfig>,
    /// Variable overrides, with the line each was set on (checked in `policy::bind`).
    pub variables: BTreeMap<String, (serde_json::Value, usize)>,
    pub waivers: Vec<WaiverEntry>,
    /// `[alerts]`, validated; no sinks means no alerting.
    pub alerts: alerts::AlertsSection,
    /// `[fleet]`: where this host pushes its ledger (see `fleet::FleetSection`).
    pub fleet: Option<fleet::FleetSection>,
    /// `[attest] reminder_days`: the reminder horizon in days.
    pub attest_reminder_days: u32,
}

/// One collector's settings after defaults are applied.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub enabled: bool,
    pub schedule: UnixCron,
    pub timeout: Duration,
    /// Everything else in `[collectors.NAME]`, passed to the collector.
    pub settings: serde_json::Value,
}

/// `[[waiver]]` as written, checked (dates parsed, reason and approver given); policy
/// binds it to a rule (`policy::Waiver`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WaiverEntry {
    pub rule: String,
    pub reason: String,
    pub approver: String,
    pub expires: chrono::DateTime<chrono::Utc>,
    #[serde(skip)]
    pub line: usize,
}

impl Config {
    /// Load the config the way every command does: `--config FILE` if given, else
    /// `/etc/attestd/attestd.toml` if it exists, else the embedded default.
    pub fn load(explicit: Option<&Path>) -> Result<Config, FileError> {
        match explicit {
            Some(path) => Config::from_file(path),
            None if Path::new(SYSTEM_CONFIG_PATH).exists() => {
                Config::from_file(Path::new(SYSTEM_CONFIG_PATH))
            }
            None => Config::parse(EMBEDDED_NAME, EMBEDDED_DEFAULT),
        }
    }

    /// Load one file.
    pub fn from_file(path: &Path) -> Result<Config, FileError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            file: name.clone(),
            line: 0,
            field: String::new(),
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(&name, &text)
    }

    /// Parse and validate config text.
    pub fn parse(name: &str, text: &str) -> Result<Config, FileError> {
        // The text is parsed once. Every number is checked against its documented range
        // first, with the key's own line; then the typed fields are read. A document that
        // does not parse is left to `toml::from_str`, which reports the syntax error.
        let raw: Result<ConfigFile, toml::de::Error> = match toml::de::DeTable::parse(text) {
            Ok(doc) => {
                ranges::check(name, text, doc.get_ref())?;
                ConfigFile::deserialize(toml::de::Deserializer::from(doc))
            }
            Err(_) => toml::from_str(text),
        };
        let raw = raw.map_err(|e| toml_error(name, text, &e))?;
        let lines = LineIndex::new(text);
        let err = |span: std::ops::Range<usize>, field: String, message: String| FileError {
            file: name.to_string(),
            line: lines.line_of_span(&span),
            field,
            message,
        };
        let default_timeout = raw.daemon.collector_timeout_seconds.unwrap_or(30);
        let mut collectors = BTreeMap::new();
        for collector in attestd_collectors::all_collectors() {
            collectors.insert(
                collector.name().to_string(),
                CollectorConfig {
                    enabled: true,
                    schedule: UnixCron::parse(collector.default_schedule())
                        .expect("built-in default schedules are valid"),
                    timeout: Duration::from_secs(default_timeout),
                    settings: serde_json::Value::Null,
                },
            );
        }
        // Drop-in plugins: an executable NAME in the plugin directory is `exec:NAME`.
        let plugin_dir = raw
            .daemon
            .plugin_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(exec_plugin::PLUGIN_DIR));
        let drop_ins = exec_plugin::discover(&plugin_dir).map_err(|m| FileError {
            file: name.to_string(),
            line: 0,
            field: "daemon.plugin_dir".into(),
            message: m,
        })?;
        for (pname, path) in &drop_ins {
            collectors.insert(
                pname.clone(),
                CollectorConfig {
                    enabled: true,
                    schedule: UnixCron::parse(PLUGIN_SCHEDULE).expect("valid"),
                    timeout: Duration::from_secs(default_timeout),
                    settings: serde_json::json!({ "command": [path] }),
                },
            );
        }
        for (name_spanned, table) in raw.collectors {
            let cname = name_spanned.get_ref().clone();
            let field = format!("collectors.{cname}");
            let plugin = exec_plugin::is_plugin_name(&cname);
            let collector = if plugin {
                None
            } else {
                Some(collector_by_name(&cname).ok_or_else(|| {
                    err(
                        name_spanned.span(),
                        field.clone(),
                        format!(
                            "unknown collector; known collectors: {} (plugins are named \"exec:NAME\")",
                            attestd_collectors::known_collector_names().join(", ")
                        ),
                    )
                })?)
            };
            let entry = collectors
                .entry(cname.clone())
                .or_insert_with(|| CollectorConfig {
                    enabled: true,
                    schedule: UnixCron::parse(PLUGIN_SCHEDULE).expect("valid"),
                    timeout: Duration::from_secs(default_timeout),
                    settings: serde_json::Value::Null,
                });
            let mut settings = table;
            // An error about one key points at that key's line, not the table header's.
            let key_err = |key: &str, message: String| FileError {
                file: name.to_string(),
                line: crate::location::key_line(text, &["collectors", &cname, key])
                    .unwrap_or_else(|| lines.line_of_span(&name_spanned.span())),
                field: format!("{field}.{key}"),
                message,
            };
            if let Some(v) = settings.remove("enabled") {
                entry.enabled = v
                    .as_bool()
                    .ok_or_else(|| key_err("enabled", "expected true or false".into()))?;
            }
            if let Some(v) = settings.remove("schedule") {
                let cron = v.as_str().ok_or_else(|| {
                    key_err(
                        "schedule",
                        "expected a cron string such as \"*/15 * * * *\"".into(),
                    )
                })?;
                entry.schedule = UnixCron::parse(cron).map_err(|m| key_err("schedule", m))?;
            }
            if let Some(v) = settings.remove("timeout_seconds") {
                // In range: `ranges::check` has seen it.
                let secs = v
                    .as_integer()
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        key_err(
                            "timeout_seconds",
                            "expected a positive whole number of seconds".into(),
                        )
                    })?;
                entry.timeout = Duration::from_secs(secs);
            }
            let mut settings_json = serde_json::to_value(&settings).expect("TOML tables are JSON");
            match &collector {
                Some(c) => c.check_settings(&settings_json),
                None => {
                    // A table for a drop-in plugin may tune it without repeating its command.
                    if settings_json.get("command").is_none() {
                        if let Some(cmd) = entry.settings.get("command") {
                            settings_json["command"] = cmd.clone();
                        }
                    }
                    exec_plugin::check_settings(&cname, &settings_json)
                }
            }
            .map_err(|m| crate::location::nested_error(name, text, &["collectors", &cname], m))
            .map_err(|mut e| {
                if e.line == 0 {
                    e.line = lines.line_of_span(&name_spanned.span());
                }
                e
            })?;
            entry.settings = settings_json;
        }
        let variables = raw
            .variables
            .into_iter()
            .map(|(k, v)| {
                let line = lines.line_of_span(&k.span());
                let json = serde_json::to_value(&v).expect("TOML values are JSON");
                (k.into_inner(), (json, line))
            })
            .collect();
        let mut waivers = Vec::new();
        for w in raw.waivers {
            let line = lines.line_of_span(&w.span());
            let w = w.into_inner();
            let expires = parse_expiry(w.expires.get_ref())
                .map_err(|m| err(w.expires.span(), "waiver.expires".into(), m))?;
            for (value, what) in [(&w.reason, "reason"), (&w.approver, "approver")] {
                if value.trim().is_empty() {
                    return Err(FileError {
                        file: name.to_string(),
                        line,
                        field: format!("waiver.{what}"),
                        message: "must not be empty: an auditor needs to know why and who".into(),
                    });
                }
            }
            waivers.push(WaiverEntry {
                rule: w.rule.into_inner(),
                reason: w.reason,
                approver: w.approver,
                expires,
                line,
            });
        }
        raw.alerts
            .validate()
            .map_err(|FieldError { field, message }| {
                // The line of the sink's table (or of `[alerts]`) the field belongs to.
                let needle = field
                    .strip_prefix("alerts.sinks.")
                    .and_then(|rest| {
                        raw.alerts
                            .sinks
                            .keys()
                            .filter(|n| rest.starts_with(&format!("{n}.")))
                            .max_by_key(|n| n.len())
                            .map(|n| format!("sinks.{n}]"))
                    })
                    .unwrap_or_else(|| "[alerts".to_string());
                // The key's own line when it is written out, else its table's.
                let steps: Vec<&str> = field.split('.').collect();
                let line = crate::location::key_line(text, &steps).unwrap_or_else(|| {
                    text.lines()
                        .position(|l| l.contains(&needle))
                        .map(|i| i + 1)
                        .unwrap_or(0)
                });
                FileError {
                    file: name.to_string(),
                    line,
                    field,
                    message,
                }
            })?;
        let status_socket = match raw.daemon.status_socket {
            None => crate::paths::default_status_socket(),
            Some(p) if p.get_ref().as_os_str().is_empty() => None,
            Some(p) if p.get_ref().is_absolute() => Some(p.into_inner()),
            Some(p) => {
                return Err(err(
                    p.span(),
                    "daemon.status_socket".into(),
                    "expected an absolute path such as \"/run/attestd/status.sock\", or \"\" to turn the endpoint off".into(),
                ))
            }
        };
        let status_listen = match raw.daemon.status_listen {
            None => None,
            Some(text) => {
                let addr: std::net::SocketAddr = text.get_ref().parse().map_err(|_| {
                    err(
                        text.span(),
                        "daemon.status_listen".into(),
                        "expected IP:PORT such as \"127.0.0.1:9477\"".into(),
                    )
                })?;
                if !addr.ip().is_loopback() {
                    return Err(err(
                        text.span(),
                        "daemon.status_listen".into(),
                        "only loopback addresses (127.0.0.1, ::1) are accepted: the metrics describe this host's weaknesses; put an authenticating proxy in front to expose them".into(),
                    ));
                }
                Some(addr)
            }
        };
        Ok(Config {
            source: name.to_string(),
            database: raw.daemon.database,
            policy_dirs: raw.daemon.policy_dirs,
            watch: raw.daemon.watch.unwrap_or(true),
            status_socket,
            status_listen,
            collectors,
            variables,
            waivers,
            alerts: raw.alerts,
            fleet: raw.fleet,
            attest_reminder_days: raw.attest.reminder_days.unwrap_or(DEFAULT_REMINDER_DAYS),
        })
    }

    /// The configured `exec:NAME` plugins, ready to run.
    pub fn plugins(&self) -> Vec<attestd_collectors::ExecPlugin> {
        self.collectors
            .iter()
            .filter(|(n, _)| exec_plugin::is_plugin_name(n))
            .filter_map(|(n, c)| {
                attestd_collectors::ExecPlugin::new(n, &c.settings, c.timeout)
                    .map_err(|e| tracing::warn!(plugin = %n, reason = %e, "plugin not usable"))
                    .ok()
            })
            .collect()
    }

    /// The names of the configured plugins (`exec:NAME`).
    pub fn plugin_names(&self) -> Vec<&str> {
        self.collectors
            .keys()
            .filter(|n| exec_plugin::is_plugin_name(n))
            .map(String::as_str)
            .collect()
    }

    /// The collectors to run: all enabled ones, or only those named (which must exist).
    pub fn selected_collectors(&self, only: &[String]) -> Result<Vec<String>, String> {
        if only.is_empty() {
            return Ok(self
                .collectors
                .iter()
                .filter(|(_, c)| c.enabled)
                .map(|(n, _)| n.clone())
                .collect());
        }
        for name in only {
            if !self.collectors.contains_key(name) {
                return Err(format!(
                    "unknown collector `{name}`; known collectors: {}",
                    self.collectors
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(only.to_vec())
    }
}

fn parse_expiry(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::parse(EMBEDDED_NAME, EMBEDDED_DEFAULT).unwrap();
        assert!(c.collectors["password_policy"].enabled);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text =
            "[daemon]\nwatch = true\n\n[collectors.password_policy]\nschedule = \"61 * * * *\"\n";
        let e = Config::parse("a.toml", text).unwrap_err();
        // The key's line, and the field named as the operator wrote it.
        assert_eq!(e.line, 5);
        assert_eq!(e.field, "collectors.password_policy.schedule");
        assert!(e.message.contains("minute must be 0-59, found 61"), "{e}");
        let e = Config::parse("a.toml", "[collectors.nope]\n").unwrap_err();
        assert!(e.to_string().contains("unknown collector"), "{e}");
        let e = Config::parse("a.toml", "[daemon]\nwatsh = 1\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Config::parse("a.toml", "[collectors.password_policy]\nminlen = 3\n").unwrap_err();
        assert!(e.to_string().contains("unknown setting `minlen`"), "{e}");
        assert_eq!(e.line, 2, "{e}");
        let e = Config::parse(
            "a.toml",
            "[collectors.availability]\nunits = []\nprobes = [{ name = \"w\", url = \"ftp://x\" }]\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert_eq!(e.field, "collectors.availability.probes[0].url", "{e}");
        assert!(e.message.starts_with("must start with http://"), "{e}");
        let e = Config::parse("a.toml", "[collectors.ssh]\n\nenabled = 1\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "collectors.ssh.enabled"));
        // A syntax error: the text does not parse, and the parser says where.
        let e = Config::parse("a.toml", "[daemon]\nwatch = true\n[alerts\n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("a.toml", 3), "{e}");
        assert!(!e.message.is_empty(), "{e}");
    }

    #[test]
    fn commented_alert_examples_are_valid() {
        // Uncomment every `[alerts.sinks.*]` block of the shipped config: it must parse.
        let mut out = String::new();
        let mut in_sink = false;
        for line in EMBEDDED_DEFAULT.lines() {
            if line.starts_with("# [alerts.sinks.") {
                in_sink = true;
            } else if line.trim().is_empty() {
                in_sink = false;
            }
            let uncomment = in_sink || line.starts_with("# consecutive_failures_by_");
            out.push_str(if uncomment { &line[2..] } else { line });
            out.push('\n');
        }
        let c = Config::parse("example", &out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let types: Vec<&str> = c.alerts.sinks.values().map(|s| s.type_name()).collect();
        assert_eq!(types.len(), sinks::SINK_TYPES.len(), "{types:?}");
        assert_eq!(c.alerts.consecutive_failures_by_severity["low"], 3);
    }

    #[test]
    fn alert_sinks_are_checked_with_lines() {
        let ok = "[alerts]\nconsecutive_failures = 2\n\n[alerts.sinks.sec]\ntype = \"slack\"\nurl = \"/etc/attestd/slack.url\"\n";
        let c = Config::parse("a.toml", ok).unwrap();
        assert_eq!(c.alerts.sinks["sec"].type_name(), "slack");
        let e = Config::parse(
            "a.toml",
            &ok.replace("/etc/attestd/slack.url", "https://hooks.example/x"),
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (6, "alerts.sinks.sec.url"),
            "{e}"
        );
        let e = Config::parse(
            "a.toml",
            "[alerts]\nretry_initial_seconds = 60\nretry_max_seconds = 10\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (2, "alerts.retry_initial_seconds")
        );
        let e = Config::parse("a.toml", &format!("{ok}colour = 1\n")).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Config::parse("a.toml", &ok.replace("slack", "carrier-pigeon")).unwrap_err();
        assert!(e.to_string().contains("carrier-pigeon"), "{e}");
        let e = Config::parse("a.toml", "[alerts]\nconsecutive_failures = 0\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (2, "alerts.consecutive_failures")
        );
    }

    #[test]
    fn status_endpoint_settings_are_checked() {
        let c = Config::parse(
            "a.toml",
            "[daemon]\nstatus_socket = \"/tmp/x.sock\"\nstatus_listen = \"127.0.0.1:9477\"\n",
        )
        .unwrap();
        assert_eq!(c.status_socket, Some(PathBuf::from("/tmp/x.sock")));
        assert_eq!(c.status_listen, Some("127.0.0.1:9477".parse().unwrap()));
        let off = Config::parse("a.toml", "[daemon]\nstatus_socket = \"\"\n").unwrap();
        assert_eq!(off.status_socket, None);
        let e =
            Config::parse("a.toml", "[daemon]\n\nstatus_listen = \"0.0.0.0:9477\"\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "daemon.status_listen"));
        assert!(e.message.contains("only loopback"), "{e}");
        let e = Config::parse("a.toml", "[daemon]\nstatus_listen = \"localhost\"\n").unwrap_err();
        assert!(e.message.contains("IP:PORT"), "{e}");
        let e = Config::parse("a.toml", "[daemon]\nstatus_socket = \"rel.sock\"\n").unwrap_err();
        assert_eq!(e.field, "daemon.status_socket");
    }

    #[test]
    fn waivers_need_a_valid_expiry_and_a_reason() {
        let ok = "[[waiver]]\nrule = \"r\"\nreason = \"x\"\napprover = \"ciso\"\nexpires = \"2027-01-01\"\n";
        let c = Config::parse("a.toml", ok).unwrap();
        assert_eq!(
            c.waivers[0].expires.to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        let bad = ok.replace("2027-01-01", "next year");
        let e = Config::parse("a.toml", &bad).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (5, "waiver.expires"));
        let empty = ok.replace("reason = \"x\"", "reason = \" \"");
        assert!(Config::parse("a.toml", &empty).is_err());
    }

    #[test]
    fn plugins_come_from_tables_and_the_drop_in_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("inventory.py");
        std::fs::write(&plugin, "#!/usr/bin/python3\nprint('{}')\n").unwrap();
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let text = format!(
            "[daemon]\nplugin_dir = \"{}\"\n\n[collectors.\"exec:inventory\"]\nschedule = \"@daily\"\n\n[collectors.\"exec:other\"]\ncommand = [\"/bin/true\"]\n",
            dir.path().display()
        );
        let c = Config::parse("a.toml", &text).unwrap();
        // The table tunes the drop-in without repeating its command.
        assert_eq!(
            c.collectors["exec:inventory"].settings["command"][0],
            plugin.display().to_string()
        );
        assert_eq!(c.plugin_names(), vec!["exec:inventory", "exec:other"]);
        assert_eq!(c.plugins().len(), 2);
        let e =
            Config::parse("a.toml", "[collectors.\"exec:x\"]\ncommand = [\"x\"]\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "collectors.exec:x.command"));
        assert!(e.message.contains("absolute path"), "{e}");
    }
}
