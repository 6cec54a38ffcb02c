//! The CEL standard environment (functions, macros, types) that every rule is
//! evaluated in, built once per process and shared. `cel::Context::default()` builds
//! a fresh standard library on every call, which cost more than the judgement itself
//! when `verify` re-judged a host-year run by run. Owns only that construction; never
//! adds functions of its own, so a rule means the same wherever it is judged.

use std::sync::{Arc, OnceLock};

/// A root context over the shared standard environment, with no variables yet.
pub(crate) fn context() -> cel::Context<'static, 'static> {
    static STDLIB: OnceLock<Arc<cel::Env>> = OnceLock::new();
    cel::Context::with_env(STDLIB.get_or_init(|| Arc::new(cel::Env::stdlib())).clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shared_environment_has_the_standard_functions_and_macros() {
        let mut context = super::context();
        context.add_variable_from_value("xs", vec![1i64, 2, 3]);
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
            let program = super::super::cel_bounds::compile(source).unwrap();
            assert_eq!(
                program.execute(&context).unwrap(),
                cel::Value::Bool(want),
                "{source}"
            );
        }
    }
}
