//! Dev mode only: the Teams host emulator's files, and a webhook inbox per webhook that
//! answers like a connector webhook (200 `1`) or, for a Workflows trigger path, like a
//! Workflows webhook (202), and keeps what it received, for people and tests.

use std::path::Path;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use connector_settings::webhook::{kind_of_inbox_path, DEV_INBOX_PATH};
use connector_settings::CONNECTOR;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::services::ServeDir;

use crate::domain::WebhookPolicy;
use crate::error::AppError;
use crate::state::AppState;

/// What Teams answers a throttled connector webhook with: HTTP 200 and this text.
pub const THROTTLED_BODY: &str =
    "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..";

/// Received cards kept per inbox; older ones are dropped.
const KEEP: usize = 500;

mod flow_auth;
pub mod idp;
pub mod inboxes;

use inboxes::Mode;

pub fn router(dir: &Path) -> Router<AppState> {
    Router::new()
        .route("/emulator/idp/jwks", get(idp::jwks))
        .route("/emulator/idp/token", get(idp::token))
        .route(
            "/emulator/idp/{tenant}/oauth2/v2.0/token",
            post(idp::client_credentials),
        )
        .route("/emulator/api/idp", get(idp::stats).put(idp::change))
        .route(
            "/emulator/api/inbox-tenant/{*path}",
            put(flow_auth::set_tenant),
        )
        .route("/emulator/api/connector", get(connector))
        .route(
            "/emulator/webhook/{*path}",
            post(receive).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/emulator/api/inbox/{*path}", get(inbox))
        .route("/emulator/api/inbox-mode/{*path}", put(set_mode))
        .nest_service("/emulator", ServeDir::new(dir))
}

/// The page's `config.json` in dev mode: the same origin for the API, single sign-on when
/// the emulator's identity provider is on, and the URL prefixes of the inboxes this server
/// takes as webhooks (`devInboxes`), which only a dev-mode server ever names; `flowTokens`
/// when it posts to flows that take only signed-in callers.
pub fn page_config(webhooks: &WebhookPolicy, sso: bool, flow_tokens: bool) -> Value {
    let mut inboxes = Vec::new();
    if let Some(port) = webhooks.dev_inbox() {
        for host in ["127.0.0.1", "localhost"] {
            inboxes.push(format!("http://{host}:{port}{DEV_INBOX_PATH}"));
        }
    }
    if let Some(origin) = webhooks.dev_inbox_origin() {
        inboxes.push(format!("{origin}{DEV_INBOX_PATH}"));
    }
    json!({ "apiBaseUrl": "", "validMessageOrigins": [], "sso": sso, "devInboxes": inboxes,
            "flowTokens": flow_tokens })
}

async fn connector() -> Json<Value> {
    Json(json!({
        "name": CONNECTOR.name,
        "shortDescription": CONNECTOR.short_description,
        "accentColor": CONNECTOR.accent_color,
    }))
}

/// The inbox a webhook path posts to. Every form of one connector webhook (the legacy
/// `webhook/…`, `webhookb2/…`, with or without a trailing `V2…` segment) reaches the same
/// channel in Teams, so they share one inbox here.
fn inbox_key(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["webhook" | "webhookb2", group, "IncomingWebhook", id, user, rest @ ..]
            if rest.len() <= 1 =>
        {
            format!("webhookb2/{group}/IncomingWebhook/{id}/{user}")
        }
        _ => path.to_string(),
    }
}

/// A Workflows trigger path (`powerautomate/automations/direct/…`, or the retired
/// `workflows/<id>/triggers/…`).
fn is_workflows(path: &str) -> bool {
    kind_of_inbox_path(path).is_workflows()
}

async fn receive(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match flow_auth::check(&state, &path, uri.query(), &headers) {
        Ok(caller) => caller,
        Err(refused) => return *refused,
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parsed = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    let message = json!({
        "receivedAt": crate::clock::now_rfc3339(),
        // Which form of the webhook URL was posted to.
        "path": path,
        "headers": { "content-type": header("content-type"), "idempotency-key": header("idempotency-key") },
        "body": parsed,
        // The claims of the bearer token a flow for signed-in callers took.
        "caller": caller,
    });
    let mode = {
        let mut all = state.inboxes.0.lock().expect("inbox lock");
        let inbox = all.entry(inbox_key(&path)).or_default();
        if !matches!(inbox.mode, Mode::Gone | Mode::NotFound) {
            inbox.messages.push(message);
            if inbox.messages.len() > KEEP {
                inbox.messages.remove(0);
            }
        }
        inbox.mode
    };
    let workflows = is_workflows(&path);
    match mode {
        // Workflows accept with 202 and no body, and throttle with 429.
        Mode::Ok if workflows => StatusCode::ACCEPTED.into_response(),
        Mode::Throttled if workflows => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "too many requests",
        )
            .into_response(),
        Mode::Ok => (StatusCode::OK, "1").into_response(),
        Mode::Throttled => (StatusCode::OK, THROTTLED_BODY).into_response(),
        Mode::Gone => (StatusCode::GONE, "connector removed").into_response(),
        Mode::NotFound => (StatusCode::NOT_FOUND, "not found").into_response(),
        Mode::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "too many requests",
        )
            .into_response(),
        Mode::Error => (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(15)).await;
            if workflows {
                StatusCode::ACCEPTED.into_response()
            } else {
                (StatusCode::OK, "1").into_response()
            }
        }
    }
}

async fn inbox(State(state): State<AppState>, UrlPath(path): UrlPath<String>) -> Json<Value> {
    let all = state.inboxes.0.lock().expect("inbox lock");
    let (mode, messages) = all
        .get(&inbox_key(&path))
        .map_or((Mode::Ok, Vec::new()), |i| (i.mode, i.messages.clone()));
    Json(json!({ "mode": mode, "messages": messages }))
}

#[derive(Deserialize)]
struct SetMode {
    mode: String,
}

async fn set_mode(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
    Json(body): Json<SetMode>,
) -> Result<StatusCode, AppError> {
    let mode: Mode = serde_json::from_value(Value::String(body.mode.clone())).map_err(|_| {
        AppError::BadRequest {
            code: "invalid_mode",
            message: format!(
                "mode '{}' is not one of ok, throttled, rate-limited, gone, not-found, error, slow",
                body.mode
            ),
            fields: vec![],
        }
    })?;
    state
        .inboxes
        .0
        .lock()
        .expect("inbox lock")
        .entry(inbox_key(&path))
        .or_default()
        .mode = mode;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_connector_webhook_shares_its_inbox() {
        let b2 = "webhookb2/g@t/IncomingWebhook/abc/u";
        assert_eq!(inbox_key(b2), b2);
        assert_eq!(inbox_key("webhook/g@t/IncomingWebhook/abc/u"), b2);
        assert_eq!(inbox_key("webhookb2/g@t/IncomingWebhook/abc/u/V2xyz"), b2);
        assert_eq!(
            inbox_key("webhookb2/g@t/IncomingWebhook/other/u"),
            "webhookb2/g@t/IncomingWebhook/other/u"
        );
        let flow = "workflows/abc/triggers/manual/paths/invoke";
        assert_eq!(inbox_key(flow), flow);
        assert!(is_workflows(flow) && !is_workflows(b2));
    }
}
