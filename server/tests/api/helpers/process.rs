//! The server binary as a process of its own, for kills, restarts and many instances.

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::process::{Child, Command, Stdio};

use super::{Api, SECRET};

/// A `connector-server` process, killed when dropped (also when a test fails).
pub struct ServerProcess {
    pub child: Child,
    pub api: Api,
}

impl Deref for ServerProcess {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl ServerProcess {
    /// Starts the server binary in dev mode on a random port with `args` added, taking
    /// webhooks at `inbox` (a [`Receiver`]'s origin); waits until it listens.
    pub fn start<S: AsRef<std::ffi::OsStr>>(
        inbox: &str,
        args: impl IntoIterator<Item = S>,
    ) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_connector-server"))
            .args([
                "--dev",
                "--port",
                "0",
                "--write-rate",
                "0",
                "--tenant-write-rate",
                "0",
                "--events-secret",
                SECRET,
            ])
            .args(["--dev-inbox-origin", inbox, "--dist", "/nonexistent"])
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("TEST_SERVER_LOG").unwrap_or("error".into()),
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // Keep draining what the server prints.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the server printed '{line}' instead of its address"))
            .trim_end_matches('/')
            .to_string();
        ServerProcess {
            child,
            api: Api::new(url),
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to end.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
