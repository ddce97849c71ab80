//! `POST /api/events`: events from the connector developer's service, signed with Standard
//! Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), or for one more release
//! with the deprecated `x-connector-timestamp` and `x-connector-signature` (the event, its
//! rules and its signatures: `domain::event`). Answered 202 only once the event and its
//! deliveries are stored; a repeated event id (the `webhook-id`, or the body's `id`) is
//! accepted once, and an old-style event without an id is known by its signature, so a
//! replayed request is a duplicate too.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use connector_settings::{Topic, CONNECTOR};
use serde_json::json;

use crate::clock::now_ms;
use crate::domain::event::{self, Event, EventError, BODY_LIMIT};
use crate::error::AppError;
use crate::extract::body_rejection;
use crate::state::AppState;
use crate::store::NewEvent;

/// What an answer to the deprecated scheme carries (RFC 7234's Warning, code 299).
const DEPRECATED_WARNING: &str = "299 - \"x-connector-signature is deprecated and goes in the next release: sign with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature; see docs/events.md)\"";

/// Where events arrive.
pub const PATH: &str = "/api/events";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(accept).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// A refused event's answer: 401 for its signature, 400 for the event itself (a missing or
/// bad `account` named as that field's problem).
fn rejected(e: EventError) -> AppError {
    match e {
        EventError::Unsigned(message) => AppError::BadSignature(message),
        EventError::Invalid(message) => AppError::BadRequest {
            code: "invalid_event",
            message,
            fields: vec![],
        },
        EventError::Account { rule, message } => AppError::BadRequest {
            code: "validation_failed",
            fields: vec![connector_settings::api::FieldProblem {
                field: "account".into(),
                rule: rule.into(),
                message: message.clone(),
            }],
            message,
        },
    }
}

/// Set once the deprecated scheme was first seen, so that it is logged once per process.
static LEGACY_LOGGED: AtomicBool = AtomicBool::new(false);

async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let legacy = event::signing::is_legacy(&headers);
    let mut res = accept_signed(state, &headers, body, legacy)
        .await
        .into_response();
    if legacy {
        res.headers_mut().insert(
            axum::http::header::WARNING,
            HeaderValue::from_static(DEPRECATED_WARNING),
        );
        if !LEGACY_LOGGED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "an event came signed with x-connector-signature, which is deprecated and goes in the next release: sign with Standard Webhooks (docs/events.md)"
            );
        }
    }
    res
}

async fn accept_signed(
    state: AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    legacy: bool,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let Some(secrets) = state.events_secrets.as_deref() else {
        return Err(AppError::NotFound(
            "events are not enabled on this server (set CONNECTOR_EVENTS_SECRET)".into(),
        ));
    };
    let body = body.map_err(|e| body_rejection(e, BODY_LIMIT))?;
    let signed = event::verify(secrets, headers, &body, legacy).map_err(rejected)?;
    let event = Event::parse(&body).map_err(rejected)?;
    let id = event.id_signed(&signed).map_err(rejected)?;
    let accepted = state
        .outbox
        .accept_event(
            NewEvent {
                id: id.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
                received_at: crate::clock::now_rfc3339(),
            },
            Topic::new(&event.kind, &event.project),
            CONNECTOR.account.as_ref().and(event.account.clone()),
            now_ms(),
        )
        .await?;
    state.wake.wake();
    if !accepted.duplicate {
        crate::metrics::event_accepted(accepted.deliveries);
    }
    tracing::info!(event_id = %id, secret = %signed.secret, legacy, deliveries = accepted.deliveries, duplicate = accepted.duplicate, "event accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "eventId": id, "deliveries": accepted.deliveries, "duplicate": accepted.duplicate }),
        ),
    ))
}
