//! The command line: every subcommand, flag and help text. Parsing only; the work is in
//! `commands/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// attestd observes this host's security controls, judges them against policies mapped
/// to SOC 2 and ISO/IEC 27001:2022, and keeps the results in a hash-chained ledger that
/// auditors can verify.
#[derive(Debug, Parser)]
#[command(name = "attestd", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 = nothing failed, 1 = a rule failed or could not be judged (collect) \
or the ledger or bundle fails a check (verify), 2 = usage or configuration error, 3 = operational error (database, I/O).";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every enabled collector once, judge the facts and print the verdicts.
    ///
    /// Only reads the host unless --db is given, but for the patching collector's cache
    /// of what apt's lists offer (/var/cache/attestd as root; `lists_cache = false`
    /// turns it off). Exits 0 when nothing fails, 1 when a rule fails or cannot be
    /// judged, 2 on a usage or configuration error.
    Collect(CollectArgs),
    /// Run as the daemon: collect on each collector's schedule, re-collect when a watched
    /// file changes, store every run and record drift. SIGTERM stops after the current
    /// write; SIGHUP reloads the config and keeps the old one if the new one is invalid.
    Run(RunArgs),
    /// Show failing rules and controls now, and the last run of each collector.
    Status(DbArgs),
    /// List the controls of a framework with the rules that test them and their state.
    Controls(ControlsArgs),
    /// Show how a rule's or control's verdict changed over time.
    History(HistoryArgs),
    /// Verify an evidence bundle (hashes, signature, ledger rows, recomputed summary),
    /// or, without BUNDLE, walk the database's hash chain and name the first broken row.
    Verify(VerifyArgs),
    /// List recent alerts and their delivery to each sink; `alerts test` sends a test
    /// message through the sinks; `alerts deliver` sends what is pending now.
    ///
    /// Alerts are queued in the database with the run that raised them (by the daemon and
    /// by `collect --db`); the daemon delivers them within seconds and retries failures
    /// with backoff. Every attempt is kept in the ledger.
    Alerts(AlertsArgs),
    /// Show each probed endpoint's availability, downtime, gaps and error budget.
    ///
    /// Reads the probe results the daemon keeps in the ledger. Over the last 30 days
    /// unless --from/--to say otherwise. Gaps are times without results (attestd not
    /// running): they count neither as uptime nor as downtime.
    Availability(AvailabilityArgs),
    /// Write a signed evidence bundle for an audit period (SOC 2 Type II, ISO 27001).
    ///
    /// The bundle (a directory, or a .tar.gz when PATH ends so) holds per-control
    /// coverage, gaps and exceptions (summary.json, index.html, controls.csv,
    /// exceptions.csv), the raw evidence, the rules and parameters in force, OSCAL
    /// assessment-results, the ledger rows of the period, SHA256SUMS and its Ed25519
    /// signature. Check it with `attestd verify PATH` or with sha256sum and openssl.
    Bundle(BundleArgs),
    /// Print the state of every rule and control as it was at a moment, rebuilt from
    /// the ledger.
    Evidence(EvidenceArgs),
    /// The host's bundle-signing key.
    Key(KeyArgs),
    /// Ask the running daemon to reload its configuration (SIGHUP) and wait for its
    /// answer; exits 2 with the reason when the new configuration is refused.
    ///
    /// The unit's `ExecReload=`, so `systemctl reload attestd` fails, and `systemctl
    /// status attestd` shows why, when the daemon keeps the previous configuration.
    Reload(ReloadArgs),
    /// Register this host's key with the fleet server (`[fleet]`) using a one-use token.
    Enroll(EnrollArgs),
    /// Push the ledger rows the fleet server does not hold yet, record its receipts, exit.
    Push(PushArgs),
    /// Record, review and list attestations: evidence no host can show (training,
    /// access reviews, DR drills, vendor reviews, ...), signed into the ledger.
    ///
    /// Each attestation is a ledger row: the controls it evidences, the day it happened
    /// or the span it covers, who did it and who recorded it (your OS user), its files
    /// by SHA-256 (kept in blobs/ beside the database, never inline), expiry and
    /// recurrence. Reviews and corrections are new rows; nothing is ever edited.
    /// Bundles carry them with a statement of applicability. See docs/attest.md.
    Attest(AttestArgs),
    /// Write the man page attestd(8) and shell completions into DIR (used to build the
    /// package).
    #[command(hide = true)]
    GenerateAssets(GenerateAssetsArgs),
    /// Run one collector for the daemon and exit (the daemon starts this itself: a
    /// request on stdin, evidence as JSON on stdout).
    #[command(hide = true, name = "collect-worker")]
    CollectWorker,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The daemon's process id (the unit passes $MAINPID).
    #[arg(long, value_name = "PID")]
    pub pid: u32,
    /// The daemon's status socket [default: the one the config names, else the default].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// How long to wait for the daemon's answer (it answers between runs); under the
    /// unit's 60 s TimeoutStartSec, which also bounds ExecReload.
    #[arg(long, value_name = "SECONDS", default_value_t = 45)]
    pub timeout_seconds: u64,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct GenerateAssetsArgs {
    /// Directory to write attestd.8 and completions/ into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Flags shared by commands that read config and policies.
#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    /// Configuration file [default: /etc/attestd/attestd.toml if present, else the
    /// embedded default].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--collector`'s help, from the registry, so that it names every built-in collector
/// (and the man page, generated from the same definitions, does too).
fn collector_help() -> String {
    format!(
        "Run only this collector (repeatable): {}, or a configured plugin exec:NAME",
        attestd_collectors::known_collector_names().join(", ")
    )
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Assess the tree at DIR (a fixture or a mounted image) instead of this host.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Run only this collector (repeatable); the list is the collector registry's.
    #[arg(long = "collector", value_name = "NAME", help = collector_help())]
    pub collectors: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also store the run (evidence, verdicts, drift) in this database.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Assess the tree at DIR instead of this host.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Database [default: from config, else /var/lib/attestd/attestd.db as root, else
    /// $XDG_STATE_HOME/attestd/attestd.db].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database [default: as for `attestd run`].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ControlsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Which framework to list.
    #[arg(long, value_enum, default_value_t = FrameworkArg::Soc2)]
    pub framework: FrameworkArg,
    /// Also list controls that no rule tests.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["rule", "control"])))]
pub struct HistoryArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A rule id, such as password.min_length.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
    /// A control id, such as soc2:CC6.1 or iso27001-2022:A.8.5.
    #[arg(long, value_name = "ID")]
    pub control: Option<String>,
    /// Only changes at or after this time (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct AvailabilityArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Start of the period (YYYY-MM-DD or RFC 3339) [default: 30 days before --to].
    #[arg(long, value_name = "WHEN")]
    pub from: Option<String>,
    /// End of the period (YYYY-MM-DD or RFC 3339) [default: now].
    #[arg(long, value_name = "WHEN")]
    pub to: Option<String>,
    /// Availability target in percent for the error budget [default: the
    /// availability_target_percent variable, 99.95].
    #[arg(long, value_name = "PERCENT")]
    pub target: Option<f64>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  attestd verify                       walk the default database's chain\n  attestd verify --db /var/lib/attestd/attestd.db\n  attestd verify bundle-2026H1.tar.gz  check a bundle\n  attestd verify ./bundle --key SHA256:3f...  and require this signing key"
)]
pub struct VerifyArgs {
    /// An evidence bundle (directory or .tar.gz) to verify. Without it, verify the
    /// database's hash chain instead.
    #[arg(value_name = "BUNDLE", conflicts_with = "db")]
    pub bundle: Option<PathBuf>,
    /// With BUNDLE: the signing key you expect, as a PEM public key file or the
    /// `SHA256:...` fingerprint printed by `attestd key show` on the host. Without it
    /// the key inside the bundle is used and its fingerprint printed for you to compare.
    #[arg(long, value_name = "PEM|FINGERPRINT", requires = "bundle")]
    pub key: Option<String>,
    /// With BUNDLE: the fleet server's witness key the bundle's receipts must be signed
    /// with (PEM file or `SHA256:...` fingerprint, from `attestd-server` or the host's
    /// fleet-witness.pub.pem). Without it the witness key inside the bundle is used.
    #[arg(long, value_name = "PEM|FINGERPRINT", requires = "bundle")]
    pub witness_key: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<AlertsAction>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Only alerts created at or after this time (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Show at most this many alerts (the newest).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Send a test message through each configured sink (or only --sink NAME) and report
    /// each result. Nothing is queued or stored. Exit 1 if any sink failed.
    Test(AlertsTestArgs),
    /// Send every queued alert that is due now through its sinks, record the attempts,
    /// and exit (for hosts that use `collect --db` from cron instead of the daemon).
    /// Exit 1 if any delivery failed.
    Deliver(DbArgs),
}

#[derive(Debug, Args)]
pub struct AlertsTestArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this sink (a name under [alerts.sinks]).
    #[arg(long, value_name = "NAME")]
    pub sink: Option<String>,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// First day of the period (YYYY-MM-DD, from 00:00 UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// Last day of the period (YYYY-MM-DD, through 24:00 UTC that day) or an RFC 3339
    /// time (exclusive).
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// Only controls of this framework [default: the SOC 2 and ISO 27001:2022 controls
    /// the rules map to].
    #[arg(long, value_enum)]
    pub framework: Option<FrameworkArg>,
    /// Only this control (repeatable): soc2:CC6.1, iso27001-2022:A.8.5, or CC6.1 with
    /// --framework.
    #[arg(long = "control", value_name = "ID")]
    pub controls: Vec<String>,
    /// Where to write the bundle: a new directory, or a file ending in .tar.gz.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Days for point-in-time snapshots, comma-separated (YYYY-MM-DD,...).
    #[arg(
        long,
        value_name = "DATES",
        value_delimiter = ',',
        conflicts_with = "samples"
    )]
    pub sample_dates: Vec<String>,
    /// Pick this many days of the period at random for snapshots (reproducible with --seed).
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Seed for --samples; the same seed picks the same days.
    #[arg(long, value_name = "S", default_value_t = 1, requires = "samples")]
    pub seed: u64,
    /// The host tree whose identity goes in host.json [default: /].
    /// Write the bundle even when the period holds no ledger rows (otherwise a
    /// warning and exit 1).
    #[arg(long)]
    pub allow_empty: bool,
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// The moment (RFC 3339, or YYYY-MM-DD for 00:00 UTC that day).
    #[arg(long, value_name = "TIMESTAMP")]
    pub at: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the public key (PEM) and its fingerprint, creating the key pair when
    /// missing. The private key (signing-key.pem, mode 0600) stays beside the database.
    Show(DbArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FrameworkArg {
    Soc2,
    #[value(name = "iso27001-2022")]
    Iso27001_2022,
}

impl FrameworkArg {
    pub fn id(&self) -> &'static str {
        match self {
            FrameworkArg::Soc2 => crate::policy::catalog::SOC2,
            FrameworkArg::Iso27001_2022 => crate::policy::catalog::ISO2022,
        }
    }
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The one-use token from `attestd-server token create`.
    #[arg(long, value_name = "TOKEN")]
    pub token: String,
    /// Database whose directory holds the host key [default: as for `attestd run`].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Database [default: as for `attestd run`].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    #[command(subcommand)]
    pub action: AttestAction,
}

#[derive(Debug, Subcommand)]
pub enum AttestAction {
    /// Record an attestation.
    #[command(
        after_help = "Examples:\n  attestd attest add --kind access_review --control iso27001-2022:A.5.18 --control soc2:CC6.3 \\\n      --title \"Q1 access review\" --covers 2026-01-01..2026-03-31 --every 3mo --file review-q1.pdf\n  attestd attest add --kind training --control iso27001-2022:A.6.3 --title \"Awareness 2026\" \\\n      --effective 2026-02-10 --expires 2027-02-10 --performed-by \"all staff\"\n  attestd attest add --kind other --not-applicable --control iso27001-2022:A.7.4 \\\n      --title \"No premises of our own: hosting provider's SOC 2 report covers it\" --effective 2026-01-01"
    )]
    Add(AttestAddArgs),
    /// List attestations (the ones that count, unless --all), or with --due what is due,
    /// overdue, expiring or missing per control of the shipped expectations catalog.
    List(AttestListArgs),
    /// Approve or reject an attestation (a new row; the latest review is its state).
    /// A rejected attestation does not count as evidence.
    Review(AttestReviewArgs),
    /// Correct an attestation: record a new revision that replaces it. Flags not given
    /// are taken from the revision superseded; both stay in the ledger and in bundles.
    Supersede(AttestSupersedeArgs),
    /// Queue reminder alerts now for attestations falling due or expiring within
    /// `[attest] reminder_days` (the daemon does this after its runs), and exit.
    Remind(DbArgs),
}

/// What an attestation says; shared by `add` and `supersede`.
#[derive(Debug, Args, Clone)]
pub struct AttestFields {
    /// A control it evidences (repeatable), as framework:ID: soc2:CC6.3,
    /// iso27001-2022:A.5.18. Checked against the framework catalogs.
    #[arg(long = "control", value_name = "ID")]
    pub controls: Vec<String>,
    /// training, access_review, vendor_review, dr_drill, restore_test, incident_review,
    /// risk_assessment, policy_approval, policy_acknowledgement or other.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// What it is, in a line an auditor understands.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    /// A file that evidences it (repeatable): stored by SHA-256 beside the database,
    /// at most 20 MiB; files holding private keys or password hashes are refused.
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Who did it (a person or a team).
    #[arg(long, value_name = "WHO")]
    pub performed_by: Option<String>,
    /// Who is reminded when it falls due or expires [default: --performed-by, else you].
    #[arg(long, value_name = "WHO")]
    pub owner: Option<String>,
    /// The day it happened (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE", conflicts_with = "covers")]
    pub effective: Option<String>,
    /// The span it covers, both days inclusive: FROM..TO (YYYY-MM-DD..YYYY-MM-DD).
    #[arg(long, value_name = "FROM..TO")]
    pub covers: Option<String>,
    /// The first day it no longer holds (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Expected again every 1y, 6mo, 3mo or 1mo: bundles count each interval of the
    /// period as met or missed.
    #[arg(long, value_name = "INTERVAL")]
    pub every: Option<String>,
    /// Kind `other` only: the controls given do not apply here, and the title says why.
    #[arg(long)]
    pub not_applicable: bool,
}

#[derive(Debug, Args)]
pub struct AttestAddArgs {
    #[command(flatten)]
    pub fields: AttestFields,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct AttestSupersedeArgs {
    /// The id of the attestation to correct (att-...).
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub fields: AttestFields,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct AttestListArgs {
    /// Only attestations (or, with --due, expectations) of this control.
    #[arg(long, value_name = "ID")]
    pub control: Option<String>,
    /// Say what is due, overdue, expiring or missing, per control of the shipped
    /// expectations catalog (policies/attestations/).
    #[arg(long)]
    pub due: bool,
    /// With --due: only this framework.
    #[arg(long, value_enum)]
    pub framework: Option<FrameworkArg>,
    /// Also list superseded and rejected attestations.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("decision").required(true).args(["approve", "reject"])))]
pub struct AttestReviewArgs {
    /// The id of the attestation (att-...).
    #[arg(value_name = "ID")]
    pub id: String,
    /// It evidences what it says.
    #[arg(long)]
    pub approve: bool,
    /// It does not: it stops counting as evidence.
    #[arg(long)]
    pub reject: bool,
    /// The approver's name.
    #[arg(long, value_name = "WHO")]
    pub by: String,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    #[command(flatten)]
    pub db: DbArgs,
}
