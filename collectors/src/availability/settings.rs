//! `[collectors.availability]` settings: endpoint probes (run by the daemon on their own
//! schedule, not by this collector), systemd units and paths whose file systems need
//! headroom. Owns their validation; the daemon's prober reads the same `ProbeSpec`s.

use serde::Deserialize;

/// The collector's settings.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AvailabilitySettings {
    /// Endpoints the daemon probes over HTTP(S) or TCP.
    #[serde(default)]
    pub probes: Vec<ProbeSpec>,
    /// systemd units that must be running (`nginx.service`, `postgresql@15-main.service`).
    #[serde(default)]
    pub units: Vec<String>,
    /// Paths whose file systems are checked for free space (`/`, `/var/lib/postgresql`).
    #[serde(default)]
    pub paths_for_disk_headroom: Vec<String>,
}

/// One endpoint probe.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// A short unique name for reports.
    pub name: String,
    /// An `http://` or `https://` URL to GET (redirects are not followed).
    pub url: Option<String>,
    /// Or a `host:port` to open a TCP connection to.
    pub tcp: Option<String>,
    /// The HTTP status that counts as up; default any 2xx or 3xx.
    pub expected_status: Option<u16>,
    /// Seconds before a probe that got no answer counts as down (default 10).
    pub timeout_seconds: Option<u64>,
    /// Seconds between probes (default 60). Probes keep their own cadence: cron's
    /// minute resolution is too coarse for measuring minutes of downtime.
    pub interval_seconds: Option<u64>,
}

impl ProbeSpec {
    /// What is probed, for people: the URL or `tcp://host:port`.
    pub fn target(&self) -> String {
        match (&self.url, &self.tcp) {
            (Some(u), _) => u.clone(),
            (None, Some(t)) => format!("tcp://{t}"),
            _ => String::new(),
        }
    }
    pub fn timeout_seconds(&self) -> u64 {
        self.timeout_seconds.unwrap_or(10)
    }
    pub fn interval_seconds(&self) -> u64 {
        self.interval_seconds.unwrap_or(60)
    }
}

/// Parse and validate, with messages naming the entry and field.
pub fn parse(settings: &serde_json::Value) -> Result<AvailabilitySettings, String> {
    let parsed: AvailabilitySettings = match settings {
        serde_json::Value::Null => return Ok(AvailabilitySettings::default()),
        serde_json::Value::Object(_) => serde_json::from_value(settings.clone()).map_err(|e| {
            format!("{e} (availability takes probes, units, paths_for_disk_headroom; a probe takes name, url or tcp, expected_status, timeout_seconds, interval_seconds)")
        })?,
        other => return Err(format!("expected a table, found {other}")),
    };
    let mut names = std::collections::BTreeSet::new();
    for (i, p) in parsed.probes.iter().enumerate() {
        let at = format!("probes[{i}] ({})", p.name);
        if p.name.trim().is_empty() {
            return Err(format!("probes[{i}].name: must not be empty"));
        }
        if !names.insert(&p.name) {
            return Err(format!("{at}.name: the name is used twice"));
        }
        match (&p.url, &p.tcp) {
            (Some(u), None) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(format!(
                        "{at}.url: must start with http:// or https://, found {u:?}"
                    ));
                }
            }
            (None, Some(t)) => {
                let port_ok = t.rsplit_once(':').is_some_and(|(h, port)| {
                    !h.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0)
                });
                if !port_ok {
                    return Err(format!(
                        "{at}.tcp: expected host:port such as db.internal:5432, found {t:?}"
                    ));
                }
                if p.expected_status.is_some() {
                    return Err(format!(
                        "{at}.expected_status: only url probes have an HTTP status"
                    ));
                }
            }
            _ => return Err(format!("{at}: give exactly one of url or tcp")),
        }
        if let Some(s) = p.expected_status {
            if !(100..=599).contains(&s) {
                return Err(format!("{at}.expected_status: {s} is not an HTTP status"));
            }
        }
        if !(1..=300).contains(&p.timeout_seconds()) {
            return Err(format!("{at}.timeout_seconds: must be 1..=300"));
        }
        if !(1..=3600).contains(&p.interval_seconds()) {
            return Err(format!("{at}.interval_seconds: must be 1..=3600"));
        }
        if p.timeout_seconds() > p.interval_seconds() {
            return Err(format!(
                "{at}.timeout_seconds: must not exceed interval_seconds ({})",
                p.interval_seconds()
            ));
        }
    }
    for (i, u) in parsed.units.iter().enumerate() {
        let ok = !u.is_empty()
            && !u.starts_with('-')
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || "@._-:\\".contains(c));
        if !ok {
            return Err(format!("units[{i}]: {u:?} is not a systemd unit name"));
        }
    }
    for (i, p) in parsed.paths_for_disk_headroom.iter().enumerate() {
        if !p.starts_with('/') {
            return Err(format!(
                "paths_for_disk_headroom[{i}]: must be an absolute path, found {p:?}"
            ));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_settings_name_the_entry_and_field() {
        let e = parse(&json!({"probes": [{"name": "web", "url": "ftp://x"}]})).unwrap_err();
        assert!(e.contains("probes[0] (web).url"), "{e}");
        let e = parse(&json!({"probes": [{"name": "db", "tcp": "db:99999"}]})).unwrap_err();
        assert!(e.contains("probes[0] (db).tcp"), "{e}");
        let e = parse(&json!({"probes": [{"name": "x", "url": "http://a", "tcp": "a:1"}]}))
            .unwrap_err();
        assert!(e.contains("exactly one"), "{e}");
        let e =
            parse(&json!({"probes": [{"name": "x", "url": "http://a", "timeout_seconds": 90}]}))
                .unwrap_err();
        assert!(e.contains("must not exceed"), "{e}");
        let e = parse(&json!({"units": ["nginx.service; rm -rf /"]})).unwrap_err();
        assert!(e.contains("units[0]"), "{e}");
        let e = parse(&json!({"paths_for_disk_headroom": ["var"]})).unwrap_err();
        assert!(e.contains("paths_for_disk_headroom[0]"), "{e}");
        let e = parse(&json!({"probe": []})).unwrap_err();
        assert!(e.contains("probe"), "{e}");
        assert!(parse(&json!({"probes": [{"name": "web", "url": "https://a/health", "expected_status": 204}], "units": ["nginx.service"]})).is_ok());
    }
}
