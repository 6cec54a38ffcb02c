//! The single list of built-in collectors. Adding a collector means adding one line
//! here; the daemon, the policy loader and the CLI all read this list. `exec:NAME`
//! plugins are not built in: the config names them and `with_plugins` adds them.

use crate::accounts::Accounts;
use crate::audit_logging::AuditLogging;
use crate::availability::Availability;
use crate::backup::Backup;
use crate::certificates::Certificates;
use crate::disk_encryption::DiskEncryption;
use crate::exec_plugin::ExecPlugin;
use crate::file_permissions::FilePermissions;
use crate::firewall::Firewall;
use crate::malware::Malware;
use crate::password_policy::PasswordPolicy;
use crate::patching::Patching;
use crate::session_timeout::SessionTimeout;
use crate::ssh::Ssh;
use crate::time_sync::TimeSync;
use crate::tls::Tls;
use crate::Collector;

/// Every built-in collector, in the order they run.
pub fn all_collectors() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(PasswordPolicy),
        Box::new(Availability),
        Box::new(SessionTimeout),
        Box::new(Ssh),
        Box::new(Accounts),
        Box::new(FilePermissions),
        Box::new(Tls),
        Box::new(Certificates),
        Box::new(AuditLogging),
        Box::new(Firewall),
        Box::new(Patching),
        Box::new(DiskEncryption),
        Box::new(TimeSync),
        Box::new(Malware),
        Box::new(Backup),
    ]
}

/// The built-in collectors followed by the configured plugins.
pub fn with_plugins(plugins: Vec<ExecPlugin>) -> Vec<Box<dyn Collector>> {
    let mut all = all_collectors();
    all.extend(
        plugins
            .into_iter()
            .map(|p| Box::new(p) as Box<dyn Collector>),
    );
    all
}

/// The built-in collector with this name.
pub fn collector_by_name(name: &str) -> Option<Box<dyn Collector>> {
    all_collectors().into_iter().find(|c| c.name() == name)
}

/// The names rules may refer to.
pub fn known_collector_names() -> Vec<&'static str> {
    all_collectors().iter().map(|c| c.name()).collect()
}
