//! The server's integration tests, one binary on one harness (`helpers`): the API, the
//! access rules, the adversarial suite, delivery, the events endpoint, crash recovery, the
//! store conformance suite (SQLite and PostgreSQL), many instances on one PostgreSQL, what
//! operators lean on (metrics, health, logs, deadlines, overload), the precompressed page,
//! write budgets, slow clients, the API's error answers, keys, backups and restores by command,
//! and a short run of the API benchmark.

// Not every test binary configuration uses every helper.
#[allow(dead_code)]
mod helpers;

mod access;
mod accounts;
mod admin;
mod admin_page;
mod alert_rules;
mod api_errors;
mod backups;
mod bot;
mod budgets;
mod connections;
mod crash;
mod dead_letters;
mod delivery;
mod events;
mod flow_tokens;
mod forms;
mod instances;
mod operations;
mod precompressed;
mod security;
mod slow_clients;
mod store_conformance;
