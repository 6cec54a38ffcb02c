//! The shipped policy files as build.rs parsed them: each file's TOML tree in
//! MessagePack, spans included, so that loading a shipped file is a deserialization
//! instead of a TOML parse (most of the time a run spends loading policies).
//!
//! A prebuilt tree is used only for a text byte for byte equal to the embedded file it
//! was built from, wherever that text was read (the embedded copy, or the package's
//! `/usr/share/attestd/policies`); any other text, and any tree that does not
//! deserialize, is parsed as TOML, so errors keep their file and line. This module
//! never decides what a file means: the types of `rule.rs` and `catalog.rs` do, for
//! both paths alike.

use crate::location::{toml_error, FileError};
use serde::de::DeserializeOwned;

include!(concat!(env!("OUT_DIR"), "/prebuilt_policies.rs"));

/// Policy file `name` read: from its prebuilt tree when `text` is one of the shipped
/// files as they were built into this binary (`read`), else parsed as TOML, with the
/// parser's error naming the file, line and field.
pub(crate) fn read_or_parse<T: DeserializeOwned>(name: &str, text: &str) -> Result<T, FileError> {
    if let Some(file) = read(text) {
        return Ok(file);
    }
    toml::from_str(text).map_err(|e| toml_error(name, text, &e))
}

/// `text` deserialized from its prebuilt tree, when `text` is one of the shipped files
/// as they were built into this binary.
fn read<T: DeserializeOwned>(text: &str) -> Option<T> {
    let (_, tree) = PREBUILT
        .iter()
        .find(|(path, _)| shipped_text(path) == Some(text.as_bytes()))?;
    rmp_serde::from_slice(tree).ok()
}

/// The embedded text of `policies/PATH`.
fn shipped_text(path: &str) -> Option<&'static [u8]> {
    super::EMBEDDED_POLICIES
        .get_file(path)
        .map(include_dir::File::contents)
}

/// The paths under `policies/` that have a prebuilt tree.
#[cfg(test)]
fn prebuilt_paths() -> Vec<&'static str> {
    PREBUILT.iter().map(|(path, _)| *path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::catalog::CatalogFile;
    use crate::policy::rule::RuleFile;

    fn text(path: &str) -> &'static str {
        std::str::from_utf8(shipped_text(path).unwrap()).unwrap()
    }

    #[test]
    fn every_shipped_file_is_prebuilt_and_reads_as_its_toml_does() {
        let paths = prebuilt_paths();
        let rule_files: Vec<_> = crate::policy::embedded_files("")
            .into_iter()
            .map(|(name, _)| name.trim_start_matches("policies/").to_string())
            .collect();
        let catalogs: Vec<_> = crate::policy::embedded_files("frameworks")
            .into_iter()
            .map(|(name, _)| name.trim_start_matches("policies/").to_string())
            .collect();
        assert!(
            rule_files.len() >= 15 && catalogs.len() == 2,
            "{rule_files:?} {catalogs:?}"
        );
        for name in rule_files.iter().chain(&catalogs) {
            assert!(
                paths.contains(&name.as_str()),
                "{name} has no prebuilt tree"
            );
        }
        // Spans included: a Spanned field build.rs does not know would fail here.
        for name in &rule_files {
            let prebuilt: RuleFile = read(text(name)).unwrap_or_else(|| panic!("{name}"));
            let parsed: RuleFile = toml::from_str(text(name)).unwrap();
            assert_eq!(format!("{prebuilt:?}"), format!("{parsed:?}"), "{name}");
        }
        for name in &catalogs {
            let prebuilt: CatalogFile = read(text(name)).unwrap_or_else(|| panic!("{name}"));
            let parsed: CatalogFile = toml::from_str(text(name)).unwrap();
            assert_eq!(format!("{prebuilt:?}"), format!("{parsed:?}"), "{name}");
        }
    }

    #[test]
    fn a_text_that_differs_from_the_shipped_file_by_one_byte_is_parsed_as_toml() {
        let name = "ssh.toml";
        assert!(read::<RuleFile>(text(name)).is_some());
        let edited = format!("{}\n", text(name));
        assert!(read::<RuleFile>(&edited).is_none());
        // A copy of a catalog is not taken for a rule file either: it does not
        // deserialize as one, and so is parsed (and refused) as TOML.
        assert!(read::<RuleFile>(text("frameworks/soc2.toml")).is_none());
    }
}
