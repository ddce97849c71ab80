//! The Teams connector configuration page: a Leptos app that Teams loads in its iframe.

pub mod api;
mod app;
mod fetch;
mod flows;
mod form;
mod i18n;
mod json;
mod tab;
mod teams;
mod webhook;

pub use app::App;
