//! Rule files (`policies/*.toml` and operators' `policies.d/*.toml`): their format and
//! their compilation into `Rule`s with CEL programs. Owns the checks made at load time
//! (unknown collector, control, variable, bad CEL) with file and line. It never reads
//! facts and never evaluates a rule.
//!
//! Compiling CEL was most of what loading cost (15 ms for the shipped rules with the
//! ANTLR parser, 1.2 ms with the Pratt parser now used), and a run that selects one
//! collector needs that collector's rules only. So each
//! expression is an `Expr` compiled the first time it is evaluated. The operator's own
//! rule files are still compiled at load, so that a typo is a file:line error before
//! anything runs; the shipped ones (embedded, or the package's directory) are compiled
//! by the test `every_shipped_expression_compiles` instead.

use super::catalog::Catalog;
use crate::location::{FileError, LineIndex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

pub use attestd_ledger::body::Severity;

/// A rule file as TOML gives it, before its references are checked. A field read as
/// `Spanned` must be named in build.rs (`SPANNED_RULE_FIELDS`), which prebuilds the
/// shipped files; `prebuilt`'s test fails otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, VariableDef>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RuleDef>>,
}

/// A threshold a rule uses, with its default and where the default comes from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDef {
    /// The value used unless `[variables]` in the config overrides it.
    pub default: toml::Value,
    /// What it means and which source sets the default.
    pub description: String,
}

/// A rule as written in a rule file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable id, `area.what` (`password.min_length`).
    pub id: Spanned<String>,
    /// One line a person reads in a report.
    pub title: String,
    /// The collector whose facts the rule reads.
    pub collector: Spanned<String>,
    pub severity: Severity,
    /// Controls the rule tests, as `framework:ID`.
    pub controls: Vec<Spanned<String>>,
    /// CEL over `facts` and `vars` that is true when the control holds.
    pub check: Spanned<String>,
    /// CEL giving the observed value shown next to the expectation.
    #[serde(default)]
    pub observed: Option<Spanned<String>>,
    /// What is required, in words; `{name}` is replaced by the variable's value.
    pub expected: String,
    /// CEL that is false when the rule does not apply to this host (`not_applicable`).
    #[serde(default)]
    pub applies: Option<Spanned<String>>,
    /// Why the rule does not apply when `applies` is false, in words (which file,
    /// service or setting is absent); shown as the `not_applicable` reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_reason: Option<String>,
    /// Why the control matters, citing its source.
    pub rationale: String,
    /// Where the requirement comes from (CIS, NIST, PCI DSS ...).
    pub sources: Vec<String>,
    /// How to fix a failure.
    pub remediation: String,
}

/// A CEL expression of a rule, compiled on first use (or at load for operators' rules).
#[derive(Debug)]
pub struct Expr {
    source: String,
    /// `file:line` and the field, for the error of a bad expression.
    at: String,
    program: std::sync::OnceLock<Result<super::cel_bounds::Compiled, String>>,
}

impl Expr {
    /// An expression compiled now; its error names `at` (for recorded rule
    /// definitions, which `verify` re-judges).
    pub fn compiled(source: &str, at: String) -> Result<Expr, String> {
        let e = Expr::new(source, at);
        e.program().map_err(str::to_string)?;
        Ok(e)
    }

    fn new(source: &str, at: String) -> Expr {
        Expr {
            source: source.to_string(),
            at,
            program: std::sync::OnceLock::new(),
        }
    }

    /// The compiled program, or why the expression does not compile (with file, line and
    /// field).
    pub fn program(&self) -> Result<&super::cel_bounds::Compiled, &str> {
        self.program
            .get_or_init(|| {
                super::cel_bounds::compile(&self.source)
                    .map_err(|e| format!("{}: invalid CEL expression: {e}", self.at))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Shipped rule files: the embedded copy (`policies/NAME.toml`) or the package's
/// directory. Their expressions are compiled when first evaluated.
fn is_shipped(file: &str) -> bool {
    file.starts_with("policies/") || file.starts_with(super::SYSTEM_POLICY_DIR)
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub collector: String,
    pub severity: Severity,
    pub controls: Vec<String>,
    pub check: Expr,
    pub observed: Option<Expr>,
    pub applies: Option<Expr>,
    pub expected_template: String,
    /// `applies_reason` of the definition.
    pub applies_reason: Option<String>,
    pub rationale: String,
    pub sources: Vec<String>,
    pub remediation: String,
    /// `file:line` where the rule is defined.
    pub origin: String,
    /// The definition as written, for the policy snapshot the ledger records and for
    /// bundles.
    pub definition: Definition,
}

/// A rule's definition as written, as JSON, and the SHA-256 of that JSON. Both are
/// worked out on first use: only stored runs and bundles read them, and hashing every
/// rule of every file is a fifth of loading the policies.
#[derive(Debug)]
pub struct Definition {
    /// The parsed definition, when the JSON is still to be built from it.
    written: Option<Box<RuleDef>>,
    json: std::sync::OnceLock<(std::sync::Arc<serde_json::Value>, String)>,
}

impl Definition {
    /// The definition of a rule parsed from a rule file.
    fn written(def: RuleDef) -> Definition {
        Definition {
            written: Some(Box::new(def)),
            json: std::sync::OnceLock::new(),
        }
    }

    /// A definition recorded in a ledger's policy snapshot, with its recorded hash.
    pub fn recorded(json: std::sync::Arc<serde_json::Value>, sha256: String) -> Definition {
        Definition {
            written: None,
            json: std::sync::OnceLock::from((json, sha256)),
        }
    }

    fn get(&self) -> &(std::sync::Arc<serde_json::Value>, String) {
        self.json.get_or_init(|| {
            let def = self
                .written
                .as_deref()
                .expect("a definition is either written or recorded");
            let json = serde_json::to_value(def).expect("rule definitions are JSON");
            let sha256 = attestd_collectors::sha256_hex(
                &serde_json::to_vec(&json).expect("JSON serializes"),
            );
            (std::sync::Arc::new(json), sha256)
        })
    }

    /// The definition as JSON (shared with the policy snapshots that record it).
    pub fn json(&self) -> &std::sync::Arc<serde_json::Value> {
        &self.get().0
    }

    /// SHA-256 of the canonical JSON of the definition, in hex.
    pub fn sha256(&self) -> &str {
        &self.get().1
    }
}

/// Everything one rule file declares.
pub struct ParsedFile {
    pub variables: Vec<(String, VariableDef, usize)>,
    pub rules: Vec<Rule>,
}

/// Read one rule file's TOML. It needs no catalog, so files can be read while the
/// catalog is; `check_rule_file` then checks every reference.
pub(crate) fn read_rule_file(name: &str, text: &str) -> Result<RuleFile, FileError> {
    super::prebuilt::read_or_parse(name, text)
}

/// Check and compile one rule file, every reference, on what `read_rule_file` read
/// from `text`.
pub(crate) fn check_rule_file(
    name: &str,
    text: &str,
    file: RuleFile,
    catalog: &Catalog,
    known_collectors: &[&str],
    known_variables: &dyn Fn(&str) -> bool,
) -> Result<ParsedFile, FileError> {
    let lines = LineIndex::new(text);
    let at = |span: std::ops::Range<usize>, field: &str, message: String| FileError {
        file: name.to_string(),
        line: lines.line_of_span(&span),
        field: field.to_string(),
        message,
    };
    let variables: Vec<(String, VariableDef, usize)> = file
        .variables
        .into_iter()
        .map(|(k, v)| {
            let line = lines.line_of_span(&k.span());
            (k.into_inner(), v, line)
        })
        .collect();
    let declared_here = |v: &str| variables.iter().any(|(n, _, _)| n == v);
    let mut rules = Vec::new();
    for spanned in file.rules {
        let rule_line = lines.line_of_span(&spanned.span());
        let def = spanned.into_inner();
        let id = def.id.get_ref().clone();
        if !is_valid_rule_id(&id) {
            return Err(at(def.id.span(), "id", format!("rule id `{id}` must be lowercase words joined by dots or underscores, e.g. password.min_length")));
        }
        let field = |f: &str| format!("rule {id}: {f}");
        let cname = def.collector.get_ref().as_str();
        if cname.starts_with("exec:") && !known_collectors.contains(&cname) {
            return Err(at(
                def.collector.span(),
                &field("collector"),
                format!(
                    "no plugin `{cname}` is configured; add [collectors.\"{cname}\"] with command = [\"/absolute/path\"] to the config, or put an executable named `{}` in the plugin directory (/etc/attestd/collectors.d)",
                    cname.trim_start_matches("exec:")
                ),
            ));
        }
        if !known_collectors.contains(&cname) {
            return Err(at(
                def.collector.span(),
                &field("collector"),
                format!(
                    "unknown collector `{}`; known collectors: {}",
                    def.collector.get_ref(),
                    known_collectors.join(", ")
                ),
            ));
        }
        if def.controls.is_empty() {
            return Err(at(
                def.id.span(),
                &field("controls"),
                "a rule must map to at least one control".into(),
            ));
        }
        for control in &def.controls {
            catalog
                .check_control(control.get_ref())
                .map_err(|m| at(control.span(), &field("controls"), m))?;
        }
        let shipped = is_shipped(name);
        let compile = |expr: &Spanned<String>, what: &str| -> Result<Expr, FileError> {
            for var in referenced_variables(expr.get_ref()) {
                if !declared_here(&var) && !known_variables(&var) {
                    return Err(at(expr.span(), &field(what), format!("unknown variable `vars.{var}`; declare it under [variables] in a rule file")));
                }
            }
            let line = lines.line_of_span(&expr.span());
            let lazy = Expr::new(expr.get_ref(), format!("{name}:{line}: {}", field(what)));
            // Shipped expressions are compiled when first evaluated; every expression
            // is held to the limits now, so a bad one is named by file and line.
            let compiled = if shipped {
                super::cel_bounds::check(expr.get_ref())
            } else {
                super::cel_bounds::compile(expr.get_ref()).map(drop)
            };
            if let Err(e) = compiled {
                return Err(at(
                    expr.span(),
                    &field(what),
                    format!("invalid CEL expression: {e}"),
                ));
            }
            Ok(lazy)
        };
        let check = compile(&def.check, "check")?;
        let observed = def
            .observed
            .as_ref()
            .map(|e| compile(e, "observed"))
            .transpose()?;
        let applies = def
            .applies
            .as_ref()
            .map(|e| compile(e, "applies"))
            .transpose()?;
        let definition = Definition::written(def.clone());
        rules.push(Rule {
            id,
            title: def.title,
            collector: def.collector.into_inner(),
            severity: def.severity,
            controls: def.controls.into_iter().map(Spanned::into_inner).collect(),
            check,
            observed,
            applies,
            expected_template: def.expected,
            applies_reason: def.applies_reason,
            rationale: def.rationale,
            sources: def.sources,
            remediation: def.remediation,
            origin: format!("{name}:{rule_line}"),
            definition,
        });
    }
    Ok(ParsedFile { variables, rules })
}

fn is_valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-'
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The `vars.NAME` references in a CEL expression.
fn referenced_variables(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("vars.") {
        let start = i + pos;
        let preceded_by_ident = start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'.');
        let name_start = start + 5;
        let name_end = expr[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(|e| name_start + e)
            .unwrap_or(expr.len());
        if !preceded_by_ident && name_end > name_start {
            out.push(expr[name_start..name_end].to_string());
        }
        i = name_end.max(start + 5);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every CEL expression of the shipped rule files, with the file it is in.
    fn shipped_expressions() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let file: RuleFile = toml::from_str(&text).unwrap();
            for rule in file.rules {
                let def = rule.into_inner();
                for expr in [
                    Some(&def.check),
                    def.observed.as_ref(),
                    def.applies.as_ref(),
                ]
                .into_iter()
                .flatten()
                {
                    out.push((path.display().to_string(), expr.get_ref().clone()));
                }
            }
        }
        assert!(out.len() > 150, "{}", out.len());
        out
    }

    #[test]
    fn every_shipped_expression_compiles() {
        for (file, source) in shipped_expressions() {
            let e = Expr::new(&source, file);
            assert!(e.program().is_ok(), "{:?}", e.program().err());
        }
    }

    /// Rules are parsed by the `cel` crate's Pratt parser (`cel_bounds::compile`); the
    /// tree must be the one its ANTLR parser, the reference grammar, builds. Node ids
    /// are numbered in another order (a map entry before or after its key) and mean
    /// nothing to evaluation, so they are left out of the comparison.
    #[test]
    fn shipped_expressions_parse_alike_with_both_parsers() {
        fn without_ids(tree: &cel::parser::Expression) -> String {
            format!("{:?}", tree.expr)
                .split("id: ")
                .map(|part| part.trim_start_matches(|c: char| c.is_ascii_digit()))
                .collect()
        }
        for (file, source) in shipped_expressions() {
            super::super::cel_bounds::on_deep_stack(|| {
                let antlr = cel::parser::Parser::default().parse(&source).unwrap();
                let pratt = cel::parser::PrattParser::default().parse(&source).unwrap();
                assert_eq!(without_ids(&antlr), without_ids(&pratt), "{file}: {source}");
            });
        }
    }

    #[test]
    fn a_bad_shipped_expression_is_named_when_used() {
        let e = Expr::new("facts.n >= (", "policies/x.toml:3: rule r: check".into());
        assert_eq!(
            e.program().unwrap_err().split(" invalid").next(),
            Some("policies/x.toml:3: rule r: check:")
        );
    }

    #[test]
    fn finds_variable_references() {
        assert_eq!(
            referenced_variables("facts.a >= vars.min_len && myvars.x == vars.b2"),
            vec!["min_len", "b2"]
        );
    }
}
