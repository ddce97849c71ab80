//! `POST /api/events`: events from the connector developer's service, signed with
//! HMAC-SHA256 over `<timestamp>.<raw body>`. Answered 202 only once the event and its
//! deliveries are stored; a repeated event id is accepted once, and an event without an id
//! is known by its signature, so a replayed request is a duplicate too.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use connector_settings::{Topic, CONNECTOR};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::delivery::cards::Event;
use crate::delivery::now_ms;
use crate::error::AppError;
use crate::extract::body_rejection;
use crate::state::AppState;
use crate::store::NewEvent;

/// Signatures older or newer than this are refused (replays).
const MAX_SKEW_SECS: u64 = 300;
pub const TIMESTAMP_HEADER: &str = "x-connector-timestamp";
pub const SIGNATURE_HEADER: &str = "x-connector-signature";

/// Events may carry more than a connection's settings.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Where events arrive.
pub const PATH: &str = "/api/events";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(accept).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// The keyed hash of "<timestamp>.<body>".
fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>").
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks the `sha256=<hex>` signature header in constant time; the signature's bytes.
fn verify(secret: &str, timestamp: i64, body: &[u8], given: &str) -> Result<Vec<u8>, AppError> {
    let bytes = given
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            AppError::BadSignature(format!(
                "the '{SIGNATURE_HEADER}' header must be sha256=<64 hex digits>"
            ))
        })?;
    mac(secret, timestamp, body)
        .verify_slice(&bytes)
        .map_err(|_| AppError::BadSignature("the event signature does not match".into()))?;
    Ok(bytes)
}

fn bad(code: &'static str, message: String) -> AppError {
    AppError::BadRequest {
        code,
        message,
        fields: vec![],
    }
}

async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let Some(secret) = state.events_secret.as_deref() else {
        return Err(AppError::NotFound(
            "events are not enabled on this server (set CONNECTOR_EVENTS_SECRET)".into(),
        ));
    };
    let body = body.map_err(|e| body_rejection(e, BODY_LIMIT))?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let timestamp: i64 = header(TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            AppError::BadSignature(format!(
                "the '{TIMESTAMP_HEADER}' header (unix seconds) is required"
            ))
        })?;
    // abs_diff: no timestamp, however far off, can overflow the comparison.
    if (now_ms() / 1000).abs_diff(timestamp) > MAX_SKEW_SECS {
        return Err(AppError::BadSignature(format!(
            "timestamp {timestamp} is more than {MAX_SKEW_SECS} s away from now"
        )));
    }
    let Some(given) = header(SIGNATURE_HEADER) else {
        return Err(AppError::BadSignature(format!(
            "the '{SIGNATURE_HEADER}' header (sha256=<hex>) is required"
        )));
    };
    let signature = verify(secret, timestamp, &body, given)?;
    let event: Event =
        serde_json::from_slice(&body).map_err(|e| bad("invalid_event", format!("event: {e}")))?;
    check(&event)?;
    // Without an id, the same signed request is the same event: a replay within the
    // timestamp window is then a duplicate rather than a second card.
    let id = match &event.id {
        Some(id) => id.clone(),
        None => format!("sig-{}", hex::encode(signature)),
    };
    let accepted = state
        .outbox
        .accept_event(
            NewEvent {
                id: id.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
                received_at: crate::clock::now_rfc3339(),
            },
            Topic::new(&event.kind, &event.project),
            now_ms(),
        )
        .await?;
    state.wake.wake();
    if !accepted.duplicate {
        crate::metrics::event_accepted(accepted.deliveries);
    }
    tracing::info!(event_id = %id, deliveries = accepted.deliveries, duplicate = accepted.duplicate, "event accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "eventId": id, "deliveries": accepted.deliveries, "duplicate": accepted.duplicate }),
        ),
    ))
}

/// The event types are the options of the events field of `connector.toml` (found by its role).
fn check(e: &Event) -> Result<(), AppError> {
    if CONNECTOR.event_type(&e.kind).is_none() {
        let types: Vec<&str> = CONNECTOR.event_types().iter().map(|t| t.value).collect();
        return Err(bad(
            "invalid_event",
            format!(
                "event type '{}' is not one of: {}",
                e.kind,
                types.join(", ")
            ),
        ));
    }
    if e.title.trim().is_empty() || e.title.chars().count() > 256 {
        return Err(bad(
            "invalid_event",
            "event title must be 1 to 256 characters".into(),
        ));
    }
    if let Some(id) = &e.id {
        if id.is_empty()
            || id.len() > 100
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:~".contains(c))
        {
            return Err(bad(
                "invalid_event",
                format!(
                    "event id '{}' must be 1 to 100 letters, digits or - _ . : ~",
                    id.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    if let Some(link) = &e.link {
        if !link.starts_with("https://") {
            return Err(bad(
                "invalid_event",
                format!(
                    "event link '{}' must start with https://",
                    link.chars().take(60).collect::<String>()
                ),
            ));
        }
    }
    if e.facts.len() > 30 {
        return Err(bad(
            "invalid_event",
            format!("an event has at most 30 facts, not {}", e.facts.len()),
        ));
    }
    Ok(())
}
