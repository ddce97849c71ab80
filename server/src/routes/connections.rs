//! `/api/connections/{entityId}`: create or update, read and delete a channel's connection.
//! Reading, changing and deleting need the channel's webhook URL (header
//! `x-teams-webhook-url`): the entityId alone grants nothing.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::{Json, Router};
use connector_settings::api::{
    Connection, DeliveryStatus, FieldProblem, SaveConnection, TestCard, WEBHOOK_HEADER,
};
use connector_settings::{EntityId, Settings};
use time::format_description::well_known::Rfc3339;

use crate::auth::Identity;
use crate::domain::WebhookUrl;
use crate::error::AppError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store::{Record, Upsert};

/// The longest `appType` / `userObjectId` kept.
const MAX_META: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/connections/{entity_id}/deliveries",
            axum::routing::get(deliveries),
        )
        .route(
            "/api/connections/{entity_id}/test-card",
            axum::routing::post(test_card),
        )
        .route(
            "/api/connections/{entity_id}",
            put(save).get(read).delete(remove),
        )
}

fn entity_id(raw: &str) -> Result<EntityId, AppError> {
    EntityId::parse(raw).map_err(|message| AppError::BadRequest {
        code: "invalid_entity_id",
        message,
        fields: vec![],
    })
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn view(r: Record) -> Connection {
    Connection {
        entity_id: r.entity_id.to_string(),
        config_name: r.config_name,
        settings: r.settings,
        created_at: r.created_at,
        updated_at: r.updated_at,
        disabled: r.disabled_reason,
    }
}

/// Takes a write token for the client address and, when known, the tenant.
fn limit_writes(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    tenant: Option<&str>,
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
        .map_err(AppError::TooManyRequests)?;
    if let Some(tenant) = tenant {
        state
            .tenant_limit
            .check(tenant)
            .map_err(AppError::TooManyRequests)?;
    }
    Ok(())
}

async fn save(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    JsonBody(body): JsonBody<SaveConnection>,
) -> Result<(StatusCode, Json<Connection>), AppError> {
    let id = entity_id(&raw_id)?;
    let mut fields = Vec::new();
    let webhook = WebhookUrl::parse(&body.webhook_url, &state.webhooks).map_err(|message| {
        fields.push(FieldProblem {
            field: "webhookUrl".into(),
            rule: "webhook_url".into(),
            message,
        });
    });
    for (name, value) in [
        ("appType", &body.app_type),
        ("userObjectId", &body.user_object_id),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > MAX_META) {
            fields.push(FieldProblem {
                field: name.into(),
                rule: "max_length".into(),
                message: format!("{name} is longer than {MAX_META} characters"),
            });
        }
    }
    let settings = Settings::parse(body.settings);
    if let Err(errors) = &settings {
        fields.extend(errors.iter().map(FieldProblem::from));
    }
    let (Ok(webhook), Ok(settings), true) = (webhook, settings, fields.is_empty()) else {
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        return Err(AppError::Invalid {
            message: format!("invalid: {}", names.join(", ")),
            fields,
        });
    };
    limit_writes(&state, peer, &headers, webhook.tenant())?;
    if let Err(message) = webhook.check_resolves_publicly(&state.webhooks).await {
        let field = FieldProblem {
            field: "webhookUrl".into(),
            rule: "webhook_url".into(),
            message: message.clone(),
        };
        return Err(AppError::Invalid {
            message,
            fields: vec![field],
        });
    }
    let identity = identify(&state, &headers).await?;
    if let (Some(existing), Some(who)) = (state.store.get(&id).await?, &identity) {
        same_tenant(&existing, who)?;
    }
    let stamp = now();
    let record = Record {
        entity_id: id.clone(),
        webhook_hash: state.key.hash(&webhook),
        config_name: settings.config_name().to_string(),
        settings: settings.into_values(),
        webhook_url: webhook,
        app_type: body.app_type,
        user_object_id: body.user_object_id,
        tenant_id: identity.as_ref().map(|i| i.tenant.clone()),
        owner_oid: identity.map(|i| i.user),
        disabled_reason: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    match state.store.upsert(record).await? {
        Upsert::Created(r) => {
            tracing::info!(entity_id = %id, webhook = %r.webhook_url, "connection created");
            Ok((StatusCode::CREATED, Json(view(r))))
        }
        Upsert::Updated(r) => {
            tracing::info!(entity_id = %id, "connection updated");
            Ok((StatusCode::OK, Json(view(r))))
        }
        Upsert::Forbidden => Err(AppError::Forbidden(format!(
            "connection '{id}' belongs to another webhook url; it was not changed"
        ))),
    }
}

/// With single sign-on, the identity of the request's token (refused without a valid one).
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Identity>, AppError> {
    match &state.sso {
        None => Ok(None),
        Some(v) => v
            .verify_headers(headers)
            .await
            .map(Some)
            .map_err(|e| AppError::Unauthenticated(e.0)),
    }
}

/// A connection bound to a tenant is reachable only with that tenant's tokens.
fn same_tenant(record: &Record, who: &Identity) -> Result<(), AppError> {
    match &record.tenant_id {
        Some(t) if *t != who.tenant => {
            tracing::warn!(entity_id = %record.entity_id, "refused a token from another tenant");
            Err(AppError::OtherTenant)
        }
        _ => Ok(()),
    }
}

/// The stored record, if the request's webhook URL is the one it was stored with (and, with
/// single sign-on, its token is from the record's tenant). An unknown id and a wrong URL
/// answer alike, so ids cannot be probed.
async fn authorised(
    state: &AppState,
    headers: &HeaderMap,
    id: &EntityId,
) -> Result<Record, AppError> {
    let identity = identify(state, headers).await?;
    let Some(raw) = headers.get(WEBHOOK_HEADER) else {
        return Err(AppError::Unauthorized(format!(
            "the '{WEBHOOK_HEADER}' header with the channel's webhook url is required"
        )));
    };
    let not_found = || AppError::NotFound(format!("no connection '{id}' for this webhook url"));
    let url = raw
        .to_str()
        .ok()
        .and_then(|s| WebhookUrl::parse(s, &state.webhooks).ok())
        .ok_or_else(not_found)?;
    let record = state.store.get(id).await?.ok_or_else(not_found)?;
    if !record.webhook_hash.matches(&state.key.hash(&url)) {
        return Err(not_found());
    }
    if let Some(who) = &identity {
        same_tenant(&record, who)?;
    }
    Ok(record)
}

async fn read(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Connection>, AppError> {
    let id = entity_id(&raw_id)?;
    Ok(Json(view(authorised(&state, &headers, &id).await?)))
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let id = entity_id(&raw_id)?;
    let record = authorised(&state, &headers, &id).await?;
    limit_writes(&state, peer, &headers, record.webhook_url.tenant())?;
    state.store.delete(&id).await?;
    tracing::info!(entity_id = %id, "connection deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct EventQuery {
    event: Option<String>,
}

/// Delivery counts (of one event with `?event=`), last error and whether the connection is
/// disabled.
async fn deliveries(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<EventQuery>,
    headers: HeaderMap,
) -> Result<Json<DeliveryStatus>, AppError> {
    let id = entity_id(&raw_id)?;
    authorised(&state, &headers, &id).await?;
    Ok(Json(state.store.delivery_status(&id, q.event).await?))
}

/// Queues a test card to this connection through the same outbox as real events.
async fn test_card(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<TestCard>), AppError> {
    let id = entity_id(&raw_id)?;
    let record = authorised(&state, &headers, &id).await?;
    limit_writes(&state, peer, &headers, record.webhook_url.tenant())?;
    // The first event type the connection chose, else the connector's first.
    let kind = connector_settings::Subscription::of(&record.settings)
        .events
        .first()
        .copied()
        .unwrap_or(connector_settings::CONNECTOR.event_types()[0].value);
    let name = connector_settings::CONNECTOR.name;
    let event = serde_json::json!({
        "type": kind,
        "title": format!("Test card from {name}"),
        "text": format!("If you can read this, {name} can post to this channel ({}).", record.config_name),
        "facts": [{ "name": "Subscription", "value": record.config_name }],
    });
    let event_id = format!("test-{}", hex::encode(rand::random::<[u8; 12]>()));
    let new = crate::store::NewEvent {
        id: event_id.clone(),
        body: event.to_string(),
        received_at: now(),
    };
    state
        .store
        .enqueue_one(new, &id, crate::delivery::now_ms())
        .await?;
    state.wake.wake();
    Ok((StatusCode::ACCEPTED, Json(TestCard { event_id })))
}
