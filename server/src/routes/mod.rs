//! One file per resource.

pub mod account;
pub mod connections;
pub mod events;
pub mod health;
pub mod static_files;
pub mod try_webhook;
