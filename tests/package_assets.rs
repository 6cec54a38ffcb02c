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

/// Issue 14, D10: docs/plugins.md says which user runs plugins under the packaged
/// service, and what it says is what `attestd.service` sets (user, capabilities,
/// NoNewPrivileges), not root.
#[test]
fn the_plugin_docs_name_the_user_and_privileges_of_the_unit() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("packaging/attestd.service")).unwrap();
    let setting = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in attestd.service"))
            .trim()
            .to_string()
    };
    let user = setting("User");
    assert_ne!(user, "root", "the packaged service must not run as root");
    let docs = std::fs::read_to_string(root.join("docs/plugins.md")).unwrap();
    let flat = docs.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("`User={user}` in `attestd.service`")),
        "docs/plugins.md does not name the unit's user {user}"
    );
    for cap in setting("AmbientCapabilities").split_whitespace() {
        assert!(flat.contains(cap), "docs/plugins.md does not name {cap}");
    }
    assert_eq!(setting("NoNewPrivileges"), "yes");
    assert!(flat.contains("`NoNewPrivileges=yes`"), "{flat}");
    assert!(
        !flat.contains("root for the packaged service")
            && !flat.contains("plugins run as root under the packaged service"),
        "docs/plugins.md still says plugins run as root under the service"
    );
}
