//! The CEL standard environment (functions, macros, types) that every rule is
//! evaluated in, built once per process and shared. `cel::Context::default()` builds
//! a fresh standard library on every call, which cost more than the judgement itself
//! when `verify` re-judged a host-year run by run.
//!
//! Owns that construction and one standard function, `matches`. The `cel` crate's own
//! `matches` compiles its regular expression at every call, and the ssh rules call it
//! for every algorithm against every weak pattern: compiling was most of a one-collector
//! run (regex determinisation in the profile). The crate is built without its `regex`
//! feature, so its `matches` is absent, and this module registers one with the same
//! meaning (the `regex` crate's syntax, `is_match`, the same error text) that keeps the
//! compiled expressions of the evaluating thread, and `prewarm`, which compiles them
//! ahead for `attestd collect` while its collectors run. It never adds a function of its own
//! or changes what a standard one means, so a rule means the same wherever it is judged.

use cel::common::types::{CelBool, CelString};
use cel::ExecutionError;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A root context over the shared standard environment, with no variables yet.
pub(crate) fn context() -> cel::Context<'static, 'static> {
    static STDLIB: OnceLock<Arc<cel::Env>> = OnceLock::new();
    cel::Context::with_env(STDLIB.get_or_init(|| Arc::new(standard_env())).clone())
}

/// The standard library with the caching `matches`, as both the global function
/// (`matches(s, re)`) and the member (`s.matches(re)`) the standard declares.
fn standard_env() -> cel::Env {
    let mut env = cel::Env::stdlib();
    // Each fails only if `matches` is declared already, that is if the `cel` crate was
    // built with its `regex` feature after all; its own `matches` then stays, and means
    // the same.
    let _ = cel::add_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>, id = "matches");
    let _ = cel::add_member_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>);
    env
}

/// Compiled expressions kept per thread. Rules are evaluated on the short-lived thread
/// `cel_bounds::on_deep_stack` starts, so a cache lives for one judgement and the idle
/// daemon keeps none.
const MAX_CACHED: usize = 256;

thread_local! {
    static COMPILED: RefCell<HashMap<String, Arc<regex::Regex>>> = RefCell::new(HashMap::new());
}

/// CEL's `matches`: whether `re` matches anywhere in `this`.
fn matches(this: &CelString, re: &CelString) -> Result<CelBool, ExecutionError> {
    Ok(CelBool::from(compiled(re.inner())?.is_match(this.inner())))
}

/// Expressions compiled ahead of judging by `prewarm`, which judging threads take
/// instead of compiling them again. Only `attestd collect` prewarms (for the rules of
/// the collectors it runs, while they run); the daemon never does, so it holds none.
static PREWARMED: std::sync::Mutex<Option<HashMap<String, Arc<regex::Regex>>>> =
    std::sync::Mutex::new(None);

/// Compile `pattern` now, for the judging threads to find (an invalid one is left for
/// judging to report).
pub(crate) fn prewarm(pattern: &str) {
    let known = |map: &Option<HashMap<_, _>>| map.as_ref().is_some_and(|m| m.contains_key(pattern));
    if known(
        &PREWARMED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    ) {
        return;
    }
    let Ok(regex) = regex::Regex::new(pattern) else {
        return;
    };
    let mut map = PREWARMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = map.get_or_insert_with(HashMap::new);
    if map.len() < MAX_CACHED {
        map.insert(pattern.to_string(), Arc::new(regex));
    }
}

fn compiled(pattern: &str) -> Result<Arc<regex::Regex>, ExecutionError> {
    if let Some(hit) = COMPILED.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(hit);
    }
    let prewarmed = PREWARMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|m| m.get(pattern).cloned());
    if let Some(hit) = prewarmed {
        keep(pattern, &hit);
        return Ok(hit);
    }
    let regex =
        Arc::new(
            regex::Regex::new(pattern).map_err(|err| ExecutionError::FunctionError {
                function: "matches".to_string(),
                message: format!("'{pattern}' not a valid regex:\n{err}"),
            })?,
        );
    keep(pattern, &regex);
    Ok(regex)
}

/// Keep a compiled expression in this thread's cache, while it has room.
fn keep(pattern: &str, regex: &Arc<regex::Regex>) {
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < MAX_CACHED {
            c.insert(pattern.to_string(), regex.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    fn eval(source: &str) -> Result<cel::Value, String> {
        let mut context = super::context();
        context.add_variable_from_value("xs", vec![1i64, 2, 3]);
        let program = super::super::cel_bounds::compile(source).unwrap();
        program.execute(&context).map_err(|e| e.to_string())
    }

    #[test]
    fn the_shared_environment_has_the_standard_functions_and_macros() {
        for (source, want) in [
            ("size(xs) == 3", true),
            ("xs.all(x, x > 0)", true),
            ("xs.exists(x, x > 2) && 'abc'.startsWith('a')", true),
            (
                "timestamp('2025-01-01T00:00:00Z') < timestamp('2026-01-01T00:00:00Z')",
                true,
            ),
            ("xs.map(x, x * 2)[2] == 5", false),
        ] {
            assert_eq!(eval(source), Ok(cel::Value::Bool(want)), "{source}");
        }
    }

    #[test]
    fn matches_means_what_the_standard_says_cached_or_not() {
        for _ in 0..2 {
            for (source, want) in [
                ("'aes128-cbc'.matches('-cbc$')", true),
                ("'aes128-ctr'.matches('-cbc$')", false),
                ("matches('hmac-sha1', '^hmac-sha1$')", true),
                ("'abc'.matches('B')", false),
                ("'abc'.matches('(?i)B')", true),
                ("'ünï'.matches('^.n.$')", true),
                (
                    "['a-cbc', 'b'].filter(s, s.matches('cbc')) == ['a-cbc']",
                    true,
                ),
            ] {
                assert_eq!(eval(source), Ok(cel::Value::Bool(want)), "{source}");
            }
        }
        // They went through this module's `matches`, which kept them.
        let kept = super::COMPILED.with(|c| c.borrow().contains_key("-cbc$"));
        assert!(
            kept,
            "the standard `matches` was used instead of the caching one"
        );
        // An invalid expression is an error naming it, every time (errors are not cached).
        for _ in 0..2 {
            let e = eval("'x'.matches('(foo')").unwrap_err();
            assert!(e.contains("'(foo' not a valid regex"), "{e}");
        }
    }

    #[test]
    fn prewarmed_expressions_are_the_ones_judging_uses() {
        let pattern = "^prewarmed-[0-9]+$";
        std::thread::spawn(move || super::prewarm(pattern))
            .join()
            .unwrap();
        let ready = super::PREWARMED
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|m| m.get(pattern).cloned())
            .expect("prewarmed");
        // Judged on another thread, the expression is the prewarmed one, and means
        // what `matches` means.
        std::thread::spawn(move || {
            let used = super::compiled(pattern).unwrap();
            assert!(std::sync::Arc::ptr_eq(&used, &ready));
            assert_eq!(
                eval("'prewarmed-42'.matches('^prewarmed-[0-9]+$')"),
                Ok(cel::Value::Bool(true))
            );
        })
        .join()
        .unwrap();
        // An invalid one is not kept: judging reports it.
        super::prewarm("(foo");
        assert!(super::PREWARMED
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|m| !m.contains_key("(foo")));
    }

    #[test]
    fn the_cache_is_bounded() {
        for i in 0..super::MAX_CACHED + 10 {
            assert!(super::compiled(&format!("^p{i}$")).is_ok());
        }
        let held = super::COMPILED.with(|c| c.borrow().len());
        assert_eq!(held, super::MAX_CACHED);
        // Past the bound, expressions still compile and match.
        assert_eq!(
            eval("'p9999'.matches('^p9999$')"),
            Ok(cel::Value::Bool(true))
        );
    }
}
