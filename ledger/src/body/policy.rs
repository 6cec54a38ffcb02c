//! The `policy` row: the parameters a run was judged with (the auditor's IPE
//! parameters): rules with the hash of their definition, variables, collectors'
//! versions and schedules, waivers. Written before the first run that uses them and
//! again whenever any of them changes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A ledger row of kind `policy`. `key` is the SHA-256 of the canonical JSON of the
/// other fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    pub key: String,
    pub rules: Vec<PolicyRule>,
    pub variables: BTreeMap<String, PolicyVariable>,
    pub collectors: BTreeMap<String, PolicyCollector>,
    pub waivers: Vec<PolicyWaiver>,
    /// The host's IANA time zone (`Europe/Berlin`, `UTC`) in which the schedules are
    /// evaluated. Absent in ledgers written before it was recorded: their schedules
    /// are evaluated in UTC. Omitted from the JSON (and so from `key`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One rule as defined, with the hash of its definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRule {
    pub id: String,
    pub title: String,
    pub collector: String,
    pub controls: Vec<String>,
    pub severity: String,
    /// `file:line` where it is defined.
    pub origin: String,
    /// Shared with the loaded rule: rule texts are kept once in memory.
    pub definition: Arc<serde_json::Value>,
    pub definition_sha256: String,
}

/// A variable's value in force and where it was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVariable {
    pub value: serde_json::Value,
    pub default: serde_json::Value,
    pub set_in: String,
}

/// A collector's version, schedule and settings (hashed: settings may name secrets'
/// locations, never stored in clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyCollector {
    pub version: String,
    pub enabled: bool,
    /// Five-field Unix cron, evaluated in the host's local time.
    pub schedule: String,
    pub settings_sha256: String,
}

/// A waiver in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyWaiver {
    pub rule: String,
    pub reason: String,
    pub approver: String,
    pub expires: String,
}

impl PolicySnapshot {
    /// A snapshot of these parameters, with its key computed.
    pub fn new(
        rules: Vec<PolicyRule>,
        variables: BTreeMap<String, PolicyVariable>,
        collectors: BTreeMap<String, PolicyCollector>,
        waivers: Vec<PolicyWaiver>,
    ) -> PolicySnapshot {
        PolicySnapshot::in_zone(rules, variables, collectors, waivers, None)
    }

    /// A snapshot of these parameters with the host's time zone, its key computed once
    /// (`new` and then `with_time_zone` would hash every rule definition twice).
    pub fn in_zone(
        rules: Vec<PolicyRule>,
        variables: BTreeMap<String, PolicyVariable>,
        collectors: BTreeMap<String, PolicyCollector>,
        waivers: Vec<PolicyWaiver>,
        time_zone: Option<String>,
    ) -> PolicySnapshot {
        let mut snapshot = PolicySnapshot {
            key: String::new(),
            rules,
            variables,
            collectors,
            waivers,
            time_zone,
        };
        snapshot.key = snapshot.compute_key();
        snapshot
    }

    /// The same parameters with the host's time zone recorded, key recomputed.
    pub fn with_time_zone(mut self, zone: Option<String>) -> PolicySnapshot {
        self.time_zone = zone;
        self.key = self.compute_key();
        self
    }

    /// The zone the schedules are evaluated in: the recorded one, UTC when none was
    /// recorded (or the name is unknown to the tz database).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone
            .as_deref()
            .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// SHA-256 of the canonical JSON of everything but `key`.
    ///
    /// The canonical text is written straight into the hash, fields in sorted order
    /// (`KeyView`), instead of building a `serde_json::Value` of every rule definition
    /// first: the same bytes (a test holds it to `canonical_json`) for a fraction of the
    /// work, which every run pays when its engine is built.
    pub fn compute_key(&self) -> String {
        let mut hasher = HashWriter(Sha256::new());
        serde_json::to_writer(&mut hasher, &KeyView(self)).expect("JSON");
        hex::encode(hasher.0.finalize())
    }
}

/// Bytes written into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A snapshot without `key`, serialised with every object's keys in sorted order, as
/// `canonical_json` writes it. Every field of the snapshot's types must appear here:
/// `key_is_the_canonical_json_hash` fails otherwise.
struct KeyView<'a>(&'a PolicySnapshot);
struct RuleView<'a>(&'a PolicyRule);
struct VariableView<'a>(&'a PolicyVariable);
struct CollectorView<'a>(&'a PolicyCollector);
struct WaiverView<'a>(&'a PolicyWaiver);

/// The collectors and variables maps (a BTreeMap's keys are already sorted).
struct CollectorsView<'a>(&'a BTreeMap<String, PolicyCollector>);
struct VariablesView<'a>(&'a BTreeMap<String, PolicyVariable>);

impl Serialize for CollectorsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, CollectorView(v))))
    }
}

impl Serialize for VariablesView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, VariableView(v))))
    }
}

impl Serialize for KeyView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let p = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("collectors", &CollectorsView(&p.collectors))?;
        m.serialize_entry(
            "rules",
            &Seq(p.rules.iter().map(RuleView).collect::<Vec<_>>()),
        )?;
        if let Some(zone) = &p.time_zone {
            m.serialize_entry("time_zone", zone)?;
        }
        m.serialize_entry("variables", &VariablesView(&p.variables))?;
        m.serialize_entry(
            "waivers",
            &Seq(p.waivers.iter().map(WaiverView).collect::<Vec<_>>()),
        )?;
        m.end()
    }
}

struct Seq<T>(Vec<T>);

impl<T: Serialize> Serialize for Seq<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

impl Serialize for RuleView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("collector", &r.collector)?;
        m.serialize_entry("controls", &r.controls)?;
        m.serialize_entry("definition", &*r.definition)?;
        m.serialize_entry("definition_sha256", &r.definition_sha256)?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("origin", &r.origin)?;
        m.serialize_entry("severity", &r.severity)?;
        m.serialize_entry("title", &r.title)?;
        m.end()
    }
}

impl Serialize for VariableView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let v = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("default", &v.default)?;
        m.serialize_entry("set_in", &v.set_in)?;
        m.serialize_entry("value", &v.value)?;
        m.end()
    }
}

impl Serialize for CollectorView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("enabled", &c.enabled)?;
        m.serialize_entry("schedule", &c.schedule)?;
        m.serialize_entry("settings_sha256", &c.settings_sha256)?;
        m.serialize_entry("version", &c.version)?;
        m.end()
    }
}

impl Serialize for WaiverView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let w = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("approver", &w.approver)?;
        m.serialize_entry("expires", &w.expires)?;
        m.serialize_entry("reason", &w.reason)?;
        m.serialize_entry("rule", &w.rule)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The key as it was first defined: the canonical JSON of the snapshot without
    /// `key`, hashed.
    fn canonical_key(p: &PolicySnapshot) -> String {
        let mut value = serde_json::to_value(p).unwrap();
        value.as_object_mut().unwrap().remove("key");
        let text = crate::canonical::canonical_json(&value).unwrap();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn key_is_the_canonical_json_hash() {
        let rule = |id: &str| PolicyRule {
            id: id.into(),
            title: "T \"quoted\" \u{e9}\n".into(),
            collector: "ssh".into(),
            controls: vec!["soc2:CC6.1".into(), "iso27001-2022:A.8.5".into()],
            severity: "high".into(),
            origin: "policies/ssh.toml:3".into(),
            definition: Arc::new(
                json!({"id": id, "z": [1, 2.5, null], "a": {"y": true, "b": "x"}}),
            ),
            definition_sha256: "ab".repeat(32),
        };
        let variables = BTreeMap::from([
            (
                "min".to_string(),
                PolicyVariable {
                    value: json!(12),
                    default: json!(14),
                    set_in: "attestd.toml:2".into(),
                },
            ),
            (
                "algos".to_string(),
                PolicyVariable {
                    value: json!(["a", "b"]),
                    default: json!([]),
                    set_in: "policies/x.toml:1".into(),
                },
            ),
        ]);
        let collectors = BTreeMap::from([(
            "ssh".to_string(),
            PolicyCollector {
                version: "2".into(),
                enabled: true,
                schedule: "*/15 * * * *".into(),
                settings_sha256: "cd".repeat(32),
            },
        )]);
        let waivers = vec![PolicyWaiver {
            rule: "ssh.x".into(),
            reason: "r".into(),
            approver: "ciso".into(),
            expires: "2027-01-01".into(),
        }];
        let snapshot = PolicySnapshot::new(
            vec![rule("b.rule"), rule("a.rule")],
            variables,
            collectors,
            waivers,
        );
        assert_eq!(snapshot.key, canonical_key(&snapshot));
        let zoned = snapshot
            .clone()
            .with_time_zone(Some("Europe/Berlin".into()));
        assert_eq!(zoned.key, canonical_key(&zoned));
        assert_ne!(zoned.key, snapshot.key);
        let at_once = PolicySnapshot::in_zone(
            snapshot.rules.clone(),
            snapshot.variables.clone(),
            snapshot.collectors.clone(),
            snapshot.waivers.clone(),
            Some("Europe/Berlin".into()),
        );
        assert_eq!(at_once, zoned);
        let empty = PolicySnapshot::new(vec![], BTreeMap::new(), BTreeMap::new(), vec![]);
        assert_eq!(empty.key, canonical_key(&empty));
    }
}
