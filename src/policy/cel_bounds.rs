//! CEL within bounds. The `cel` crate parses (ANTLR) and evaluates by recursion, a few
//! stack frames per level of the expression, and a thread whose stack runs out aborts
//! the whole process: there is no panic to catch. Twenty nested parentheses, or a
//! hundred `+` in a row, in an operator's rule file were enough to abort `attestd` on a
//! 2 MiB thread stack (found while writing the `cel` fuzz target).
//!
//! This module owns both defences: every expression is checked against limits on its
//! length, nesting and operators before it is parsed (the error names the limit), and
//! every parse and evaluation runs on a thread whose stack holds the worst expression
//! those limits allow. It never changes what an expression means and never decides a
//! verdict; it only refuses what could not be evaluated safely.

/// Longest expression, in bytes (the longest shipped one is about 1 KiB).
pub const MAX_BYTES: usize = 8 * 1024;
/// Deepest nesting of `(`, `[` and `{` (shipped rules nest at most 6).
pub const MAX_NESTING: usize = 24;
/// Most operator characters (`+ - * / % ? ! < > = & | .`), each a level the evaluator
/// may recurse through in a chain such as `a + b + c` (shipped rules use at most 85).
pub const MAX_OPERATORS: usize = 512;
/// The stack of the thread that parses and evaluates: room for the worst expression
/// within the limits. The test below runs the worst ones; in a debug build, where frames
/// are largest, they need between 16 and 32 MiB. Only the pages an expression touches
/// become resident, and a stack this large is unmapped when its thread ends (glibc
/// caches only smaller ones), so the idle daemon keeps none of it.
const STACK_BYTES: usize = 64 << 20;

/// Whether `source` is within the limits; the error says which limit and by how much.
pub fn check(source: &str) -> Result<(), String> {
    if source.len() > MAX_BYTES {
        return Err(format!(
            "the expression is {} bytes long; at most {MAX_BYTES} are allowed",
            source.len()
        ));
    }
    // Counted over the whole text, string literals included: a miscounted literal can
    // then only make the check stricter, never let a deep expression through.
    let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '?' | '!' | '<' | '>' | '=' | '&' | '|' | '.' => {
                operators += 1
            }
            _ => {}
        }
    }
    if deepest > MAX_NESTING {
        return Err(format!(
            "brackets nest {deepest} levels deep; at most {MAX_NESTING} are allowed"
        ));
    }
    if operators > MAX_OPERATORS {
        return Err(format!(
            "the expression has {operators} operators; at most {MAX_OPERATORS} are allowed"
        ));
    }
    Ok(())
}

/// A parsed CEL expression, its macros expanded, ready to evaluate in a context.
#[derive(Debug)]
pub struct Compiled(cel::parser::Expression);

impl Compiled {
    /// Evaluate in `context` (call it on a deep stack: `on_deep_stack`).
    pub fn execute(&self, context: &cel::Context) -> cel::ResolveResult {
        context.resolve(&self.0)
    }
}

/// Check and compile `source` on a deep stack. The error is the limit exceeded or the
/// parser's message (its first line).
///
/// The `cel` crate has two parsers that build the same tree: ANTLR (what
/// `cel::Program::compile` uses) and a Pratt parser behind its `parser_pratt` feature.
/// The Pratt parser is about twelve times faster (1.2 ms against 15 ms for the 190
/// shipped expressions), and parsing was most of the cost of a one-collector run, so
/// rules are parsed with it; the test `shipped_expressions_parse_alike_with_both_parsers`
/// holds it to the ANTLR tree for every shipped expression.
pub fn compile(source: &str) -> Result<Compiled, String> {
    check(source)?;
    on_deep_stack(|| {
        cel::parser::PrattParser::default()
            .parse(source)
            .map(Compiled)
            .map_err(|e| {
                let e = e.to_string();
                e.lines().next().unwrap_or("").to_string()
            })
    })
}

thread_local! {
    /// True on a thread `on_deep_stack` started: nested calls run in place.
    static DEEP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` on a thread with a stack deep enough for any expression within the limits,
/// and return what it returns (a panic in `f` is resumed here). On such a thread
/// already, or when no thread can be started (a task limit), `f` runs in place.
pub fn on_deep_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if DEEP.with(|d| d.get()) {
        return f();
    }
    // Shared with the thread, so that `f` is still here when none can be started.
    let f = std::sync::Mutex::new(Some(f));
    let take = || {
        f.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .expect("run once")
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("attestd-cel".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, move || {
                DEEP.with(|d| d.set(true));
                take()()
            });
        match spawned {
            Ok(handle) => match handle.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => take()(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(source: &str) -> Result<cel::Value, String> {
        let source = source.to_string();
        on_deep_stack(move || {
            let program = compile(&source)?;
            let mut context = cel::Context::default();
            context.add_variable_from_value(
                "facts",
                super::super::json_to_cel(&serde_json::json!({"a": {}})),
            );
            program.execute(&context).map_err(|e| e.to_string())
        })
    }

    #[test]
    fn the_worst_expressions_within_the_limits_compile_and_evaluate() {
        let n = MAX_NESTING;
        for source in [
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            format!("{}1{}", "size([".repeat(n / 2), "])".repeat(n / 2)),
            format!("{}1{}", "{1: ".repeat(n), "}".repeat(n)),
            format!("1{}", " + 1".repeat(MAX_OPERATORS)),
            format!("true{}", " && true".repeat(MAX_OPERATORS / 2)),
            format!("facts{}", ".a".repeat(MAX_OPERATORS)),
            format!("{}1", "-".repeat(MAX_OPERATORS)),
            format!("{}true", "!".repeat(MAX_OPERATORS)),
            format!("{}1", "true ? 1 : ".repeat(MAX_OPERATORS)),
            format!(
                "{}1{}{}",
                "(".repeat(n - 1),
                " + 1".repeat(MAX_OPERATORS - 1),
                ")".repeat(n - 1)
            ),
        ] {
            assert!(check(&source).is_ok(), "{source}");
            // Any answer will do (many of these are type errors): the process survived.
            let _ = run(&source);
        }
    }

    #[test]
    fn expressions_beyond_the_limits_are_refused_by_name() {
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        let e = compile(&deep).unwrap_err();
        assert!(e.contains("nest 100 levels deep; at most 24"), "{e}");
        let long = format!("1{}", " + 1".repeat(600));
        assert!(compile(&long).unwrap_err().contains("600 operators"));
        let huge = "1".repeat(MAX_BYTES + 1);
        assert!(compile(&huge).unwrap_err().contains("bytes long"));
        // What the shipped rules use passes, and means what it meant.
        assert_eq!(
            run("size([1, 2, 3].filter(x, x > 1)) == 2").unwrap(),
            cel::Value::Bool(true)
        );
    }
}
