//! The single list of built-in collectors. Adding a collector means adding one line
//! here; the daemon, the policy loader and the CLI all read this list.

use crate::availability::Availability;
use crate::backup::Backup;
use crate::password_policy::PasswordPolicy;
use crate::Collector;

/// Every built-in collector, in the order they run.
pub fn all_collectors() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(PasswordPolicy),
        Box::new(Availability),
        Box::new(Backup),
    ]
}

/// The built-in collector with this name.
pub fn collector_by_name(name: &str) -> Option<Box<dyn Collector>> {
    all_collectors().into_iter().find(|c| c.name() == name)
}

/// The names rules may refer to.
pub fn known_collector_names() -> Vec<&'static str> {
    all_collectors().iter().map(|c| c.name()).collect()
}
