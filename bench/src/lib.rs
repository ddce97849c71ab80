//! What the benchmark binaries share: scratch directories, a process's memory and CPU time,
//! and the account proofs a server keyed with [`BENCH_KEY`] accepts.

use anyhow::{Context, Result};

/// A directory of its own for one run's SQLite files, removed when dropped.
pub type ScratchDir = tempfile::TempDir;

/// A [`ScratchDir`] named for `tag`.
pub fn scratch_dir(tag: &str) -> Result<ScratchDir> {
    tempfile::Builder::new()
        .prefix(&format!("connector-bench-{tag}-"))
        .tempdir()
        .context("cannot create a scratch directory")
}

/// A process's peak resident memory (VmHWM), in MiB; 0 where Linux's /proc cannot say.
pub fn peak_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU time (user and system) a process has used so far, in seconds; 0 where Linux's /proc
/// cannot say. Wall-clock figures move with whatever else the machine runs; this does not.
pub fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The fields after the command name, which is in parentheses and may hold spaces.
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
            let ticks =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            // Linux reports them in USER_HZ, 100 a second on every architecture it exports.
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// The hash key the benchmarks start servers with, so they can make account proofs the
/// server accepts (builds with `[account]`).
pub const BENCH_KEY: &str = "abababababababababababababababababababababababababababababababab";

/// The client secret the benchmarks give a server built with `[account]` (the sign-in is
/// never used: connections are linked by [`account_proof`]).
pub const BENCH_ACCOUNT_SECRET: &str = "bench-account-secret";

/// A proof linking a connection to `account`, as a server keyed with [`BENCH_KEY`] makes one
/// after a sign-in.
pub fn account_proof(account: &str) -> String {
    use connector_server::account::proof::{Claims, ProofKey, VALID_SECS};
    let key = connector_server::domain::HashKey::from_hex(BENCH_KEY).expect("hex key");
    ProofKey::new(&key).sign(&Claims {
        account: account.into(),
        name: account.into(),
        tenant: None,
        user: None,
        exp: time::OffsetDateTime::now_utc().unix_timestamp() + VALID_SECS,
    })
}
