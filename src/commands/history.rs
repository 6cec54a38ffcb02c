//! `attestd history`: how a rule's or a control's verdicts changed over time.

use super::{load_config_and_policies, open_for_reading, parse_since, CliError};
use crate::cli::{Format, HistoryArgs};

pub fn run(args: HistoryArgs) -> Result<i32, CliError> {
    let (_, policies) = load_config_and_policies(&args.db.config)?;
    let rules: Vec<String> = match (&args.rule, &args.control) {
        (Some(rule), _) => {
            if policies.rule(rule).is_none() {
                return Err(CliError::Usage(format!(
                    "no rule `{rule}` is loaded; `attestd controls --all` lists the rules"
                )));
            }
            vec![rule.clone()]
        }
        (None, Some(control)) => {
            policies
                .catalog
                .check_control(control)
                .map_err(CliError::Usage)?;
            policies
                .rules
                .iter()
                .filter(|r| r.controls.iter().any(|c| c == control))
                .map(|r| r.id.clone())
                .collect()
        }
        (None, None) => unreachable!("clap requires --rule or --control"),
    };
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let store = open_for_reading(args.db.db.as_deref(), &args.db.config)?;
    let events = store
        .drift_events(Some(&rules), since.as_deref())
        .map_err(|e| CliError::Operational(e.to_string()))?;
    if args.db.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&events).expect("JSON"));
        return Ok(0);
    }
    if events.is_empty() {
        println!("no verdict changes recorded for {}", rules.join(", "));
    }
    for e in &events {
        let from = e.from.map(|s| s.as_str()).unwrap_or("first verdict");
        println!(
            "{}  {:<34} {:>14} -> {:<14} observed {} (expected {})",
            e.at,
            e.rule,
            from,
            e.to.as_str(),
            e.observed_after,
            e.expected
        );
    }
    Ok(0)
}
