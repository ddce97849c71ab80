//! The connector's server: the connection API over a storage trait (SQLite by default),
//! the built page, and in dev mode the Teams host emulator with its webhook inboxes (with a
//! state and router of its own, merged only in dev mode).

pub mod access;
pub mod account;
pub mod admin;
pub mod admin_client;
pub mod admin_page;
pub mod auth;
pub mod backup;
pub mod bot;
pub mod cli;
mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
mod emulator;
pub mod error;
mod extract;
pub mod form;
pub mod keygen;
mod layers;
pub mod logging;
pub mod metrics;
mod routes;
pub mod serve;
pub mod startup;
mod state;
pub mod store;
mod write_limit;

/// How the connector developer's service signs an event (for clients and tests).
pub use domain::event::sign as sign_event;
