//! The Teams connector's pages, Leptos apps that Teams loads in its iframe: the
//! configuration page ([`App`], `src/main.rs`, `index.html`: frame contexts `settings` and
//! `remove`) and the tab page ([`TabApp`], `src/bin/tab.rs`, `tab.html`: `content`), each its
//! own binary with only the code it reaches.

mod account;
pub mod api;
mod app;
mod bot;
mod flows;
mod form;
mod http;
mod i18n;
mod parts;
mod state;
mod tab;
mod teams;
mod webhook;

pub use app::App;
pub use tab::TabApp;
