//! The server's integration tests, one binary on one harness (`helpers`): the API, the
//! adversarial suite, delivery, the events endpoint and crash recovery.

// Not every test binary configuration uses every helper.
#[allow(dead_code)]
mod helpers;

mod connections;
mod crash;
mod delivery;
mod events;
mod security;
