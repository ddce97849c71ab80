//! A `connector-server` process: started, its addresses read from what it prints, killed
//! when dropped (also when a test or a benchmark fails).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};

/// The command of a dev-mode server on a random port with no write limits, signing key
/// `events_secret`, posting to webhooks at `inbox` (a [`crate::Receiver`]'s origin) and
/// serving no page; add flags, then [`ServerProcess::spawn`].
pub fn dev_command(binary: impl AsRef<OsStr>, inbox: &str, events_secret: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["--dev", "--port", "0"])
        .args(["--write-rate", "0", "--tenant-write-rate", "0"])
        .args(["--events-secret", events_secret])
        .args(["--dev-inbox-origin", inbox, "--dist", "/nonexistent"]);
    command
}

/// A running server.
pub struct ServerProcess {
    pub child: Child,
    /// Its origin, `http://127.0.0.1:PORT`.
    pub url: String,
    /// `http://…/metrics`, when started with `--metrics-addr`.
    pub metrics: Option<String>,
    /// Its log lines (standard error) so far, when spawned with `keep_logs`.
    logs: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `command` and waits until the server says where it listens (and, with
    /// `--metrics-addr`, where its metrics are). `keep_logs`: its standard error is kept
    /// for [`ServerProcess::log_lines`]; else it goes where the command sends it.
    pub fn spawn(mut command: Command, keep_logs: bool) -> Result<ServerProcess> {
        let with_metrics = command.get_args().any(|a| a == "--metrics-addr");
        let program = command.get_program().to_string_lossy().into_owned();
        command.stdout(Stdio::piped());
        if keep_logs {
            command.stderr(Stdio::piped());
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        if let Some(err) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut process = ServerProcess {
            child,
            url: String::new(),
            metrics: None,
            logs,
        };
        process.url = read_address(&mut out, "listening on ")?
            .trim_end_matches('/')
            .to_string();
        if with_metrics {
            process.metrics = Some(read_address(&mut out, "metrics on ")?);
        }
        // Keep draining what the server prints.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Ok(process)
    }

    /// The log lines so far (spawned with `keep_logs`).
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// `kill -9`, and waits for the process to end.
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

    /// Peak resident memory so far (VmHWM), in MiB; 0 where Linux's /proc cannot say.
    pub fn peak_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
                line.split_whitespace().nth(1)?.parse::<f64>().ok()
            })
            .unwrap_or(0.0)
            / 1024.0
    }

    /// Starts the peak over from the current resident memory (Linux `clear_refs` 5).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// CPU time (user and system) the process has used so far, in seconds; 0 where Linux's
    /// /proc cannot say. Wall-clock figures move with whatever else the machine runs; this
    /// does not.
    pub fn cpu_secs(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|s| {
                // The fields after the command name, which is in parentheses and may hold
                // spaces; utime and stime are the 12th and 13th of them.
                let rest = &s[s.rfind(')')? + 2..];
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let ticks =
                    fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
                // Linux reports them in USER_HZ, 100 a second on every architecture.
                Some(ticks / 100.0)
            })
            .unwrap_or(0.0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The next line the server printed, which must start with `prefix`; what follows it.
fn read_address(out: &mut BufReader<impl Read>, prefix: &str) -> Result<String> {
    let mut line = String::new();
    out.read_line(&mut line)
        .context("reading what the server printed")?;
    match line.trim().strip_prefix(prefix) {
        Some(address) => Ok(address.to_string()),
        None if line.is_empty() => bail!("the server ended before printing '{prefix}…'"),
        None => bail!(
            "the server printed '{}' instead of '{prefix}…'",
            line.trim()
        ),
    }
}
