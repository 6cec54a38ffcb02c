//! Checks a bundle's `oscal/` as a GRC tool would follow it: compliance-trestle
//! parses every document (catalogs, plan, results) with its OSCAL models and each
//! states OSCAL 1.1.2 or later; then every reference resolves: the results' import
//! of the plan, the plan's import of the system, each catalog link and its hash,
//! every control and objective id into exactly one catalog, and every `*-uuid`
//! (observations, risks, subjects, tool and platform components, activities) to a
//! definition made once. Returns what it found, or the first broken reference.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// What a checked `oscal/` holds.
#[derive(Debug, Default)]
pub struct Oscal {
    pub catalogs: BTreeMap<String, Value>,
    pub plan: Value,
    pub results: Value,
    pub controls: BTreeSet<String>,
    pub objectives: BTreeSet<String>,
}

const TRESTLE: &str = r#"
import json, sys
from trestle.oscal.catalog import Catalog
from trestle.oscal.assessment_plan import AssessmentPlan
from trestle.oscal.assessment_results import AssessmentResults
models = {"catalog": Catalog, "assessment-plan": AssessmentPlan, "assessment-results": AssessmentResults}
for path in sys.argv[1:]:
    d = json.load(open(path))
    (key, body), = d.items()
    m = models[key]
    doc = m.model_validate(body) if hasattr(m, "model_validate") else m.parse_obj(body)
    v = doc.metadata.oscal_version
    while hasattr(v, "root") or hasattr(v, "__root__"):
        v = getattr(v, "root", None) or getattr(v, "__root__")
    print(key, v)
"#;

/// Parse every file of `oscal/` with compliance-trestle; `Err` holds its complaint.
pub fn trestle(files: &[std::path::PathBuf]) -> Result<Vec<(String, String)>, String> {
    let o = Command::new("python3")
        .arg("-c")
        .arg(TRESTLE)
        .args(files)
        .output()
        .expect("python3 with compliance-trestle (installed by .ci/run)");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn version_at_least(v: &str, min: [u64; 3]) -> bool {
    let parts: Vec<u64> = v.split('.').filter_map(|p| p.parse().ok()).collect();
    parts.len() == 3 && [parts[0], parts[1], parts[2]] >= min
}

fn read(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every `uuid` defined in `v` (any object's `uuid` key) and every reference
/// (`*-uuid` keys), with the JSON path of each reference.
fn walk(v: &Value, path: &str, defs: &mut Vec<String>, refs: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{k}");
                match (k.as_str(), x) {
                    ("uuid", Value::String(s)) => defs.push(s.clone()),
                    (k, Value::String(s)) if k.ends_with("-uuid") => refs.push((p, s.clone())),
                    _ => walk(x, &p, defs, refs),
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &format!("{path}/{i}"), defs, refs);
            }
        }
        _ => {}
    }
}

/// Control ids and objective (part) ids of a catalog, recursively.
fn catalog_ids(v: &Value, controls: &mut Vec<String>, objectives: &mut Vec<String>) {
    for g in v["groups"].as_array().into_iter().flatten() {
        catalog_ids(g, controls, objectives);
    }
    for c in v["controls"].as_array().into_iter().flatten() {
        controls.push(c["id"].as_str().unwrap_or_default().to_string());
        for p in c["parts"].as_array().into_iter().flatten() {
            if p["name"] == "objective" {
                objectives.push(p["id"].as_str().unwrap_or_default().to_string());
            }
        }
        catalog_ids(c, controls, objectives);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Check `bundle/oscal/`: trestle, versions, and every reference.
pub fn check(bundle: &Path) -> Result<Oscal, String> {
    let dir = bundle.join("oscal");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for (kind, version) in trestle(&files)? {
        if !version_at_least(&version, [1, 1, 2]) {
            return Err(format!("{kind}: OSCAL {version}, not 1.1.2 or later"));
        }
    }
    let results = read(&dir.join("assessment-results.json"))?;
    let ar = &results["assessment-results"];
    let ap_href = ar["import-ap"]["href"].as_str().ok_or("no import-ap")?;
    if ap_href.contains("summary.json") || ap_href.starts_with('#') {
        return Err(format!("import-ap is {ap_href}, not a plan"));
    }
    let plan = read(&dir.join(ap_href))?;
    let ap = plan
        .get("assessment-plan")
        .ok_or_else(|| format!("{ap_href} is not an assessment plan"))?;
    // The plan's resources: the system (import-ssp) and the catalogs, hashes checked.
    let resources: BTreeMap<String, &Value> = ap["back-matter"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["uuid"].as_str().unwrap_or_default().to_string(), r))
        .collect();
    let ssp = ap["import-ssp"]["href"].as_str().ok_or("no import-ssp")?;
    let ssp_resource = ssp
        .strip_prefix('#')
        .and_then(|u| resources.get(u))
        .ok_or_else(|| format!("import-ssp {ssp} resolves to no back-matter resource"))?;
    let mut out = Oscal::default();
    let mut all_controls = Vec::new();
    let mut all_objectives = Vec::new();
    for r in resources.values() {
        for link in r["rlinks"].as_array().into_iter().flatten() {
            let href = link["href"].as_str().unwrap_or_default();
            let bytes =
                std::fs::read(dir.join(href)).map_err(|e| format!("resource link {href}: {e}"))?;
            for h in link["hashes"].as_array().into_iter().flatten() {
                if h["value"].as_str() != Some(sha256_hex(&bytes).as_str()) {
                    return Err(format!("resource link {href}: hash differs"));
                }
            }
            if link["media-type"] == "application/oscal.catalog+json" {
                let doc: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                let cat = doc
                    .get("catalog")
                    .ok_or_else(|| format!("{href} is not a catalog"))?;
                catalog_ids(cat, &mut all_controls, &mut all_objectives);
                out.catalogs.insert(href.to_string(), doc);
            }
        }
    }
    if ssp_resource["rlinks"]
        .as_array()
        .is_none_or(|a| a.is_empty())
    {
        return Err("the system resource links nothing".into());
    }
    out.controls = all_controls.iter().cloned().collect();
    out.objectives = all_objectives.iter().cloned().collect();
    if out.controls.len() != all_controls.len() {
        return Err("a control id is in more than one catalog".into());
    }
    // Control and objective ids of the plan and the results resolve into the catalogs.
    for (doc, rc) in [
        ("plan", &ap["reviewed-controls"]),
        ("results", &ar["results"][0]["reviewed-controls"]),
    ] {
        for sel in rc["control-selections"].as_array().into_iter().flatten() {
            for c in sel["include-controls"].as_array().into_iter().flatten() {
                let id = c["control-id"].as_str().unwrap_or_default();
                if !out.controls.contains(id) {
                    return Err(format!("{doc}: control-id {id} is in no catalog"));
                }
            }
        }
        for sel in rc["control-objective-selections"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for o in sel["include-objectives"].as_array().into_iter().flatten() {
                let id = o["objective-id"].as_str().unwrap_or_default();
                if !out.objectives.contains(id) {
                    return Err(format!("{doc}: objective-id {id} is in no catalog"));
                }
            }
        }
        for l in rc["links"].as_array().into_iter().flatten() {
            let href = l["href"].as_str().unwrap_or_default();
            if !out.catalogs.contains_key(href) {
                return Err(format!(
                    "{doc}: reviewed-controls link {href} is no catalog"
                ));
            }
        }
    }
    let result = &ar["results"][0];
    for f in result["findings"].as_array().into_iter().flatten() {
        let t = f["target"]["target-id"].as_str().unwrap_or_default();
        if !out.objectives.contains(t) {
            return Err(format!(
                "finding {}: target {t} is in no catalog",
                f["title"]
            ));
        }
    }
    // Every `*-uuid` reference of plan and results resolves to a definition made once.
    let (mut defs, mut refs) = (Vec::new(), Vec::new());
    walk(ap, "plan", &mut defs, &mut refs);
    walk(ar, "results", &mut defs, &mut refs);
    let defined: BTreeSet<&String> = defs.iter().collect();
    if defined.len() != defs.len() {
        return Err("a uuid is defined twice".into());
    }
    for (path, u) in &refs {
        if !defined.contains(u) {
            return Err(format!("{path} = {u} resolves to nothing"));
        }
    }
    // And they resolve to the right kind of thing.
    let ids = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["uuid"].as_str().map(str::to_string))
            .collect()
    };
    let observations = ids(&result["observations"]);
    let risks = ids(&result["risks"]);
    let subjects = ids(&ap["local-definitions"]["components"]);
    let tools = ids(&ap["assessment-assets"]["components"]);
    for (path, u) in &refs {
        let ok = if path.ends_with("/observation-uuid") {
            observations.contains(u)
        } else if path.ends_with("/risk-uuid") {
            risks.contains(u)
        } else if path.ends_with("/subject-uuid") {
            subjects.contains(u)
        } else if path.ends_with("/actor-uuid") {
            tools.contains(u)
        } else {
            true
        };
        if !ok {
            return Err(format!("{path} = {u} resolves to the wrong kind of thing"));
        }
    }
    // Observations are made by attestd (a tool) about the host; their evidence exists.
    for o in result["observations"].as_array().into_iter().flatten() {
        let actors = &o["origins"][0]["actors"];
        if actors[0]["type"] != "tool" {
            return Err(format!("observation {} is not made by a tool", o["uuid"]));
        }
        for e in o["relevant-evidence"].as_array().into_iter().flatten() {
            let href = e["href"].as_str().unwrap_or_default();
            let seq = o["props"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == "ledger-seq")
                .and_then(|p| p["value"].as_str())
                .unwrap_or_default();
            let text = std::fs::read_to_string(dir.join(href))
                .map_err(|e| format!("relevant-evidence {href}: {e}"))?;
            if !text
                .lines()
                .any(|l| l.starts_with(&format!("{{\"seq\":{seq},")))
            {
                return Err(format!("{href} has no line for ledger row {seq}"));
            }
        }
    }
    out.plan = plan.clone();
    out.results = results.clone();
    Ok(out)
}
