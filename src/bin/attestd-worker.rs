//! `attestd-worker`: the collectors' worker process on its own, without the rest of
//! attestd (CEL, SQLite, TLS, the time zone tables). attestd starts it once per run as
//! `attestd-worker collect-worker` and it serves exactly as `attestd collect-worker`
//! does (see `attestd::worker`); being a fraction of attestd's size, it starts in about
//! half the time. It must never grow a command line of its own: it is not run by hand.

fn main() {
    let mut args = std::env::args_os();
    if args.len() == 2 && args.nth(1).as_deref() == Some(attestd::worker::SUBCOMMAND.as_ref()) {
        // SAFETY: called before any thread starts; resets one signal's disposition: a
        // worker whose parent is gone ends.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        std::process::exit(attestd::worker::serve());
    }
    eprintln!(
        "attestd-worker runs attestd's collectors for attestd itself, which starts it as \
         `attestd-worker {}` with the run's requests on stdin; it is not run by hand. \
         Use `attestd collect` instead.",
        attestd::worker::SUBCOMMAND
    );
    std::process::exit(2);
}
