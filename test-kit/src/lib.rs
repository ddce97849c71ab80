//! What the server's tests (`server/tests/api/`) and the benchmarks (`bench/`) share: a
//! `connector-server` process started with the dev flags and read for its addresses
//! ([`process`]), and webhook receivers in the calling process that record every card and
//! outlive the servers posting to them ([`receiver`]).

pub mod process;
pub mod receiver;

pub use process::ServerProcess;
pub use receiver::{Answer, Card, Receiver};
