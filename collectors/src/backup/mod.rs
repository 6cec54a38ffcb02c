//! backup collector: for each repository named in `[collectors.backup]`, the newest
//! backup's time, how many there are, the hosts and paths they cover, and the newest
//! integrity check and restore test the operator's jobs recorded. restic and Borg
//! repositories are asked through their own tools (`restic snapshots --json`,
//! `borg list --json`); `file` repositories are the newest file matching a glob.
//! Whether a repository is restorable is its own integrity check (`integrity`), run on
//! the repository's schedule, and the check marker: the `integrity_check` fact.
//!
//! It reports times, not ages (rules compare with `now`), and never reads or records a
//! repository password: the tools get the password file's path, and environment values
//! never reach artifacts. It never judges whether backups are recent enough.

mod integrity;
mod marker;
mod settings;
pub(crate) mod tools;

use crate::{Artifact, CollectContext, CollectError, Collector, Evidence};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use settings::{Kind, RepositorySpec};
use std::path::PathBuf;

pub use settings::{location_is_off_host, redact_location};

/// Backup repositories and their newest snapshots.
pub struct Backup;

impl Collector for Backup {
    fn name(&self) -> &'static str {
        "backup"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn watched_paths(&self, settings: &Value) -> Vec<PathBuf> {
        // Marker files change when a restore test or check is recorded.
        settings::parse(settings)
            .map(|s| {
                s.repositories
                    .iter()
                    .flat_map(|r| [&r.restore_test_marker, &r.check_marker])
                    .flatten()
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }
    fn default_schedule(&self) -> &'static str {
        "7 * * * *"
    }
    fn check_settings(&self, settings: &Value) -> Result<(), String> {
        settings::parse(settings).map(|_| ())
    }
    fn collect(&self, ctx: &CollectContext) -> Result<Evidence, CollectError> {
        let settings = settings::parse(&ctx.settings).map_err(CollectError::Settings)?;
        let mut artifacts = Vec::new();
        let mut repositories = Vec::new();
        let mut unavailable = Map::new();
        for spec in &settings.repositories {
            let (facts, problem) = observe(ctx, spec, &mut artifacts);
            if let Some(reason) = problem {
                unavailable.insert(format!("repositories.{}", spec.name), reason.into());
            }
            repositories.push(facts);
        }
        let facts = json!({
            "repositories": repositories,
            "repository_count": settings.repositories.len(),
            "unavailable": unavailable,
        });
        Ok(Evidence { facts, artifacts })
    }
}

/// What a repository's tool reported, before the common facts are added.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    /// Snapshot (or archive, or file) times.
    pub times: Vec<DateTime<Utc>>,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    /// For `file` repositories: the newest file.
    pub newest_file: Option<String>,
}

/// Why a repository could not be read, sorted into kinds a reader can act on.
#[derive(Debug)]
pub(crate) struct RepoError {
    /// `not_installed`, `missing`, `wrong_password`, `locked`, `corrupt`, `timeout`,
    /// `unreadable`, `malformed` or `failed`.
    pub kind: &'static str,
    pub reason: String,
}

/// One repository's facts, and the reason when it could not be read.
fn observe(
    ctx: &CollectContext,
    spec: &RepositorySpec,
    artifacts: &mut Vec<Artifact>,
) -> (Value, Option<String>) {
    let location = spec
        .repository
        .as_deref()
        .or(spec.path.as_deref())
        .unwrap_or("");
    let (off_host, basis) = match spec.off_host {
        Some(v) => (v, "declared"),
        None => (location_is_off_host(spec.kind, location), "location"),
    };
    let mut facts = json!({
        "name": spec.name,
        "kind": spec.kind.as_str(),
        "location": redact_location(location),
        "off_host": off_host,
        "off_host_basis": basis,
    });
    let mut problems = Vec::new();
    let snapshots = match spec.kind {
        Kind::Restic => tools::restic(ctx, spec, artifacts),
        Kind::Borg => tools::borg(ctx, spec, artifacts),
        Kind::File => tools::files(ctx, spec, artifacts),
    };
    let obj = facts.as_object_mut().expect("an object");
    match snapshots {
        Ok(s) => {
            let newest = s.times.iter().max();
            let oldest = s.times.iter().min();
            obj.insert("status".into(), "ok".into());
            obj.insert("snapshot_count".into(), s.times.len().into());
            obj.insert("newest_backup_at".into(), time_fact(newest));
            obj.insert("oldest_backup_at".into(), time_fact(oldest));
            obj.insert("hosts".into(), sorted(s.hosts).into());
            obj.insert("paths".into(), sorted(s.paths).into());
            if spec.kind == Kind::File {
                obj.insert("newest_file".into(), s.newest_file.into());
            }
        }
        Err(e) => {
            // The snapshot facts are left out, not null, so that rules reading them are
            // `error` with this reason rather than a pass or a plain fail.
            obj.insert("status".into(), "error".into());
            obj.insert("error_kind".into(), e.kind.into());
            obj.insert("error".into(), e.reason.clone().into());
            problems.push(e.reason);
        }
    }
    for (fact, path) in [
        ("last_restore_test", &spec.restore_test_marker),
        ("last_check", &spec.check_marker),
    ] {
        let value = match path {
            Some(p) => match marker::newest_entry(&ctx.root, p, artifacts) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            },
            None => Value::Null,
        };
        obj.insert(fact.into(), value);
    }
    let marker = obj.get("last_check").cloned().unwrap_or(Value::Null);
    let check = integrity::integrity_check(ctx, spec, &marker, artifacts);
    // attestd's own newest check is kept apart, so the next run knows when it is due
    // even when a newer marker entry wins.
    let own = if check["by"] == "attestd" {
        check.clone()
    } else {
        previous_own(ctx, spec).unwrap_or(Value::Null)
    };
    obj.insert("attestd_check".into(), own);
    obj.insert("integrity_check".into(), check);
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    (facts, problem)
}

/// attestd's own check from the previous facts (kept while a newer marker entry wins).
fn previous_own(ctx: &CollectContext, spec: &RepositorySpec) -> Option<Value> {
    let prev = ctx.previous_facts.as_ref()?;
    prev["repositories"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == spec.name.as_str())
        .map(|r| r["attestd_check"].clone())
        .filter(Value::is_object)
}

fn time_fact(t: Option<&DateTime<Utc>>) -> Value {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true).into())
        .unwrap_or(Value::Null)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
