//! The `effective` facts: what the PAM stacks actually enforce once each module's
//! configuration file, its arguments and its built-in defaults are combined.
//!
//! The rules, module by module (arguments on the module line always beat its file):
//! - pam_pwquality: pwquality.conf settings, then its arguments; defaults minlen 8
//!   (libpwquality never goes below 6), minclass 0, dictcheck 1, enforcing 1.
//! - pam_cracklib: arguments only (it reads no file); minlen 9, dictionary always on.
//! - neither: pam_unix's `minlen=` argument, else pam_unix's built-in 6; no dictionary.
//! - history: pam_pwhistory's `remember=` (10 when absent), else pam_unix's `remember=`.
//! - hash: the last of pam_unix's hash flags on its password line.
//! - lockout: pam_faillock with faillock.conf then the arguments of its `authfail` line
//!   (deny 3, unlock_time 600 by default), or pam_tally2's arguments alone.
//!
//! It reports what is enforced and never whether that is enough; a non-numeric module
//! argument where a number belongs is `Malformed`, naming the PAM file and line.

use super::faillock::{self, FaillockConf};
use super::pwquality::{self, Pwquality};
use super::settings::Schema;
use crate::formats::pam::stack::{Pam, StackEntry};
use crate::CollectError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// pam_unix's password hash options.
const HASH_FLAGS: [&str; 7] = [
    "yescrypt",
    "gost_yescrypt",
    "sha512",
    "sha256",
    "md5",
    "bigcrypt",
    "blowfish",
];

/// The `effective` facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effective {
    /// `pam_pwquality`, `pam_cracklib` or null: the first quality module in the stack.
    pub quality_module: Option<&'static str>,
    /// Minimum password length enforced.
    pub minlen: i64,
    /// Minimum number of character classes.
    pub minclass: i64,
    /// Whether new passwords are checked against a dictionary.
    pub dictcheck: bool,
    /// Whether the quality checks also bind root.
    pub enforce_for_root: bool,
    /// False when pwquality only warns (`enforcing = 0`).
    pub enforcing: bool,
    /// `pam_pwhistory`, `pam_unix` or null: what remembers old passwords.
    pub history_module: Option<&'static str>,
    /// How many old passwords are remembered; 0 when none.
    pub remember: i64,
    /// pam_unix's hash option (`yescrypt`, `sha512`), or null when it names none.
    pub hash_method: Option<String>,
    /// `pam_faillock`, `pam_tally2` or null: the first lockout module in the auth stack.
    pub lockout_module: Option<&'static str>,
    /// Failed attempts before lockout; null without a lockout module (or for
    /// pam_tally2 without `deny=`).
    pub lockout_deny: Option<i64>,
    /// Seconds until a locked account unlocks (0 = never); null as for `lockout_deny`.
    pub lockout_unlock_time: Option<i64>,
}

/// The quality part of `Effective`.
struct Quality {
    module: Option<&'static str>,
    minlen: i64,
    minclass: i64,
    dictcheck: bool,
    enforce_for_root: bool,
    enforcing: bool,
}

/// Combine files, module arguments and module defaults.
pub fn derive(
    pwq: &Pwquality,
    faillock: &FaillockConf,
    pam: &Pam,
) -> Result<Effective, CollectError> {
    let quality = quality(pwq, &pam.password_stack)?;
    let (history_module, remember) = history(&pam.password_stack)?;
    let (lockout_module, lockout_deny, lockout_unlock_time) = lockout(faillock, &pam.auth_stack)?;
    Ok(Effective {
        quality_module: quality.module,
        minlen: quality.minlen,
        minclass: quality.minclass,
        dictcheck: quality.dictcheck,
        enforce_for_root: quality.enforce_for_root,
        enforcing: quality.enforcing,
        history_module,
        remember,
        hash_method: hash_method(&pam.password_stack),
        lockout_module,
        lockout_deny,
        lockout_unlock_time,
    })
}

fn quality(pwq: &Pwquality, stack: &[StackEntry]) -> Result<Quality, CollectError> {
    let module = stack
        .iter()
        .find(|e| matches!(e.module_name(), "pam_pwquality" | "pam_cracklib"));
    match module {
        Some(e) if e.module_name() == "pam_pwquality" => {
            let mut s = pwq.settings.clone();
            overlay_args(&mut s, e, &pwquality::SCHEMA)?;
            Ok(Quality {
                module: Some("pam_pwquality"),
                // libpwquality raises any smaller minlen to 6.
                minlen: int(&s, "minlen").unwrap_or(8).max(6),
                minclass: int(&s, "minclass").unwrap_or(0),
                dictcheck: int(&s, "dictcheck").unwrap_or(1) != 0,
                enforce_for_root: s.contains_key("enforce_for_root"),
                enforcing: int(&s, "enforcing").unwrap_or(1) != 0,
            })
        }
        Some(e) => {
            // pam_cracklib takes the same argument names but reads no file.
            let mut s = BTreeMap::new();
            overlay_args(&mut s, e, &pwquality::SCHEMA)?;
            Ok(Quality {
                module: Some("pam_cracklib"),
                minlen: int(&s, "minlen").unwrap_or(9),
                minclass: int(&s, "minclass").unwrap_or(0),
                dictcheck: true,
                enforce_for_root: s.contains_key("enforce_for_root"),
                enforcing: true,
            })
        }
        None => {
            let minlen = match find(stack, "pam_unix") {
                Some(unix) => int_arg(unix, "minlen")?,
                None => None,
            };
            Ok(Quality {
                module: None,
                minlen: minlen.unwrap_or(6),
                minclass: 0,
                dictcheck: false,
                enforce_for_root: false,
                enforcing: true,
            })
        }
    }
}

fn history(stack: &[StackEntry]) -> Result<(Option<&'static str>, i64), CollectError> {
    if let Some(e) = find(stack, "pam_pwhistory") {
        return Ok((Some("pam_pwhistory"), int_arg(e, "remember")?.unwrap_or(10)));
    }
    if let Some(e) = find(stack, "pam_unix") {
        if let Some(n) = int_arg(e, "remember")? {
            return Ok((Some("pam_unix"), n));
        }
    }
    Ok((None, 0))
}

fn hash_method(stack: &[StackEntry]) -> Option<String> {
    let unix = find(stack, "pam_unix")?;
    unix.raw_args
        .iter()
        .rev()
        .find(|a| HASH_FLAGS.contains(&a.as_str()))
        .cloned()
}

type Lockout = (Option<&'static str>, Option<i64>, Option<i64>);

fn lockout(conf: &FaillockConf, stack: &[StackEntry]) -> Result<Lockout, CollectError> {
    let module = stack
        .iter()
        .find(|e| matches!(e.module_name(), "pam_faillock" | "pam_tally2"));
    match module {
        None => Ok((None, None, None)),
        Some(e) if e.module_name() == "pam_tally2" => Ok((
            Some("pam_tally2"),
            int_arg(e, "deny")?,
            int_arg(e, "unlock_time")?,
        )),
        Some(first) => {
            // Each pam_faillock line reads faillock.conf and then its own arguments;
            // the `authfail` line is the one that counts failures and locks.
            let locking = stack
                .iter()
                .find(|e| e.module_name() == "pam_faillock" && e.has_flag("authfail"))
                .unwrap_or(first);
            let mut s = conf.settings.clone();
            overlay_args(&mut s, locking, &faillock::SCHEMA)?;
            Ok((
                Some("pam_faillock"),
                Some(int(&s, "deny").unwrap_or(3)),
                Some(int(&s, "unlock_time").unwrap_or(600)),
            ))
        }
    }
}

/// The first line of a module in a stack.
fn find<'a>(stack: &'a [StackEntry], module: &str) -> Option<&'a StackEntry> {
    stack.iter().find(|e| e.module_name() == module)
}

/// Lay a module line's arguments over settings read from its file.
fn overlay_args(
    settings: &mut BTreeMap<String, Value>,
    entry: &StackEntry,
    schema: &Schema,
) -> Result<(), CollectError> {
    for key in entry.args.keys().filter(|k| schema.knows(k)) {
        let value = schema
            .value(key, entry.arg_value(key))
            .map_err(|reason| malformed_arg(entry, reason))?;
        settings.insert(key.clone(), value);
    }
    Ok(())
}

/// A whole-number module argument; `None` when absent.
fn int_arg(entry: &StackEntry, key: &str) -> Result<Option<i64>, CollectError> {
    let Some(raw) = entry.args.get(key) else {
        return Ok(None);
    };
    raw.as_str()
        .and_then(|r| r.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            malformed_arg(
                entry,
                format!("{} argument `{key}` must be a whole number", entry.module),
            )
        })
}

fn malformed_arg(entry: &StackEntry, reason: String) -> CollectError {
    CollectError::Malformed {
        path: entry.file.clone(),
        line: entry.line,
        reason,
    }
}

fn int(settings: &BTreeMap<String, Value>, key: &str) -> Option<i64> {
    settings.get(key).and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::pam::{parse_pam_line, PamEntry};
    use serde_json::json;

    /// A stack from PAM lines, as if they were lines 1.. of common-password.
    fn stack(lines: &[&str]) -> Vec<StackEntry> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let Some(PamEntry::Module(m)) = parse_pam_line(l).unwrap() else {
                    panic!("not a module line: {l}")
                };
                StackEntry {
                    args: crate::formats::pam::stack::args_map(&m.args),
                    raw_args: m.args,
                    kind: m.kind,
                    control: m.control,
                    module: m.module,
                    file: "/etc/pam.d/common-password".into(),
                    line: i + 1,
                }
            })
            .collect()
    }

    fn pwq(settings: serde_json::Value) -> Pwquality {
        let settings: BTreeMap<String, Value> = serde_json::from_value(settings).unwrap();
        Pwquality {
            files: vec![pwquality::MAIN.into()],
            set_in: settings
                .keys()
                .map(|k| (k.clone(), pwquality::MAIN.into()))
                .collect(),
            settings,
        }
    }

    fn derive_password(pwq: &Pwquality, lines: &[&str]) -> Result<Effective, CollectError> {
        let pam = Pam {
            password_stack: stack(lines),
            auth_stack: vec![],
        };
        derive(pwq, &FaillockConf::default(), &pam)
    }

    #[test]
    fn module_arguments_override_pwquality_conf() {
        let conf = pwq(json!({"minlen": 14, "dictcheck": 0, "minclass": 3}));
        let e = derive_password(
            &conf,
            &["password requisite pam_pwquality.so retry=3 minlen=16 enforce_for_root"],
        )
        .unwrap();
        assert_eq!(e.quality_module, Some("pam_pwquality"));
        assert_eq!((e.minlen, e.minclass, e.dictcheck), (16, 3, false));
        assert!(e.enforce_for_root && e.enforcing);
    }

    #[test]
    fn pwquality_defaults_apply_when_nothing_is_set() {
        let e = derive_password(
            &Pwquality::default(),
            &["password requisite pam_pwquality.so"],
        )
        .unwrap();
        assert_eq!(
            (e.minlen, e.minclass, e.dictcheck, e.enforce_for_root),
            (8, 0, true, false)
        );
        let low = derive_password(
            &pwq(json!({"minlen": 4, "enforcing": 0})),
            &["password requisite pam_pwquality.so"],
        )
        .unwrap();
        assert_eq!(low.minlen, 6);
        assert!(!low.enforcing);
    }

    #[test]
    fn cracklib_ignores_pwquality_conf_and_pam_unix_alone_means_six() {
        let conf = pwq(json!({"minlen": 20}));
        let e = derive_password(&conf, &["password required pam_cracklib.so retry=3"]).unwrap();
        assert_eq!(
            (e.quality_module, e.minlen, e.dictcheck),
            (Some("pam_cracklib"), 9, true)
        );
        let e = derive_password(
            &conf,
            &["password [success=1 default=ignore] pam_unix.so obscure sha512"],
        )
        .unwrap();
        assert_eq!((e.quality_module, e.minlen, e.dictcheck), (None, 6, false));
        assert_eq!(e.hash_method.as_deref(), Some("sha512"));
        let e = derive_password(
            &conf,
            &["password required pam_unix.so minlen=10 md5 yescrypt"],
        )
        .unwrap();
        assert_eq!(e.minlen, 10);
        assert_eq!(e.hash_method.as_deref(), Some("yescrypt"));
    }

    #[test]
    fn history_comes_from_pwhistory_then_pam_unix() {
        let e = derive_password(
            &Pwquality::default(),
            &[
                "password required pam_pwhistory.so use_authtok",
                "password required pam_unix.so remember=5",
            ],
        )
        .unwrap();
        assert_eq!((e.history_module, e.remember), (Some("pam_pwhistory"), 10));
        let e = derive_password(
            &Pwquality::default(),
            &["password required pam_unix.so remember=5"],
        )
        .unwrap();
        assert_eq!((e.history_module, e.remember), (Some("pam_unix"), 5));
        let e = derive_password(&Pwquality::default(), &["password required pam_unix.so"]).unwrap();
        assert_eq!(
            (e.history_module, e.remember, e.hash_method),
            (None, 0, None)
        );
    }

    #[test]
    fn faillock_args_on_the_authfail_line_override_faillock_conf() {
        let conf = FaillockConf {
            present: true,
            settings: serde_json::from_value(json!({"deny": 5, "unlock_time": 900})).unwrap(),
        };
        let auth = stack(&[
            "auth requisite pam_faillock.so preauth deny=9",
            "auth [success=1 default=ignore] pam_unix.so",
            "auth [default=die] pam_faillock.so authfail unlock_time=never",
        ]);
        let pam = Pam {
            password_stack: vec![],
            auth_stack: auth,
        };
        let e = derive(&Pwquality::default(), &conf, &pam).unwrap();
        assert_eq!(
            (e.lockout_module, e.lockout_deny, e.lockout_unlock_time),
            (Some("pam_faillock"), Some(5), Some(0))
        );
        let pam = Pam {
            password_stack: vec![],
            auth_stack: stack(&["auth required pam_faillock.so preauth"]),
        };
        let e = derive(&Pwquality::default(), &FaillockConf::default(), &pam).unwrap();
        assert_eq!(
            (e.lockout_deny, e.lockout_unlock_time),
            (Some(3), Some(600))
        );
        let pam = Pam {
            password_stack: vec![],
            auth_stack: stack(&["auth required pam_tally2.so deny=4 onerr=fail"]),
        };
        let e = derive(&Pwquality::default(), &conf, &pam).unwrap();
        assert_eq!(
            (e.lockout_module, e.lockout_deny, e.lockout_unlock_time),
            (Some("pam_tally2"), Some(4), None)
        );
    }

    #[test]
    fn a_word_for_a_number_in_a_module_argument_names_the_pam_line() {
        let err = derive_password(
            &Pwquality::default(),
            &[
                "password required pam_unix.so",
                "password requisite pam_pwquality.so minlen=abc",
            ],
        );
        // pam_pwquality is found first regardless of order; its bad argument is reported.
        let CollectError::Malformed { path, line, reason } = err.unwrap_err() else {
            panic!("expected Malformed")
        };
        assert_eq!((path.as_str(), line), ("/etc/pam.d/common-password", 2));
        assert!(reason.contains("minlen"), "{reason}");
    }
}
