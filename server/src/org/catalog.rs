//! The controls of the fleet's statement of applicability: every SOC 2 criterion and
//! every ISO/IEC 27001:2022 Annex A control, with attestd's own short names, read from
//! the framework catalogs shipped in `policies/frameworks/` (embedded at build time, the
//! same files the host binary embeds, so `attestd verify` lists the same controls).
//! Never reads a file at run time.

use serde::Deserialize;

const SOC2: &str = include_str!("../../../policies/frameworks/soc2.toml");
const ISO2022: &str = include_str!("../../../policies/frameworks/iso27001-2022.toml");

#[derive(Deserialize)]
struct File {
    framework: Header,
    control: Vec<Control>,
}

#[derive(Deserialize)]
struct Header {
    id: String,
}

#[derive(Deserialize)]
struct Control {
    id: String,
    name: String,
}

/// `(framework:ID, name)` for SOC 2 then ISO 27001:2022, in catalog order; only the
/// framework asked for when there is one.
pub fn controls(framework: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for text in [SOC2, ISO2022] {
        let f: File =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("embedded framework catalog: {e}"))?;
        if framework.is_some_and(|w| w != f.framework.id) {
            continue;
        }
        for c in f.control {
            out.push((format!("{}:{}", f.framework.id, c.id), c.name));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_annex_a_control_and_soc2_criterion_is_listed() {
        let all = super::controls(None).unwrap();
        let iso = all
            .iter()
            .filter(|(c, _)| c.starts_with("iso27001-2022:"))
            .count();
        assert_eq!(iso, 93);
        assert!(all.iter().any(|(c, _)| c == "soc2:CC6.1"));
        assert!(super::controls(Some("soc2"))
            .unwrap()
            .iter()
            .all(|(c, _)| c.starts_with("soc2:")));
    }
}
