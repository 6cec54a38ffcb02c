//! Host identity (hostname, machine-id, OS, kernel) read through the `HostRoot`, so a
//! fixture tree reports its own identity. Never judges, never stores.

use attestd_collectors::HostRoot;
use serde::Serialize;

/// Who the evidence is about.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HostIdentity {
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    /// The tree that was assessed: `/` or a fixture/image path.
    pub root: String,
}

impl HostIdentity {
    pub fn read(root: &HostRoot) -> HostIdentity {
        let first_line = |p: &str| {
            root.read_text(p)
                .ok()
                .flatten()
                .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
                .filter(|l| !l.is_empty())
        };
        let os = root
            .read_text("/etc/os-release")
            .ok()
            .flatten()
            .or_else(|| root.read_text("/usr/lib/os-release").ok().flatten())
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            });
        HostIdentity {
            hostname: first_line("/etc/hostname")
                .or_else(|| first_line("/proc/sys/kernel/hostname")),
            machine_id: first_line("/etc/machine-id"),
            os,
            kernel: first_line("/proc/sys/kernel/osrelease"),
            root: root.base().display().to_string(),
        }
    }
}
