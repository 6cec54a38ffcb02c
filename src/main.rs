//! The `attestd` binary: parse the command line, set up logging, dispatch.

use clap::Parser;

fn main() {
    // The collectors' worker, which attestd starts as `attestd collect-worker` for every
    // run where attestd-worker is not installed beside it, is on each run's critical
    // path: it skips building and parsing the whole command line, and logging (its
    // stderr is /dev/null).
    attestd::worker::serve_if_asked();
    let cli = attestd::cli::Cli::parse();
    let daemon = matches!(cli.command, attestd::cli::Command::Run(_));
    // `push` and `enroll` talk to the fleet server, which may close the connection
    // while the body is still being sent (an overloaded server's early 503): that must
    // be an answer to read, not a SIGPIPE that kills the command without a word.
    let network = matches!(
        cli.command,
        attestd::cli::Command::Push(_) | attestd::cli::Command::Enroll(_)
    );
    if !daemon && !network {
        // A command whose reader went away (`attestd status | grep -q FAIL`, `| head`)
        // ends quietly, as other Unix tools do, instead of failing on the write. The
        // daemon keeps Rust's default (SIGPIPE ignored): a closed socket is an error
        // it handles, never its end.
        // SAFETY: called before any thread starts; resets one signal's disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let _ = attestd::logging::init(daemon);
    std::process::exit(attestd::commands::dispatch(cli));
}
