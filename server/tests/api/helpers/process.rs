//! The server binary as a process of its own, for kills, restarts and many instances.

use super::CONNECTOR_HAS_ACCOUNTS;
use std::ops::Deref;

use connector_test_kit::process::dev_command;

use super::{Api, SECRET};

/// A `connector-server` process (the test kit's) with a client for its API, killed when
/// dropped (also when a test fails).
pub struct ServerProcess {
    pub process: connector_test_kit::ServerProcess,
    pub api: Api,
    /// `http://…/metrics`, when started with `--metrics-addr`.
    pub metrics: Option<String>,
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
        let mut command = dev_command(env!("CARGO_BIN_EXE_connector-server"), inbox, SECRET);
        command.args(args).env(
            "RUST_LOG",
            log_filter
                .map(str::to_string)
                .or(std::env::var("TEST_SERVER_LOG").ok())
                .unwrap_or("error".into()),
        );
        if CONNECTOR_HAS_ACCOUNTS {
            // The flags win where a test gives its own key.
            command
                .env("CONNECTOR_ACCOUNT_CLIENT_SECRET", super::ACCOUNT_SECRET)
                .env("CONNECTOR_HASH_KEY", super::HARNESS_KEY);
        }
        let process = connector_test_kit::ServerProcess::spawn(command, log_filter.is_some())
            .unwrap_or_else(|e| panic!("{e:#}"));
        ServerProcess {
            api: Api::new(process.url.clone()),
            metrics: process.metrics.clone(),
            process,
        }
    }

    /// What `/metrics` says now.
    pub async fn scrape(&self) -> String {
        let url = self.metrics.as_ref().expect("started with --metrics-addr");
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.process.log_lines()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, then waits for the process to end.
    pub fn terminate(&mut self) {
        self.process.terminate();
    }
}
