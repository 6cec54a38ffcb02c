//! Issue 14, D6 and D8 end to end: hostile host trees through `attestd collect --db`.
//! An sshd `Include` tree 3 wide and 15 deep (counting sshd_config and its drop-in), a sudoers alias naming itself, a FIFO as
//! login.defs, a 3.2 MB PAM file and an sshd_config.d symlinked out of the root must
//! end quickly, as named errors or bounded evidence, with nothing from outside the root.

mod common;

use common::{attestd, copy_tree, fixture, plain_config};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn collect(host: &Path, db: &Path, collectors: &[&str]) -> (serde_json::Value, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path(), "");
    let mut cmd = attestd();
    cmd.args(["collect", "--format", "json", "--root"])
        .arg(host)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(db);
    for c in collectors {
        cmd.args(["--collector", c]);
    }
    let started = Instant::now();
    let out = cmd.timeout(Duration::from_secs(60)).output().unwrap();
    let took = started.elapsed();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (doc, took)
}

fn reasons_of(doc: &serde_json::Value, collector: &str) -> String {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["collector"] == collector)
        .map(|r| {
            assert_eq!(r["status"], "error", "{r}");
            r.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn hostile_trees_end_quickly_in_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    // sshd: f0..f13 below the drop-in, each including the next three times (3^13
    // reads unbounded; 15 deep with sshd_config and the drop-in).
    let t = host.join("etc/ssh/tree");
    fs::create_dir_all(&t).unwrap();
    for i in 0..=13 {
        let body = if i == 13 {
            String::new()
        } else {
            format!("Include /etc/ssh/tree/f{}\n", i + 1).repeat(3)
        };
        fs::write(t.join(format!("f{i}")), body).unwrap();
    }
    fs::write(
        host.join("etc/ssh/sshd_config.d/10-tree.conf"),
        "Include /etc/ssh/tree/f0\n",
    )
    .unwrap();
    // sudoers: an alias that names itself.
    fs::write(
        host.join("etc/sudoers.d/zz-loop"),
        "Cmnd_Alias LOOP = LOOP, LOOP, LOOP, LOOP\nalice ALL = (root) LOOP\n",
    )
    .unwrap();
    // login.defs: a FIFO nobody writes to.
    fs::remove_file(host.join("etc/login.defs")).unwrap();
    let fifo = std::ffi::CString::new(host.join("etc/login.defs").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

    let db = dir.path().join("ledger.db");
    let (doc, took) = collect(&host, &db, &["ssh", "accounts", "password_policy"]);
    assert!(took < Duration::from_secs(15), "collect took {took:?}");
    let ssh = reasons_of(&doc, "ssh");
    assert!(ssh.contains("more than 256 files"), "{ssh}");
    let accounts = reasons_of(&doc, "accounts");
    assert!(accounts.contains("alias cycle: LOOP -> LOOP"), "{accounts}");
    let password = reasons_of(&doc, "password_policy");
    assert!(password.contains("FIFO"), "{password}");
}

#[test]
fn a_3_mb_pam_file_is_summarised_in_bounded_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let pam = host.join("etc/pam.d/common-password");
    let mut text = fs::read_to_string(&pam).unwrap();
    while text.len() < 3_200_000 {
        text.push_str("# a comment line that pads the file, as a generated PAM file might\n");
    }
    fs::write(&pam, text).unwrap();
    let db = dir.path().join("ledger.db");
    let (doc, took) = collect(&host, &db, &["password_policy"]);
    assert!(took < Duration::from_secs(15), "collect took {took:?}");
    assert!(
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "error"),
        "{doc}"
    );
    // The evidence holds the hash and a bounded excerpt, never the file.
    let largest = largest_stored_text(&db);
    assert!(
        largest < 256 * 1024,
        "largest stored value is {largest} bytes"
    );
}

/// The longest text value in any table of a database.
fn largest_stored_text(db: &Path) -> usize {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut largest = 0;
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let rusqlite::types::ValueRef::Text(t) = row.get_ref(i).unwrap() {
                    largest = largest.max(t.len());
                }
            }
        }
    }
    largest
}

#[test]
fn a_glob_through_a_symlinked_directory_lists_nothing_from_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("99-outside.conf"), "PermitRootLogin yes\n").unwrap();
    let host = dir.path().join("host");
    copy_tree(&fixture("hardened"), &host);
    let d = host.join("etc/ssh/sshd_config.d");
    fs::remove_dir_all(&d).unwrap();
    // An absolute link: inside the root it means <root><outside>, which does not exist.
    std::os::unix::fs::symlink(&outside, &d).unwrap();
    let db = dir.path().join("ledger.db");
    let (doc, _) = collect(&host, &db, &["ssh"]);
    let mut walk = common::secrets::SecretWalk::new(&["99-outside"]);
    walk.add_bytes("collect stdout", doc.to_string());
    walk.add_database(&db);
    walk.assert_clean();
}

/// A rule file in the operator's policy directory with `check` as its expression.
fn policy_dir_with(dir: &Path, check: &str) -> std::path::PathBuf {
    let policies = dir.join("policies.d");
    fs::create_dir_all(&policies).unwrap();
    let quoted = toml::Value::String(check.to_string()).to_string();
    fs::write(
        policies.join("deep.toml"),
        format!(
            "[[rule]]\nid = \"local.deep\"\ntitle = \"deep\"\ncollector = \"ssh\"\nseverity = \"low\"\n\
             controls = [\"soc2:CC6.1\"]\ncheck = {quoted}\nexpected = \"true\"\nrationale = \"r\"\n\
             sources = []\nremediation = \"none\"\n"
        ),
    )
    .unwrap();
    policies
}

/// The CEL parser and evaluator recurse per level of an expression: 40 nested brackets
/// in a rule aborted `attestd` with a stack overflow (no panic, no message), and so did
/// a hundred `+` in a row when the rule was judged. Now the first is refused at load by
/// file, line and field with the limit, and the second is judged like any rule.
#[test]
fn deep_cel_in_a_rule_file_is_refused_by_name_or_judged_never_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let nested = format!("{}true{}", "(".repeat(40), ")".repeat(40));
    let policies = policy_dir_with(dir.path(), &nested);
    let config = dir.path().join("attestd.toml");
    fs::write(
        &config,
        format!("[daemon]\npolicy_dirs = [\"{}\"]\n", policies.display()),
    )
    .unwrap();
    let out = attestd()
        .args(["collect", "--collector", "ssh", "--root"])
        .arg(fixture("hardened"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let file = policies.join("deep.toml").display().to_string();
    assert!(
        stderr.contains(&format!("{file}:7: `rule local.deep: check`"))
            && stderr.contains("brackets nest 40 levels deep; at most 24 are allowed"),
        "{stderr}"
    );

    let chain = format!("1{} > 0", " + 1".repeat(100));
    policy_dir_with(dir.path(), &chain);
    let out = attestd()
        .args([
            "collect",
            "--format",
            "json",
            "--collector",
            "ssh",
            "--root",
        ])
        .arg(fixture("hardened"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}), exit {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let deep = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "local.deep")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(deep["status"], "pass", "{deep}");
}
