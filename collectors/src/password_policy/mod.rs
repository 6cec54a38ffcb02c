//! password_policy collector (being written).
use crate::{CollectContext, CollectError, Collector, Evidence};
use std::path::PathBuf;

pub struct PasswordPolicy;

impl Collector for PasswordPolicy {
    fn name(&self) -> &'static str {
        "password_policy"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, _settings: &serde_json::Value) -> Vec<PathBuf> {
        vec![]
    }
    fn default_schedule(&self) -> &'static str {
        "*/15 * * * *"
    }
    fn collect(&self, _ctx: &CollectContext) -> Result<Evidence, CollectError> {
        Err(CollectError::Other("not written yet".into()))
    }
}
