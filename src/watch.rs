//! File watches: tell the daemon which collectors to re-run when a file they read
//! changes (debounced, so an editor's save is one event). Watches the parent directory
//! of each watched file, so atomic replacement (write + rename) is seen too.
//! Opening or reading a file is not a change (collectors read what they watch). It
//! never runs collectors itself; it only names them.

use attestd_collectors::HostRoot;
use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long changes are gathered into one event.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// A live set of watches; dropping it stops them.
pub struct Watches {
    _debouncer: notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    /// Number of paths actually watched.
    pub watched: usize,
}

/// True for events that mean content or metadata changed. inotify also reports opens
/// and reads (notify asks for IN_OPEN), and collectors open the very files they watch:
/// counting those would re-run them forever.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// Start watching. `paths` maps each collector to the host paths it reads; changed
/// collectors' names arrive on `tx`.
pub fn start(
    root: &HostRoot,
    paths: &BTreeMap<String, Vec<PathBuf>>,
    tx: mpsc::UnboundedSender<BTreeSet<String>>,
) -> notify::Result<Watches> {
    // Resolve every watched path under the root.
    let mut targets: Vec<(PathBuf, String)> = Vec::new();
    for (collector, host_paths) in paths {
        for p in host_paths {
            let on_disk = root
                .resolve(&p.to_string_lossy())
                .unwrap_or_else(|_| root.base().join(p.strip_prefix("/").unwrap_or(p)));
            targets.push((on_disk, collector.clone()));
        }
    }
    let matcher = targets.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let mut names = BTreeSet::new();
        for event in events {
            if !is_change(&event.kind) {
                continue;
            }
            for changed in &event.paths {
                for (target, collector) in &matcher {
                    if changed == target || changed.starts_with(target) {
                        names.insert(collector.clone());
                    }
                }
            }
        }
        if !names.is_empty() {
            let _ = tx.send(names);
        }
    })?;
    let mut dirs: BTreeMap<PathBuf, RecursiveMode> = BTreeMap::new();
    for (target, _) in &targets {
        if target.is_dir() {
            dirs.insert(target.clone(), RecursiveMode::Recursive);
        } else if let Some(parent) = target.parent().filter(|p| p.is_dir()) {
            dirs.entry(parent.to_path_buf())
                .or_insert(RecursiveMode::NonRecursive);
        }
    }
    let mut watched = 0;
    for (dir, mode) in &dirs {
        match debouncer.watch(dir, *mode) {
            Ok(()) => watched += 1,
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "cannot watch; changes there are seen at the next scheduled run")
            }
        }
    }
    Ok(Watches {
        _debouncer: debouncer,
        watched,
    })
}
