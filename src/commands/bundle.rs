//! `attestd bundle`: check the flags, choose the sample days, and write a signed
//! evidence bundle for the period (the work is in `bundle/`).

use super::{database_path, host_root, load_config_and_policies, CliError};
use crate::cli::{BundleArgs, Format};
use attestd_ledger::summary::Parameters;
use chrono::{DateTime, NaiveDate, Timelike, Utc};

/// `YYYY-MM-DD` (start of that day, or with `end_of_day` the start of the next) or
/// RFC 3339.
pub fn parse_bound(text: &str, end_of_day: bool, flag: &str) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        CliError::Usage(format!(
            "{flag} `{text}`: expected YYYY-MM-DD or an RFC 3339 time"
        ))
    })?;
    let d = if end_of_day {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

pub fn run(args: BundleArgs) -> Result<i32, CliError> {
    let (config, policies) = load_config_and_policies(&args.db.config)?;
    let _ = &config;
    let from = parse_bound(&args.from, false, "--from")?;
    let to = parse_bound(&args.to, true, "--to")?;
    if to <= from {
        return Err(CliError::Usage(format!(
            "--to {} is not after --from {}",
            args.to, args.from
        )));
    }
    // A period cannot end in the future: runs that have not happened yet are no gap.
    // It ends just after the current second, so rows stored in it are inside.
    let now = crate::clock::now();
    let to = if to > now {
        let end = now.with_nanosecond(0).unwrap_or(now) + chrono::Duration::seconds(1);
        let end = end.min(to);
        eprintln!(
            "attestd: note: the period is cut at now ({}); later runs have not happened yet",
            crate::clock::rfc3339(end)
        );
        end
    } else {
        to
    };
    let framework = args.framework.map(|f| f.id().to_string());
    let mut controls = Vec::new();
    for c in &args.controls {
        let full = match (&framework, c.contains(':')) {
            (_, true) => c.clone(),
            (Some(f), false) => format!("{f}:{c}"),
            (None, false) => {
                return Err(CliError::Usage(format!(
                    "--control {c}: write framework:ID (soc2:CC6.1) or give --framework"
                )))
            }
        };
        policies
            .catalog
            .check_control(&full)
            .map_err(|e| CliError::Usage(format!("--control {c}: {e}")))?;
        controls.push(full);
    }
    let (sample_dates, sampling) = match args.samples {
        Some(n) => (
            crate::bundle::sample_days(from, to, n, args.seed),
            format!(
                "random(n={n}, seed={}, ChaCha8 + rand::seq::index::sample)",
                args.seed
            ),
        ),
        None if !args.sample_dates.is_empty() => {
            let mut days = Vec::new();
            for d in &args.sample_dates {
                let day = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    CliError::Usage(format!("--sample-dates: `{d}` is not YYYY-MM-DD"))
                })?;
                let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
                if start + chrono::Duration::days(1) <= from || start >= to {
                    return Err(CliError::Usage(format!(
                        "--sample-dates: {d} is outside the period {} to {}",
                        args.from, args.to
                    )));
                }
                days.push(day);
            }
            days.sort();
            days.dedup();
            (days, "given".to_string())
        }
        None => (Vec::new(), "none".to_string()),
    };
    let params = Parameters {
        from: crate::clock::rfc3339(from),
        to: crate::clock::rfc3339(to),
        framework,
        controls,
        sample_dates: sample_dates.iter().map(|d| d.to_string()).collect(),
        sampling,
    };
    let database = database_path(args.db.db.as_deref(), Some(&config));
    if !database.exists() {
        return Err(CliError::Operational(format!(
            "{}: no such database; give --db or run `attestd run` first",
            database.display()
        )));
    }
    let root = host_root(args.root.as_deref())?;
    let built = crate::bundle::build(crate::bundle::BuildOptions {
        params,
        database: &database,
        out: &args.out,
        catalog: &policies.catalog,
        identity: crate::host::HostIdentity::read(&root),
        generated_at: crate::clock::rfc3339(crate::clock::now()),
        allow_empty: args.allow_empty,
    });
    let built = match built {
        Err(e) if e == crate::bundle::EMPTY_PERIOD => {
            eprintln!("attestd: warning: {e}");
            return Ok(1);
        }
        other => other.map_err(CliError::Operational)?,
    };
    if built.runs == 0 {
        eprintln!(
            "attestd: warning: no run was recorded in this period: the bundle holds no evidence (written because of --allow-empty)"
        );
    }
    if let Some(b) = &built.chain_break {
        eprintln!(
            "attestd: warning: the database's hash chain is broken ({b}); the bundle records it and will fail verification"
        );
    }
    match args.db.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "path": built.path,
                "files": built.files,
                "controls": built.controls,
                "exceptions": built.exceptions,
                "gaps": built.gaps,
                "evidence_records": built.evidence_records,
                "signing_key_fingerprint": built.fingerprint,
            })
        ),
        Format::Text => {
            if built.key_created {
                println!("created a signing key beside the database (attestd key show prints it)");
            }
            println!(
                "wrote {} ({} files): {} controls, {} exceptions, {} gaps, {} evidence records\nsigned with {}\ncheck it: attestd verify {}",
                built.path.display(),
                built.files,
                built.controls,
                built.exceptions,
                built.gaps,
                built.evidence_records,
                built.fingerprint,
                built.path.display()
            );
        }
    }
    Ok(0)
}
