//! The assets the package ships that are generated from the command line definitions:
//! attestd(8) documents every visible subcommand and its options, and the completions
//! know the subcommands. (The .deb itself is built and installed by tests/e2e/run.sh.)

mod common;
use common::*;

#[test]
fn man_page_and_completions_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    attestd()
        .arg("generate-assets")
        .arg(dir.path())
        .assert()
        .success();
    let page = std::fs::read_to_string(dir.path().join("attestd.8")).unwrap();
    assert!(page.contains(".TH attestd 8"), "not section 8:\n{page}");
    for command in ["collect", "run", "status", "controls", "history", "verify"] {
        assert!(
            page.contains(&format!(".SH \"ATTESTD {}\"", command.to_uppercase())),
            "no section for {command}"
        );
    }
    assert!(page.contains("\\-\\-root"), "options are missing");
    assert!(page.contains("/etc/attestd/attestd.toml"));
    // `collect --collector` names every collector of the registry.
    let flat = page.replace("\\_", "_").replace('\n', " ");
    for name in attestd_collectors::known_collector_names() {
        assert!(
            flat.contains(name),
            "the man page does not name collector {name}"
        );
    }
    assert!(
        !page.contains("GENERATE"),
        "the hidden command leaked into the man page"
    );
    let bash = std::fs::read_to_string(dir.path().join("completions/attestd.bash")).unwrap();
    for command in ["collect", "status", "verify"] {
        assert!(bash.contains(command), "bash completion lacks {command}");
    }
    assert!(dir.path().join("completions/_attestd").is_file());
    assert!(dir.path().join("completions/attestd.fish").is_file());
}
