//! The OpenSSH server configuration, read the way sshd reads it: `Include` with globs
//! (relative paths are relative to `/etc/ssh`), keywords case-insensitive, the first
//! value of a keyword wins, `Match` blocks kept apart, and sshd's compiled-in defaults
//! (Debian 12, OpenSSH 9.2p1) for keywords that are absent.
//!
//! Shared by the `ssh` and `session_timeout` collectors so that both read one parse.
//! It must never judge, and never read host keys (only names appear here). Anything
//! sshd itself would refuse (an unknown keyword, a missing or invalid value, an
//! unterminated quote, includes nested too deep) is a `Malformed` error naming the file
//! and line, because a config sshd refuses is not a config that is in force.

use crate::{Artifact, CollectError, HostRoot};
use std::collections::BTreeMap;

/// The main server configuration.
pub const MAIN: &str = "/etc/ssh/sshd_config";
/// The directory relative `Include` paths are taken from (sshd's compiled-in SSHDIR).
pub const SSH_DIR: &str = "/etc/ssh";
/// sshd's include nesting limit (READCONF_MAX_DEPTH).
const MAX_DEPTH: usize = 16;
/// Files one configuration tree may read, includes counted each time they are read.
/// sshd has no such limit, but real configurations read a handful; a tree past this
/// (3 includes per file, 15 deep is 14 million reads) is an error, not a day's work.
pub const MAX_FILES: usize = 256;

/// One `keyword arguments...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The keyword, lower-cased (aliases folded to the name sshd -T prints).
    pub keyword: String,
    /// The arguments, quotes removed.
    pub args: Vec<String>,
    /// The host path of the file the line is in.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

/// A `Match` block: its criteria and the directives that apply when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchBlock {
    /// The criteria as written after `Match` (`User backup`, `Address 10.0.0.0/8`).
    pub criteria: String,
    pub file: String,
    pub line: usize,
    pub directives: Vec<Directive>,
}

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshdConfig {
    /// Every file read, in the order sshd reads them.
    pub files: Vec<String>,
    /// Directives outside any `Match` block, in reading order.
    pub global: Vec<Directive>,
    /// `Match` blocks, in reading order.
    pub matches: Vec<MatchBlock>,
}

/// Read `/etc/ssh/sshd_config` and everything it includes. `Ok(None)` when the main file
/// does not exist (sshd is not installed). Every file read becomes an artifact.
pub fn read(
    root: &HostRoot,
    artifacts: &mut Vec<Artifact>,
) -> Result<Option<SshdConfig>, CollectError> {
    let Some(text) = root.read_text(MAIN)? else {
        artifacts.push(Artifact::absent(MAIN));
        return Ok(None);
    };
    let mut config = SshdConfig::default();
    let mut reader = Reader {
        root,
        artifacts,
        config: &mut config,
    };
    reader.parse(MAIN, &text, None, 0)?;
    Ok(Some(config))
}

/// Parse a configuration given as text (tests and `sshd -T` comparisons).
pub fn parse_text(root: &HostRoot, path: &str, text: &str) -> Result<SshdConfig, CollectError> {
    let mut config = SshdConfig::default();
    let mut artifacts = Vec::new();
    Reader {
        root,
        artifacts: &mut artifacts,
        config: &mut config,
    }
    .parse(path, text, None, 0)?;
    Ok(config)
}

struct Reader<'a> {
    root: &'a HostRoot,
    artifacts: &'a mut Vec<Artifact>,
    config: &'a mut SshdConfig,
}

impl Reader<'_> {
    /// Parse one file. `block` is the `Match` block the file was included from.
    fn parse(
        &mut self,
        path: &str,
        text: &str,
        block: Option<usize>,
        depth: usize,
    ) -> Result<(), CollectError> {
        if self.config.files.len() >= MAX_FILES {
            return Err(CollectError::Malformed {
                path: path.to_string(),
                line: 0,
                reason: format!(
                    "more than {MAX_FILES} files read for one sshd configuration (an include tree that grows without end?)"
                ),
            });
        }
        self.config.files.push(path.to_string());
        self.artifacts.push(Artifact::file(path, text.as_bytes()));
        let mut current = block;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let malformed = |reason: String| CollectError::Malformed {
                path: path.to_string(),
                line,
                reason,
            };
            let Some((keyword, rest)) = split_keyword(raw) else {
                continue;
            };
            let keyword = keyword.to_ascii_lowercase();
            let args = tokenize(rest).map_err(&malformed)?;
            if keyword == "match" {
                if args.is_empty() {
                    return Err(malformed("`Match` without criteria".into()));
                }
                self.config.matches.push(MatchBlock {
                    criteria: args.join(" "),
                    file: path.to_string(),
                    line,
                    directives: Vec::new(),
                });
                current = Some(self.config.matches.len() - 1);
                continue;
            }
            let Some(canonical) = canonical_keyword(&keyword) else {
                return Err(malformed(format!(
                    "unknown keyword {} (sshd refuses to start with it: \"Bad configuration option\")",
                    super::text::quoted_keyword(
                        raw.split(|c: char| c.is_whitespace() || c == '=')
                            .find(|s| !s.is_empty())
                            .unwrap_or(&keyword)
                    )
                )));
            };
            if args.is_empty() {
                return Err(malformed(format!("`{canonical}` without a value")));
            }
            if canonical == "include" {
                if depth + 1 > MAX_DEPTH {
                    return Err(malformed(format!(
                        "includes nested deeper than {MAX_DEPTH} (an include loop?)"
                    )));
                }
                for pattern in &args {
                    let pattern = if pattern.starts_with('/') {
                        pattern.clone()
                    } else {
                        format!("{SSH_DIR}/{pattern}")
                    };
                    let paths = if pattern.contains(['*', '?', '[']) {
                        self.root.glob(&pattern)?
                    } else {
                        vec![pattern]
                    };
                    for included in paths {
                        // A literal path that does not exist is skipped, as sshd does.
                        if let Some(text) = self.root.read_text(&included)? {
                            self.parse(&included, &text, current, depth + 1)?;
                        }
                    }
                }
                continue;
            }
            let directive = Directive {
                keyword: canonical.to_string(),
                args,
                file: path.to_string(),
                line,
            };
            check_value(&directive).map_err(&malformed)?;
            match current {
                Some(b) => self.config.matches[b].directives.push(directive),
                None => self.config.global.push(directive),
            }
        }
        Ok(())
    }
}

/// Split a line into keyword and the rest: comments and blank lines give `None`; the
/// keyword ends at whitespace or `=`, and one `=` may separate it from the value.
fn split_keyword(raw: &str) -> Option<(&str, &str)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    Some((&line[..end], rest))
}

/// Split arguments as sshd's argv_split does: whitespace separates, double or single
/// quotes group (a backslash escapes a quote or backslash), and a token that starts
/// with `#` begins a comment.
fn tokenize(rest: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            break;
        }
        let mut token = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match quote {
                None if c.is_whitespace() => break,
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    chars.next();
                }
                Some(q) if c == q => {
                    quote = None;
                    chars.next();
                }
                _ if c == '\\' => {
                    chars.next();
                    match chars.peek() {
                        Some(&n) if n == '"' || n == '\'' || n == '\\' => {
                            token.push(n);
                            chars.next();
                        }
                        _ => token.push('\\'),
                    }
                }
                _ => {
                    token.push(c);
                    chars.next();
                }
            }
        }
        if quote.is_some() {
            return Err("unterminated quoted string".into());
        }
        out.push(token);
    }
    Ok(out)
}

/// sshd_config keywords OpenSSH 9.2 (with Debian's patches) accepts, lower-cased,
/// with the deprecated ones it still tolerates. Aliases map to their canonical name.
fn canonical_keyword(keyword: &str) -> Option<&'static str> {
    const ALIASES: [(&str, &str); 5] = [
        (
            "challengeresponseauthentication",
            "kbdinteractiveauthentication",
        ),
        ("pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms"),
        ("hostbasedacceptedkeytypes", "hostbasedacceptedalgorithms"),
        ("dsaauthentication", "pubkeyauthentication"),
        ("skeyauthentication", "kbdinteractiveauthentication"),
    ];
    const KEYWORDS: &[&str] = &[
        "acceptenv",
        "addressfamily",
        "allowagentforwarding",
        "allowgroups",
        "allowstreamlocalforwarding",
        "allowtcpforwarding",
        "allowusers",
        "authenticationmethods",
        "authorizedkeyscommand",
        "authorizedkeyscommanduser",
        "authorizedkeysfile",
        "authorizedkeysfile2",
        "authorizedprincipalscommand",
        "authorizedprincipalscommanduser",
        "authorizedprincipalsfile",
        "banner",
        "casignaturealgorithms",
        "chrootdirectory",
        "ciphers",
        "clientalivecountmax",
        "clientaliveinterval",
        "compression",
        "debianbanner",
        "denygroups",
        "denyusers",
        "disableforwarding",
        "exposeauthinfo",
        "fingerprinthash",
        "forcecommand",
        "gatewayports",
        "gssapiauthentication",
        "gssapicleanupcredentials",
        "gssapikeyexchange",
        "gssapikexalgorithms",
        "gssapistorecredentialsonrekey",
        "gssapistrictacceptorcheck",
        "hostbasedacceptedalgorithms",
        "hostbasedauthentication",
        "hostbasedusesnamefrompacketonly",
        "hostcertificate",
        "hostkey",
        "hostkeyagent",
        "hostkeyalgorithms",
        "ignorerhosts",
        "ignoreuserknownhosts",
        "include",
        "ipqos",
        "kbdinteractiveauthentication",
        "kerberosauthentication",
        "kerberosgetafstoken",
        "kerberosorlocalpasswd",
        "kerberosticketcleanup",
        "kexalgorithms",
        "listenaddress",
        "logingracetime",
        "loglevel",
        "logverbose",
        "macs",
        "maxauthtries",
        "maxsessions",
        "maxstartups",
        "modulifile",
        "passwordauthentication",
        "permitemptypasswords",
        "permitlisten",
        "permitopen",
        "permitrootlogin",
        "permittty",
        "permittunnel",
        "permituserenvironment",
        "permituserrc",
        "persourcemaxstartups",
        "persourcenetblocksize",
        "pidfile",
        "port",
        "printlastlog",
        "printmotd",
        "pubkeyacceptedalgorithms",
        "pubkeyauthentication",
        "pubkeyauthoptions",
        "rekeylimit",
        "requiredrsasize",
        "revokedkeys",
        "rdomain",
        "securitykeyprovider",
        "setenv",
        "streamlocalbindmask",
        "streamlocalbindunlink",
        "strictmodes",
        "subsystem",
        "syslogfacility",
        "tcpkeepalive",
        "trustedusercakeys",
        "unusedconnectiontimeout",
        "usedns",
        "usepam",
        "versionaddendum",
        "x11displayoffset",
        "x11forwarding",
        "x11uselocalhost",
        "xauthlocation",
        // Deprecated or unsupported, which sshd accepts with a warning.
        "afstokenpassing",
        "keyregenerationinterval",
        "protocol",
        "rhostsrsaauthentication",
        "rsaauthentication",
        "serverkeybits",
        "useprivilegeseparation",
        "uselogin",
        "usedns",
        "showpatchlevel",
        "useprivilegedport",
        "kerberostgtpassing",
        "rhostsauthentication",
        "verifyreversemapping",
        "reversemappingcheck",
    ];
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == keyword) {
        return Some(to);
    }
    KEYWORDS.iter().find(|k| **k == keyword).copied()
}

/// Reject values sshd rejects, for the keywords whose values attestd interprets.
fn check_value(d: &Directive) -> Result<(), String> {
    let v = d.args[0].as_str();
    match d.keyword.as_str() {
        "permitrootlogin" => permit_root_login(v).map(|_| ()),
        "passwordauthentication"
        | "kbdinteractiveauthentication"
        | "pubkeyauthentication"
        | "permitemptypasswords"
        | "x11forwarding"
        | "usepam" => yes_no(v)
            .map(|_| ())
            .map_err(|e| format!("`{}`: {e}", d.keyword)),
        "maxauthtries" | "clientalivecountmax" => v
            .parse::<u32>()
            .map(|_| ())
            .map_err(|_| format!("`{}` needs a whole number", d.keyword)),
        "logingracetime" | "clientaliveinterval" => time_seconds(v)
            .map(|_| ())
            .map_err(|e| format!("`{}`: {e}", d.keyword)),
        "loglevel" => log_level(v).map(|_| ()),
        _ => Ok(()),
    }
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("expected yes or no".to_string()),
    }
}

/// `PermitRootLogin`, with `without-password` read as its newer name.
fn permit_root_login(v: &str) -> Result<&'static str, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok("yes"),
        "no" => Ok("no"),
        "prohibit-password" | "without-password" => Ok("prohibit-password"),
        "forced-commands-only" => Ok("forced-commands-only"),
        _ => Err(
            "`permitrootlogin` must be yes, prohibit-password, forced-commands-only or no".into(),
        ),
    }
}

fn log_level(v: &str) -> Result<&'static str, String> {
    const LEVELS: [&str; 9] = [
        "QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3",
    ];
    let up = v.to_ascii_uppercase();
    match LEVELS.iter().find(|l| **l == up) {
        // DEBUG and DEBUG1 are the same level; sshd -T calls it DEBUG.
        Some(&"DEBUG1") => Ok("DEBUG"),
        // sshd accepts SILENT for QUIET (and prints SILENT in `sshd -T`).
        None if up == "SILENT" => Ok("QUIET"),
        Some(l) => Ok(l),
        None => Err(format!(
            "unknown `loglevel` (expected one of {})",
            LEVELS.join(", ")
        )),
    }
}

/// sshd's time format: a number of seconds, or numbers with `s`, `m`, `h`, `d`, `w`
/// suffixes added up (`1h30m`).
pub fn time_seconds(v: &str) -> Result<u64, String> {
    let bad = || "not a time (seconds, or like 1h30m)".to_string();
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return Err(bad()),
        };
        // Checked: `11111111111111111055d` overflows u64 (found by the sshd_config fuzz
        // target); unchecked it panics in debug builds and wraps to a wrong, possibly
        // passing, value in release builds.
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        total = total
            .checked_add(digits.parse::<u64>().map_err(|_| bad())?)
            .ok_or_else(bad)?;
    } else if v.is_empty() || v.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(total)
}

/// Compiled-in defaults of OpenSSH 9.2p1 as Debian 12 builds it (`sshd -T` with an
/// empty config).
pub const DEFAULT_CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
pub const DEFAULT_MACS: &str = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
pub const DEFAULT_KEX: &str = "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";

/// The values attestd reports, after defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub permit_root_login: String,
    pub password_authentication: bool,
    pub kbd_interactive_authentication: bool,
    pub pubkey_authentication: bool,
    /// `None` for `any` (the default): one method suffices.
    pub authentication_methods: Option<Vec<Vec<String>>>,
    pub max_auth_tries: u32,
    pub login_grace_time: u64,
    pub permit_empty_passwords: bool,
    pub x11_forwarding: bool,
    pub use_pam: bool,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
    pub kex_algorithms: Vec<String>,
    pub log_level: String,
    pub client_alive_interval: u64,
    pub client_alive_count_max: u32,
    /// For each keyword above (lower-case sshd name), `file:line` that set it; absent
    /// keywords are at their default.
    pub set_in: BTreeMap<String, String>,
}

impl SshdConfig {
    /// The first global directive for a keyword.
    pub fn first(&self, keyword: &str) -> Option<&Directive> {
        self.global.iter().find(|d| d.keyword == keyword)
    }

    /// The effective global values: first occurrence wins, defaults fill the rest.
    pub fn effective(&self) -> Result<Effective, CollectError> {
        let mut set_in = BTreeMap::new();
        let mut get = |k: &str| {
            let d = self.first(k);
            if let Some(d) = d {
                set_in.insert(k.to_string(), format!("{}:{}", d.file, d.line));
            }
            d
        };
        let flag =
            |d: Option<&Directive>, default: bool| d.map_or(Ok(default), |d| yes_no(&d.args[0]));
        let err = |d: Option<&Directive>, reason: String| CollectError::Malformed {
            path: d.map(|d| d.file.clone()).unwrap_or_else(|| MAIN.into()),
            line: d.map_or(0, |d| d.line),
            reason,
        };
        let d = get("permitrootlogin");
        let permit_root_login = d
            .map_or(Ok("prohibit-password"), |d| permit_root_login(&d.args[0]))
            .map_err(|e| err(d, e))?
            .to_string();
        let d = get("passwordauthentication");
        let password_authentication = flag(d, true).map_err(|e| err(d, e))?;
        let d = get("kbdinteractiveauthentication");
        let kbd_interactive_authentication = flag(d, true).map_err(|e| err(d, e))?;
        let d = get("pubkeyauthentication");
        let pubkey_authentication = flag(d, true).map_err(|e| err(d, e))?;
        let d = get("permitemptypasswords");
        let permit_empty_passwords = flag(d, false).map_err(|e| err(d, e))?;
        let d = get("x11forwarding");
        let x11_forwarding = flag(d, false).map_err(|e| err(d, e))?;
        let d = get("usepam");
        let use_pam = flag(d, false).map_err(|e| err(d, e))?;
        let d = get("authenticationmethods");
        let authentication_methods = match d {
            None => None,
            Some(d) if d.args.len() == 1 && d.args[0].eq_ignore_ascii_case("any") => None,
            Some(d) => Some(
                d.args
                    .iter()
                    .map(|list| list.split(',').map(str::to_string).collect())
                    .collect(),
            ),
        };
        let d = get("maxauthtries");
        let max_auth_tries = d.map_or(Ok(6), |d| {
            d.args[0]
                .parse()
                .map_err(|_| err(Some(d), "`maxauthtries` needs a whole number".into()))
        })?;
        let d = get("logingracetime");
        let login_grace_time = d
            .map_or(Ok(120), |d| time_seconds(&d.args[0]))
            .map_err(|e| err(d, e))?;
        let d = get("clientaliveinterval");
        let client_alive_interval = d
            .map_or(Ok(0), |d| time_seconds(&d.args[0]))
            .map_err(|e| err(d, e))?;
        let d = get("clientalivecountmax");
        let client_alive_count_max = d.map_or(Ok(3), |d| {
            d.args[0]
                .parse()
                .map_err(|_| err(Some(d), "`clientalivecountmax` needs a whole number".into()))
        })?;
        let d = get("loglevel");
        let log_level = d
            .map_or(Ok("INFO"), |d| log_level(&d.args[0]))
            .map_err(|e| err(d, e))?
            .to_string();
        let d = get("ciphers");
        let ciphers = algorithm_list(DEFAULT_CIPHERS, d).map_err(|e| err(d, e))?;
        let d = get("macs");
        let macs = algorithm_list(DEFAULT_MACS, d).map_err(|e| err(d, e))?;
        let d = get("kexalgorithms");
        let kex_algorithms = algorithm_list(DEFAULT_KEX, d).map_err(|e| err(d, e))?;
        if let Some(lists) = &authentication_methods {
            let lists: &Vec<Vec<String>> = lists;
            let d = self.first("authenticationmethods");
            let enabled_flag = |k: &str| {
                self.first(k)
                    .is_some_and(|d| yes_no(&d.args[0]) == Ok(true))
            };
            let mut satisfiable = false;
            for list in lists {
                let mut ok = true;
                for method in list {
                    let enabled = match method.split(':').next().unwrap_or("") {
                        "publickey" => pubkey_authentication,
                        "password" => password_authentication,
                        "keyboard-interactive" => kbd_interactive_authentication,
                        "hostbased" => enabled_flag("hostbasedauthentication"),
                        "gssapi-with-mic" => enabled_flag("gssapiauthentication"),
                        _ => {
                            return Err(err(
                                d,
                                format!(
                                    "unknown authentication method {} in AuthenticationMethods",
                                    super::text::quoted_keyword(method)
                                ),
                            ));
                        }
                    };
                    ok &= enabled;
                }
                satisfiable |= ok;
            }
            if !satisfiable {
                return Err(err(d, "AuthenticationMethods cannot be satisfied by the enabled authentication methods (sshd refuses to start)".into()));
            }
        }
        Ok(Effective {
            permit_root_login,
            password_authentication,
            kbd_interactive_authentication,
            pubkey_authentication,
            authentication_methods,
            max_auth_tries,
            login_grace_time,
            permit_empty_passwords,
            x11_forwarding,
            use_pam,
            ciphers,
            macs,
            kex_algorithms,
            log_level,
            client_alive_interval,
            client_alive_count_max,
            set_in,
        })
    }
}

/// An algorithm list after sshd's modifiers: `+` appends, `-` removes (patterns
/// allowed), `^` puts first; otherwise the list replaces the default.
fn algorithm_list(default: &str, d: Option<&Directive>) -> Result<Vec<String>, String> {
    let defaults: Vec<String> = default.split(',').map(str::to_string).collect();
    let Some(d) = d else { return Ok(defaults) };
    let value = d.args[0].as_str();
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let list = if let Some(add) = value.strip_prefix('+') {
        let mut out = defaults;
        for a in split(add) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    } else if let Some(remove) = value.strip_prefix('-') {
        let patterns = split(remove);
        defaults
            .into_iter()
            .filter(|a| !patterns.iter().any(|p| wildcard_match(p, a)))
            .collect()
    } else if let Some(first) = value.strip_prefix('^') {
        let mut out = split(first);
        for a in defaults {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    } else {
        split(value)
    };
    if list.is_empty() {
        return Err(format!("`{}` leaves no algorithm", d.keyword));
    }
    Ok(list)
}

/// `*` and `?` patterns as OpenSSH's match_pattern uses them.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::tree;

    #[test]
    fn includes_first_value_wins_and_match_blocks_apart() {
        let dir = tree(&[
            (
                MAIN,
                "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nMaxAuthTries 3\nMatch User backup\n  PasswordAuthentication yes\nInclude extra/m.conf\n",
            ),
            ("/etc/ssh/sshd_config.d/10-a.conf", "permitrootlogin=no\n"),
            ("/etc/ssh/sshd_config.d/20-b.conf", "PermitRootLogin yes\nLoginGraceTime 1m30s\n"),
            ("/etc/ssh/extra/m.conf", "X11Forwarding yes\n"),
        ]);
        let mut artifacts = Vec::new();
        let c = read(&HostRoot::new(dir.path()), &mut artifacts)
            .unwrap()
            .unwrap();
        assert_eq!(
            c.files,
            vec![
                MAIN,
                "/etc/ssh/sshd_config.d/10-a.conf",
                "/etc/ssh/sshd_config.d/20-b.conf",
                "/etc/ssh/extra/m.conf"
            ]
        );
        let e = c.effective().unwrap();
        assert_eq!(e.permit_root_login, "no");
        assert_eq!(
            e.set_in["permitrootlogin"],
            "/etc/ssh/sshd_config.d/10-a.conf:1"
        );
        assert_eq!((e.max_auth_tries, e.login_grace_time), (3, 90));
        assert!(!e.x11_forwarding, "X11Forwarding is inside the Match block");
        assert_eq!(c.matches.len(), 1);
        assert_eq!(c.matches[0].criteria, "User backup");
        assert_eq!(c.matches[0].directives.len(), 2);
        assert_eq!(artifacts.len(), 4);
    }

    #[test]
    fn algorithm_modifiers_and_wildcards() {
        let d = |v: &str| Directive {
            keyword: "macs".into(),
            args: vec![v.into()],
            file: MAIN.into(),
            line: 1,
        };
        let minus = algorithm_list(DEFAULT_MACS, Some(&d("-*sha1*,umac-64*"))).unwrap();
        assert!(minus
            .iter()
            .all(|m| !m.contains("sha1") && !m.starts_with("umac-64")));
        assert!(minus.contains(&"hmac-sha2-256".to_string()));
        let plus = algorithm_list(DEFAULT_MACS, Some(&d("+hmac-md5"))).unwrap();
        assert_eq!(plus.last().unwrap(), "hmac-md5");
        let caret = algorithm_list(DEFAULT_MACS, Some(&d("^hmac-sha2-512"))).unwrap();
        assert_eq!(caret[0], "hmac-sha2-512");
        assert_eq!(caret.len(), DEFAULT_MACS.split(',').count());
        assert!(algorithm_list(DEFAULT_MACS, Some(&d("-*"))).is_err());
    }

    #[test]
    fn values_sshd_refuses_are_errors_with_file_and_line() {
        for (text, needle) in [
            ("MaxAuthTries many\n", "maxauthtries"),
            ("PermitRootLogin maybe\n", "permitrootlogin"),
            ("LoginGraceTime 2x\n", "not a time"),
            ("Banner \"unterminated\n", "unterminated"),
            ("NoSuchKeyword yes\n", "NoSuchKeyword"),
            ("PasswordAuthentication\n", "without a value"),
        ] {
            let dir = tree(&[("/etc/ssh/x", ""), (MAIN, &format!("# c\n{text}"))]);
            let err = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
            let s = err.to_string();
            assert!(
                s.starts_with("/etc/ssh/sshd_config:2:") && s.contains(needle),
                "{s}"
            );
        }
    }

    #[test]
    fn authentication_methods_must_be_satisfiable() {
        let dir = tree(&[(
            MAIN,
            "PubkeyAuthentication no\nAuthenticationMethods publickey,password\n",
        )]);
        let c = read(&HostRoot::new(dir.path()), &mut Vec::new())
            .unwrap()
            .unwrap();
        let e = c.effective().unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/ssh/sshd_config:2:") && e.contains("cannot be satisfied"),
            "{e}"
        );
        let dir = tree(&[(MAIN, "AuthenticationMethods publickey,otp\n")]);
        let c = read(&HostRoot::new(dir.path()), &mut Vec::new())
            .unwrap()
            .unwrap();
        assert!(c.effective().unwrap_err().to_string().contains("`otp`"));
    }

    #[test]
    fn include_loops_are_errors_not_hangs() {
        let dir = tree(&[(MAIN, "Include sshd_config\n")]);
        let err = read(&HostRoot::new(dir.path()), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn a_time_that_overflows_is_an_error_not_a_panic() {
        // Found by `cargo fuzz run sshd_config` (fuzz/artifacts, crash-3c153fb0...).
        assert!(time_seconds("11111111111111111055d").is_err());
        assert!(time_seconds("18446744073709551615s1s").is_err());
        let root = HostRoot::new("/nonexistent");
        let err = parse_text(&root, "/x", "LoginGraceTime 11111111111111111055d\n").unwrap_err();
        assert!(err.to_string().contains("/x:1"), "{err}");
    }

    #[test]
    fn time_values() {
        assert_eq!(time_seconds("120").unwrap(), 120);
        assert_eq!(time_seconds("2m").unwrap(), 120);
        assert_eq!(time_seconds("1h30m").unwrap(), 5400);
        assert_eq!(time_seconds("1W").unwrap(), 604800);
        assert!(time_seconds("").is_err());
        assert!(time_seconds("m").is_err());
        assert!(time_seconds("5 m").is_err());
        assert!(wildcard_match("*-cbc", "aes128-cbc"));
        assert!(!wildcard_match("*-cbc", "aes128-ctr"));
    }
}
