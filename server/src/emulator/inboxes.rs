//! The emulator's webhook inboxes: what each received and how it answers. Kept apart from
//! the routes so the application state can hold them without importing the emulator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;

#[derive(Default)]
pub(crate) struct Inbox {
    pub mode: Mode,
    pub messages: Vec<Value>,
    /// The flow's tenant: a sig-less Workflows path takes only its tokens.
    pub tenant: Option<String>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    #[default]
    Ok,
    Throttled,
    Gone,
    Error,
    Slow,
    /// 429 with `Retry-After: 1` (Workflows webhooks throttle this way).
    RateLimited,
    /// 404, as a deleted Workflows webhook answers.
    NotFound,
}

/// Every inbox, by the webhook URL's path after `/emulator/webhook/` (every form of one
/// connector webhook filed under one key: `super::inbox_key`).
#[derive(Default, Clone)]
pub struct Inboxes(pub(crate) Arc<Mutex<HashMap<String, Inbox>>>);
