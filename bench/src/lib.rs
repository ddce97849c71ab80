//! What the benchmark binaries share beside the test kit (the server process and the
//! receivers, shared with the server's tests): scratch directories and the account proofs a
//! server keyed with [`BENCH_KEY`] accepts.

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
