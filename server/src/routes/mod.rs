//! One file per resource.

pub mod connections;
pub mod health;
pub mod static_files;
