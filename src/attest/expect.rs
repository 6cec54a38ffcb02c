//! The shipped catalog of what no host shows (`policies/attestations/*.toml`): per
//! organisational control, the attestation kinds that evidence it and the recurrence a
//! typical audit expects. Loaded from the installed policies (packaged binary) or the
//! embedded copy; every control, kind and interval is checked, and an error names the
//! file and the entry. Never reads the ledger.

use crate::policy::Catalog;
use attestd_ledger::body::{AttestationKind, Recurrence};
use serde::Deserialize;

/// One expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub control: String,
    pub kinds: Vec<AttestationKind>,
    /// None: per event (an incident, a hire), never due by date.
    pub every: Option<Recurrence>,
    pub note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    expectation: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    control: String,
    kinds: Vec<String>,
    #[serde(default)]
    every: Option<String>,
    note: String,
}

/// Parse one expectations file; controls are checked against `catalog`.
pub fn parse(name: &str, text: &str, catalog: &Catalog) -> Result<Vec<Expectation>, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let mut out = Vec::new();
    for (i, e) in file.expectation.into_iter().enumerate() {
        let at = format!("{name}: expectation {} ({})", i + 1, e.control);
        catalog
            .check_control(&e.control)
            .map_err(|m| format!("{at}: control: {m}"))?;
        let mut kinds = Vec::new();
        for k in &e.kinds {
            kinds.push(AttestationKind::parse(k).ok_or_else(|| {
                format!("{at}: kinds: unknown kind `{k}`; known: {}", kind_names())
            })?);
        }
        if kinds.is_empty() {
            return Err(format!("{at}: kinds: name at least one kind"));
        }
        let every = match &e.every {
            None => None,
            Some(s) => Some(
                Recurrence::parse(s)
                    .ok_or_else(|| format!("{at}: every: `{s}` is not one of 1mo, 3mo, 6mo, 1y"))?,
            ),
        };
        out.push(Expectation {
            control: e.control,
            kinds,
            every,
            note: e.note,
        });
    }
    Ok(out)
}

/// Every kind's name, comma-separated.
pub fn kind_names() -> String {
    AttestationKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shipped expectations (installed copy for the packaged binary, else embedded).
pub fn shipped(catalog: &Catalog) -> Result<Vec<Expectation>, String> {
    let files = match crate::policy::installed_policy_dir() {
        Some(dir) => {
            crate::policy::read_dir_files(&dir.join("attestations")).map_err(|e| e.to_string())?
        }
        None => crate::policy::embedded_files("attestations"),
    };
    let mut out = Vec::new();
    for (name, text) in files {
        out.extend(parse(&name, &text, catalog)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let inputs = crate::policy::PolicyInputs::default();
        crate::policy::PolicySet::load_from(None, &inputs)
            .unwrap()
            .catalog
    }

    #[test]
    fn the_shipped_catalog_loads_and_names_organisational_controls() {
        let e = shipped(&catalog()).unwrap();
        assert!(e.len() > 50, "{}", e.len());
        let a618 = e
            .iter()
            .find(|x| x.control == "iso27001-2022:A.5.18")
            .unwrap();
        assert_eq!(a618.kinds, vec![AttestationKind::AccessReview]);
        assert_eq!(a618.every, Some(Recurrence::Quarterly));
    }

    #[test]
    fn bad_entries_name_the_field() {
        let c = catalog();
        let bad = "[[expectation]]\ncontrol = \"iso27001-2022:A.5.99\"\nkinds = [\"training\"]\nnote = \"x\"\n";
        assert!(parse("x.toml", bad, &c).unwrap_err().contains("control:"));
        let bad =
            "[[expectation]]\ncontrol = \"soc2:CC1.4\"\nkinds = [\"traning\"]\nnote = \"x\"\n";
        assert!(parse("x.toml", bad, &c)
            .unwrap_err()
            .contains("kinds: unknown kind `traning`"));
        let bad = "[[expectation]]\ncontrol = \"soc2:CC1.4\"\nkinds = [\"training\"]\nevery = \"2w\"\nnote = \"x\"\n";
        assert!(parse("x.toml", bad, &c).unwrap_err().contains("every:"));
    }
}
