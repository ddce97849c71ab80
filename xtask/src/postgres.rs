//! A throwaway PostgreSQL server for the tests and the benchmark: Debian's `postgresql`
//! (installed by `setup` when missing), a fresh cluster on a free port in a temporary directory (initdb
//! and the server refuse root, so as root they run as the `postgres` user), serving TLS with a
//! certificate of its own CA (as a managed PostgreSQL does), stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::setup::{postgres_bin, run};

/// Set to point the tests at an existing server instead of a throwaway one.
pub const URL_VAR: &str = "CONNECTOR_TEST_DATABASE_URL";
/// The CA certificate of the throwaway cluster's TLS, for the tests that check it.
pub const CA_VAR: &str = "CONNECTOR_TEST_DATABASE_CA";

/// A running throwaway cluster.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Cluster {
    /// Starts a cluster; `durable` keeps fsync on (the benchmark), else it is off (tests).
    pub fn start(durable: bool) -> Result<Cluster> {
        let bin = postgres_bin()?;
        let as_postgres = is_root();
        // One directory per cluster: a task may start more than one (the native tests', then
        // the image test's), and the first is still being removed while the next starts.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("connector-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if as_postgres {
            // The postgres user must reach and own the directory.
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        let port = free_port()?;
        let cluster = Cluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.dir.join("data");
        run(cluster
            .command("initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data)
            .stdout(std::process::Stdio::null()))
        .context("initdb failed")?;
        let tls = cluster.certificates()?;
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cluster.dir.display(),
            tls.join("server.crt").display(),
            tls.join("server.key").display(),
        );
        if !durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.join("server.log"))
            .args(["-o", &options, "-w", "start"])
            .stdout(std::process::Stdio::null()))
        .with_context(|| {
            format!(
                "the postgres server did not start; see {}",
                cluster.dir.join("server.log").display()
            )
        })?;
        println!(
            "xtask: throwaway postgres on 127.0.0.1:{port} (fsync {})",
            if durable { "on" } else { "off" }
        );
        Ok(cluster)
    }

    /// The url of its `postgres` database as the superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// What `sql` answers in its `postgres` database (psql's unaligned text, trimmed).
    pub fn query(&self, sql: &str) -> Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-At", "-c", sql])
            .output()
            .context("cannot run psql")?;
        if !out.status.success() {
            bail!(
                "psql '{sql}' failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The CA certificate the server's certificate is signed with.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.crt")
    }

    /// A CA and a server certificate for 127.0.0.1 and localhost signed by it (openssl, which
    /// Debian installs with ca-certificates), readable by the server; returns their directory.
    fn certificates(&self) -> Result<PathBuf> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls)?;
        let openssl = |args: &[&str]| {
            run(Command::new("openssl")
                .args(args)
                .current_dir(&tls)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()))
            .context("openssl could not make the test cluster's certificates")
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.crt"],
                &["-subj", "/CN=connector test CA", "-days", "7"],
            ]
            .concat(),
        )?;
        openssl(
            &[
                &["req"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
                &["-subj", "/CN=localhost"],
            ]
            .concat(),
        )?;
        std::fs::write(
            tls.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "7",
            "-extfile",
            "server.ext",
        ])?;
        if self.as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&tls))?;
        }
        // The server refuses a key others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        Ok(tls)
    }

    /// A server tool, run as the postgres user when we are root.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        remove(&self.dir);
    }
}

fn remove(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("xtask: could not remove {}: {e}", dir.display());
    }
}

/// The database url for the tests: `CONNECTOR_TEST_DATABASE_URL` when set (the cluster is
/// then `None`), else a throwaway cluster's (its CA in `CONNECTOR_TEST_DATABASE_CA`).
pub fn for_tests() -> Result<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var(URL_VAR) {
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            bail!("{URL_VAR} '{url}' is not a postgres:// url");
        }
        println!("xtask: tests on PostgreSQL use {URL_VAR}");
        return Ok((url, None));
    }
    let cluster = Cluster::start(false)?;
    Ok((cluster.url(), Some(cluster)))
}
