//! Evidence bundles: everything an auditor needs for one period, in a directory or a
//! .tar.gz, signed. `build` streams the ledger once (writing ledger.json and
//! evidence/ while the `summary` analyzer counts), then writes the derived files and
//! SHA256SUMS and signs it; `verify` checks a bundle without trusting its maker. One
//! module per output. The bundle never changes the database (it opens it read-only,
//! apart from creating the signing key beside it when missing).

pub mod attest;
pub mod csv;
pub mod evidence;
pub mod fleet;
pub mod fleet_org;
pub mod host;
pub mod html;
pub mod ledger;
pub mod oscal;
pub mod receipts;
pub mod rejudge;
pub mod rules;
pub mod signing;
pub mod verify;

use crate::host::HostIdentity;
use crate::policy::Catalog;
use crate::store::Store;
use attestd_ledger::summary::{Analyzer, Parameters};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The format tag written into summary.json.
pub const FORMAT: &str = "attestd-bundle/1";

/// What to put in a bundle.
pub struct BuildOptions<'a> {
    pub params: Parameters,
    pub database: &'a Path,
    pub out: &'a Path,
    pub catalog: &'a Catalog,
    pub identity: HostIdentity,
    pub generated_at: String,
    /// Write a bundle even when the period holds no rows.
    pub allow_empty: bool,
}

/// What was written.
#[derive(Debug)]
pub struct Built {
    pub path: PathBuf,
    pub files: usize,
    pub controls: usize,
    pub exceptions: usize,
    pub gaps: usize,
    pub evidence_records: usize,
    /// Runs recorded in the period.
    pub runs: u64,
    pub fingerprint: String,
    pub key_created: bool,
    /// The database's chain was already broken (the bundle records it and will not
    /// verify).
    pub chain_break: Option<String>,
}

/// Is this output a tarball?
pub fn is_tarball(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.ends_with(".tar.gz") || s.ends_with(".tgz")
}

/// The control name from the catalog, for `framework:ID`.
pub fn control_name(catalog: &Catalog) -> impl Fn(&str) -> Option<String> + '_ {
    move |id: &str| catalog.control(id).map(|c| c.name.clone())
}

/// The documents derived from the summary, as (relative path, bytes): host.json and
/// index.html. `build` writes them and `verify` recomputes them byte for byte.
pub struct Derived<'a> {
    pub params: &'a Parameters,
    pub computed: &'a attestd_ledger::summary::Computed,
    pub catalog: &'a Catalog,
    pub identity: &'a HostIdentity,
    pub fingerprint: &'a str,
    pub generated_at: &'a str,
    pub attestd_version: &'a str,
}

impl Derived<'_> {
    /// host.json and index.html.
    pub fn documents(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut host = serde_json::to_vec_pretty(&host::document(
            self.identity,
            self.computed,
            self.fingerprint,
            self.generated_at,
            self.attestd_version,
        ))
        .expect("JSON");
        host.push(b'\n');
        let hostname = self.identity.hostname.as_deref().unwrap_or("this host");
        let page = html::render(
            self.params,
            self.computed,
            self.catalog,
            &html::PageInfo {
                hostname,
                fingerprint: self.fingerprint,
                generated_at: self.generated_at,
            },
        );
        vec![("host.json", host), ("index.html", page.into_bytes())]
    }

    /// What the OSCAL documents are made from.
    pub fn oscal<'b>(
        &'b self,
        evidence: &'b [evidence::EvidenceEntry],
        failing: &'b oscal::Failing,
        bundle_id: &'b str,
    ) -> oscal::Context<'b> {
        oscal::Context {
            params: self.params,
            computed: self.computed,
            evidence,
            failing,
            bundle_id,
            generated_at: self.generated_at,
            catalog: self.catalog,
            hostname: self.identity.hostname.as_deref().unwrap_or("this host"),
        }
    }

    /// The id the OSCAL UUIDs derive from: host and period.
    pub fn bundle_id(&self) -> String {
        format!(
            "{}:{}:{}",
            self.identity
                .machine_id
                .as_deref()
                .unwrap_or("unknown-host"),
            self.params.from,
            self.params.to
        )
    }
}

/// Build a bundle: written into a temporary directory beside `out` and renamed into
/// place (or packed) only when complete, so a failure leaves nothing behind.
pub fn build(opts: BuildOptions) -> Result<Built, String> {
    let key = signing::HostKey::load_or_create(opts.database)?;
    let store = Store::open_read_only(opts.database).map_err(|e| e.to_string())?;
    if opts.out.exists() {
        return Err(format!(
            "{} already exists; choose a new --out path (bundles are never overwritten)",
            opts.out.display()
        ));
    }
    let tarball = is_tarball(opts.out);
    let parent = opts
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".attestd-bundle-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let stem = opts
        .out
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(".tar.gz")
                .trim_end_matches(".tgz")
                .to_string()
        })
        .unwrap_or_else(|| "bundle".into());
    let dir: PathBuf = staging.path().join(stem);
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let selection = store
        .period(&opts.params.from, &opts.params.to)
        .map_err(|e| e.to_string())?;
    if selection.first_seq.is_none() && !opts.allow_empty {
        return Err(EMPTY_PERIOD.into());
    }
    let db_chain = store.verify_chain().map_err(|e| e.to_string())?;
    let database_head = ledger::DatabaseHead {
        rows: db_chain.rows,
        chain_sha256: db_chain.head_sha256.clone(),
        first_break: db_chain
            .first_break
            .as_ref()
            .map(|b| format!("row {}: {}", b.seq, b.reason)),
    };

    // One pass over the rows.
    let names = control_name(opts.catalog);
    let alerts = attestd_ledger::summary::LedgerAlerts::default();
    let mut analyzer = Analyzer::new(opts.params.clone(), &names, &alerts)?
        .with_applicability(attest::applicability_controls(opts.catalog));
    let ledger_path = dir.join("ledger.json");
    let ledger_file = std::fs::File::create(&ledger_path).map_err(|e| io(&ledger_path, e))?;
    let mut ledger_writer = ledger::Writer::new(
        BufWriter::with_capacity(1 << 16, ledger_file),
        selection.first_seq,
        selection.last_seq,
        &selection.anchors,
    )
    .map_err(|e| io(&ledger_path, e))?;
    let mut evidence_writer = evidence::Writer::new(&dir).map_err(|e| io(&dir, e))?;
    let mut policies = rules::Collector::default();
    let mut witnessed = receipts::Collector::default();
    let first = selection.first_seq.unwrap_or(i64::MAX);
    let mut failing = oscal::Failing::new(
        attestd_ledger::summary::parse_time(&opts.params.from)?,
        attestd_ledger::summary::parse_time(&opts.params.to)?,
    );
    store.stream_rows(&selection, |row| {
        witnessed.row(&row)?;
        failing.row(&row);
        ledger_writer
            .row(&row, row.seq >= first)
            .map_err(|e| format!("ledger.json: {e}"))?;
        evidence_writer.row(&row)?;
        policies.row(&row)?;
        alerts.observe(&row);
        analyzer.row(&row)
    })?;
    ledger_writer
        .finish(&database_head)
        .and_then(|mut w| w.flush())
        .map_err(|e| io(&ledger_path, e))?;
    let evidence_entries = evidence_writer.finish().map_err(|e| io(&dir, e))?;
    let computed = analyzer.finish();

    // Derived files.
    let summary_doc = serde_json::json!({
        "format": FORMAT,
        "generated_at": opts.generated_at,
        "attestd_version": env!("CARGO_PKG_VERSION"),
        "parameters": opts.params,
        "computed": computed,
    });
    write_json(&dir.join("summary.json"), &summary_doc)?;
    evidence::write_samples(&dir, &computed.samples).map_err(|e| io(&dir, e))?;
    rules::write(&dir, &policies, &computed.policy_changes).map_err(|e| io(&dir, e))?;
    if let Some(a) = &computed.attestations {
        attest::copy_files(
            &dir,
            a,
            &crate::attest::blobs::BlobStore::beside(opts.database),
        )?;
        attest::write(&dir, a)?;
    }
    receipts::write(&dir, witnessed, &signing::key_dir(opts.database))?;
    let fingerprint = key.fingerprint();
    let derived = Derived {
        params: &opts.params,
        computed: &computed,
        catalog: opts.catalog,
        identity: &opts.identity,
        fingerprint: &fingerprint,
        generated_at: &opts.generated_at,
        attestd_version: env!("CARGO_PKG_VERSION"),
    };
    for (file, bytes) in derived.documents() {
        std::fs::write(dir.join(file), bytes).map_err(|e| io(&dir, e))?;
    }
    let controls_csv = csv::controls(&computed).map_err(|e| format!("controls.csv: {e}"))?;
    std::fs::write(dir.join("controls.csv"), controls_csv).map_err(|e| io(&dir, e))?;
    let exceptions_csv = csv::exceptions(&computed).map_err(|e| format!("exceptions.csv: {e}"))?;
    std::fs::write(dir.join("exceptions.csv"), exceptions_csv).map_err(|e| io(&dir, e))?;
    oscal::write_all(
        &dir,
        &derived.oscal(&evidence_entries, &failing, &derived.bundle_id()),
    )
    .map_err(|e| io(&dir, e))?;
    std::fs::write(dir.join(signing::PUBLIC_FILE), key.public_pem()).map_err(|e| io(&dir, e))?;
    std::fs::write(
        dir.join(signing::MINISIGN_PUBLIC_FILE),
        key.minisign_public(),
    )
    .map_err(|e| io(&dir, e))?;

    // Sums and signature.
    let files = list_files(&dir).map_err(|e| io(&dir, e))?;
    let mut sums = String::new();
    for rel in &files {
        let digest = sha256_file(&dir.join(rel)).map_err(|e| io(&dir.join(rel), e))?;
        sums.push_str(&format!("{digest}  {rel}\n"));
    }
    std::fs::write(dir.join("SHA256SUMS"), &sums).map_err(|e| io(&dir, e))?;
    std::fs::write(dir.join("SHA256SUMS.sig"), key.sign(sums.as_bytes()))
        .map_err(|e| io(&dir, e))?;
    let comment = format!(
        "attestd bundle {} to {} file:SHA256SUMS",
        opts.params.from, opts.params.to
    );
    std::fs::write(
        dir.join("SHA256SUMS.minisig"),
        key.minisign_signature(sums.as_bytes(), &comment),
    )
    .map_err(|e| io(&dir, e))?;

    let built = Built {
        path: opts.out.to_path_buf(),
        files: files.len() + 3,
        controls: computed.controls.len(),
        exceptions: computed.rules.values().map(|r| r.exceptions.len()).sum(),
        gaps: computed.collectors.values().map(|c| c.gaps.len()).sum(),
        evidence_records: evidence_entries.len(),
        runs: computed.runs,
        fingerprint,
        key_created: key.created,
        chain_break: database_head.first_break.clone(),
    };
    if tarball {
        write_tarball(
            &dir,
            &staging.path().join("bundle.tar.gz.partial"),
            opts.out,
        )?;
    } else {
        // Whole or not at all: the finished directory takes its name in one rename.
        std::fs::rename(&dir, opts.out).map_err(|e| io(opts.out, e))?;
    }
    Ok(built)
}

/// The refusal for a period without a single ledger row.
pub const EMPTY_PERIOD: &str = "the period holds no ledger rows: nothing was recorded in it, so a bundle would prove nothing; check --from and --to (UTC), or pass --allow-empty to write one that says so";

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, value).map_err(|e| format!("{}: {e}", path.display()))?;
    w.write_all(b"\n")
        .and_then(|_| w.flush())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The files that sign SHA256SUMS and so cannot be listed in it.
pub const SIGNATURE_FILES: [&str; 3] = ["SHA256SUMS", "SHA256SUMS.sig", "SHA256SUMS.minisig"];

/// Every regular file under `dir`, relative, sorted, `/`-separated, excluding the
/// sums and signature themselves.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                walk(base, &e.path(), out)?;
            } else {
                let rel = e
                    .path()
                    .strip_prefix(base)
                    .expect("under base")
                    .to_string_lossy()
                    .into_owned();
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.retain(|f| !SIGNATURE_FILES.contains(&f.as_str()));
    out.sort();
    Ok(out)
}

/// Lowercase hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn write_tarball(dir: &Path, tmp: &Path, out: &Path) -> Result<(), String> {
    let f = std::fs::File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let name = dir
        .file_name()
        .expect("named")
        .to_string_lossy()
        .into_owned();
    tar.append_dir_all(&name, dir)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let gz = tar
        .into_inner()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w = gz.finish().map_err(|e| format!("{}: {e}", out.display()))?;
    w.flush().map_err(|e| format!("{}: {e}", out.display()))?;
    drop(w);
    std::fs::rename(tmp, out).map_err(|e| format!("{}: {e}", out.display()))
}

pub use attestd_ledger::sample::sample_days;
