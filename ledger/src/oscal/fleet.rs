//! The fleet bundle's `oscal/assessment-results.json`: the period of a population of
//! hosts as one OSCAL assessment-results document with one result. Each host is one
//! subject (an inventory item of the result's local definitions, its UUID v5 derived
//! from the host name); per host and control one observation and one finding, whose
//! state follows the host's computed summary (`effective` is satisfied, a tested
//! control with exceptions or gaps is not satisfied, a control not tested gets no
//! determination); every exception and gap of a host is a risk of its own. Built from
//! the per-host summaries only (what `attestd verify` recomputes), never from anything
//! it cannot recompute; does no I/O.

use super::{control_token, objective_id, OSCAL_VERSION};
use crate::summary::{Computed, Parameters};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The document's path in the fleet bundle.
pub const RESULTS_FILE: &str = "oscal/assessment-results.json";

/// The UUIDs of a fleet document: v5 names under one namespace per period and scope,
/// so the same population and period give the same document.
struct Ids(Uuid);

impl Ids {
    fn of(&self, name: &str) -> String {
        Uuid::new_v5(&self.0, name.as_bytes()).to_string()
    }
}

/// The UUID of a host as the document's subject.
pub fn host_uuid(params: &Parameters, scope: Option<&str>, host: &str) -> String {
    ids(params, scope).of(&format!("host:{host}"))
}

fn ids(params: &Parameters, scope: Option<&str>) -> Ids {
    Ids(Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!(
            "attestd-fleet:{}:{}:{}",
            scope.unwrap_or("*"),
            params.from,
            params.to
        )
        .as_bytes(),
    ))
}

/// The assessment results of a fleet: `hosts` in population order as (host, its
/// directory under the bundle such as `hosts/web-1`, its computed summary);
/// `generated_at` and `version` are fleet.json's. The same as `Results` fed host by host.
pub fn document(
    params: &Parameters,
    scope: Option<&str>,
    hosts: &[(String, String, Computed)],
    generated_at: &str,
    version: &str,
) -> Value {
    let mut results = Results::new(params, scope);
    for (host, dir, computed) in hosts {
        results.add_host(params, host, dir, computed);
    }
    results.finish(params, generated_at, version)
}

/// The document built one host at a time, so that a host's summary can be dropped as
/// soon as its part is made (the server's bundle keeps no host's summary for it).
pub struct Results {
    ids: Ids,
    tool: String,
    origins: Value,
    controls: BTreeSet<String>,
    items: Vec<Value>,
    // Held serialized: as `Value`s, 200 hosts' observations and findings took 260 MB.
    observations: Array,
    findings: Array,
    risks: Array,
}

/// A JSON array's elements, serialized (compact, comma-separated) as they come.
#[derive(Default)]
struct Array(Vec<u8>);

impl Array {
    fn push(&mut self, v: Value) {
        if !self.0.is_empty() {
            self.0.push(b',');
        }
        serde_json::to_writer(&mut self.0, &v).expect("a JSON value serializes");
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Results {
    /// An empty document for `params`' period and `scope`.
    pub fn new(params: &Parameters, scope: Option<&str>) -> Results {
        let ids = ids(params, scope);
        let tool = ids.of("component:attestd-server");
        let origins = json!([{"actors": [{"type": "tool", "actor-uuid": tool}]}]);
        Results {
            ids,
            tool,
            origins,
            controls: BTreeSet::new(),
            items: Vec::new(),
            observations: Array::default(),
            findings: Array::default(),
            risks: Array::default(),
        }
    }

    /// The next host of the population: its subject, observations, findings and risks.
    pub fn add_host(&mut self, params: &Parameters, host: &str, dir: &str, computed: &Computed) {
        let (ids, origins) = (&self.ids, &self.origins);
        let (items, observations, findings, risks) = (
            &mut self.items,
            &mut self.observations,
            &mut self.findings,
            &mut self.risks,
        );
        self.controls
            .extend(computed.controls.iter().map(|x| x.id.clone()));
        let subject = ids.of(&format!("host:{host}"));
        items.push(json!({
            "uuid": subject,
            "description": format!("Host {host}, a member of the fleet's population in the period."),
            "props": [{"name": "fqdn", "value": host}],
        }));
        let subjects = json!([{"subject-uuid": subject, "type": "inventory-item"}]);
        for x in computed.rules.values().flat_map(|r| r.exceptions.iter()) {
            let end = x.resolved_at.clone().unwrap_or_else(|| params.to.clone());
            risks.push(json!({
                "uuid": ids.of(&format!("exception:{host}:{}:{}", x.rule, x.first_seen)),
                "title": format!("Exception on {host}: {} {}", x.rule, x.status),
                "description": format!("Rule {} was {} on {host} from {} to {} ({} s).", x.rule, x.status, x.first_seen, end, x.duration_seconds),
                "statement": "A control objective was not met while attestd observed it.",
                "props": [
                    {"name": "kind", "value": "exception"},
                    {"name": "host", "value": host},
                    {"name": "rule", "value": x.rule},
                    {"name": "start", "value": x.first_seen},
                    {"name": "end", "value": end},
                ],
                "status": if x.open { "open" } else { "closed" },
                "origins": origins,
            }));
        }
        for (name, cov) in &computed.collectors {
            for g in &cov.gaps {
                risks.push(json!({
                    "uuid": ids.of(&format!("gap:{host}:{name}:{}", g.start)),
                    "title": format!("Gap in {name} evidence on {host}"),
                    "description": format!("No evidence from {name} on {host} between {} and {} ({} s): {}.", g.start, g.end, g.duration_seconds, g.cause),
                    "statement": "Scheduled tests left no evidence: the control was not observed in this time.",
                    "props": [
                        {"name": "kind", "value": "gap"},
                        {"name": "host", "value": host},
                        {"name": "collector", "value": name},
                        {"name": "start", "value": g.start},
                        {"name": "end", "value": g.end},
                    ],
                    "status": if g.ongoing { "open" } else { "closed" },
                    "origins": origins,
                }));
            }
        }
        for c in &computed.controls {
            let (token, framework) = control_token(&c.id);
            let obs = ids.of(&format!("observation:{host}:{}", c.id));
            observations.push(json!({
                "uuid": obs,
                "title": format!("{} on {host}", c.id),
                "description": format!(
                    "{} rule(s) tested {} on {host}: {} of {} scheduled runs left evidence, {} pass(es), {} failure(s), {} exception(s), {} gap(s). Result: {}.",
                    c.rules.len(), c.id, c.covered_runs, c.scheduled_runs, c.passes, c.failures, c.exceptions.len(), c.gaps.len(), c.result
                ),
                "methods": ["TEST"],
                "types": ["control-objective"],
                "origins": origins,
                "subjects": subjects,
                "collected": params.to,
                "relevant-evidence": [{
                    "href": format!("../{dir}/summary.json"),
                    "description": format!("The control {} in the host's computed summary.", c.id),
                }],
            }));
            let mut target = json!({"type": "objective-id", "target-id": objective_id(&token)});
            match &c.not_tested_reason {
                Some(why) => {
                    target["remarks"] =
                        format!("not assessed: not tested on {host} in the period ({why})").into();
                }
                None => {
                    let ok = c.result == "effective";
                    target["status"] = json!({
                        "state": if ok { "satisfied" } else { "not-satisfied" },
                        "reason": if ok { "pass" } else { "fail" },
                    });
                }
            }
            let related: Vec<Value> = c
                .exceptions
                .iter()
                .map(|x| ids.of(&format!("exception:{host}:{}:{}", x.rule, x.first_seen)))
                .chain(
                    c.gaps
                        .iter()
                        .map(|g| ids.of(&format!("gap:{host}:{}:{}", g.collector, g.start))),
                )
                .map(|u| json!({"risk-uuid": u}))
                .collect();
            let mut finding = json!({
                "uuid": ids.of(&format!("finding:{host}:{}", c.id)),
                "title": format!("{} {} on {host}", c.id, c.name),
                "description": format!("{} on {host}: {}.", c.id, c.result),
                "props": [
                    {"name": "framework", "value": if framework.is_empty() { "unknown".to_string() } else { framework }},
                    {"name": "host", "value": host},
                    {"name": "result", "value": c.result},
                ],
                "origins": origins,
                "target": target,
                "related-observations": [{"observation-uuid": obs}],
            });
            if !related.is_empty() {
                finding["related-risks"] = related.into();
            }
            findings.push(finding);
        }
    }

    /// The finished document; `generated_at` and `version` are fleet.json's.
    pub fn finish(self, params: &Parameters, generated_at: &str, version: &str) -> Value {
        let mut out = Vec::new();
        self.write(&mut out, params, generated_at, version)
            .expect("writing to memory");
        serde_json::from_slice(&out).expect("the document is JSON")
    }

    /// Write the finished document (compact JSON) to `w` without building it whole.
    pub fn write(
        self,
        w: &mut impl std::io::Write,
        params: &Parameters,
        generated_at: &str,
        version: &str,
    ) -> std::io::Result<()> {
        let Results {
            ids,
            tool,
            controls,
            items,
            observations,
            findings,
            risks,
            ..
        } = self;
        let reviewed = if controls.is_empty() {
            json!({"control-selections": [{"include-all": {}}]})
        } else {
            json!({"control-selections": [{"include-controls": controls
            .iter()
            .map(|c| json!({"control-id": control_token(c).0}))
            .collect::<Vec<_>>()}]})
        };
        let result = json!({
            "uuid": ids.of("result"),
            "title": "Automated control tests of the fleet",
            "description": format!("Every host of the population, {} to {}: one subject per host.", params.from, params.to),
            "start": params.from,
            "end": params.to,
            "local-definitions": {
                "components": [{
                    "uuid": tool,
                    "type": "software",
                    "title": "attestd-server",
                    "description": "The fleet server: it received each host's signed rows and computed the summaries these findings follow.",
                    "status": {"state": "operational"},
                }],
                "inventory-items": items,
            },
            "reviewed-controls": reviewed,
        });
        let head = json!({
            "uuid": ids.of("document"),
            "metadata": {
                "title": format!("attestd fleet evidence for {} to {}", params.from, params.to),
                "last-modified": generated_at,
                "version": version,
                "oscal-version": OSCAL_VERSION,
                "remarks": "Produced by attestd-server from the hosts' witnessed ledgers; each finding follows the host's summary.json in the same bundle.",
            },
            "import-ap": {
                "href": "../fleet.json",
                "remarks": "No OSCAL assessment plan is written for a fleet: the population and the period's parameters are in fleet.json.",
            },
        });
        // Both objects are written without their closing brace, and the big arrays
        // after their last member.
        let open = |v: &Value| {
            let mut text = serde_json::to_vec(v).expect("a JSON value serializes");
            text.pop(); // its closing `}`
            text
        };
        w.write_all(b"{\"assessment-results\":")?;
        w.write_all(&open(&head))?;
        w.write_all(b",\"results\":[")?;
        w.write_all(&open(&result))?;
        // OSCAL wants at least one item in each array: leave empty ones out.
        for (name, array) in [
            ("observations", &observations),
            ("findings", &findings),
            ("risks", &risks),
        ] {
            if !array.is_empty() {
                write!(w, ",\"{name}\":[")?;
                w.write_all(&array.0)?;
                w.write_all(b"]")?;
            }
        }
        w.write_all(b"}]}}\n")
    }
}
