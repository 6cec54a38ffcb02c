//! What `apt-get upgrade` would do, worked out from dpkg's status, the lists and the
//! pins without running apt: each installed package's candidate version (apt's policy:
//! the highest-priority version, never a downgrade below priority 1000, the newest at
//! equal priority), and which candidates `upgrade` installs, which it keeps back and
//! which are held.
//!
//! "Kept back" is what apt's resolver decides: `upgrade` installs no new package and
//! removes none, so a candidate whose dependencies need a package that is not
//! installed, or that conflicts with (breaks) an installed package, or whose installed
//! dependants require the old version, stays back; the same rule is applied until
//! nothing changes, as one kept-back package can hold back others. What this does not
//! model (documented in docs/collectors.md): architecture qualifiers beyond the
//! package name, `Recommends` (apt's `upgrade` never installs new recommends either),
//! and phased updates (Ubuntu only).
//!
//! It never reads files and never judges; it works on what `dpkg` and `lists` read.

use super::lists::{Lists, Offer};
use super::preferences::{ListInfo, Preferences};
use crate::dpkg::{Package, Status};
use crate::formats::deb822::Relation;
use debversion::Version;
use std::collections::{BTreeSet, HashMap, HashSet};

/// An installed package with a newer candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The package name as apt prints it (`name:arch` for a foreign architecture).
    pub package: String,
    pub installed: String,
    pub candidate: String,
    /// The candidate comes from a security archive.
    pub security: bool,
    /// Where the candidate comes from, as apt prints it (`Label:Version/Suite`).
    pub from: Vec<String>,
}

/// The outcome for every installed package with a newer candidate.
#[derive(Debug, Default)]
pub struct Plan {
    /// Installed by `apt-get upgrade`.
    pub upgrades: Vec<Upgrade>,
    /// Not installed by `upgrade`: it would need a new package or a removal.
    pub kept_back: Vec<Upgrade>,
    /// On hold in dpkg, with a newer candidate.
    pub held: Vec<Upgrade>,
    /// Every package on hold, upgradable or not.
    pub held_packages: Vec<String>,
    /// Versions that could not be read (named in the facts).
    pub problems: Vec<String>,
}

/// The relations of one version, installed or offered.
struct Rels<'a> {
    version: &'a Version,
    depends: &'a [Vec<Relation>],
    conflicts: &'a [Vec<Relation>],
    provides: &'a [Relation],
}

/// Work out the plan.
pub fn plan(status: &Status, lists: &Lists, prefs: &Preferences) -> Plan {
    let native = status.native_arch.clone().unwrap_or_default();
    let status_info = ListInfo {
        is_status: true,
        ..ListInfo::default()
    };
    let mut out = Plan::default();
    // Installed versions, parsed once.
    let mut installed: Vec<(&Package, Version)> = Vec::new();
    for p in status.packages.iter().filter(|p| p.is_present()) {
        match p.version.parse::<Version>() {
            Ok(v) => installed.push((p, v)),
            Err(e) => out.problems.push(format!(
                "{}:{}: package {}: field Version: {e}",
                crate::dpkg::STATUS,
                p.line,
                p.name
            )),
        }
        if p.is_held() {
            out.held_packages
                .push(display_name(&p.name, &p.arch, &native));
        }
    }
    // Candidates.
    let mut candidates: Vec<Option<&Offer>> = Vec::with_capacity(installed.len());
    for (p, v) in &installed {
        let arch = if p.arch == "all" { &native } else { &p.arch };
        let offers = lists.offers.get(&(p.name.clone(), arch.clone()));
        candidates.push(candidate(p, v, offers, lists, prefs, &status_info));
    }
    // Upgradable, not held: start by assuming `upgrade` installs them all.
    let mut upgrading: Vec<bool> = candidates
        .iter()
        .zip(&installed)
        .map(|(c, (p, _))| c.is_some() && !p.is_held())
        .collect();
    let by_name: HashMap<&str, Vec<usize>> =
        installed
            .iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, (p, _))| {
                m.entry(p.name.as_str()).or_default().push(i);
                m
            });
    let rels_of = |i: usize, upgrading: &[bool]| -> Rels<'_> {
        match (upgrading[i], candidates[i]) {
            (true, Some(o)) => Rels {
                version: &o.version,
                depends: &o.depends,
                conflicts: &o.conflicts,
                provides: &o.provides,
            },
            _ => {
                let (p, v) = &installed[i];
                Rels {
                    version: v,
                    depends: &p.depends,
                    conflicts: &p.conflicts,
                    provides: &p.provides,
                }
            }
        }
    };
    // Providers of a name: (package index) for every state version that provides it.
    let providers = |upgrading: &[bool]| -> HashMap<String, Vec<(usize, Option<Version>)>> {
        let mut m: HashMap<String, Vec<(usize, Option<Version>)>> = HashMap::new();
        for i in 0..installed.len() {
            for pr in rels_of(i, upgrading).provides {
                let v = pr
                    .constraint
                    .as_ref()
                    .and_then(|(_, v)| v.parse::<Version>().ok());
                m.entry(pr.name.clone()).or_default().push((i, v));
            }
        }
        m
    };
    let mut kept: HashSet<usize> = HashSet::new();
    for _round in 0..installed.len().max(1) {
        let provided = providers(&upgrading);
        let satisfied = |r: &Relation, upgrading: &[bool], skip: Option<usize>| -> bool {
            let direct = by_name
                .get(r.name.as_str())
                .into_iter()
                .flatten()
                .any(|&j| Some(j) != skip && version_ok(rels_of(j, upgrading).version, r));
            direct
                || provided.get(&r.name).into_iter().flatten().any(|(j, pv)| {
                    Some(*j) != skip
                        && match (&r.constraint, pv) {
                            (None, _) => true,
                            (Some(_), Some(v)) => version_ok(v, r),
                            (Some(_), None) => false,
                        }
                })
        };
        let mut changed = false;
        for i in 0..installed.len() {
            if !upgrading[i] {
                continue;
            }
            let me = rels_of(i, &upgrading);
            let name = installed[i].0.name.as_str();
            let deps_ok = me
                .depends
                .iter()
                .all(|g| g.iter().any(|r| satisfied(r, &upgrading, None)));
            let conflicts_ok = !me
                .conflicts
                .iter()
                .flatten()
                .any(|r| r.name != name && satisfied(r, &upgrading, Some(i)));
            // Installed packages that depend on this one, or break it, must still be
            // content with the new version.
            let dependants_ok = (0..installed.len()).filter(|&j| j != i).all(|j| {
                let other = rels_of(j, &upgrading);
                let names_me = |r: &Relation| r.name == name;
                let deps = other
                    .depends
                    .iter()
                    .filter(|g| g.iter().any(names_me))
                    .all(|g| g.iter().any(|r| satisfied(r, &upgrading, None)));
                let breaks = other
                    .conflicts
                    .iter()
                    .flatten()
                    .filter(|r| names_me(r))
                    .any(|r| version_ok(me.version, r));
                deps && !breaks
            });
            if !(deps_ok && conflicts_ok && dependants_ok) {
                upgrading[i] = false;
                kept.insert(i);
                changed = true;
                // Re-evaluate from a consistent state.
                break;
            }
        }
        if !changed {
            break;
        }
    }
    for (i, (p, _)) in installed.iter().enumerate() {
        let Some(offer) = candidates[i] else {
            continue;
        };
        let up = Upgrade {
            package: display_name(&p.name, &p.arch, &native),
            installed: p.version.clone(),
            candidate: offer.version_text.clone(),
            security: offer.lists.iter().any(|&l| {
                lists.indexes[l]
                    .release
                    .is_some_and(|r| lists.releases[r].security)
            }),
            from: offer
                .lists
                .iter()
                .map(|&l| {
                    let i = &lists.indexes[l].info;
                    let label = if i.label.is_empty() {
                        &i.origin
                    } else {
                        &i.label
                    };
                    format!("{label}:{}/{}", i.version, i.suite)
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        if p.is_held() {
            out.held.push(up);
        } else if kept.contains(&i) {
            out.kept_back.push(up);
        } else {
            out.upgrades.push(up);
        }
    }
    for v in [&mut out.upgrades, &mut out.kept_back, &mut out.held] {
        v.sort_by(|a, b| a.package.cmp(&b.package));
    }
    out.held_packages.sort();
    out
}

fn display_name(name: &str, arch: &str, native: &str) -> String {
    if arch == native || arch == "all" || native.is_empty() {
        name.to_string()
    } else {
        format!("{name}:{arch}")
    }
}

fn version_ok(v: &Version, r: &Relation) -> bool {
    match &r.constraint {
        None => true,
        Some((op, want)) => match want.parse::<Version>() {
            Ok(w) => op.holds(v.cmp(&w)),
            Err(_) => false,
        },
    }
}

/// apt's candidate: versions newest first; the highest priority wins, ties go to the
/// newer; a version older than the installed one needs priority 1000 or more; priority
/// 0 or less never. `None` when the candidate is the installed version.
fn candidate<'a>(
    p: &Package,
    installed: &Version,
    offers: Option<&'a Vec<Offer>>,
    lists: &Lists,
    prefs: &Preferences,
    status_info: &ListInfo,
) -> Option<&'a Offer> {
    let offers = offers?;
    // (version, priority, offer or None for the installed one)
    let mut versions: Vec<(&Version, i32, Option<&Offer>)> = Vec::new();
    let mut installed_listed = false;
    for o in offers {
        let mut infos: Vec<&ListInfo> = o.lists.iter().map(|&l| &lists.indexes[l].info).collect();
        let is_installed = o.version == *installed;
        if is_installed {
            infos.push(status_info);
            installed_listed = true;
        }
        let priority = prefs
            .package_pin(&p.name, &o.version_text, &infos)
            .unwrap_or_else(|| {
                infos
                    .iter()
                    .map(|i| prefs.list_priority(i))
                    .max()
                    .unwrap_or(0)
            });
        versions.push((&o.version, priority, (!is_installed).then_some(o)));
    }
    if !installed_listed {
        let priority = prefs
            .package_pin(&p.name, &p.version, &[status_info])
            .unwrap_or_else(|| prefs.list_priority(status_info));
        versions.push((installed, priority, None));
    }
    versions.sort_by(|a, b| b.0.cmp(a.0));
    let mut best: Option<(i32, Option<&Offer>)> = None;
    for (v, priority, offer) in versions {
        if priority <= 0 || best.is_some_and(|(bp, _)| priority <= bp) {
            continue;
        }
        if priority < 1000 && v < installed {
            continue;
        }
        best = Some((priority, offer));
    }
    best.and_then(|(_, o)| o)
}
