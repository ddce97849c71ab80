//! `POST /api/events`: events from the connector developer's service, signed with Standard
//! Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), or for one more release
//! with the deprecated `x-connector-timestamp` and `x-connector-signature` (HMAC-SHA256 over
//! `<timestamp>.<raw body>`). Answered 202 only once the event and its deliveries are
//! stored; a repeated event id (the `webhook-id`, or the body's `id`) is accepted once, and
//! an old-style event without an id is known by its signature, so a replayed request is a
//! duplicate too.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use connector_settings::{Topic, CONNECTOR};
use serde_json::json;
use standardwebhooks::{HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP};

use crate::clock::now_ms;
use crate::delivery::cards::Event;
use crate::error::AppError;
use crate::event_signing::EventSecrets;
use crate::extract::body_rejection;
use crate::state::AppState;
use crate::store::NewEvent;

/// Signatures older or newer than this are refused (replays).
const MAX_SKEW_SECS: u64 = 300;
/// The deprecated scheme's headers.
pub const TIMESTAMP_HEADER: &str = "x-connector-timestamp";
pub const SIGNATURE_HEADER: &str = "x-connector-signature";
/// What an answer to the deprecated scheme carries (RFC 7234's Warning, code 299).
const DEPRECATED_WARNING: &str = "299 - \"x-connector-signature is deprecated and goes in the next release: sign with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature; see docs/events.md)\"";

/// Events may carry more than a connection's settings.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Where events arrive.
pub const PATH: &str = "/api/events";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(accept).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"): the deprecated scheme.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    crate::event_signing::legacy_sign(secret.as_bytes(), timestamp, body)
}

fn bad(code: &'static str, message: String) -> AppError {
    AppError::BadRequest {
        code,
        message,
        fields: vec![],
    }
}

fn unsigned(message: String) -> AppError {
    AppError::BadSignature(message)
}

/// Who signed: the id the event is known by (if the signature gives one), the secret's
/// name, and a replay's id for an event without one.
struct Signed {
    webhook_id: Option<String>,
    secret: String,
    replay_id: String,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AppError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| unsigned(format!("the '{name}' header is not text")))
        })
        .transpose()
}

/// The timestamp header as unix seconds within [`MAX_SKEW_SECS`] of now.
fn timestamp(headers: &HeaderMap, name: &str) -> Result<i64, AppError> {
    let timestamp: i64 = header(headers, name)?
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| unsigned(format!("the '{name}' header (unix seconds) is required")))?;
    // abs_diff: no timestamp, however far off, can overflow the comparison.
    if (now_ms() / 1000).abs_diff(timestamp) > MAX_SKEW_SECS {
        return Err(unsigned(format!(
            "timestamp {timestamp} is more than {MAX_SKEW_SECS} s away from now"
        )));
    }
    Ok(timestamp)
}

/// Standard Webhooks: the headers named when missing or malformed, then the `standardwebhooks`
/// crate's verification with each secret in turn.
fn verify_standard(
    secrets: &EventSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signed, AppError> {
    let id = header(headers, HEADER_WEBHOOK_ID)?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            unsigned(format!(
                "the '{HEADER_WEBHOOK_ID}' header (the event's unique id) is required"
            ))
        })?;
    timestamp(headers, HEADER_WEBHOOK_TIMESTAMP)?;
    let given = header(headers, HEADER_WEBHOOK_SIGNATURE)?.ok_or_else(|| {
        unsigned(format!(
            "the '{HEADER_WEBHOOK_SIGNATURE}' header (v1,<base64>) is required"
        ))
    })?;
    let mut versions = Vec::new();
    for part in given.split(' ').filter(|p| !p.is_empty()) {
        let Some((version, signature)) = part.split_once(',') else {
            return Err(unsigned(format!(
                "the '{HEADER_WEBHOOK_SIGNATURE}' header must be space-separated v1,<base64> signatures"
            )));
        };
        if version == "v1"
            && base64::engine::general_purpose::STANDARD
                .decode(signature)
                .map_or(true, |b| b.len() != 32)
        {
            return Err(unsigned(format!(
                "a v1 signature in the '{HEADER_WEBHOOK_SIGNATURE}' header must be the base64 of 32 bytes (HMAC-SHA256)"
            )));
        }
        versions.push(version);
    }
    if versions.is_empty() {
        return Err(unsigned(format!(
            "the '{HEADER_WEBHOOK_SIGNATURE}' header must be space-separated v1,<base64> signatures"
        )));
    }
    if !versions.contains(&"v1") {
        let shown: Vec<String> = versions
            .iter()
            .map(|v| format!("'{}'", v.chars().take(20).collect::<String>()))
            .collect();
        return Err(unsigned(format!(
            "signature version {} is not supported: only v1 (HMAC-SHA256) is",
            shown.join(", ")
        )));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(bad("invalid_event", "the event is not UTF-8 JSON".into()));
    }
    // The timestamp was checked above, so the crate's own window check cannot overflow.
    let signer = secrets
        .iter()
        .find(|s| s.webhook().verify(body, headers).is_ok())
        .ok_or_else(|| {
            unsigned(format!(
                "no signature in the '{HEADER_WEBHOOK_SIGNATURE}' header matches an events secret"
            ))
        })?;
    Ok(Signed {
        webhook_id: Some(id.to_string()),
        secret: signer.id.clone(),
        replay_id: String::new(),
    })
}

/// The deprecated scheme, checked in constant time with each secret in turn.
fn verify_legacy(
    secrets: &EventSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signed, AppError> {
    let timestamp = timestamp(headers, TIMESTAMP_HEADER)?;
    let Some(given) = header(headers, SIGNATURE_HEADER)? else {
        return Err(unsigned(format!(
            "the '{SIGNATURE_HEADER}' header (sha256=<hex>) is required"
        )));
    };
    let bytes = given
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            unsigned(format!(
                "the '{SIGNATURE_HEADER}' header must be sha256=<64 hex digits>"
            ))
        })?;
    let signer = secrets
        .iter()
        .find(|s| s.legacy_verify(timestamp, body, &bytes))
        .ok_or_else(|| unsigned("the event signature does not match".into()))?;
    Ok(Signed {
        webhook_id: None,
        secret: signer.id.clone(),
        replay_id: format!("sig-{}", hex::encode(bytes)),
    })
}

/// Set once the deprecated scheme was first seen, so that it is logged once per process.
static LEGACY_LOGGED: AtomicBool = AtomicBool::new(false);

async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Any Standard Webhooks header means that scheme: its missing headers are then named.
    let legacy = ![
        HEADER_WEBHOOK_ID,
        HEADER_WEBHOOK_TIMESTAMP,
        HEADER_WEBHOOK_SIGNATURE,
    ]
    .iter()
    .any(|h| headers.contains_key(*h))
        && (headers.contains_key(TIMESTAMP_HEADER) || headers.contains_key(SIGNATURE_HEADER));
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
    let has_any = |names: [&str; 3]| names.iter().any(|h| headers.contains_key(*h));
    let signed = if legacy {
        verify_legacy(secrets, headers, &body)?
    } else if has_any([
        HEADER_WEBHOOK_ID,
        HEADER_WEBHOOK_TIMESTAMP,
        HEADER_WEBHOOK_SIGNATURE,
    ]) {
        verify_standard(secrets, headers, &body)?
    } else {
        return Err(unsigned(format!(
            "the event is not signed: send the Standard Webhooks headers '{HEADER_WEBHOOK_ID}', '{HEADER_WEBHOOK_TIMESTAMP}' and '{HEADER_WEBHOOK_SIGNATURE}' (see docs/events.md)"
        )));
    };
    let event: Event =
        serde_json::from_slice(&body).map_err(|e| bad("invalid_event", format!("event: {e}")))?;
    check(&event)?;
    let id = match (&signed.webhook_id, &event.id) {
        (Some(header), Some(body)) if header != body => {
            return Err(bad(
                "invalid_event",
                format!(
                    "the event's id '{}' is not its '{HEADER_WEBHOOK_ID}' '{}': leave the id out or send the same",
                    body.chars().take(40).collect::<String>(),
                    header.chars().take(40).collect::<String>()
                ),
            ))
        }
        (Some(header), _) => {
            check_id(header, HEADER_WEBHOOK_ID)?;
            header.clone()
        }
        (None, Some(id)) => id.clone(),
        // Without an id, the same signed request is the same event: a replay within the
        // timestamp window is then a duplicate rather than a second card.
        (None, None) => signed.replay_id.clone(),
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

/// An event id (the body's or the `webhook-id`): what the outbox and logs can hold.
fn check_id(id: &str, what: &str) -> Result<(), AppError> {
    if id.is_empty()
        || id.len() > 100
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:~".contains(c))
    {
        return Err(bad(
            "invalid_event",
            format!(
                "{what} '{}' must be 1 to 100 letters, digits or - _ . : ~",
                id.chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// The longest account id an event may name (the stored ones come from ID tokens).
const MAX_ACCOUNT: usize = 200;

/// With `[account]`, every event names the account it is for; without, `account` is ignored.
fn check_account(account: Option<&str>) -> Result<(), AppError> {
    if CONNECTOR.account.is_none() {
        return Ok(());
    }
    let problem = match account {
        None => Some((
            "required",
            "this connector sends events per account: the event must name its `account`"
                .to_string(),
        )),
        Some(a) if a.is_empty() || a.chars().count() > MAX_ACCOUNT => Some((
            "length",
            format!("the event's `account` must be 1 to {MAX_ACCOUNT} characters"),
        )),
        Some(_) => None,
    };
    match problem {
        None => Ok(()),
        Some((rule, message)) => Err(AppError::BadRequest {
            code: "validation_failed",
            fields: vec![connector_settings::api::FieldProblem {
                field: "account".into(),
                rule: rule.into(),
                message: message.clone(),
            }],
            message,
        }),
    }
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
        check_id(id, "event id")?;
    }
    check_account(e.account.as_deref())?;
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
