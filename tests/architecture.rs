//! The architecture invariants of ARCHITECTURE.md that a test can check, read from the
//! source itself: which crate depends on which, which module may import which, where
//! the wall clock is read and where a ledger row kind may be spelt as a string. Each
//! failure names the file and line that broke the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` (or `dir` itself when it is a file), with its text up to the first test module (test code
/// may use what production code must not).
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let start = root().join(dir);
    let mut stack = vec![start.clone()];
    while let Some(d) = stack.pop() {
        let entries: Vec<PathBuf> = if d.is_file() {
            vec![d.clone()]
        } else {
            std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        };
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let code = match text.find("#[cfg(test)]") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                let rel = p.strip_prefix(root()).unwrap().display().to_string();
                out.push((rel, code));
            }
        }
    }
    out.sort();
    out
}

/// `file:line: text` of every line of `dir`'s production code that `bad` matches.
fn offending(dir: &str, bad: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (file, code) in sources(dir) {
        for (i, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            if bad(&file, line) {
                out.push(format!("{file}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}

fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|k| doc.get(*k).and_then(|v| v.as_table()))
        .flat_map(|t| t.keys().cloned())
        .collect()
}

#[test]
fn collectors_and_the_ledger_depend_on_nothing_of_attestd() {
    for manifest in ["collectors/Cargo.toml", "ledger/Cargo.toml"] {
        let ours: Vec<String> = dependencies(manifest)
            .into_iter()
            .filter(|d| d.starts_with("attestd"))
            .collect();
        assert!(ours.is_empty(), "{manifest} depends on {ours:?}");
    }
}

#[test]
fn the_store_imports_nothing_downstream() {
    let bad = offending("src/store", |_, line| {
        [
            "alert", "policy", "probe", "bundle", "engine", "pipeline", "daemon", "commands",
        ]
        .iter()
        .any(|m| line.contains(&format!("crate::{m}")))
    });
    assert!(
        bad.is_empty(),
        "src/store imports downstream:\n{}",
        bad.join("\n")
    );
}

#[test]
fn config_imports_nothing_that_consumes_it() {
    // The config loader owns the shapes of every section, `[alerts]` and its sinks
    // included; the modules that act on a section import config, never the reverse.
    let downstream = [
        "alert", "fleet", "policy", "store", "bundle", "engine", "pipeline", "daemon", "probe",
        "commands", "worker",
    ];
    let uses_downstream = |_: &str, line: &str| {
        downstream.iter().any(|m| {
            line.contains(&format!("crate::{m}::"))
                || line.contains(&format!("crate::{m};"))
                || line.contains(&format!("crate::{m}}}"))
        })
    };
    let mut bad = offending("src/config.rs", uses_downstream);
    bad.extend(offending("src/config", uses_downstream));
    assert!(
        bad.is_empty(),
        "the config loader imports downstream:\n{}",
        bad.join("\n")
    );
}

#[test]
fn only_the_store_holds_a_database_connection() {
    let bad = offending("src", |file, line| {
        !file.starts_with("src/store/")
            && (line.contains("rusqlite::") || line.contains("use rusqlite"))
    });
    assert!(
        bad.is_empty(),
        "SQLite outside src/store:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_clock_is_read_only_in_clock_rs() {
    let reads = |file: &str, line: &str| {
        file != "src/clock.rs" && (line.contains("Utc::now()") || line.contains("Local::now()"))
    };
    let mut bad = offending("src", reads);
    bad.extend(offending("ledger/src", reads));
    // Collectors get the run's time in `CollectContext::now`; test-only module files
    // (`*_tests.rs`) may read the clock.
    let collector_reads = |file: &str, line: &str| {
        !file.ends_with("_tests.rs") && (reads(file, line) || line.contains("SystemTime::now()"))
    };
    bad.extend(offending("collectors/src", collector_reads));
    assert!(
        bad.is_empty(),
        "wall clock read outside clock.rs:\n{}",
        bad.join("\n")
    );
}

#[test]
fn row_kinds_are_spelt_only_in_the_ledger_crate() {
    const KINDS: [&str; 8] = [
        "policy",
        "evidence",
        "verdicts",
        "drift",
        "run",
        "alert",
        "alert_attempt",
        "probe",
    ];
    let bad = offending("src", |_, line| {
        // Migrations are history: their SQL keeps the text it was written with.
        if line.contains("CREATE INDEX") {
            return false;
        }
        let sql = KINDS.iter().any(|k| {
            line.contains(&format!("kind = '{k}'")) || line.contains(&format!("kind='{k}'"))
        });
        let compared = line.contains("kind == \"")
            || line.contains("kind != \"")
            || line.contains("\"alert_attempt\"");
        sql || compared
    });
    assert!(
        bad.is_empty(),
        "a row kind spelt as a string:\n{}",
        bad.join("\n")
    );
}

/// The top-level modules of `src/` and the modules each one names through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in sources("src") {
        let rel = Path::new(&file).strip_prefix("src").unwrap().to_path_buf();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let entry = graph.entry(top.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                entry.insert(name);
            }
        }
    }
    graph
}

#[test]
fn the_module_graph_of_src_has_no_cycle() {
    let graph = module_graph();
    // Depth-first search; a grey node met again closes a cycle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            panic!(
                "modules of src/ import each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_checks_above_can_fail() {
    // The graph search finds a planted cycle, and the line scanner finds a planted line.
    let graph = module_graph();
    assert!(graph["pipeline"].contains("store"), "{graph:?}");
    assert!(!offending("src", |f, l| f == "src/clock.rs"
        && l.contains("Utc::now()"))
    .is_empty());
}
