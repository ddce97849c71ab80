//! Not a route: the checks several routes make before they act. Who pays for a write (the
//! sender's address, the tenant, the target webhook), who is signed in, and whether a
//! webhook URL can be posted to at all.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use connector_settings::api::FieldProblem;

use crate::auth::Identity;
use crate::domain::{WebhookKind, WebhookUrl};
use crate::error::AppError;
use crate::state::AppState;

/// Takes a write token for the sender's address. Every write attempt is charged here first,
/// refused ones included, so a sender who is refused again and again runs out of its own
/// budget and never anyone else's.
pub(super) fn charge_sender(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let forwarded = state
        .trust_forwarded_for
        .then(|| {
            headers
                .get("x-forwarded-for")?
                .to_str()
                .ok()?
                .split(',')
                .next()
                .map(|s| s.trim().to_string())
        })
        .flatten();
    let address = forwarded.unwrap_or_else(|| peer.ip().to_string());
    state
        .address_limit
        .check(&address)
        .map_err(AppError::TooManyRequests)
}

/// Takes a write token for a tenant. Only charged once the writer is proven (its token,
/// its webhook URL or edit key accepted), so naming a tenant spends nothing of its budget.
pub(super) fn charge_tenant(state: &AppState, tenant: Option<&str>) -> Result<(), AppError> {
    match tenant {
        Some(tenant) => state
            .tenant_limit
            .check(&tenant.to_ascii_lowercase())
            .map_err(AppError::TooManyRequests),
        None => Ok(()),
    }
}

/// Takes a token of the target webhook's budget for a new connection, which names a webhook
/// no connection has proven yet: whatever addresses they come from, creates cannot pile up
/// on one channel (test cards have their own limit per target, `try_webhook`).
pub(super) fn charge_target(state: &AppState, webhook: &WebhookUrl) -> Result<(), AppError> {
    state
        .target_limit
        .check(&hex::encode(state.key.hash(webhook).0))
        .map_err(AppError::TooManyRequests)
}

/// Refuses a webhook URL about to be stored (or tried) that cannot be posted to: a retired
/// Logic Apps trigger, or a flow that takes only signed-in callers when this server has no
/// token of `tenant` to send. Stored rows are not asked again: they keep working where they can.
pub(super) fn check_postable(
    state: &AppState,
    webhook: &WebhookUrl,
    tenant: Option<&str>,
) -> Result<(), AppError> {
    let refuse = |code: &'static str, message: String| AppError::BadRequest {
        code,
        fields: vec![FieldProblem {
            field: "webhookUrl".into(),
            rule: "webhook_url".into(),
            message: message.clone(),
        }],
        message,
    };
    match webhook.kind() {
        WebhookKind::RetiredWorkflows => Err(refuse(
            "webhook_retired",
            format!(
                "webhook url '{webhook}' is a Logic Apps workflow url, which stopped working in November 2025: open the workflow's trigger ('When a Teams webhook request is received') and copy its new url"
            ),
        )),
        WebhookKind::Workflows { signed: false } if state.flow_tokens.is_none() => Err(refuse(
            "webhook_needs_sign_in",
            format!(
                "webhook url '{webhook}' has no sig, so this workflow only accepts signed-in callers: set 'Who can trigger the flow' to 'Anyone' in its trigger and copy the url again, or ask the operator to configure --flow-client-id"
            ),
        )),
        WebhookKind::Workflows { signed: false } if tenant.is_none() => Err(refuse(
            "webhook_needs_sign_in",
            format!(
                "webhook url '{webhook}' has no sig, so this workflow only accepts signed-in callers of its tenant, and this save carries no single sign-on token to tell the tenant: save from Teams with single sign-on, or set 'Who can trigger the flow' to 'Anyone' in its trigger"
            ),
        )),
        _ => Ok(()),
    }
}

/// With single sign-on, the identity of the request's token (refused without a valid one).
pub(super) async fn identify(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Identity>, AppError> {
    match &state.sso {
        None => Ok(None),
        Some(v) => v
            .verify_headers(headers)
            .await
            .map(Some)
            .map_err(|e| AppError::Unauthenticated(e.0)),
    }
}
