//! The server's integration tests, one binary on one harness (`helpers`): the API, the
//! access rules, the adversarial suite, delivery, the events endpoint, crash recovery, the
//! precompressed page, the store conformance suite (SQLite and PostgreSQL) and many instances
//! on one PostgreSQL.

// Not every test binary configuration uses every helper.
#[allow(dead_code)]
mod helpers;

mod access;
mod connections;
mod crash;
mod dead_letters;
mod delivery;
mod events;
mod instances;
mod precompressed;
mod security;
mod store_conformance;
