//! The sudo policy in `/etc/sudoers` and what it includes (`@include`, `@includedir`
//! and their `#` forms), read the way sudo reads it: included directories in name
//! order, skipping names that contain `.` or end in `~`; relative include paths taken
//! from the including file's directory.
//!
//! Every user specification is reported with its users, hosts, run-as list, commands,
//! whether a password is waived (`NOPASSWD`, or `Defaults !authenticate`) and whether
//! it grants every command (`ALL`, directly or through a `Cmnd_Alias`). It must never
//! judge. A line sudo would refuse is a `Malformed` error with file and line.

use crate::{Artifact, CollectError, HostRoot};
use serde::Serialize;
use std::collections::BTreeMap;

pub const SUDOERS: &str = "/etc/sudoers";
/// sudo's include nesting limit.
const MAX_DEPTH: usize = 128;
/// Files one sudoers tree may read (includes and include directories together).
const MAX_FILES: usize = 256;
/// Members an alias may expand to, and user specifications one tree may hold.
const MAX_EXPANDED: usize = 4096;
const TAGS: [&str; 16] = [
    "NOPASSWD",
    "PASSWD",
    "NOEXEC",
    "EXEC",
    "SETENV",
    "NOSETENV",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "MAIL",
    "NOMAIL",
    "FOLLOW",
    "NOFOLLOW",
    "INTERCEPT",
    "NOINTERCEPT",
];

/// One user specification line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SudoRule {
    pub file: String,
    pub line: usize,
    /// Users as written (`%sudo` is a group, `ALL` everyone), with `User_Alias`es expanded.
    pub users: Vec<String>,
    pub hosts: Vec<String>,
    /// The run-as part without parentheses (`ALL:ALL`), or null.
    pub runas: Option<String>,
    pub commands: Vec<String>,
    /// A password is not asked for at least one command of the line.
    pub nopasswd: bool,
    /// The line grants every command.
    pub all_commands: bool,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Sudoers {
    pub present: bool,
    pub files: Vec<String>,
    pub defaults: Vec<String>,
    /// `Defaults !authenticate` (for everyone) is set: sudo asks no password at all.
    pub authenticate_disabled: bool,
    pub rules: Vec<SudoRule>,
}

pub fn read(root: &HostRoot, artifacts: &mut Vec<Artifact>) -> Result<Sudoers, CollectError> {
    let Some(text) = root.read_text(SUDOERS)? else {
        artifacts.push(Artifact::absent(SUDOERS));
        return Ok(Sudoers::default());
    };
    parse_text(root, &text, artifacts)
}

/// The sudo policy from the text of `/etc/sudoers`; includes are read through `root`.
pub(crate) fn parse_text(
    root: &HostRoot,
    text: &str,
    artifacts: &mut Vec<Artifact>,
) -> Result<Sudoers, CollectError> {
    let mut out = Sudoers {
        present: true,
        ..Sudoers::default()
    };
    let mut state = State::default();
    parse(root, SUDOERS, text, 0, artifacts, &mut out, &mut state)?;
    let expand = |list: &[String]| -> Result<Vec<String>, CollectError> {
        let mut out = Vec::new();
        for u in list {
            expand_alias(u, &state.users, &mut Vec::new(), &mut out)?;
        }
        Ok(out)
    };
    let no_auth = expand(&state.no_auth_users)?;
    for rule in &mut out.rules {
        rule.users = expand(&rule.users)?;
        if rule.users.iter().any(|u| no_auth.contains(u)) {
            rule.nopasswd = true;
        }
        let mut commands = Vec::new();
        for c in &rule.commands {
            expand_alias(c, &state.commands, &mut Vec::new(), &mut commands)?;
        }
        rule.all_commands = commands.iter().any(|c| c == "ALL");
        if out.authenticate_disabled {
            rule.nopasswd = true;
        }
    }
    Ok(out)
}

/// An alias definition: its members and where it was defined.
struct Alias {
    members: Vec<String>,
    file: String,
    line: usize,
}

#[derive(Default)]
struct State {
    users: BTreeMap<String, Alias>,
    commands: BTreeMap<String, Alias>,
    /// Files read so far in this tree (the fan-out bound).
    files: usize,
    /// Users (or aliases) named in `Defaults:USERS !authenticate`.
    no_auth_users: Vec<String>,
}

/// Expand `name` through `aliases` into `out` (members that are not aliases, each
/// once). `chain` is the aliases being expanded; an alias reached again through itself
/// is a cycle, which sudo refuses ("cycle in alias"), and an error here, never a spin.
fn expand_alias(
    name: &str,
    aliases: &BTreeMap<String, Alias>,
    chain: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), CollectError> {
    let (negated, bare) = match name.strip_prefix('!') {
        Some(b) => ("!", b.trim_start()),
        None => ("", name),
    };
    let Some(alias) = aliases.get(bare) else {
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
        return Ok(());
    };
    if chain.iter().any(|c| c == bare) {
        chain.push(bare.to_string());
        return Err(CollectError::Malformed {
            path: alias.file.clone(),
            line: alias.line,
            reason: format!(
                "alias cycle: {} (sudo refuses a cycle in an alias)",
                chain.join(" -> ")
            ),
        });
    }
    if out.len() > MAX_EXPANDED {
        return Err(CollectError::Malformed {
            path: alias.file.clone(),
            line: alias.line,
            reason: format!("aliases expand to more than {MAX_EXPANDED} members"),
        });
    }
    chain.push(bare.to_string());
    for member in &alias.members {
        // `!ALIAS` keeps its negation on what it expands to only for plain names; a
        // negated `ALL` never grants all.
        if negated.is_empty() {
            expand_alias(member, aliases, chain, out)?;
        } else if !out.iter().any(|o| o == &format!("!{member}")) {
            out.push(format!("!{member}"));
        }
    }
    chain.pop();
    Ok(())
}

fn parse(
    root: &HostRoot,
    path: &str,
    text: &str,
    depth: usize,
    artifacts: &mut Vec<Artifact>,
    out: &mut Sudoers,
    state: &mut State,
) -> Result<(), CollectError> {
    state.files += 1;
    if state.files > MAX_FILES {
        return Err(CollectError::Malformed {
            path: path.to_string(),
            line: 0,
            reason: format!(
                "more than {MAX_FILES} files included in one sudoers tree (an include tree that grows without end?)"
            ),
        });
    }
    out.files.push(path.to_string());
    artifacts.push(Artifact::file(path, text.as_bytes()));
    let dir = path.rsplit_once('/').map_or("/etc", |(d, _)| d).to_string();
    for (line, content) in logical_lines(text) {
        let malformed = |reason: String| CollectError::Malformed {
            path: path.to_string(),
            line,
            reason,
        };
        let mut words = content.splitn(2, char::is_whitespace);
        let first = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        match first {
            "@include" | "#include" | "@includedir" | "#includedir" => {
                if depth + 1 > MAX_DEPTH {
                    return Err(malformed(
                        "includes nested too deep (an include loop?)".into(),
                    ));
                }
                if rest.is_empty() {
                    return Err(malformed(format!("`{first}` without a path")));
                }
                let target = if rest.starts_with('/') {
                    rest.to_string()
                } else {
                    format!("{dir}/{rest}")
                };
                if first.ends_with("dir") {
                    let Some(names) = root.list_dir(&target)? else {
                        continue;
                    };
                    for name in names {
                        if name.contains('.') || name.ends_with('~') {
                            continue;
                        }
                        let file = format!("{}/{name}", target.trim_end_matches('/'));
                        if root.metadata(&file)?.is_some_and(|m| m.is_dir()) {
                            continue;
                        }
                        if let Some(t) = root.read_text(&file)? {
                            parse(root, &file, &t, depth + 1, artifacts, out, state)?;
                        }
                    }
                } else if let Some(t) = root.read_text(&target)? {
                    parse(root, &target, &t, depth + 1, artifacts, out, state)?;
                } else {
                    return Err(malformed(format!("included file {target} does not exist")));
                }
            }
            f if f.starts_with("Defaults") => {
                out.defaults.push(content.clone());
                let no_auth = rest.split(',').any(|d| d.trim() == "!authenticate");
                if f == "Defaults" && no_auth {
                    out.authenticate_disabled = true;
                } else if let (Some(users), true) = (f.strip_prefix("Defaults:"), no_auth) {
                    // `Defaults:alice,%ops !authenticate`: no password for those users.
                    state
                        .no_auth_users
                        .extend(users.split(',').map(|u| u.trim().to_string()));
                }
            }
            "User_Alias" | "Cmnd_Alias" | "Cmd_Alias" | "Host_Alias" | "Runas_Alias" => {
                for def in rest.split(':') {
                    let Some((name, list)) = def.split_once('=') else {
                        return Err(malformed(format!("`{first}` without `NAME = list`")));
                    };
                    let list: Vec<String> = list
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    let name = name.trim().to_string();
                    let alias = Alias {
                        members: list,
                        file: path.to_string(),
                        line,
                    };
                    match first {
                        "User_Alias" => {
                            state.users.insert(name, alias);
                        }
                        "Cmnd_Alias" | "Cmd_Alias" => {
                            state.commands.insert(name, alias);
                        }
                        _ => {}
                    }
                }
            }
            _ if out.rules.len() >= MAX_EXPANDED => {
                return Err(malformed(format!(
                    "more than {MAX_EXPANDED} user specifications in one sudoers tree"
                )));
            }
            _ => out
                .rules
                .push(user_spec(path, line, &content).map_err(malformed)?),
        }
    }
    Ok(())
}

/// Lines with `\` continuations joined and comments removed; `#include` lines and
/// `#123` UIDs are not comments.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    crate::formats::text::continued_lines(text, |raw| {
        let trimmed = raw.trim();
        if trimmed.starts_with("#include ") || trimmed.starts_with("#includedir ") {
            trimmed.to_string()
        } else {
            strip_comment(trimmed)
        }
    })
}

/// Remove a `#` comment; a `#` followed by a digit is a UID, not a comment.
fn strip_comment(line: &str) -> String {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && !bytes.get(i + 1).is_some_and(|n| n.is_ascii_digit()) {
            return line[..i].trim_end().to_string();
        }
    }
    line.to_string()
}

/// `users hosts = (runas) TAGS: commands`.
fn user_spec(path: &str, line: usize, content: &str) -> Result<SudoRule, String> {
    let Some((left, right)) = content.split_once('=') else {
        return Err(format!(
            "not a sudoers line sudo understands (expected `users hosts = commands`), starting with {}",
            crate::formats::text::quoted_keyword(content.split_whitespace().next().unwrap_or(""))
        ));
    };
    let left = collapse_commas(left);
    let parts: Vec<&str> = left.split_whitespace().collect();
    if parts.len() != 2 {
        return Err(format!(
            "expected a user list and a host list before `=`, found {} words",
            parts.len()
        ));
    }
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut runas = None;
    let mut nopasswd = false;
    let mut passwd_off = false;
    let mut commands = Vec::new();
    for piece in right.split(',') {
        let mut rest = piece.trim();
        if let Some(r) = rest.strip_prefix('(') {
            let Some((inner, after)) = r.split_once(')') else {
                return Err("unclosed `(` in the run-as list".into());
            };
            runas = Some(inner.trim().to_string());
            rest = after.trim();
        }
        // Tags (`NOPASSWD:`) and options (`TIMEOUT=...`) before the command.
        loop {
            if let Some((tag, after)) = rest.split_once(':') {
                if TAGS.contains(&tag.trim()) {
                    match tag.trim() {
                        "NOPASSWD" => passwd_off = true,
                        "PASSWD" => passwd_off = false,
                        _ => {}
                    }
                    rest = after.trim();
                    continue;
                }
            }
            break;
        }
        if rest.is_empty() {
            return Err("a command list entry is empty".into());
        }
        nopasswd |= passwd_off;
        commands.push(rest.to_string());
    }
    Ok(SudoRule {
        file: path.to_string(),
        line,
        users: split(parts[0]),
        hosts: split(parts[1]),
        runas,
        commands,
        nopasswd,
        all_commands: false,
    })
}

fn collapse_commas(s: &str) -> String {
    let mut out = String::new();
    for piece in s.split(',') {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(piece.trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::tree;

    #[test]
    fn debian_layout_includedir_skips_dotted_names_and_aliases_expand() {
        let dir = tree(&[
            (
                SUDOERS,
                "Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n%sudo   ALL=(ALL:ALL) ALL # admins\n@includedir /etc/sudoers.d\n",
            ),
            ("/etc/sudoers.d/README", "# only comments\n"),
            (
                "/etc/sudoers.d/deploy",
                "Cmnd_Alias EVERYTHING = /bin/ls, ALL\nUser_Alias OPS = alice, bob\nOPS ALL = (root) NOPASSWD: /usr/bin/systemctl restart app, \\\n   PASSWD: EVERYTHING\n",
            ),
            ("/etc/sudoers.d/disabled.conf", "ALL ALL=(ALL) NOPASSWD: ALL\n"),
            ("/etc/sudoers.d/backup~", "ALL ALL=(ALL) NOPASSWD: ALL\n"),
        ]);
        let s = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert_eq!(
            s.files,
            vec![SUDOERS, "/etc/sudoers.d/README", "/etc/sudoers.d/deploy"]
        );
        assert_eq!(s.rules.len(), 3);
        let r = &s.rules[2];
        assert_eq!(r.users, vec!["alice", "bob"]);
        assert_eq!(r.line, 3);
        assert!(r.nopasswd && r.all_commands);
        assert_eq!(r.runas.as_deref(), Some("root"));
        assert_eq!(s.rules[1].users, vec!["%sudo"]);
        assert!(!s.rules[1].nopasswd && s.rules[1].all_commands);
    }

    #[test]
    fn authenticate_off_and_malformed_lines() {
        let dir = tree(&[(
            SUDOERS,
            "Defaults !authenticate\n%adm ALL=/bin/journalctl\n",
        )]);
        let s = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert!(s.authenticate_disabled && s.rules[0].nopasswd && !s.rules[0].all_commands);
        let dir = tree(&[(
            SUDOERS,
            "User_Alias OPS = alice\nDefaults:OPS !authenticate\nalice ALL=(ALL) ALL\nbob ALL=(ALL) ALL\n",
        )]);
        let s = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap();
        assert!(!s.authenticate_disabled);
        assert_eq!((s.rules[0].nopasswd, s.rules[1].nopasswd), (true, false));
        let dir = tree(&[(SUDOERS, "# x\nalice bob carol ALL\n")]);
        let e = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().starts_with("/etc/sudoers:2:"), "{e}");
        let dir = tree(&[(SUDOERS, "@include sudoers\n")]);
        let e = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("too deep"), "{e}");
    }
}
