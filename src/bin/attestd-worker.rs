//! `attestd-worker`: the collectors' worker process on its own, without the rest of
//! attestd (CEL, SQLite, TLS, the time zone tables). attestd starts it once per run as
//! `attestd-worker collect-worker` and it serves exactly as `attestd collect-worker`
//! does (both binaries enter `attestd::worker::serve_if_asked` first); being a third of
//! attestd's size, it starts in about half the time. It must never grow a command line
//! of its own: it is not run by hand.

fn main() {
    attestd::worker::serve_if_asked();
    eprintln!(
        "attestd-worker runs attestd's collectors for attestd itself, which starts it as \
         `attestd-worker {}` with the run's requests on stdin; it is not run by hand. \
         Use `attestd collect` instead.",
        attestd::worker::SUBCOMMAND
    );
    std::process::exit(2);
}
