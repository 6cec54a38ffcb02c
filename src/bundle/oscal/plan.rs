//! `oscal/assessment-plan.json`: what was assessed and how, for the results to
//! import: the controls and objectives reviewed (linked to the bundle's catalogs,
//! with their SHA-256), the host as the one subject (a component of type
//! `this-system`), attestd as the assessment tool (a component of the assessment
//! assets, the actor of every observation) and the scheduled tests as an activity.
//! attestd writes no system security plan: `import-ssp` points at a back-matter
//! resource that says so and links host.json. Claims nothing about implementation.

use super::{catalog_file, control_token, objective_id, Context, Ids, OSCAL_VERSION};
use serde_json::{json, Value};

/// The controls and objectives reviewed: the bundle's controls, by catalog id.
pub fn reviewed_controls(cx: &Context, catalogs: &[String]) -> Value {
    let tokens: Vec<String> = cx
        .computed
        .controls
        .iter()
        .map(|c| control_token(&c.id).0)
        .collect();
    let links: Vec<Value> = catalogs
        .iter()
        .map(|fw| {
            json!({
                "href": catalog_file(fw),
                "rel": "reference",
                "media-type": "application/oscal.catalog+json",
                "text": format!("The {fw} catalog the control ids resolve into"),
            })
        })
        .collect();
    let mut v = if tokens.is_empty() {
        json!({
            "control-selections": [{"include-all": {}}],
        })
    } else {
        json!({
            "control-selections": [{
                "include-controls": tokens.iter().map(|t| json!({"control-id": t})).collect::<Vec<_>>()
            }],
            "control-objective-selections": [{
                "include-objectives": tokens.iter().map(|t| json!({"objective-id": objective_id(t)})).collect::<Vec<_>>()
            }],
        })
    };
    if !links.is_empty() {
        v["links"] = links.into();
    }
    v
}

/// The subject of every test: the host.
pub fn subjects(ids: &Ids) -> Value {
    json!([{"subject-uuid": ids.host(), "type": "component"}])
}

/// The plan, given the catalogs as (framework, bytes).
pub fn document(cx: &Context, catalogs: &[(String, Vec<u8>)]) -> Value {
    let ids = Ids::new(cx.bundle_id);
    let frameworks: Vec<String> = catalogs.iter().map(|(f, _)| f.clone()).collect();
    let ssp = ids.of("resource:system");
    let mut resources = vec![json!({
        "uuid": ssp,
        "title": "The assessed system",
        "description": "attestd writes no system security plan. The system assessed is the one host described in host.json; the controls are those of the catalogs in this back matter.",
        "rlinks": [{"href": "../host.json", "media-type": "application/json"}],
    })];
    for (fw, bytes) in catalogs {
        resources.push(json!({
            "uuid": ids.of(&format!("resource:catalog:{fw}")),
            "title": format!("Catalog of {fw} controls (attestd's paraphrase)"),
            "rlinks": [{
                "href": catalog_file(fw),
                "media-type": "application/oscal.catalog+json",
                "hashes": [{"algorithm": "SHA-256", "value": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))}],
            }],
        }));
    }
    let activity = ids.of("activity:scheduled-tests");
    json!({
        "assessment-plan": {
            "uuid": ids.of("plan"),
            "metadata": {
                "title": format!("attestd assessment plan for {} to {}", cx.params.from, cx.params.to),
                "last-modified": cx.generated_at,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
                "remarks": "Every control is tested automatically: attestd's collectors observe the host on their schedules and its rules judge the evidence.",
            },
            "import-ssp": {
                "href": format!("#{ssp}"),
                "remarks": "No system security plan: see the back-matter resource.",
            },
            "local-definitions": {
                "components": [{
                    "uuid": ids.host(),
                    "type": "this-system",
                    "title": cx.hostname,
                    "description": "The host attestd ran on; its identity (machine-id, OS, kernel) is in host.json.",
                    "status": {"state": "operational"},
                }],
                "activities": [{
                    "uuid": activity,
                    "title": "Scheduled automated control tests",
                    "description": "Each collector observes the host on its cron schedule (recorded in the ledger's policy rows) and each rule mapped to a control judges the evidence: pass, fail, error, waived or not applicable.",
                    "props": [{"name": "method", "value": "TEST"}],
                }],
            },
            "reviewed-controls": reviewed_controls(cx, &frameworks),
            "assessment-subjects": [{
                "type": "component",
                "include-subjects": subjects(&ids),
            }],
            "assessment-assets": {
                "components": [{
                    "uuid": ids.tool(),
                    "type": "software",
                    "title": "attestd",
                    "description": "The compliance-evidence collector that observed the host, judged the evidence and kept every run in its hash-chained ledger.",
                    "props": [{"name": "version", "value": env!("CARGO_PKG_VERSION")}],
                    "status": {"state": "operational"},
                }],
                "assessment-platforms": [{
                    "uuid": ids.of("platform"),
                    "title": "attestd on the assessed host",
                    "uses-components": [{"component-uuid": ids.tool()}],
                }],
            },
            "tasks": [{
                "uuid": ids.of("task:period"),
                "type": "action",
                "title": format!("Automated tests from {} to {}", cx.params.from, cx.params.to),
                "timing": {"within-date-range": {"start": cx.params.from, "end": cx.params.to}},
                "associated-activities": [{
                    "activity-uuid": activity,
                    "subjects": [{"type": "component", "include-subjects": subjects(&ids)}],
                }],
            }],
            "back-matter": {"resources": resources},
        }
    })
}
