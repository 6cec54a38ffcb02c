//! The `attestd` binary: parse the command line, set up logging, dispatch.

use clap::Parser;

fn main() {
    let cli = attestd::cli::Cli::parse();
    let _ = attestd::logging::init(matches!(cli.command, attestd::cli::Command::Run(_)));
    std::process::exit(attestd::commands::dispatch(cli));
}
