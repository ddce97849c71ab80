//! What every handler can reach: the state below the routes, so routes need not know how
//! the application is put together.

use std::sync::Arc;

use axum::http::HeaderValue;

use crate::auth::Verifier;
use crate::domain::rate_windows::Limits;
use crate::domain::{HashKey, WebhookPolicy};
use crate::store::{ConnectionStore, Outbox, Wake};
use crate::write_limit::RateLimiter;

/// What every handler can reach; one allocation shared by every clone (axum clones the state
/// into each request's handler and middleware).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub connections: Arc<dyn ConnectionStore>,
    pub outbox: Arc<dyn Outbox>,
    pub key: HashKey,
    /// Which webhook URLs are taken (in dev mode also this server's own emulator inbox).
    pub webhooks: WebhookPolicy,
    /// Any of them may sign an event; none: /api/events is off.
    pub events_secrets: Option<Arc<crate::domain::event::EventSecrets>>,
    /// Wakes this instance's delivery workers (the outbox wakes the other instances').
    pub wake: Wake,
    /// Single sign-on, when configured.
    pub sso: Option<Arc<Verifier>>,
    pub address_limit: Arc<RateLimiter>,
    pub tenant_limit: Arc<RateLimiter>,
    /// Creates and test cards per target webhook (by its keyed hash), whoever sends them.
    pub target_limit: Arc<RateLimiter>,
    pub trust_forwarded_for: bool,
    /// The page's Content-Security-Policy header.
    pub page_policy: HeaderValue,
    /// Tokens for flows that take only signed-in callers, when configured.
    pub flow_tokens: Option<Arc<crate::delivery::FlowTokens>>,
    /// Each webhook kind's rate windows, which test cards count against too.
    pub windows: Limits,
    /// Sign-in to the service's accounts (builds with `[account]`).
    pub accounts: Option<Arc<crate::account::Accounts>>,
    /// The app's bot, when configured: /api/messages is off without it.
    pub bot: Option<Arc<crate::bot::Bot>>,
}
