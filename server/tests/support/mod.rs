//! Test helpers with real parts: a PostgreSQL 15 cluster of the test's own (initdb into a
//! temporary directory as the `postgres` user, pg_ctl on a loopback port, stopped on
//! drop), TLS certificates made with rcgen, and `attestd-server` processes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run a command as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_postgres(program: &str) -> Command {
    if unsafe { libc_geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A running PostgreSQL cluster of this test's own.
pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    /// initdb, start, and create database `attestd`.
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("attestd-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if unsafe { libc_geteuid() } == 0 {
            assert!(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success());
        }
        let out = as_postgres(&format!("{PG_BIN}/initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("initdb (apt-get install postgresql)");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let out = as_postgres(&format!("{PG_BIN}/pg_ctl"))
            .args(["-w", "-D"])
            .arg(&data)
            .args(["-l"])
            .arg(dir.path().join("log"))
            .args(["-o", &opts, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = Postgres { dir, port };
        pg.psql("postgres", "CREATE DATABASE attestd");
        pg
    }

    /// The owner's URL (for `migrate`).
    pub fn owner_url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/attestd", self.port)
    }

    /// The server role's URL (insert and select only).
    pub fn server_url(&self) -> String {
        format!(
            "postgresql://attestd_server@127.0.0.1:{}/attestd",
            self.port
        )
    }

    /// Run SQL as `user`; returns (success, stdout, stderr).
    pub fn sql_as(&self, user: &str, sql: &str) -> (bool, String, String) {
        let out = Command::new("psql")
            .args([
                "-X",
                "-At",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                "attestd",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    fn psql(&self, db: &str, sql: &str) {
        let out = Command::new("psql")
            .args([
                "-X",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&format!("{PG_BIN}/pg_ctl"))
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert path, key path).
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// The `attestd-server` binary: Cargo's own path in the server's tests, else the one
/// beside the test's `attestd` binary (built here when missing).
pub fn server_bin() -> String {
    if let Some(p) = option_env!("CARGO_BIN_EXE_attestd-server") {
        return p.to_string();
    }
    let Some(attestd) = option_env!("CARGO_BIN_EXE_attestd") else {
        panic!("server_bin: neither attestd-server nor attestd is built for this test")
    };
    let attestd = PathBuf::from(attestd);
    let server = attestd.with_file_name("attestd-server");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "attestd-server",
            "--bin",
            "attestd-server",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok && server.exists(), "cannot build attestd-server");
    server.display().to_string()
}

/// What every fleet test starts from: a PostgreSQL cluster of its own with the
/// schema migrated, a temporary directory for the servers' files, and a TLS
/// certificate and key in it.
pub struct Site {
    pub pg: Postgres,
    pub dir: tempfile::TempDir,
    pub tls: (PathBuf, PathBuf),
}

impl Site {
    pub fn migrated() -> Site {
        let pg = Postgres::start();
        let (ok, _, err) = admin(&["migrate", "--database", &pg.owner_url()]);
        assert!(ok, "{err}");
        let dir = tempfile::tempdir().unwrap();
        let tls = tls_files(dir.path());
        Site { pg, dir, tls }
    }
}

/// Write a server config; returns its path.
pub fn write_config(
    dir: &Path,
    name: &str,
    db: &str,
    port: u16,
    tls: Option<&(PathBuf, PathBuf)>,
    extra: &str,
) -> PathBuf {
    let mut text = format!(
        "database = {db:?}\nlisten = \"127.0.0.1:{port}\"\nwitness_key = {:?}\n",
        dir.join("witness-key.pem").display().to_string()
    );
    if let Some((c, k)) = tls {
        text += &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            c.display().to_string(),
            k.display().to_string()
        );
    }
    text += extra;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `attestd-server run`, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(config: &Path, port: u16) -> Server {
        Server::start_with(config, port, Stdio::inherit())
    }

    /// Start with the server's log (stderr) written to `log`.
    pub fn start_logged(config: &Path, port: u16, log: &Path) -> Server {
        Server::start_with(config, port, std::fs::File::create(log).unwrap().into())
    }

    fn start_with(config: &Path, port: u16, stderr: Stdio) -> Server {
        let child = Command::new(server_bin())
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "attestd-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, port }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run `attestd-server ARGS`; returns (success, stdout, stderr).
pub fn admin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(server_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
