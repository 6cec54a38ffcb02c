//! `attestd-server`: the fleet server. Hosts push their ledger rows here over HTTPS;
//! the server checks each segment, stores it in PostgreSQL and signs a receipt as an
//! independent witness. This file owns the command line only; it never links any host
//! code but the ledger crate.

mod bundle;
mod check;
mod config;
mod db;
mod http;
mod metrics;
mod org;
mod witness;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "attestd-server",
    version,
    about = "attestd's fleet server: every host's ledger in one PostgreSQL store, witnessed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the schema (run as the database owner).
    Migrate {
        #[arg(long)]
        database: String,
    },
    /// Serve the HTTPS API.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Enrolment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Every enrolled host and its state.
    Hosts {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "text")]
        format: Format,
    },
    /// One evidence bundle for the fleet over a period (see docs/fleet.md).
    Bundle {
        #[arg(long)]
        config: PathBuf,
        /// Start of the period (YYYY-MM-DD or RFC 3339, UTC), inclusive.
        #[arg(long)]
        from: String,
        /// End of the period (YYYY-MM-DD or RFC 3339, UTC), exclusive.
        #[arg(long)]
        to: String,
        /// Only hosts enrolled in this scope.
        #[arg(long)]
        scope: Option<String>,
        /// `soc2` or `iso27001-2022` (default: both).
        #[arg(long)]
        framework: Option<String>,
        /// Sample this many hosts (seeded by --seed).
        #[arg(long, default_value_t = 0)]
        sample_hosts: usize,
        /// Sample this many days (seeded by --seed).
        #[arg(long, default_value_t = 0)]
        sample_days: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A new directory, or FILE.tar.gz.
        #[arg(long)]
        out: PathBuf,
    },
    /// One host.
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a one-use enrolment token; prints the token alone on stdout.
    Create {
        #[arg(long)]
        config: PathBuf,
        /// The scope of the host (for --organisation: default `organisation`).
        #[arg(long, required_unless_present = "organisation")]
        scope: Option<String>,
        /// Enrol an organisation ledger (attestations that belong to no host) instead
        /// of a host: see docs/fleet.md.
        #[arg(long)]
        organisation: bool,
        /// RFC 3339 instant after which the token is refused.
        #[arg(long)]
        expires: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Subcommand)]
enum HostCommand {
    /// Retire a host: it leaves the population and may push no more.
    Retire {
        #[arg(long)]
        config: PathBuf,
        host: String,
    },
}

#[derive(Clone, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> std::process::ExitCode {
    // `ATTESTD_SERVER_LOG`: a level or `target=level` directives (`Targets`: no regex
    // engine, as in attestd's own logging).
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("ATTESTD_SERVER_LOG")
        .ok()
        .and_then(|f| f.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| "info".parse().expect("a level is a filter"));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("attestd-server: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match cli.command {
        Command::Migrate { database } => {
            let n = db::migrate(&database).await?;
            eprintln!("migrations applied: {n}");
        }
        Command::Run { config } => {
            let c = config::Config::load(&config)?;
            let witness = witness::Witness::load_or_create(&c.witness_key)?;
            let pool = db::pool(&c.database, c.pool_size)?;
            let _ = pool
                .get()
                .await
                .map_err(|e| anyhow::anyhow!("database {:?}: {e}", c.database))?;
            let app = Arc::new(http::App {
                pool,
                witness,
                metrics: metrics::Metrics::new(c.late_after_secs, c.not_reporting_after_secs),
                max_rows: c.max_rows_per_push,
                max_body: c.max_body_bytes,
                pushes: Arc::new(tokio::sync::Semaphore::new(c.max_concurrent_pushes)),
                push_wait: std::time::Duration::from_millis(c.push_wait_ms),
                retry_after_secs: c.retry_after_secs,
            });
            let router = http::router(app);
            let handle = axum_server::Handle::new();
            let h2 = handle.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                h2.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let h3 = handle.clone();
            tokio::spawn(async move {
                term.recv().await;
                h3.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            match (&c.tls_cert, &c.tls_key) {
                (Some(cert), Some(key)) => {
                    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "TLS certificate {} / key {}: {e}",
                                cert.display(),
                                key.display()
                            )
                        })?;
                    eprintln!("attestd-server: listening on https://{}", c.listen);
                    axum_server::bind_rustls(c.listen, tls)
                        .handle(handle)
                        .serve(router.into_make_service())
                        .await?;
                }
                _ => {
                    eprintln!(
                        "attestd-server: listening on http://{} (loopback, no TLS)",
                        c.listen
                    );
                    axum_server::bind(c.listen)
                        .handle(handle)
                        .serve(router.into_make_service())
                        .await?;
                }
            }
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    config,
                    scope,
                    organisation,
                    expires,
                },
        } => {
            let c = config::Config::load(&config)?;
            let pool = db::pool(&c.database, 1)?;
            let scope = scope.unwrap_or_else(|| "organisation".into());
            println!(
                "{}",
                db::token_create(&pool, &scope, expires, organisation).await?
            );
        }
        Command::Hosts { config, format } => {
            let c = config::Config::load(&config)?;
            let pool = db::pool(&c.database, 1)?;
            let hosts = db::hosts(&pool, c.late_after_secs, c.not_reporting_after_secs).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&hosts)?),
                Format::Text => {
                    println!(
                        "{:<24} {:<12} {:<14} {:>8} {:<20} RETIRED",
                        "HOST", "SCOPE", "STATE", "SEQ", "LAST PUSH"
                    );
                    for h in hosts {
                        println!(
                            "{:<24} {:<12} {:<14} {:>8} {:<20} {}",
                            h.host,
                            h.scope,
                            h.state,
                            h.seq,
                            h.last_push.as_deref().unwrap_or("never"),
                            h.retired.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
        }
        Command::Bundle {
            config,
            from,
            to,
            scope,
            framework,
            sample_hosts,
            sample_days,
            seed,
            out,
        } => {
            let c = config::Config::load(&config)?;
            let witness = witness::Witness::load_or_create(&c.witness_key)?;
            let pool = db::pool(&c.database, 1)?;
            let when = |flag: &str, s: &str| -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    return Ok(t.with_timezone(&chrono::Utc));
                }
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
                    .map_err(|_| anyhow::anyhow!("{flag}: `{s}` is not YYYY-MM-DD or RFC 3339"))
            };
            if let Some(f) = &framework {
                if !["soc2", "iso27001-2022"].contains(&f.as_str()) {
                    anyhow::bail!("--framework: `{f}` is not soc2 or iso27001-2022");
                }
            }
            let opts = bundle::Options {
                from: when("--from", &from)?,
                to: when("--to", &to)?,
                scope,
                framework,
                sample_hosts,
                sample_days,
                seed,
                out: out.clone(),
                late_after_secs: c.late_after_secs,
            };
            let b = bundle::build(&pool, &witness, &opts).await?;
            println!(
                "fleet bundle {}: {} hosts, {} rows, {} exceptions, {} gaps, {} late runs, {} files",
                out.display(),
                b.hosts,
                b.rows,
                b.exceptions,
                b.gaps,
                b.late,
                b.files
            );
        }
        Command::Host {
            command: HostCommand::Retire { config, host },
        } => {
            let c = config::Config::load(&config)?;
            let pool = db::pool(&c.database, 1)?;
            match db::retire(&pool, &host).await? {
                db::Outcome::Ok(()) => eprintln!("{host} retired"),
                db::Outcome::Refused(r) => {
                    eprintln!("attestd-server: {}", r.message);
                    return Ok(ExitCode::from(2));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
