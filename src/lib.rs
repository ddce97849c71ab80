//! The Teams connector configuration page: a Leptos app that Teams loads in its iframe.

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
