//! disk_encryption collector: whether the filesystems that hold data sit on dm-crypt
//! (LUKS or plain) block devices.
//!
//! For each data path (setting `data_mounts`, default `/`, `/var`, `/home`, `/srv`) it
//! finds the mount that holds it in `/proc/mounts` (longest mount point that is a
//! prefix), then that mount's block device in the tree `lsblk -J` prints, and walks up
//! the device's parents: a `crypt` device anywhere on the way means the data is
//! encrypted at rest. `/etc/crypttab` is reported by mapping name and options only (its
//! key-file column is never read into facts).
//!
//! It never judges which paths must be encrypted and never touches a key.

use crate::probe::{read_optional, run_tool, ToolRun};
use crate::{CollectContext, CollectError, Collector, Command, Evidence};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Encryption at rest of the filesystems that hold data.
pub struct DiskEncryption;

const LSBLK: &[&str] = &["/usr/bin/lsblk", "/bin/lsblk"];
const DEFAULT_DATA_MOUNTS: &[&str] = &["/", "/var", "/home", "/srv"];
/// The lsblk columns read.
pub const LSBLK_ARGS: &[&str] = &["-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINTS"];

/// `[collectors.disk_encryption]` settings.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Paths whose filesystems hold data and must be encrypted (absolute paths).
    #[serde(default)]
    data_mounts: Option<Vec<String>>,
}

fn settings(value: &Value) -> Result<Vec<String>, String> {
    if value.is_null() {
        return Ok(DEFAULT_DATA_MOUNTS.iter().map(|s| s.to_string()).collect());
    }
    let s: Settings = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let mounts = s
        .data_mounts
        .unwrap_or_else(|| DEFAULT_DATA_MOUNTS.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = mounts.iter().find(|m| !m.starts_with('/')) {
        return Err(format!("data_mounts: `{bad}` is not an absolute path"));
    }
    Ok(mounts)
}

/// One block device with the chain of device types above it (itself first).
struct Device {
    name: String,
    mountpoints: Vec<String>,
    /// (name, type, fstype) of the device and each parent, nearest first.
    chain: Vec<(String, String, String)>,
}

impl Collector for DiskEncryption {
    fn name(&self) -> &'static str {
        "disk_encryption"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &Value) -> Vec<PathBuf> {
        vec![PathBuf::from("/etc/crypttab")]
    }
    fn default_schedule(&self) -> &'static str {
        "0 */6 * * *"
    }
    fn check_settings(&self, value: &Value) -> Result<(), String> {
        settings(value).map(|_| ())
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let root = &ctx.root;
        let data_mounts = settings(&ctx.settings).map_err(CollectError::Settings)?;
        let mut artifacts = Vec::new();

        let mounts_text =
            root.read_text("/proc/mounts")?
                .ok_or_else(|| CollectError::Unreadable {
                    path: "/proc/mounts".into(),
                    reason: "missing: the root has no mount table".into(),
                })?;
        artifacts.push(crate::Artifact::file(
            "/proc/mounts",
            mounts_text.as_bytes(),
        ));
        let mounts: Vec<(String, String, String)> = mounts_text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3).then(|| (unescape(f[0]), unescape(f[1]), f[2].to_string()))
            })
            .collect();

        let Some(lsblk) = Command::locate(root, LSBLK) else {
            return Err(CollectError::Other(
                "lsblk is not installed (package util-linux): cannot see block devices".into(),
            ));
        };
        let out = match run_tool(
            root,
            Command::new(&lsblk).args(LSBLK_ARGS.iter().copied()),
            &mut artifacts,
        )
        .map_err(CollectError::Other)?
        {
            ToolRun::Ran(out) if out.success() => out,
            ToolRun::Ran(out) => return Err(CollectError::Other(out.failure_reason())),
            ToolRun::NotInstalled => {
                return Err(CollectError::Other("lsblk is not installed".into()))
            }
        };
        let doc: Value =
            serde_json::from_str(&out.stdout).map_err(|e| CollectError::Malformed {
                path: out.command_line(),
                line: 0,
                reason: format!("not the JSON lsblk -J prints: {e}"),
            })?;
        let mut devices = Vec::new();
        for d in doc["blockdevices"].as_array().into_iter().flatten() {
            flatten(d, &[], &mut devices);
        }

        let mut facts_mounts = Vec::new();
        let mut unencrypted = Vec::new();
        for path in &data_mounts {
            let holder = mounts
                .iter()
                .filter(|(_, mp, _)| under(path, mp))
                .max_by_key(|(_, mp, _)| mp.len());
            let Some((source, mountpoint, fstype)) = holder else {
                facts_mounts.push(json!({"path": path, "mounted_on": null, "encrypted": null,
                    "reason": "no mount in /proc/mounts holds this path"}));
                continue;
            };
            let device = devices
                .iter()
                .find(|d| d.mountpoints.iter().any(|m| m == mountpoint))
                .or_else(|| {
                    let base = source.rsplit('/').next().unwrap_or(source);
                    devices.iter().find(|d| d.name == base)
                });
            let entry = match device {
                Some(d) => {
                    let encrypted = d.chain.iter().any(|(_, t, _)| t == "crypt");
                    if !encrypted {
                        unencrypted.push(json!(path));
                    }
                    json!({
                        "path": path, "mounted_on": mountpoint, "source": source, "fstype": fstype,
                        "device": d.name,
                        "layers": d.chain.iter().map(|(n, t, f)| json!({"name": n, "type": t, "fstype": f})).collect::<Vec<_>>(),
                        "encrypted": encrypted,
                    })
                }
                None => json!({
                    "path": path, "mounted_on": mountpoint, "source": source, "fstype": fstype,
                    "device": null, "encrypted": null,
                    "reason": format!("{mountpoint} is on `{source}` ({fstype}), not a block device lsblk lists; its encryption cannot be seen from this host"),
                }),
            };
            facts_mounts.push(entry);
        }

        let crypttab = read_optional(root, "/etc/crypttab", &mut Vec::new())?;
        // Recorded without an excerpt: the third column may name a key file.
        artifacts.push(match &crypttab {
            Some(t) => crate::Artifact {
                excerpt: None,
                ..crate::Artifact::file("/etc/crypttab", t.as_bytes())
            },
            None => crate::Artifact::absent("/etc/crypttab"),
        });
        let crypttab_entries: Vec<Value> = crypttab
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                json!({"name": f.first(), "options": f.get(3).copied().unwrap_or("")})
            })
            .collect();

        let facts = json!({
            "data_mounts": facts_mounts,
            "unencrypted": unencrypted,
            "crypt_devices": devices.iter().filter(|d| d.chain[0].1 == "crypt").map(|d| d.name.clone()).collect::<Vec<_>>(),
            "crypttab": crypttab_entries,
        });
        Ok(Evidence { facts, artifacts })
    }
}

fn flatten(node: &Value, parents: &[(String, String, String)], out: &mut Vec<Device>) {
    let s = |k: &str| node[k].as_str().unwrap_or("").to_string();
    let mut chain = vec![(s("name"), s("type"), s("fstype"))];
    chain.extend(parents.iter().cloned());
    let mut mountpoints: Vec<String> = node["mountpoints"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = node["mountpoint"].as_str() {
        mountpoints.push(m.to_string());
    }
    for child in node["children"].as_array().into_iter().flatten() {
        flatten(child, &chain, out);
    }
    out.push(Device {
        name: s("name"),
        mountpoints,
        chain,
    });
}

/// True when `path` is `mountpoint` or below it.
fn under(path: &str, mountpoint: &str) -> bool {
    path == mountpoint
        || mountpoint == "/"
        || path
            .strip_prefix(mountpoint)
            .is_some_and(|r| r.starts_with('/'))
}

/// /proc/mounts escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_prefixes() {
        assert_eq!(settings(&Value::Null).unwrap().len(), 4);
        assert!(settings(&json!({"data_mounts": ["var"]})).is_err());
        assert!(settings(&json!({"data_mount": ["/var"]})).is_err());
        assert!(under("/var", "/"));
        assert!(under("/var/lib", "/var"));
        assert!(!under("/variable", "/var"));
    }

    fn host(mounts: &str, lsblk: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join("proc/mounts"), mounts).unwrap();
        std::fs::write(dir.path().join("lsblk.json"), lsblk).unwrap();
        std::fs::write(
            dir.path().join("attestd-recorded-commands.toml"),
            "[[command]]\nargv = [\"/usr/bin/lsblk\", \"-J\", \"-o\", \"NAME,TYPE,FSTYPE,MOUNTPOINTS\"]\nstdout_file = \"lsblk.json\"\n",
        )
        .unwrap();
        dir
    }

    fn run(dir: &std::path::Path, settings: Value) -> Result<Evidence, CollectError> {
        DiskEncryption.collect(&CollectContext {
            root: crate::HostRoot::new(dir),
            settings,
            previous_facts: None,
            measurements: None,
            now: chrono::Utc::now(),
        })
    }

    #[test]
    fn each_data_path_follows_its_own_device_chain() {
        let lsblk = r#"{"blockdevices": [{"name": "sda", "type": "disk", "fstype": null, "mountpoints": [null], "children": [
            {"name": "sda1", "type": "part", "fstype": "ext4", "mountpoints": ["/"]},
            {"name": "sda2", "type": "part", "fstype": "crypto_LUKS", "mountpoints": [null], "children": [
                {"name": "srv_crypt", "type": "crypt", "fstype": "xfs", "mountpoints": ["/srv"]}]}]}]}"#;
        let dir = host(
            "/dev/sda1 / ext4 rw 0 0\n/dev/mapper/srv_crypt /srv xfs rw 0 0\n",
            lsblk,
        );
        let ev = run(dir.path(), json!({"data_mounts": ["/srv/data", "/var"]})).unwrap();
        assert_eq!(ev.facts["data_mounts"][0]["mounted_on"], "/srv");
        assert_eq!(ev.facts["data_mounts"][0]["encrypted"], true);
        assert_eq!(ev.facts["data_mounts"][1]["mounted_on"], "/");
        assert_eq!(ev.facts["unencrypted"], json!(["/var"]));
        assert_eq!(ev.facts["crypt_devices"], json!(["srv_crypt"]));
    }

    #[test]
    fn a_root_on_overlay_is_unknown_not_encrypted_or_plain() {
        let dir = host(
            "overlay / overlay rw,lowerdir=/a 0 0\n",
            r#"{"blockdevices": [{"name": "vda", "type": "disk", "fstype": "ext4", "mountpoints": ["/var/lib/docker"]}]}"#,
        );
        let ev = run(dir.path(), Value::Null).unwrap();
        assert_eq!(ev.facts["data_mounts"][0]["encrypted"], Value::Null);
        assert!(ev.facts["data_mounts"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a block device"));
    }
}
