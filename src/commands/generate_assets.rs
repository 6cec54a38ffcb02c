//! `attestd generate-assets DIR` (hidden): the man page attestd(8) rendered from the
//! clap definitions, and bash, zsh and fish completions, for the package. Writes only
//! inside DIR.

use super::CliError;
use crate::cli::{Cli, GenerateAssetsArgs};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

pub fn run(args: GenerateAssetsArgs) -> Result<i32, CliError> {
    let io = |what: &Path, e: std::io::Error| {
        CliError::Operational(format!("cannot write {}: {e}", what.display()))
    };
    let completions = args.dir.join("completions");
    std::fs::create_dir_all(&completions).map_err(|e| io(&completions, e))?;
    let page = args.dir.join("attestd.8");
    std::fs::write(&page, man_page()).map_err(|e| io(&page, e))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut Cli::command(), "attestd", &completions)
            .map_err(|e| io(&completions, e))?;
        println!("{}", path.display());
    }
    println!("{}", page.display());
    Ok(0)
}

/// attestd(8): the top-level page, then one section per subcommand with its options.
fn man_page() -> Vec<u8> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration");
    let mut out = Vec::new();
    man.render_title(&mut out).expect("in memory");
    man.render_name_section(&mut out).expect("in memory");
    man.render_synopsis_section(&mut out).expect("in memory");
    man.render_description_section(&mut out).expect("in memory");
    man.render_options_section(&mut out).expect("in memory");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("attestd {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        let mut body = Vec::new();
        page.render_synopsis_section(&mut body).expect("in memory");
        page.render_description_section(&mut body)
            .expect("in memory");
        page.render_options_section(&mut body).expect("in memory");
        // Each subcommand's sections, demoted under a heading of its own.
        let text = String::from_utf8_lossy(&body)
            .replace(".SH SYNOPSIS", &format!(".SH \"{}\"", name.to_uppercase()))
            .replace(".SH DESCRIPTION\n", ".PP\n")
            .replace(".SH OPTIONS", ".SS Options");
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(FILES_SECTION.as_bytes());
    man.render_extra_section(&mut out).expect("in memory");
    man.render_version_section(&mut out).expect("in memory");
    out
}

const FILES_SECTION: &str = r#".SH FILES
.TP
\fI/etc/attestd/attestd.toml\fR
The configuration (every key documented in the file).
.TP
\fI/etc/attestd/policies.d/\fR
Local rule files (*.toml), read after the shipped policies.
.TP
\fI/usr/share/attestd/policies/\fR
The shipped policies and framework catalogs; replaced on upgrade.
.TP
\fI/var/lib/attestd/attestd.db\fR
The hash\-chained ledger (SQLite, WAL).
.TP
\fI/run/attestd/status.sock\fR
The status endpoint: GET /health and GET /metrics.
.SH SIGNALS
SIGHUP reloads the configuration and policies (an invalid one is logged and the running
one kept); SIGTERM and SIGINT stop after the current write.
.SH SEE ALSO
\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBsystemd.exec\fR(5)
"#;
