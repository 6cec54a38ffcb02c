//! Build-time work for the `attestd` package:
//!
//! - Link settings for the executables only (never for tests or other crates): pack
//!   relative relocations (DT_RELR, glibc 2.36+ and binutils 2.38+, both in Debian 12).
//!   The binaries stay position-independent, but the dynamic loader no longer reads
//!   about 1.3 MB of relocation records at start, which a PIE Rust binary otherwise
//!   keeps resident for its whole life.
//! - The shipped policy files (`policies/*.toml` and `policies/frameworks/*.toml`),
//!   parsed now: each file's TOML tree is written as MessagePack, with the fields a
//!   rule file reads as `toml::Spanned` carried as serde_spanned's span maps, and
//!   listed in `$OUT_DIR/prebuilt_policies.rs` (read by `src/policy/prebuilt.rs`). A
//!   run then deserializes these files instead of parsing their TOML.
//!
//! - `ATTESTD_SOURCE_ID`, a hash of the sources, which the two binaries compare
//!   (`attestd::worker::SOURCE_ID`).
//!
//! It never fails the build on a policy file: a file that does not parse, or holds what
//! this does not encode (datetimes), is left out and parsed at run time, which reports
//! its errors with file and line as for any other file.

use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// The fields of a `[[rule]]` that `src/policy/rule.rs` reads as `toml::Spanned`
/// (the test in `src/policy/prebuilt.rs` compares every prebuilt file with its TOML
/// reading, spans included).
const SPANNED_RULE_FIELDS: [&str; 5] = ["id", "collector", "check", "observed", "applies"];
/// The `[[rule]]` field whose items are each read as `toml::Spanned`.
const SPANNED_RULE_ITEMS: &str = "controls";

fn main() {
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
    prebuild_policies();
    source_id();
}

/// `ATTESTD_SOURCE_ID`: a hash of every source file of this package and its path
/// dependencies (and the lock file), so that attestd and attestd-worker can tell
/// whether they were built from the same sources (`attestd::worker::SOURCE_ID`).
fn source_id() {
    use std::hash::{Hash, Hasher};
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut files = Vec::new();
    for part in ["src", "collectors/src", "ledger/src", "policies"] {
        let dir = manifest.join(part);
        println!("cargo:rerun-if-changed={}", dir.display());
        files_under(&dir, &mut files);
    }
    for file in [
        "Cargo.lock",
        "Cargo.toml",
        "collectors/Cargo.toml",
        "ledger/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", manifest.join(file).display());
        files.push(manifest.join(file));
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in &files {
        file.strip_prefix(&manifest)
            .unwrap_or(file)
            .hash(&mut hasher);
        std::fs::read(file).unwrap_or_default().hash(&mut hasher);
    }
    println!("cargo:rustc-env=ATTESTD_SOURCE_ID={:016x}", hasher.finish());
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn prebuild_policies() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let policies = manifest.join("policies");
    let mut entries = Vec::new();
    for (sub, rule_file) in [("", true), ("frameworks", false)] {
        let dir = policies.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        for path in toml_files(&dir) {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Some(tree) = encode_file(&text, rule_file) else {
                continue;
            };
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &tree).expect("writing to memory");
            let relative = path.strip_prefix(&policies).expect("under policies/");
            let relative = relative.to_str().expect("policy file names are UTF-8");
            let blob = out.join(format!("{}.msgpack", relative.replace('/', "__")));
            std::fs::write(&blob, bytes).expect("OUT_DIR is writable");
            entries.push(format!(
                "    ({relative:?}, include_bytes!({:?})),\n",
                blob.display().to_string()
            ));
        }
    }
    let code = format!(
        "/// `(path under policies/, MessagePack of its TOML tree)` of every prebuilt file.\n\
         static PREBUILT: &[(&str, &[u8])] = &[\n{}];\n",
        entries.concat()
    );
    std::fs::write(out.join("prebuilt_policies.rs"), code).expect("OUT_DIR is writable");
}

/// The `*.toml` files directly in `dir`, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One file's tree; `None` when it does not parse or holds what this does not encode.
fn encode_file(text: &str, rule_file: bool) -> Option<rmpv::Value> {
    let root = DeTable::parse(text).ok()?;
    let table = root.get_ref();
    if !rule_file {
        return plain_table(table);
    }
    let mut fields = Vec::new();
    for (key, value) in table.iter() {
        let encoded = match (key.get_ref().as_ref(), value.get_ref()) {
            ("variables", DeValue::Table(vars)) => {
                let mut out = Vec::new();
                for (name, def) in vars.iter() {
                    let name = spanned(name.span(), rmpv::Value::from(name.get_ref().as_ref()));
                    out.push((name, plain(def.get_ref())?));
                }
                rmpv::Value::Map(out)
            }
            ("rule", DeValue::Array(rules)) => {
                let mut out = Vec::new();
                for rule in rules.iter() {
                    let DeValue::Table(fields) = rule.get_ref() else {
                        return None;
                    };
                    out.push(spanned(rule.span(), rule_fields(fields)?));
                }
                rmpv::Value::Array(out)
            }
            (_, other) => plain(other)?,
        };
        fields.push((rmpv::Value::from(key.get_ref().as_ref()), encoded));
    }
    Some(rmpv::Value::Map(fields))
}

/// One `[[rule]]` table, its spanned fields as span maps.
fn rule_fields(table: &DeTable<'_>) -> Option<rmpv::Value> {
    let mut out = Vec::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let encoded = match value.get_ref() {
            v if SPANNED_RULE_FIELDS.contains(&name) => spanned(value.span(), plain(v)?),
            DeValue::Array(items) if name == SPANNED_RULE_ITEMS => rmpv::Value::Array(
                items
                    .iter()
                    .map(|item| Some(spanned(item.span(), plain(item.get_ref())?)))
                    .collect::<Option<_>>()?,
            ),
            v => plain(v)?,
        };
        out.push((rmpv::Value::from(name), encoded));
    }
    Some(rmpv::Value::Map(out))
}

/// serde_spanned's map form of a `Spanned` value, the one its `Deserialize` reads.
fn spanned(span: std::ops::Range<usize>, value: rmpv::Value) -> rmpv::Value {
    let at = |n: usize| rmpv::Value::from(n as u64);
    rmpv::Value::Map(vec![
        ("$__serde_spanned_private_start".into(), at(span.start)),
        ("$__serde_spanned_private_end".into(), at(span.end)),
        ("$__serde_spanned_private_value".into(), value),
    ])
}

fn plain_table(table: &DeTable<'_>) -> Option<rmpv::Value> {
    table
        .iter()
        .map(|(k, v)| Some((rmpv::Value::from(k.get_ref().as_ref()), plain(v.get_ref())?)))
        .collect::<Option<Vec<_>>>()
        .map(rmpv::Value::Map)
}

/// A value without spans; `None` for a datetime, left to the run's TOML parser.
fn plain(value: &DeValue<'_>) -> Option<rmpv::Value> {
    Some(match value {
        DeValue::String(s) => rmpv::Value::from(s.as_ref()),
        DeValue::Integer(i) => rmpv::Value::from(i64::from_str_radix(i.as_str(), i.radix()).ok()?),
        DeValue::Float(f) => rmpv::Value::from(f.as_str().parse::<f64>().ok()?),
        DeValue::Boolean(b) => rmpv::Value::from(*b),
        DeValue::Datetime(_) => return None,
        DeValue::Array(items) => rmpv::Value::Array(
            items
                .iter()
                .map(|item| plain(item.get_ref()))
                .collect::<Option<_>>()?,
        ),
        DeValue::Table(table) => plain_table(table)?,
    })
}
