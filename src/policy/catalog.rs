//! Framework catalogs (`policies/frameworks/*.toml`): the control IDs rules may map to,
//! with our own short names and paraphrases. Owns the `framework:ID` naming contract
//! (`soc2:CC6.1`, `iso27001-2022:A.8.5`, `iso27001-2013:A.9.4.2`). The 2013 IDs are
//! the union of the `iso2013` equivalents listed in the 2022 catalog.
//! It never judges anything and never holds standard text.

use crate::location::FileError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// Framework identifiers usable in control IDs.
pub use attestd_ledger::controls::{ISO2022, SOC2};
pub use attestd_ledger::summary::ISO2013;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogFile {
    framework: FrameworkHeader,
    #[serde(rename = "control")]
    controls: Vec<ControlEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameworkHeader {
    id: String,
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    note: String,
}

/// One control of a framework. Unknown keys are refused: a misspelt `iso2013` would
/// otherwise drop the control's mappings without a word.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControlEntry {
    pub id: String,
    pub name: String,
    pub summary: String,
    /// SOC 2 grouping (CC6 ...) or ISO theme.
    #[serde(default, alias = "theme")]
    pub group: String,
    /// ISO 27001:2013 equivalents of an ISO 27001:2022 control.
    #[serde(default)]
    pub iso2013: Vec<String>,
}

/// One framework's controls, in catalog order.
#[derive(Debug, Clone)]
pub struct Framework {
    pub id: String,
    pub name: String,
    /// The framework's edition, as the catalog file names it.
    pub version: String,
    /// Where the names and summaries come from (our own paraphrases).
    pub note: String,
    pub controls: Vec<ControlEntry>,
}

/// All known frameworks.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub frameworks: BTreeMap<String, Framework>,
    iso2013: BTreeSet<String>,
}

impl Catalog {
    /// Build the catalog from `(file name, text)` pairs.
    pub fn from_files(files: &[(String, String)]) -> Result<Catalog, FileError> {
        let mut frameworks = BTreeMap::new();
        let mut iso2013 = BTreeSet::new();
        for (name, text) in files {
            let file: CatalogFile = super::prebuilt::read_or_parse(name, text)?;
            if file.framework.id == ISO2022 {
                for c in &file.controls {
                    iso2013.extend(c.iso2013.iter().cloned());
                }
            }
            frameworks.insert(
                file.framework.id.clone(),
                Framework {
                    id: file.framework.id,
                    name: file.framework.name,
                    version: file.framework.version,
                    note: file.framework.note,
                    controls: file.controls,
                },
            );
        }
        Ok(Catalog {
            frameworks,
            iso2013,
        })
    }

    /// Check a `framework:ID` control reference; the error says what is wrong.
    pub fn check_control(&self, reference: &str) -> Result<(), String> {
        let (fw, id) = reference.split_once(':').ok_or_else(|| {
            format!("control `{reference}` must be written framework:ID, e.g. soc2:CC6.1 or iso27001-2022:A.8.5")
        })?;
        if fw == ISO2013 {
            return if self.iso2013.contains(id) {
                Ok(())
            } else {
                Err(format!("unknown ISO 27001:2013 control `{id}` (no 2022 control lists it as an equivalent)"))
            };
        }
        let framework = self.frameworks.get(fw).ok_or_else(|| {
            format!(
                "unknown framework `{fw}` in `{reference}`; known: {}, {ISO2013}",
                self.frameworks
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if framework.controls.iter().any(|c| c.id == id) {
            Ok(())
        } else {
            Err(format!("unknown control `{id}` in framework `{fw}`"))
        }
    }

    /// The entry for a `framework:ID` reference, when the catalog has one.
    pub fn control(&self, reference: &str) -> Option<&ControlEntry> {
        let (fw, id) = reference.split_once(':')?;
        self.frameworks
            .get(fw)?
            .controls
            .iter()
            .find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_is_an_error_naming_file_and_line() {
        let text = "[framework]\nid = \"iso27001-2022\"\nname = \"x\"\n\n[[control]]\nid = \"A.5.1\"\nname = \"n\"\nsummary = \"s\"\niso2103 = [\"A.5.1.1\"]\n";
        let e = Catalog::from_files(&[("iso.toml".into(), text.into())]).unwrap_err();
        assert_eq!(e.file, "iso.toml");
        assert_eq!(e.line, 9, "{e:?}");
        assert!(e.to_string().contains("iso2103"), "{e}");
    }
}
