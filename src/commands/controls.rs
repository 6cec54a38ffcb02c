//! `attestd controls`: each control of a framework with the rules that test it and
//! their current state (from the database when there is one).

use super::{database_path, load_config_and_policies, CliError};
use crate::cli::{ControlsArgs, Format};
use crate::policy::Status;
use crate::store::Store;
use serde_json::json;

/// A control's state from its rules' states: any failure fails it, then any error;
/// it passes when at least one rule passes and nothing fails.
pub fn control_state(statuses: &[Option<Status>]) -> &'static str {
    if statuses.is_empty() {
        return "not tested";
    }
    if statuses.contains(&Some(Status::Fail)) {
        "fail"
    } else if statuses.contains(&Some(Status::Error)) {
        "error"
    } else if statuses.iter().any(|s| s.is_none()) {
        "not assessed"
    } else if statuses.contains(&Some(Status::Pass)) || statuses.contains(&Some(Status::Waived)) {
        if statuses.contains(&Some(Status::Waived)) {
            "pass (with waivers)"
        } else {
            "pass"
        }
    } else {
        "not applicable"
    }
}

pub fn run(args: ControlsArgs) -> Result<i32, CliError> {
    let (config, policies) = load_config_and_policies(&args.db.config)?;
    let path = database_path(args.db.db.as_deref(), Some(&config));
    let current = if path.exists() {
        Store::open_read_only(&path)
            .and_then(|s| s.current_statuses())
            .map_err(|e| CliError::Operational(e.to_string()))?
    } else {
        Default::default()
    };
    let framework = policies
        .catalog
        .frameworks
        .get(args.framework.id())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "framework {} is not in the catalog",
                args.framework.id()
            ))
        })?;
    let mut rows = Vec::new();
    for control in &framework.controls {
        let reference = format!("{}:{}", framework.id, control.id);
        let rules: Vec<_> = policies
            .rules
            .iter()
            .filter(|r| r.controls.contains(&reference))
            .collect();
        if rules.is_empty() && !args.all {
            continue;
        }
        let statuses: Vec<Option<Status>> =
            rules.iter().map(|r| current.get(&r.id).copied()).collect();
        rows.push(json!({
            "control": reference,
            "name": control.name,
            "iso2013": control.iso2013,
            "state": control_state(&statuses),
            "rules": rules.iter().zip(&statuses).map(|(r, s)| json!({
                "rule": r.id,
                "status": s.map(|s| s.as_str()).unwrap_or("not assessed"),
            })).collect::<Vec<_>>(),
        }));
    }
    if args.db.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows).expect("JSON"));
        return Ok(0);
    }
    if current.is_empty() {
        println!(
            "(no runs recorded in {}; states show `not assessed`)\n",
            path.display()
        );
    }
    println!("{}", framework.name);
    for row in &rows {
        let also = row["iso2013"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|a| {
                let ids: Vec<&str> = a.iter().filter_map(|v| v.as_str()).collect();
                format!(" [2013: {}]", ids.join(", "))
            })
            .unwrap_or_default();
        println!(
            "\n{:<26} {:<20} {}{}",
            row["control"].as_str().unwrap_or(""),
            row["state"].as_str().unwrap_or(""),
            row["name"].as_str().unwrap_or(""),
            also
        );
        for r in row["rules"].as_array().into_iter().flatten() {
            println!(
                "    {:<14} {}",
                r["status"].as_str().unwrap_or(""),
                r["rule"].as_str().unwrap_or("")
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failure_fails_the_control() {
        assert_eq!(
            control_state(&[Some(Status::Pass), Some(Status::Fail)]),
            "fail"
        );
        assert_eq!(
            control_state(&[Some(Status::Pass), Some(Status::Error)]),
            "error"
        );
        assert_eq!(control_state(&[Some(Status::Pass), None]), "not assessed");
        assert_eq!(
            control_state(&[Some(Status::Pass), Some(Status::Waived)]),
            "pass (with waivers)"
        );
        assert_eq!(
            control_state(&[Some(Status::NotApplicable)]),
            "not applicable"
        );
        assert_eq!(control_state(&[]), "not tested");
    }
}
