//! The server's integration tests, one binary on one harness (`helpers`): the API, the
//! access rules, the adversarial suite, delivery, the events endpoint, crash recovery and the
//! precompressed page.

// Not every test binary configuration uses every helper.
#[allow(dead_code)]
mod helpers;

mod access;
mod connections;
mod crash;
mod delivery;
mod events;
mod precompressed;
mod security;
