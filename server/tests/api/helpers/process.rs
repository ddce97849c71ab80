//! The server binary as a process of its own, for kills, restarts and many instances.

use super::CONNECTOR_HAS_ACCOUNTS;
use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::{Api, SECRET};

/// A `connector-server` process, killed when dropped (also when a test fails).
pub struct ServerProcess {
    pub child: Child,
    pub api: Api,
    /// `http://…/metrics`, when started with `--metrics-addr`.
    pub metrics: Option<String>,
    /// Its log lines so far, when started with [`ServerProcess::start_logged`].
    pub logs: Arc<Mutex<Vec<String>>>,
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
        ServerProcess::start_with(inbox, args, None)
    }

    /// The same, keeping every log line (stderr) at `filter` (`RUST_LOG`) in `logs`.
    pub fn start_logged<S: AsRef<std::ffi::OsStr>>(
        inbox: &str,
        args: impl IntoIterator<Item = S>,
        filter: &str,
    ) -> ServerProcess {
        ServerProcess::start_with(inbox, args, Some(filter))
    }

    fn start_with<S: AsRef<std::ffi::OsStr>>(
        inbox: &str,
        args: impl IntoIterator<Item = S>,
        log_filter: Option<&str>,
    ) -> ServerProcess {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let with_metrics = args.iter().any(|a| a == "--metrics-addr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_connector-server"));
        command
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
            .args(&args)
            .env(
                "RUST_LOG",
                log_filter
                    .map(str::to_string)
                    .or(std::env::var("TEST_SERVER_LOG").ok())
                    .unwrap_or("error".into()),
            )
            .stdout(Stdio::piped());
        if CONNECTOR_HAS_ACCOUNTS {
            // The flags win where a test gives its own key.
            command
                .env("CONNECTOR_ACCOUNT_CLIENT_SECRET", super::ACCOUNT_SECRET)
                .env("CONNECTOR_HASH_KEY", super::HARNESS_KEY);
        }
        if log_filter.is_some() {
            command.stderr(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        if let Some(err) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        let metrics = with_metrics.then(|| {
            let mut m = String::new();
            out.read_line(&mut m).unwrap();
            m.trim()
                .strip_prefix("metrics on ")
                .unwrap_or_else(|| {
                    panic!("the server printed '{m}' instead of its metrics address")
                })
                .to_string()
        });
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
            metrics,
            logs,
        }
    }

    /// What `/metrics` says now.
    pub async fn scrape(&self) -> String {
        let url = self.metrics.as_ref().expect("started with --metrics-addr");
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
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
