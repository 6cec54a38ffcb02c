//! The PAM stacks that decide password changes and logins on Debian-family hosts:
//! the `password` lines reached from `/etc/pam.d/common-password` and the `auth` lines
//! reached from `/etc/pam.d/common-auth`, with `@include`, `include` and `substack`
//! resolved in place (from `/etc/pam.d` unless absolute).
//!
//! It owns file order and include resolution: an include loop, an include of a missing
//! file or a line Linux-PAM would reject is a `Malformed` error naming file and line,
//! never a hang and never a silently shorter stack. A missing top-level file is an
//! empty stack (and an absent artifact). It never interprets what a module does.

use super::{pam_logical_lines, parse_pam_line, split_pam_arg, PamEntry};
use crate::{Artifact, CollectError, HostRoot};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where relative include targets live.
pub const PAM_DIR: &str = "/etc/pam.d";
/// The top of the password-change stack.
pub const PASSWORD_FILE: &str = "/etc/pam.d/common-password";
/// The top of the authentication stack.
pub const AUTH_FILE: &str = "/etc/pam.d/common-auth";
/// How deep includes may nest (Linux-PAM's own substack limit).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Include expansions one stack may make (each include of a file counts once per time
/// it is reached): a file included three times by each of its includes would otherwise
/// grow the stack exponentially while reading only a few files.
pub const MAX_EXPANSIONS: usize = 256;
/// Module lines one stack may hold; more is an error (a rule must never pass on a
/// stack cut short), and the facts stay bounded.
pub const MAX_STACK_ENTRIES: usize = 512;

/// One module line of a stack, as the `pam.*_stack` facts show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackEntry {
    /// `password` or `auth` (without the `-` of an optional-module line).
    #[serde(rename = "type")]
    pub kind: String,
    /// The control as written, brackets and all (`[success=1 default=ignore]`).
    pub control: String,
    /// The module as written (`pam_unix.so`, or an absolute path).
    pub module: String,
    /// `key=value` arguments as strings, bare flags as `true`; a repeated key keeps
    /// its last value, as the modules' own argument loops do.
    pub args: BTreeMap<String, Value>,
    /// The arguments in the order written, for options where the last one wins.
    #[serde(skip)]
    pub raw_args: Vec<String>,
    /// The file the line is in (an included file for included lines).
    pub file: String,
    /// Its line number, 1-based.
    pub line: usize,
}

impl StackEntry {
    /// The module's name without directory and `.so` (`pam_pwquality`).
    pub fn module_name(&self) -> &str {
        let base = self.module.rsplit('/').next().unwrap_or(&self.module);
        base.strip_suffix(".so").unwrap_or(base)
    }

    /// The raw text of an argument: `Some("3")` for `retry=3`, `None` when absent or a flag.
    pub fn arg_value(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }

    /// True when a bare flag (`yescrypt`, `authfail`) is on the line.
    pub fn has_flag(&self, key: &str) -> bool {
        self.args.get(key) == Some(&Value::Bool(true))
    }
}

/// The `pam` facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pam {
    /// `password` lines reached from common-password, in evaluation order.
    pub password_stack: Vec<StackEntry>,
    /// `auth` lines reached from common-auth, in evaluation order.
    pub auth_stack: Vec<StackEntry>,
}

/// Read both stacks, recording an artifact for every file read (once each).
pub fn read(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<Pam, CollectError> {
    let mut loader = Loader {
        root,
        artifacts,
        texts: BTreeMap::new(),
        expansions: 0,
    };
    Ok(Pam {
        password_stack: loader.stack(PASSWORD_FILE, "password")?,
        auth_stack: loader.stack(AUTH_FILE, "auth")?,
    })
}

/// Reads PAM files once each and expands includes.
struct Loader<'a> {
    root: &'a HostRoot,
    artifacts: &'a mut Vec<Artifact>,
    /// Files already read; `None` for a file that does not exist.
    texts: BTreeMap<String, Option<String>>,
    /// Include expansions made for the current stack.
    expansions: usize,
}

impl Loader<'_> {
    /// The lines of type `kind` reached from `top`; empty when `top` does not exist.
    fn stack(&mut self, top: &str, kind: &str) -> Result<Vec<StackEntry>, CollectError> {
        let mut out = Vec::new();
        self.expansions = 0;
        if self.text(top)?.is_some() {
            self.expand(top, kind, &mut vec![top.to_string()], &mut out)?;
        }
        Ok(out)
    }

    /// A file's text, read through the root the first time it is asked for.
    fn text(&mut self, path: &str) -> Result<Option<String>, CollectError> {
        if let Some(cached) = self.texts.get(path) {
            return Ok(cached.clone());
        }
        let text = self.root.read_text(path)?;
        self.artifacts.push(match &text {
            Some(t) => Artifact::file(path, t.as_bytes()),
            None => Artifact::absent(path),
        });
        self.texts.insert(path.to_string(), text.clone());
        Ok(text)
    }

    /// Append the `kind` lines of `path` to `out`; `chain` is the include path so far.
    fn expand(
        &mut self,
        path: &str,
        kind: &str,
        chain: &mut Vec<String>,
        out: &mut Vec<StackEntry>,
    ) -> Result<(), CollectError> {
        let text = self.text(path)?.unwrap_or_default();
        for (line, content) in pam_logical_lines(&text) {
            let malformed = |reason: String| CollectError::Malformed {
                path: path.to_string(),
                line,
                reason,
            };
            let target = match parse_pam_line(&content).map_err(malformed)? {
                None => continue,
                Some(PamEntry::Include(target)) => target,
                Some(PamEntry::Module(m)) if m.kind != kind => continue,
                Some(PamEntry::Module(m)) if m.control == "include" || m.control == "substack" => {
                    m.module
                }
                Some(PamEntry::Module(_)) if out.len() >= MAX_STACK_ENTRIES => {
                    return Err(malformed(format!(
                        "the {kind} stack has more than {MAX_STACK_ENTRIES} module lines"
                    )));
                }
                Some(PamEntry::Module(m)) => {
                    out.push(StackEntry {
                        kind: m.kind,
                        control: m.control,
                        module: m.module,
                        args: args_map(&m.args),
                        raw_args: m.args,
                        file: path.to_string(),
                        line,
                    });
                    continue;
                }
            };
            let target = include_path(&target);
            if chain.contains(&target) {
                let mut cycle = chain.clone();
                cycle.push(target);
                return Err(malformed(format!("include loop: {}", cycle.join(" -> "))));
            }
            if chain.len() >= MAX_INCLUDE_DEPTH {
                return Err(malformed(format!(
                    "includes nested deeper than {MAX_INCLUDE_DEPTH} files"
                )));
            }
            self.expansions += 1;
            if self.expansions > MAX_EXPANSIONS {
                return Err(malformed(format!(
                    "more than {MAX_EXPANSIONS} includes expanded for one stack (an include tree that grows without end?)"
                )));
            }
            if self.text(&target)?.is_none() {
                return Err(malformed(format!(
                    "includes {target}, which does not exist (Linux-PAM refuses the whole stack)"
                )));
            }
            chain.push(target.clone());
            self.expand(&target, kind, chain, out)?;
            chain.pop();
        }
        Ok(())
    }
}

/// The host path an include names: absolute as written, else under `/etc/pam.d`.
fn include_path(target: &str) -> String {
    if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{PAM_DIR}/{target}")
    }
}

/// Module arguments as a map: `key=value` as strings, bare flags as `true`.
pub(crate) fn args_map(args: &[String]) -> BTreeMap<String, Value> {
    args.iter()
        .map(|arg| match split_pam_arg(arg) {
            (key, Some(value)) => (key.to_string(), Value::String(value.to_string())),
            (key, None) => (key.to_string(), Value::Bool(true)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn pam_host(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/pam.d")).unwrap();
        for (name, text) in files {
            fs::write(dir.path().join("etc/pam.d").join(name), text).unwrap();
        }
        dir
    }

    fn read_host(dir: &tempfile::TempDir) -> Result<Pam, CollectError> {
        read(&HostRoot::new(dir.path()), &mut Vec::new())
    }

    #[test]
    fn includes_are_resolved_in_place_with_their_own_file_and_line() {
        let dir = pam_host(&[
            (
                "common-password",
                "password requisite pam_pwquality.so retry=3\n@include pw-extra\npassword [success=1 default=ignore] pam_unix.so obscure use_authtok yescrypt\n",
            ),
            ("pw-extra", "# history\n\npassword required pam_pwhistory.so remember=5 use_authtok\nauth required pam_env.so\n"),
            ("common-auth", "auth include auth-real\n"),
            ("auth-real", "-auth [default=die] /lib/security/pam_faillock.so authfail deny=4\n"),
        ]);
        let pam = read_host(&dir).unwrap();
        let modules: Vec<_> = pam.password_stack.iter().map(|e| e.module_name()).collect();
        assert_eq!(modules, vec!["pam_pwquality", "pam_pwhistory", "pam_unix"]);
        let history = &pam.password_stack[1];
        assert_eq!(
            (history.file.as_str(), history.line),
            ("/etc/pam.d/pw-extra", 3)
        );
        assert_eq!(history.arg_value("remember"), Some("5"));
        assert!(history.has_flag("use_authtok"));
        assert_eq!(pam.password_stack[2].control, "[success=1 default=ignore]");
        assert_eq!(pam.auth_stack.len(), 1);
        assert_eq!(pam.auth_stack[0].module_name(), "pam_faillock");
        assert_eq!(pam.auth_stack[0].control, "[default=die]");
        assert_eq!(pam.auth_stack[0].kind, "auth");
    }

    #[test]
    fn include_loops_are_errors_that_show_the_cycle() {
        let dir = pam_host(&[
            ("common-password", "@include a\n"),
            ("a", "password required pam_unix.so\n@include b\n"),
            ("b", "\npassword include a\n"),
        ]);
        let err = read_host(&dir).unwrap_err();
        let CollectError::Malformed { path, line, reason } = err else {
            panic!("expected Malformed, got {err:?}")
        };
        assert_eq!((path.as_str(), line), ("/etc/pam.d/b", 2));
        assert!(
            reason.contains("/etc/pam.d/a -> /etc/pam.d/b -> /etc/pam.d/a"),
            "{reason}"
        );
    }

    #[test]
    fn a_missing_include_is_an_error_but_a_missing_top_file_is_an_empty_stack() {
        let dir = pam_host(&[("common-auth", "auth required pam_env.so\n@include gone\n")]);
        let err = read_host(&dir).unwrap_err();
        assert!(
            err.to_string().starts_with("/etc/pam.d/common-auth:2:"),
            "{err}"
        );
        let dir = pam_host(&[]);
        let mut artifacts = Vec::new();
        let pam = read(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        assert_eq!(pam, Pam::default());
        assert!(artifacts.iter().all(|a| !a.present));
    }

    #[test]
    fn a_symlink_loop_is_an_error_not_a_hang() {
        let dir = pam_host(&[]);
        let pam_d = dir.path().join("etc/pam.d");
        symlink("/etc/pam.d/loop", pam_d.join("common-password")).unwrap();
        symlink("/etc/pam.d/common-password", pam_d.join("loop")).unwrap();
        let err = read_host(&dir).unwrap_err();
        let CollectError::Unreadable { path, reason } = err else {
            panic!("expected Unreadable, got {err:?}")
        };
        assert_eq!(path, PASSWORD_FILE);
        assert!(reason.contains("symbolic links"), "{reason}");
    }

    #[test]
    fn each_file_is_one_artifact_even_when_included_twice() {
        let dir = pam_host(&[
            ("common-password", "@include shared\n"),
            ("common-auth", "@include shared\n"),
            (
                "shared",
                "password required pam_unix.so\nauth required pam_unix.so\n",
            ),
        ]);
        let mut artifacts = Vec::new();
        let pam = read(&HostRoot::new(dir.path()), &mut artifacts).unwrap();
        assert_eq!((pam.password_stack.len(), pam.auth_stack.len()), (1, 1));
        assert_eq!(artifacts.len(), 3);
    }
}
