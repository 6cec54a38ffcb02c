//! `attestd attest add|list|review|supersede|remind`: flags checked and turned into an
//! `attest::Draft` (every error names the flag and the value), then the work in
//! `attest/`. Prints what was recorded; never edits a row.

use super::{database_path, load_config_and_policies, CliError};
use crate::attest::{blobs::BlobStore, due, expect, Draft, Recorder};
use crate::cli::{
    AttestAction, AttestAddArgs, AttestArgs, AttestFields, AttestListArgs, AttestReviewArgs,
    AttestSupersedeArgs, DbArgs, Format,
};
use crate::clock::{Clock, SystemClock};
use crate::store::Store;
use attestd_ledger::body::{
    parse_day, Attestation, AttestationKind, Effective, Recurrence, ReviewDecision,
};
use attestd_ledger::summary::{attestation_summary, AttestationEntry};
use chrono::{DateTime, Utc};

pub fn run(args: AttestArgs) -> Result<i32, CliError> {
    match args.action {
        AttestAction::Add(a) => add(a),
        AttestAction::Supersede(a) => supersede(a),
        AttestAction::Review(a) => review(a),
        AttestAction::List(a) => list(a),
        AttestAction::Remind(a) => remind(a),
    }
}

fn usage(e: impl Into<String>) -> CliError {
    CliError::Usage(e.into())
}

fn day(flag: &str, v: &str) -> Result<String, CliError> {
    parse_day(v)
        .map(|d| d.to_string())
        .map_err(|_| usage(format!("{flag} `{v}`: expected a date YYYY-MM-DD")))
}

/// Flags → draft; `base` fills what is not given (supersede).
fn draft(f: &AttestFields, base: Option<&Attestation>) -> Result<Draft, CliError> {
    let kind = match (&f.kind, base) {
        (Some(k), _) => AttestationKind::parse(k).ok_or_else(|| {
            usage(format!(
                "--kind `{k}`: unknown kind; use one of {}",
                expect::kind_names()
            ))
        })?,
        (None, Some(b)) => b.kind,
        (None, None) => return Err(usage("--kind: required (e.g. --kind access_review)")),
    };
    let title = match (&f.title, base) {
        (Some(t), _) => t.clone(),
        (None, Some(b)) => b.title.clone(),
        (None, None) => return Err(usage("--title: required (what it is, in a line)")),
    };
    let controls = if !f.controls.is_empty() {
        f.controls.clone()
    } else if let Some(b) = base {
        b.controls.clone()
    } else {
        return Err(usage(
            "--control: at least one is required (e.g. --control iso27001-2022:A.5.18)",
        ));
    };
    let effective = match (&f.effective, &f.covers, base) {
        (Some(d), None, _) => {
            let d = day("--effective", d)?;
            Effective {
                from: d.clone(),
                to: d,
            }
        }
        (None, Some(span), _) => {
            let (a, b) = span.split_once("..").ok_or_else(|| {
                usage(format!(
                    "--covers `{span}`: expected FROM..TO (2026-01-01..2026-03-31)"
                ))
            })?;
            Effective {
                from: day("--covers", a)?,
                to: day("--covers", b)?,
            }
        }
        (None, None, Some(b)) => b.effective.clone(),
        (None, None, None) => {
            return Err(usage(
                "--effective DATE or --covers FROM..TO: required (when it happened, or the span it covers)",
            ))
        }
        (Some(_), Some(_), _) => {
            return Err(usage("--effective and --covers: give one, not both"))
        }
    };
    let expires = match (&f.expires, base) {
        (Some(e), _) => Some(day("--expires", e)?),
        (None, Some(b)) => b.expires.clone(),
        (None, None) => None,
    };
    let every =
        match (&f.every, base) {
            (Some(e), _) => Some(Recurrence::parse(e).ok_or_else(|| {
                usage(format!("--every `{e}`: expected one of 1y, 6mo, 3mo, 1mo"))
            })?),
            (None, Some(b)) => b.every,
            (None, None) => None,
        };
    Ok(Draft {
        kind,
        title,
        controls,
        effective,
        expires,
        every,
        performed_by: f
            .performed_by
            .clone()
            .or_else(|| base.and_then(|b| b.performed_by.clone())),
        owner: f
            .owner
            .clone()
            .or_else(|| base.and_then(|b| b.owner.clone())),
        files: f.files.clone(),
        not_applicable: f.not_applicable
            || base.is_some_and(|b| b.not_applicable && f.kind.is_none()),
    })
}

fn open_store(db: &DbArgs, create: bool) -> Result<(Store, std::path::PathBuf), CliError> {
    let config = crate::config::Config::load(db.config.config.as_deref())
        .map_err(|e| usage(e.to_string()))?;
    let path = database_path(db.db.as_deref(), Some(&config));
    if !create && !path.exists() {
        return Err(CliError::Operational(format!(
            "{}: no such database; record an attestation first (attestd attest add), or give --db",
            path.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::Operational(format!("{}: {e}", parent.display())))?;
    }
    let store = Store::open(&path).map_err(|e| CliError::Operational(e.to_string()))?;
    Ok((store, path))
}

fn print_recorded(seq: i64, a: &Attestation, format: Format, verb: &str) {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"seq": seq, "attestation": a}))
                .expect("JSON")
        ),
        Format::Text => {
            println!(
                "{verb} {} (ledger row {seq}): {} [{}]",
                a.key,
                a.title,
                a.kind.as_str()
            );
            println!("  controls: {}", a.controls.join(", "));
            for f in &a.files {
                println!(
                    "  file: {} sha256:{} {} bytes {}",
                    f.name, f.sha256, f.size, f.media_type
                );
            }
            println!(
                "  recorded by {}; review: pending (attestd attest review {} --approve|--reject)",
                a.recorded_by, a.key
            );
        }
    }
}

fn record(fields: &AttestFields, db: &DbArgs, supersedes: Option<&str>) -> Result<i32, CliError> {
    let (_, policies) = load_config_and_policies(&db.config)?;
    let (mut store, path) = open_store(db, supersedes.is_none())?;
    let base = match supersedes {
        Some(id) => {
            let rows = store
                .attestation_rows()
                .map_err(|e| CliError::Operational(e.to_string()))?;
            Some(
                crate::attest::find(&rows, id)
                    .map(|(_, a)| a)
                    .ok_or_else(|| {
                        usage(format!(
                    "attestation `{id}`: no such attestation (see `attestd attest list --all`)"
                ))
                    })?,
            )
        }
        None => None,
    };
    let d = draft(fields, base.as_ref())?;
    let clock = SystemClock;
    let mut rec = Recorder {
        store: &mut store,
        blobs: BlobStore::beside(&path),
        clock: &clock,
        user: crate::attest::os_user(),
    };
    let (seq, a) = rec
        .record(d, supersedes.map(str::to_string), &policies.catalog)
        .map_err(usage)?;
    print_recorded(
        seq,
        &a,
        db.format,
        if supersedes.is_some() {
            "superseded by"
        } else {
            "recorded"
        },
    );
    Ok(0)
}

fn add(a: AttestAddArgs) -> Result<i32, CliError> {
    record(&a.fields, &a.db, None)
}

fn supersede(a: AttestSupersedeArgs) -> Result<i32, CliError> {
    record(&a.fields, &a.db, Some(&a.id))
}

fn review(a: AttestReviewArgs) -> Result<i32, CliError> {
    let (mut store, path) = open_store(&a.db, false)?;
    let clock = SystemClock;
    let decision = if a.approve {
        ReviewDecision::Approved
    } else {
        ReviewDecision::Rejected
    };
    let mut rec = Recorder {
        store: &mut store,
        blobs: BlobStore::beside(&path),
        clock: &clock,
        user: crate::attest::os_user(),
    };
    let (seq, r) = rec
        .review(&a.id, decision, &a.by, &a.reason)
        .map_err(usage)?;
    match a.db.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"seq": seq, "review": r}))
                .expect("JSON")
        ),
        Format::Text => println!(
            "{} {} by {} (ledger row {seq}): {}",
            r.key,
            r.decision.as_str(),
            r.by,
            r.reason
        ),
    }
    Ok(0)
}

/// Every attestation as of `now`.
fn entries(store: &Store, now: DateTime<Utc>) -> Result<Vec<AttestationEntry>, CliError> {
    let rows = store
        .attestation_rows()
        .map_err(|e| CliError::Operational(e.to_string()))?;
    let s = attestation_summary(
        &rows,
        DateTime::<Utc>::MIN_UTC,
        now + chrono::Duration::seconds(1),
        &[],
    )
    .map_err(CliError::Operational)?;
    Ok(s.attestations)
}

fn list(a: AttestListArgs) -> Result<i32, CliError> {
    let (config, policies) = load_config_and_policies(&a.db.config)?;
    if let Some(c) = &a.control {
        policies
            .catalog
            .check_control(c)
            .map_err(|e| usage(format!("--control {c}: {e}")))?;
    }
    let store = super::open_for_reading(a.db.db.as_deref(), &a.db.config)?;
    let now = SystemClock.now();
    let all = entries(&store, now)?;
    if a.due {
        let exp = expect::shipped(&policies.catalog).map_err(usage)?;
        let mut items = due::due(
            &exp,
            &all,
            now.date_naive(),
            config.attest_reminder_days as i64,
            a.framework.map(|f| f.id()),
        );
        if let Some(c) = &a.control {
            items.retain(|i| &i.control == c);
        }
        let attention = items
            .iter()
            .filter(|i| !matches!(i.status.as_str(), "ok" | "not_applicable"))
            .count();
        match a.db.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&items).expect("JSON")),
            Format::Text => {
                for i in &items {
                    let when = i
                        .due
                        .as_deref()
                        .map(|d| format!(" due {d}"))
                        .unwrap_or_default();
                    let last = i
                        .last
                        .as_deref()
                        .map(|l| {
                            format!(" last {l} ({})", i.last_effective.as_deref().unwrap_or(""))
                        })
                        .unwrap_or_default();
                    let owner = i
                        .owner
                        .as_deref()
                        .map(|o| format!(" owner {o}"))
                        .unwrap_or_default();
                    println!(
                        "{:<14} {:<24} {} every {}{when}{last}{owner}",
                        i.status,
                        i.control,
                        i.kinds.join("|"),
                        i.every.as_deref().unwrap_or("event"),
                    );
                }
                println!(
                    "{attention} of {} expectations need attention (missing, overdue, expired, due soon or expiring within {} days)",
                    items.len(),
                    config.attest_reminder_days
                );
            }
        }
        return Ok(0);
    }
    let shown: Vec<&AttestationEntry> = all
        .iter()
        .filter(|e| a.all || e.counts_as_evidence)
        .filter(|e| a.control.as_ref().is_none_or(|c| e.controls.contains(c)))
        .collect();
    match a.db.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&shown).expect("JSON")),
        Format::Text => {
            if shown.is_empty() {
                println!(
                    "no attestations{}",
                    if a.all { "" } else { " that count (try --all)" }
                );
            }
            for e in shown {
                let span = if e.effective_from == e.effective_to {
                    e.effective_from.clone()
                } else {
                    format!("{}..{}", e.effective_from, e.effective_to)
                };
                let mut extra = Vec::new();
                if let Some(x) = &e.expires {
                    extra.push(format!("expires {x}"));
                }
                if let Some(r) = e.every {
                    extra.push(format!("every {}", r.as_str()));
                }
                if let Some(s) = &e.superseded_by {
                    extra.push(format!("superseded by {s}"));
                }
                if e.not_applicable {
                    extra.push("not applicable".into());
                }
                println!(
                    "{} {:<22} {span} {} [{}] {}{}",
                    e.id,
                    e.kind.as_str(),
                    e.review,
                    e.controls.join(","),
                    e.title,
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", extra.join(", "))
                    }
                );
            }
        }
    }
    Ok(0)
}

fn remind(db: DbArgs) -> Result<i32, CliError> {
    let (config, policies) = load_config_and_policies(&db.config)?;
    let path = database_path(db.db.as_deref(), Some(&config));
    let mut store = Store::open(&path).map_err(|e| CliError::Operational(e.to_string()))?;
    let host = crate::host::HostIdentity::read(&attestd_collectors::HostRoot::live());
    let policy = crate::pipeline::alert_policy(
        &config.alerts,
        &policies,
        host.hostname.as_deref().unwrap_or("localhost"),
    );
    if policy.is_none() {
        eprintln!("attestd: note: no alert sink is configured ([alerts.sinks]): nothing to remind through");
    }
    let sent = crate::attest::remind::enqueue(
        &mut store,
        policy.as_ref(),
        SystemClock.now(),
        config.attest_reminder_days as i64,
    )
    .map_err(CliError::Operational)?;
    for r in &sent {
        println!(
            "queued: {} {} {} (owner {})",
            r.attestation, r.reason, r.date, r.owner
        );
    }
    println!(
        "{} reminder(s) queued; `attestd alerts deliver` sends them (the daemon does it itself)",
        sent.len()
    );
    Ok(0)
}
