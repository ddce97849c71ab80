//! One file per resource; `guard` holds the checks several of them make (no route imports
//! another).

pub mod account;
pub mod connections;
pub mod events;
mod guard;
pub mod health;
pub mod static_files;
pub mod try_webhook;
