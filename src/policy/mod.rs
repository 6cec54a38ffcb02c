//! Policies: the rules that judge facts, the variables that set their thresholds and
//! the framework catalogs their controls come from. Owns loading (the shipped policies,
//! then the operator's `policy_dirs`), binding the config's variable overrides and
//! waivers, and evaluation. It never observes the host and never touches the store.
//!
//! The shipped policies come from exactly one place: `/usr/share/attestd/policies`
//! when the packaged binary (`/usr/bin/attestd`) runs and the package installed that
//! directory (so an operator reading the files sees what runs), else the copy embedded
//! in the binary (so `cargo run -- collect` works anywhere, and a binary built from
//! source tests its own policies even on a host where an older package is installed).
//! Never both, so no rule loads twice.

pub mod catalog;
pub mod cel_bounds;
mod cel_env;
mod evaluate;
mod inputs;
mod prebuilt;
pub mod rule;

pub use catalog::Catalog;
pub(crate) use cel_env::context as cel_context;
pub use evaluate::{evaluate_collector, Status, Verdict};
pub(crate) use evaluate::{json_to_cel, status_of, unavailable_map};
pub use inputs::{PolicyInputs, Waiver};
pub use rule::{Rule, Severity};

use crate::location::FileError;
use include_dir::{include_dir, Dir};
use std::collections::BTreeMap;
use std::path::Path;

/// The shipped policies, embedded so a host with nothing installed can be assessed.
static EMBEDDED_POLICIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/policies");

/// Where the package installs the shipped policies; preferred over the embedded copy
/// by the packaged binary when it holds a `frameworks/` directory.
pub const SYSTEM_POLICY_DIR: &str = "/usr/share/attestd/policies";

/// Where the package installs the binary.
pub const PACKAGED_BINARY: &str = "/usr/bin/attestd";

/// The name shown for the embedded policies in messages.
pub const EMBEDDED_POLICIES_NAME: &str = "<embedded policies>";

/// The shipped policy directory to use: `SYSTEM_POLICY_DIR` when this is the packaged
/// binary and the directory is installed, else `None` (the embedded copy).
pub fn installed_policy_dir() -> Option<&'static Path> {
    let packaged = std::env::current_exe()
        .ok()
        .is_some_and(|exe| exe == Path::new(PACKAGED_BINARY));
    let dir = Path::new(SYSTEM_POLICY_DIR);
    (packaged && dir.join("frameworks").is_dir()).then_some(dir)
}

/// A variable with the value in force.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Variable {
    pub name: String,
    pub value: serde_json::Value,
    pub default: serde_json::Value,
    pub description: String,
    /// Where the value in force was set: the rule file, or the config file.
    pub set_in: String,
}

/// Rules, variables and catalogs, validated against each other and the config.
#[derive(Debug)]
pub struct PolicySet {
    pub catalog: Catalog,
    /// Where the shipped rules and catalogs came from: a directory or
    /// `EMBEDDED_POLICIES_NAME`.
    pub shipped_from: String,
    pub rules: Vec<Rule>,
    pub variables: BTreeMap<String, Variable>,
    /// The waivers in force, each checked to name a loaded rule.
    pub waivers: Vec<Waiver>,
    /// Variables as one CEL map, built once.
    vars_cel: cel::Value,
}

impl PolicySet {
    /// Load the shipped policies and the inputs' `policy_dirs`, and bind the inputs'
    /// variables and waivers. Any unknown reference is an error naming file and line.
    pub fn load(inputs: &PolicyInputs) -> Result<PolicySet, FileError> {
        PolicySet::load_from(installed_policy_dir(), inputs)
    }

    /// Load with the shipped policies from `shipped` (a directory laid out like
    /// `policies/`) or, when `None`, from the embedded copy.
    pub fn load_from(
        shipped: Option<&Path>,
        inputs: &PolicyInputs,
    ) -> Result<PolicySet, FileError> {
        let (mut files, mut rule_files, shipped_from) = match shipped {
            Some(dir) => (
                read_dir_files(&dir.join("frameworks"))?,
                read_dir_files(dir)?,
                dir.display().to_string(),
            ),
            None => (
                embedded_files("frameworks"),
                embedded_files(""),
                EMBEDDED_POLICIES_NAME.to_string(),
            ),
        };
        files.sort();
        rule_files.sort();
        for dir in &inputs.policy_dirs {
            rule_files.extend(read_dir_files(dir)?);
        }
        // Reading the files is most of loading (a shipped file deserializes its prebuilt
        // tree, `prebuilt`; any other is parsed as TOML): the catalog and the second half
        // of the rule files are read on a second thread while this one reads the first.
        // Errors are reported as a sequential load reports them (the catalog's first,
        // then the first file's in order).
        let (first, second) = rule_files.split_at(rule_files.len() / 2);
        let (catalog, read) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| (Catalog::from_files(&files), read_rule_files(second)));
            let mut read = read_rule_files(first);
            let (catalog, rest) = helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            read.extend(rest);
            (catalog, read)
        });
        let mut set = PolicySet::from_read_rule_files(catalog?, &rule_files, read, inputs)?;
        set.shipped_from = shipped_from;
        Ok(set)
    }

    /// Build from explicit rule files (tests and `load`).
    pub fn from_rule_files(
        catalog: Catalog,
        rule_files: &[(String, String)],
        inputs: &PolicyInputs,
    ) -> Result<PolicySet, FileError> {
        let read = read_rule_files(rule_files);
        PolicySet::from_read_rule_files(catalog, rule_files, read, inputs)
    }

    /// `from_rule_files` with each file's TOML already read (`read[i]` from
    /// `rule_files[i]`).
    fn from_read_rule_files(
        catalog: Catalog,
        rule_files: &[(String, String)],
        read: Vec<Result<rule::RuleFile, FileError>>,
        inputs: &PolicyInputs,
    ) -> Result<PolicySet, FileError> {
        let mut collectors = attestd_collectors::known_collector_names();
        collectors.extend(inputs.plugins.iter().map(String::as_str));
        let mut rules: Vec<Rule> = Vec::new();
        let mut variables: BTreeMap<String, Variable> = BTreeMap::new();
        // Variables are global: a rule may use one declared in an earlier file.
        for ((name, text), file) in rule_files.iter().zip(read) {
            let declared = variables.keys().cloned().collect::<Vec<_>>();
            let parsed = rule::check_rule_file(name, text, file?, &catalog, &collectors, &|v| {
                declared.iter().any(|d| d == v)
            })?;
            for (vname, def, line) in parsed.variables {
                if let Some(existing) = variables.get(&vname) {
                    return Err(FileError {
                        file: name.clone(),
                        line,
                        field: format!("variables.{vname}"),
                        message: format!("variable declared twice (first in {})", existing.set_in),
                    });
                }
                let default = serde_json::to_value(&def.default).expect("TOML is JSON");
                variables.insert(
                    vname.clone(),
                    Variable {
                        name: vname,
                        value: default.clone(),
                        default,
                        description: def.description,
                        set_in: format!("{name}:{line}"),
                    },
                );
            }
            for r in parsed.rules {
                if let Some(existing) = rules.iter().find(|e| e.id == r.id) {
                    return Err(FileError {
                        file: name.clone(),
                        line: r
                            .origin
                            .rsplit(':')
                            .next()
                            .and_then(|l| l.parse().ok())
                            .unwrap_or(0),
                        field: "id".into(),
                        message: format!(
                            "rule `{}` is already defined at {}",
                            r.id, existing.origin
                        ),
                    });
                }
                rules.push(r);
            }
        }
        for (vname, (value, line)) in &inputs.variables {
            let err = |message: String| FileError {
                file: inputs.source.clone(),
                line: *line,
                field: format!("variables.{vname}"),
                message,
            };
            let declared = variables.keys().cloned().collect::<Vec<_>>().join(", ");
            let var = variables.get_mut(vname).ok_or_else(|| {
                err(format!(
                    "unknown variable; the policies declare: {declared}"
                ))
            })?;
            if !same_kind(&var.default, value) {
                return Err(err(format!(
                    "expected a value like the default {}, found {value}",
                    var.default
                )));
            }
            var.value = value.clone();
            var.set_in = format!("{}:{line}", inputs.source);
        }
        for w in &inputs.waivers {
            if !rules.iter().any(|r| r.id == w.rule) {
                return Err(FileError {
                    file: inputs.source.clone(),
                    line: w.line,
                    field: "waiver.rule".into(),
                    message: format!(
                        "no rule `{}` is loaded; `attestd controls` lists the rules",
                        w.rule
                    ),
                });
            }
        }
        let vars_json: serde_json::Map<String, serde_json::Value> = variables
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let vars_cel = evaluate::json_to_cel(&serde_json::Value::Object(vars_json));
        Ok(PolicySet {
            catalog,
            shipped_from: String::new(),
            rules,
            variables,
            waivers: inputs.waivers.clone(),
            vars_cel,
        })
    }

    /// The rules that read one collector.
    pub fn rules_for<'a>(&'a self, collector: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.collector == collector)
    }

    /// Compile now the CEL of every rule that reads one of `collectors` (each
    /// expression once: a later evaluation finds it compiled, or waits for it). `collect`
    /// calls it on a thread of its own while the collectors run, so that compiling is
    /// off the run's critical path.
    pub fn compile_rules_of(&self, collectors: &[String]) {
        cel_bounds::on_deep_stack(|| {
            for r in self
                .rules
                .iter()
                .filter(|r| collectors.contains(&r.collector))
            {
                for e in [Some(&r.check), r.observed.as_ref(), r.applies.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    // A bad expression is an error when its rule is judged.
                    let _ = e.program();
                    self.prewarm_patterns_of(e.source());
                }
            }
        })
    }

    /// For an expression that calls `matches`, compile ahead the regular expressions
    /// held in the variables it names (`vars.ssh_weak_ciphers`): judging then finds
    /// them compiled. Only a head start; judging compiles whatever is not ready.
    fn prewarm_patterns_of(&self, source: &str) {
        if !source.contains("matches(") {
            return;
        }
        for (at, _) in source.match_indices("vars.") {
            let name: String = source[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(serde_json::Value::Array(items)) =
                self.variables.get(&name).map(|v| &v.value)
            {
                for pattern in items.iter().filter_map(serde_json::Value::as_str) {
                    cel_env::prewarm(pattern);
                }
            }
        }
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub(crate) fn vars_cel(&self) -> &cel::Value {
        &self.vars_cel
    }
}

/// Each file's TOML, read (`rule::read_rule_file`), in order.
fn read_rule_files(files: &[(String, String)]) -> Vec<Result<rule::RuleFile, FileError>> {
    files
        .iter()
        .map(|(name, text)| rule::read_rule_file(name, text))
        .collect()
}

fn same_kind(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    matches!(
        (a, b),
        (Number(_), Number(_)) | (String(_), String(_)) | (Bool(_), Bool(_)) | (Array(_), Array(_))
    )
}

/// `(name, text)` of the embedded rule files (`policies/*.toml`), for the fuzz targets.
#[doc(hidden)]
pub fn embedded_rule_files() -> Vec<(String, String)> {
    embedded_files("")
}

/// `(name, text)` of the embedded `*.toml` files directly in `sub` ("" = top level).
pub(crate) fn embedded_files(sub: &str) -> Vec<(String, String)> {
    let dir = if sub.is_empty() {
        Some(&EMBEDDED_POLICIES)
    } else {
        EMBEDDED_POLICIES.get_dir(sub)
    };
    dir.map(|d| {
        d.files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
            .map(|f| {
                (
                    format!("policies/{}", f.path().display()),
                    f.contents_utf8()
                        .expect("shipped policies are UTF-8")
                        .to_string(),
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

/// `(path, text)` of the `*.toml` files in an operator's policy directory, sorted.
/// A directory that does not exist holds no rules.
pub(crate) fn read_dir_files(dir: &Path) -> Result<Vec<(String, String)>, FileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(FileError {
                file: dir.display().to_string(),
                line: 0,
                field: String::new(),
                message: format!("cannot read the policy directory: {e}"),
            })
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            std::fs::read_to_string(&p)
                .map(|t| (name.clone(), t))
                .map_err(|e| FileError {
                    file: name,
                    line: 0,
                    field: String::new(),
                    message: format!("cannot read the rule file: {e}"),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestd_collectors::Evidence;
    use chrono::TimeZone;
    use serde_json::json;

    const CATALOG: &str = r#"
[framework]
id = "soc2"
name = "SOC 2"
[[control]]
id = "CC6.1"
name = "Access"
summary = "s"
"#;
    const ISO: &str = r#"
[framework]
id = "iso27001-2022"
name = "ISO"
[[control]]
id = "A.8.5"
name = "Auth"
summary = "s"
iso2013 = ["A.9.4.2"]
"#;

    fn catalog() -> Catalog {
        Catalog::from_files(&[
            ("soc2.toml".into(), CATALOG.into()),
            ("iso.toml".into(), ISO.into()),
        ])
        .unwrap()
    }

    fn rules(check: &str, extra: &str) -> String {
        format!(
            r#"
[variables.min]
default = 14
description = "d"

[[rule]]
id = "t.rule"
title = "t"
collector = "password_policy"
severity = "high"
controls = ["soc2:CC6.1", "iso27001-2022:A.8.5", "iso27001-2013:A.9.4.2"]
check = "{check}"
observed = "facts.n"
expected = "n >= {{min}}"
rationale = "r"
sources = ["s"]
remediation = "fix"
{extra}
"#
        )
    }

    fn config(text: &str) -> PolicyInputs {
        PolicyInputs::from_config(&crate::config::Config::parse("attestd.toml", text).unwrap())
    }

    fn judge(set: &PolicySet, facts: serde_json::Value, cfg: &PolicyInputs) -> Verdict {
        let ev = Evidence {
            facts,
            artifacts: vec![],
        };
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        evaluate_collector(set, "password_policy", Ok(&ev), &cfg.waivers, now).remove(0)
    }

    #[test]
    fn rules_compare_dated_facts_with_the_run_time() {
        let cfg = config("");
        // The run time in `judge` is 2026-11-23T00:00:00Z.
        let check = "timestamp(facts.t) - now > duration('168h')";
        let set =
            PolicySet::from_rule_files(catalog(), &[("r.toml".into(), rules(check, ""))], &cfg)
                .unwrap();
        let v = judge(&set, json!({"t": "2026-12-01T00:00:00Z"}), &cfg);
        assert_eq!(v.status, Status::Pass, "{v:?}");
        let v = judge(&set, json!({"t": "2026-11-29T00:00:00Z"}), &cfg);
        assert_eq!(v.status, Status::Fail, "{v:?}");
        let v = judge(&set, json!({"t": "not a time"}), &cfg);
        assert_eq!(v.status, Status::Error, "{v:?}");
    }

    #[test]
    fn checks_pass_fail_and_fill_in_variables() {
        let cfg = config("");
        let set = PolicySet::from_rule_files(
            catalog(),
            &[(
                "r.toml".into(),
                rules("facts.n != null && facts.n >= vars.min", ""),
            )],
            &cfg,
        )
        .unwrap();
        let v = judge(&set, json!({"n": 15}), &cfg);
        assert_eq!((v.status, v.expected.as_str()), (Status::Pass, "n >= 14"));
        assert_eq!(judge(&set, json!({"n": 13}), &cfg).status, Status::Fail);
        assert_eq!(judge(&set, json!({"n": null}), &cfg).status, Status::Fail);
        let cfg12 = config("[variables]\nmin = 12\n");
        let set12 = PolicySet::from_rule_files(
            catalog(),
            &[("r.toml".into(), rules("facts.n >= vars.min", ""))],
            &cfg12,
        )
        .unwrap();
        let v = judge(&set12, json!({"n": 13}), &cfg12);
        assert_eq!((v.status, v.expected.as_str()), (Status::Pass, "n >= 12"));
    }

    #[test]
    fn list_macros_and_membership_work_on_facts() {
        let cfg = config("");
        let check = "facts.accounts.all(a, a.pw != 'empty') && facts.m in ['yescrypt', 'sha512']";
        let set =
            PolicySet::from_rule_files(catalog(), &[("r.toml".into(), rules(check, ""))], &cfg)
                .unwrap();
        let ok = json!({"accounts": [{"pw": "set"}, {"pw": "locked"}], "m": "yescrypt"});
        assert_eq!(judge(&set, ok, &cfg).status, Status::Pass);
        let bad = json!({"accounts": [{"pw": "empty"}], "m": "yescrypt"});
        assert_eq!(judge(&set, bad, &cfg).status, Status::Fail);
        let md5 = json!({"accounts": [], "m": "md5"});
        assert_eq!(judge(&set, md5, &cfg).status, Status::Fail);
    }

    #[test]
    fn missing_facts_are_errors_with_the_collectors_reason_never_passes() {
        let cfg = config("");
        let set = PolicySet::from_rule_files(
            catalog(),
            &[(
                "r.toml".into(),
                rules("facts.accounts.all(a, a.pw != 'empty')", ""),
            )],
            &cfg,
        )
        .unwrap();
        let v = judge(
            &set,
            json!({"accounts": null, "unavailable": {"accounts": "cannot read /etc/shadow"}}),
            &cfg,
        );
        assert_eq!(v.status, Status::Error);
        assert!(v.reason.unwrap().contains("cannot read /etc/shadow"));
        let v = judge(&set, json!({"n": "not a number"}), &cfg);
        assert_eq!(v.status, Status::Error);
    }

    #[test]
    fn now_is_the_judging_time_as_a_timestamp() {
        // judge() evaluates at 2026-11-23T00:00:00Z.
        let cfg = config("");
        let check = "now - timestamp(facts.at) <= duration(string(vars.min) + 'h')";
        let set =
            PolicySet::from_rule_files(catalog(), &[("r.toml".into(), rules(check, ""))], &cfg)
                .unwrap();
        let recent = json!({"at": "2026-11-22T12:00:00Z"});
        assert_eq!(judge(&set, recent, &cfg).status, Status::Pass);
        let old = json!({"at": "2026-11-22T09:59:59Z"});
        assert_eq!(judge(&set, old, &cfg).status, Status::Fail);
        let garbage = json!({"at": "yesterday"});
        assert_eq!(judge(&set, garbage, &cfg).status, Status::Error);
    }

    #[test]
    fn applies_false_is_not_applicable() {
        let cfg = config("");
        let set = PolicySet::from_rule_files(
            catalog(),
            &[(
                "r.toml".into(),
                rules("facts.n >= vars.min", "applies = \"facts.module != null\""),
            )],
            &cfg,
        )
        .unwrap();
        assert_eq!(
            judge(&set, json!({"n": 1, "module": null}), &cfg).status,
            Status::NotApplicable
        );
        assert_eq!(
            judge(&set, json!({"n": 1, "module": "x"}), &cfg).status,
            Status::Fail
        );
    }

    #[test]
    fn waivers_turn_failures_into_waived_until_they_expire() {
        let waiver = |expires: &str| {
            format!("[[waiver]]\nrule = \"t.rule\"\nreason = \"NIST: no forced expiry\"\napprover = \"ciso\"\nexpires = \"{expires}\"\n")
        };
        let cfg = config(&waiver("2027-01-01"));
        let set = PolicySet::from_rule_files(
            catalog(),
            &[("r.toml".into(), rules("facts.n >= vars.min", ""))],
            &cfg,
        )
        .unwrap();
        let v = judge(&set, json!({"n": 1}), &cfg);
        assert_eq!(v.status, Status::Waived);
        assert_eq!(v.waiver.unwrap().approver, "ciso");
        assert_eq!(judge(&set, json!({"n": 20}), &cfg).status, Status::Pass);
        assert_eq!(
            judge(&set, json!({}), &cfg).status,
            Status::Error,
            "errors are never waived"
        );
        let expired = config(&waiver("2026-11-01"));
        assert_eq!(judge(&set, json!({"n": 1}), &expired).status, Status::Fail);
    }

    #[test]
    fn bad_references_name_file_line_and_field() {
        let cfg = config("");
        let load = |text: String| {
            PolicySet::from_rule_files(catalog(), &[("r.toml".into(), text)], &cfg).unwrap_err()
        };
        let e = load(rules("true", "").replace("soc2:CC6.1", "soc2:CC6.99"));
        assert_eq!(
            (e.file.as_str(), e.line, e.field.as_str()),
            ("r.toml", 11, "rule t.rule: controls")
        );
        assert!(e.message.contains("unknown control `CC6.99`"), "{e}");
        let e = load(rules("true", "").replace("iso27001-2013:A.9.4.2", "iso27001-2013:A.1.1.1"));
        assert!(e.message.contains("2013"), "{e}");
        let e = load(rules("true", "").replace(
            "collector = \"password_policy\"",
            "collector = \"pasword_policy\"",
        ));
        assert_eq!(e.line, 9);
        assert!(
            e.message.contains("unknown collector `pasword_policy`"),
            "{e}"
        );
        let e = load(rules("facts.n >= vars.minimum", ""));
        assert!(e.message.contains("unknown variable `vars.minimum`"), "{e}");
        let e = load(rules("facts.n >= (", ""));
        assert!(e.message.contains("invalid CEL"), "{e}");
        let cfg = config("[variables]\nmni = 3\n");
        let e =
            PolicySet::from_rule_files(catalog(), &[("r.toml".into(), rules("true", ""))], &cfg)
                .unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.field.as_str()),
            ("attestd.toml", 2, "variables.mni")
        );
        let cfg = config("[variables]\nmin = \"long\"\n");
        assert!(PolicySet::from_rule_files(
            catalog(),
            &[("r.toml".into(), rules("true", ""))],
            &cfg
        )
        .is_err());
        let cfg = config("[[waiver]]\nrule = \"t.nope\"\nreason = \"x\"\napprover = \"y\"\nexpires = \"2027-01-01\"\n");
        let e =
            PolicySet::from_rule_files(catalog(), &[("r.toml".into(), rules("true", ""))], &cfg)
                .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "waiver.rule"));
    }

    /// The packaged layout (`/usr/share/attestd/policies`) replaces the embedded copy:
    /// an edited title there is what loads, and no rule is loaded twice.
    #[test]
    fn an_installed_policy_directory_replaces_the_embedded_copy() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = dir.path().join("policies");
        std::fs::create_dir_all(shipped.join("frameworks")).unwrap();
        for sub in ["", "frameworks"] {
            for (name, text) in embedded_files(sub) {
                let file = Path::new(&name).file_name().unwrap().to_owned();
                let target = if sub.is_empty() {
                    shipped.join(file)
                } else {
                    shipped.join(sub).join(file)
                };
                let text = text.replace(
                    "title = \"Passwords must be at least",
                    "title = \"INSTALLED COPY: passwords must be at least",
                );
                std::fs::write(target, text).unwrap();
            }
        }
        let cfg = config("[daemon]\npolicy_dirs = []\n");
        let embedded = PolicySet::load_from(None, &cfg).unwrap();
        let installed = PolicySet::load_from(Some(&shipped), &cfg).unwrap();
        assert_eq!(embedded.shipped_from, EMBEDDED_POLICIES_NAME);
        assert_eq!(installed.shipped_from, shipped.display().to_string());
        assert_eq!(embedded.rules.len(), installed.rules.len());
        let title = &installed.rule("password.min_length").unwrap().title;
        assert!(title.starts_with("INSTALLED COPY"), "{title}");
        assert!(!embedded
            .rule("password.min_length")
            .unwrap()
            .title
            .starts_with("INSTALLED COPY"));
    }

    #[test]
    fn a_load_parsed_on_two_threads_reports_what_a_sequential_one_would() {
        // The rules are the same, in the same order, as a load on one thread gives.
        let cfg = config("[daemon]\npolicy_dirs = []\n");
        let two_threads = PolicySet::load_from(None, &cfg).unwrap();
        let mut frameworks = embedded_files("frameworks");
        frameworks.sort();
        let mut files = embedded_files("");
        files.sort();
        let one_thread =
            PolicySet::from_rule_files(Catalog::from_files(&frameworks).unwrap(), &files, &cfg)
                .unwrap();
        let ids = |set: &PolicySet| set.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&two_threads), ids(&one_thread));
        // Of two broken files, one parsed on each thread, the first in order is named.
        let (i_first, i_second) = (files.len() / 2 - 1, files.len() / 2);
        let dir = tempfile::tempdir().unwrap();
        let shipped = dir.path().join("policies");
        std::fs::create_dir_all(shipped.join("frameworks")).unwrap();
        for (name, text) in &frameworks {
            let file = Path::new(name).file_name().unwrap();
            std::fs::write(shipped.join("frameworks").join(file), text).unwrap();
        }
        for (i, (name, text)) in files.iter().enumerate() {
            let file = Path::new(name).file_name().unwrap();
            let text = if i == i_first || i == i_second {
                format!("{text}\n[[rule]]\nid = \"broken.in_file_{i}\"\nunknown = 1\n")
            } else {
                text.clone()
            };
            std::fs::write(shipped.join(file), text).unwrap();
        }
        let e = PolicySet::load_from(Some(&shipped), &cfg).unwrap_err();
        let named = Path::new(&files[i_first].0)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert!(e.file.ends_with(named), "{e}");
        // A broken catalog is reported before any rule file.
        std::fs::write(shipped.join("frameworks").join("soc2.toml"), "[framework\n").unwrap();
        let e = PolicySet::load_from(Some(&shipped), &cfg).unwrap_err();
        assert!(e.file.ends_with("soc2.toml"), "{e}");
    }
}
