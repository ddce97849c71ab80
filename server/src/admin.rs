//! The admin API (`/admin/…`): operators find connections, see one and the deliveries,
//! disable and enable a connection, and read the audit log of what was done. Served only on the internal listener (the one
//! `--metrics-addr` starts, beside `/metrics`), never the public one, and every call needs
//! a bearer token of `--admin-token` (`id:secret`, several while rotating), compared in
//! constant time. Answers never hold a webhook URL, an edit key or a signature: of the
//! webhook only its host and kind.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use connector_settings::admin::{
    AuditPage, ConnectionDetail, ConnectionPage, ConnectionView, Deleted, DeliveryDetail,
    DeliveryPage, DeliveryStats, DisableBody, ReplayAnswer, ReplayFilter, TeamView, TestCardAnswer,
};
use connector_settings::api::ErrorBody;
use connector_settings::webhook::WebhookKind;
use connector_settings::EntityId;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{
    AuditEntry, ConnectionQuery, ConnectionStore, DeliveryQuery, Outbox, Record, Replay,
};

/// The shortest secret an admin token may have.
pub const MIN_SECRET_CHARS: usize = 16;
/// The most entries one page of a list holds, and how many without `limit`.
const MAX_LIMIT: usize = 200;
const DEFAULT_LIMIT: usize = 50;
/// The longest reason a disable takes.
const MAX_REASON_CHARS: usize = 500;
pub use connector_settings::admin::REASON_PREFIX;

/// One admin token: who (`id`, for the audit log) and the SHA-256 of its secret (so every
/// comparison is of 32 bytes, whatever the length given).
#[derive(Clone)]
pub struct AdminToken {
    pub id: String,
    secret_hash: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken").field("id", &self.id).finish()
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Parses `id:secret,id:secret`. Errors name the entry by its position or id, never a
/// secret.
pub fn parse_tokens(list: &str) -> Result<Vec<AdminToken>, String> {
    let mut tokens: Vec<AdminToken> = Vec::new();
    for (n, entry) in list.split(',').map(str::trim).enumerate() {
        let n = n + 1;
        let Some((id, secret)) = entry.split_once(':') else {
            return Err(format!(
                "entry {n} is not id:secret (no ':'); separate tokens with commas"
            ));
        };
        let id = id.trim();
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(format!(
                "entry {n}: the id must be 1 to 64 letters, digits or . _ - @"
            ));
        }
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(format!(
                "token '{id}': the secret is shorter than {MIN_SECRET_CHARS} characters"
            ));
        }
        if tokens.iter().any(|t| t.id == id) {
            return Err(format!("token id '{id}' is given twice"));
        }
        tokens.push(AdminToken {
            id: id.to_string(),
            secret_hash: hash(secret),
        });
    }
    Ok(tokens)
}

/// The id of the token whose secret is `given`, comparing with every token in constant time.
fn operator_of(tokens: &[AdminToken], given: &str) -> Option<String> {
    let given = hash(given);
    let mut found = None;
    for t in tokens {
        if bool::from(t.secret_hash.ct_eq(&given)) {
            found = Some(t.id.clone());
        }
    }
    found
}

/// Who is calling: the id of the token the request came with.
#[derive(Debug, Clone)]
struct Operator(String);

#[derive(Clone)]
pub struct AdminState {
    pub connections: Arc<dyn ConnectionStore>,
    pub outbox: Arc<dyn Outbox>,
    pub tokens: Arc<[AdminToken]>,
    /// Wakes the delivery workers (a test card).
    pub wake: crate::store::Wake,
    /// How long a test card's answer waits for its first attempt to end.
    pub test_wait: std::time::Duration,
}

/// The admin routes, every one (an unknown `/admin/…` path too) behind the token check.
pub fn router(state: AdminState) -> Router {
    let tokens = state.tokens.clone();
    Router::new()
        .route("/admin/connections", get(list))
        .route("/admin/connections/{id}", get(detail).delete(remove))
        .route("/admin/connections/{id}/disable", post(disable))
        .route("/admin/connections/{id}/enable", post(enable))
        .route("/admin/connections/{id}/test", post(test_card))
        .route("/admin/deliveries", get(deliveries))
        .route("/admin/deliveries/{id}", get(delivery))
        .route("/admin/deliveries/{id}/replay", post(replay_one))
        .route("/admin/deliveries/replay", post(replay_matching))
        .route("/admin/audit", get(audit))
        .route("/admin/stats", get(stats))
        .route(
            "/admin/{*rest}",
            axum::routing::any(|| async {
                fail(StatusCode::NOT_FOUND, "not_found", "no such admin route")
            }),
        )
        .route(
            "/admin",
            axum::routing::any(|| async {
                fail(StatusCode::NOT_FOUND, "not_found", "no such admin route")
            }),
        )
        .method_not_allowed_fallback(|| async {
            fail(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this admin route does not take that method",
            )
        })
        .layer(middleware::from_fn_with_state(tokens, authorize))
        .with_state(state)
}

fn fail(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = Json(ErrorBody {
        error: code.into(),
        message: message.into(),
        fields: vec![],
    });
    if status == StatusCode::UNAUTHORIZED {
        return (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
    }
    (status, body).into_response()
}

/// A call refused or failed, answered as [`fail`] writes it.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        fail(self.status, self.code, self.message)
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "admin API: the store failed");
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "the database failed; see the server's log".into(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "bad_request",
        message: message.into(),
    }
}

async fn authorize(
    State(tokens): State<Arc<[AdminToken]>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "admin_token_missing",
            "the admin API needs an Authorization: Bearer <admin token> header",
        );
    };
    let Some(given) = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "admin_token_malformed",
            "the Authorization header is not 'Bearer <admin token>'",
        );
    };
    match operator_of(&tokens, given) {
        Some(id) => {
            req.extensions_mut().insert(Operator(id));
            next.run(req).await
        }
        None => fail(
            StatusCode::UNAUTHORIZED,
            "admin_token_refused",
            "the bearer token is not one of this server's admin tokens (CONNECTOR_ADMIN_TOKEN)",
        ),
    }
}

fn view(r: &Record) -> ConnectionView {
    ConnectionView {
        entity_id: r.entity_id.as_str().to_string(),
        name: r.config_name.clone(),
        kind: r.webhook_url.kind().name().to_string(),
        host: url::Url::parse(r.webhook_url.as_str())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string)),
        tenant_id: r.tenant_id.clone(),
        team: r.team.as_ref().map(|t| TeamView {
            tenant: t.tenant.clone(),
            group: t.group.clone(),
        }),
        account: r.account.clone(),
        app_type: r.app_type.clone(),
        state: if r.disabled_reason.is_some() {
            "disabled"
        } else {
            "enabled"
        }
        .to_string(),
        disabled_reason: r.disabled_reason.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    tenant: Option<String>,
    team: Option<String>,
    account: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The query string as `T`, or a 400 naming what was wrong.
fn params<T: Default + for<'de> Deserialize<'de>>(query: Option<String>) -> Result<T, Refusal> {
    match query {
        None => Ok(T::default()),
        Some(q) => {
            let pairs =
                serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(q.as_bytes()));
            serde_path_to_error::deserialize(pairs).map_err(|e| {
                let at = e.path().to_string();
                let at = if at == "." {
                    String::new()
                } else {
                    format!("{at}: ")
                };
                bad_request(format!(
                    "the query string is refused: {at}{}",
                    e.into_inner()
                ))
            })
        }
    }
}

fn limit_of(limit: Option<usize>) -> Result<usize, Refusal> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(bad_request(format!(
            "limit {n} is out of range: 1 to {MAX_LIMIT}"
        ))),
    }
}

/// An empty filter is no filter.
fn given(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn list(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<ConnectionPage>, Refusal> {
    let p: ListParams = params(query)?;
    let limit = limit_of(p.limit)?;
    let kind = given(p.kind);
    if let Some(kind) = &kind {
        if WebhookKind::from_name(kind).is_none() {
            return Err(bad_request(format!(
                "kind '{kind}' is not one of connector, workflows, workflows-sign-in, workflows-retired"
            )));
        }
    }
    let disabled = match given(p.state).as_deref() {
        None => None,
        Some("enabled") => Some(false),
        Some("disabled") => Some(true),
        Some(other) => {
            return Err(bad_request(format!(
                "state '{other}' is not one of enabled, disabled"
            )))
        }
    };
    let query = ConnectionQuery {
        tenant: given(p.tenant).map(|t| t.to_lowercase()),
        team: given(p.team).map(|t| t.to_lowercase()),
        account: given(p.account),
        name: given(p.name),
        kind,
        disabled,
        after: given(p.cursor),
        limit: limit + 1,
    };
    let mut found = state.connections.search(query).await?;
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|r| r.entity_id.as_str().to_string())
    } else {
        None
    };
    Ok(Json(ConnectionPage {
        connections: found.iter().map(view).collect(),
        next_cursor,
    }))
}

fn entity_id(id: &str) -> Result<EntityId, Refusal> {
    EntityId::parse(id).map_err(|e| bad_request(format!("'{id}' is not an entity id: {e}")))
}

fn not_found(id: &EntityId) -> Refusal {
    Refusal {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no connection '{}'", id.as_str()),
    }
}

async fn detail(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionDetail>, Refusal> {
    show(&state, &entity_id(&id)?).await
}

/// One connection's detail, with its delivery counts.
async fn show(state: &AdminState, id: &EntityId) -> Result<Json<ConnectionDetail>, Refusal> {
    let record = state
        .connections
        .get(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let deliveries = state.outbox.delivery_status(id, None).await?;
    Ok(Json(ConnectionDetail {
        connection: view(&record),
        settings: record.settings.clone(),
        deliveries,
    }))
}

async fn disable(
    State(state): State<AdminState>,
    Extension(Operator(actor)): Extension<Operator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ConnectionDetail>, Refusal> {
    let id = entity_id(&id)?;
    let body: DisableBody = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("the body must be {{\"reason\": \"why\"}}: {e}")))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(bad_request(format!(
            "reason must be 1 to {MAX_REASON_CHARS} characters"
        )));
    }
    let audit = AuditEntry {
        id: 0,
        at_ms: crate::clock::now_ms(),
        actor,
        action: "disable".into(),
        target: id.as_str().to_string(),
        detail: Some(reason.to_string()),
    };
    let stored = format!("{REASON_PREFIX}{reason}");
    act(&state, &id, Some(stored), audit).await
}

async fn enable(
    State(state): State<AdminState>,
    Extension(Operator(actor)): Extension<Operator>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionDetail>, Refusal> {
    let id = entity_id(&id)?;
    let before = state
        .connections
        .get(&id)
        .await?
        .ok_or_else(|| not_found(&id))?
        .disabled_reason;
    let audit = AuditEntry {
        id: 0,
        at_ms: crate::clock::now_ms(),
        actor,
        action: "enable".into(),
        target: id.as_str().to_string(),
        detail: before.map(|why| format!("was disabled: {why}")),
    };
    act(&state, &id, None, audit).await
}

/// Sets the connection's disabled reason with its audit entry, and answers its detail.
async fn act(
    state: &AdminState,
    id: &EntityId,
    reason: Option<String>,
    audit: AuditEntry,
) -> Result<Json<ConnectionDetail>, Refusal> {
    let (actor, action) = (audit.actor.clone(), audit.action.clone());
    if !state.connections.set_disabled(id, reason, audit).await? {
        return Err(not_found(id));
    }
    tracing::info!(%actor, %action, entity_id = id.as_str(), "admin action");
    show(state, id).await
}

/// `DELETE /admin/connections/{id}`: the connection and its deliveries (the pending ones
/// never posted), audited with who and what it was.
async fn remove(
    State(state): State<AdminState>,
    Extension(Operator(actor)): Extension<Operator>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, Refusal> {
    let id = entity_id(&id)?;
    let record = state
        .connections
        .get(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let shown = view(&record);
    let audit = AuditEntry {
        id: 0,
        at_ms: crate::clock::now_ms(),
        actor: actor.clone(),
        action: "delete".into(),
        target: id.as_str().to_string(),
        detail: Some(format!(
            "'{}', {} webhook on {}",
            shown.name,
            shown.kind,
            shown.host.as_deref().unwrap_or("?")
        )),
    };
    let pending_dropped = state
        .connections
        .delete_audited(&id, audit)
        .await?
        .ok_or_else(|| not_found(&id))?;
    tracing::info!(%actor, action = "delete", entity_id = id.as_str(), pending_dropped, "admin action");
    Ok(Json(Deleted {
        entity_id: id.as_str().to_string(),
        pending_dropped,
    }))
}

/// `POST /admin/connections/{id}/test`: the configuration page's test card, queued to the
/// connection's webhook through the outbox, answered with how its first attempt ended
/// (waiting at most `test_wait`), audited with that outcome.
async fn test_card(
    State(state): State<AdminState>,
    Extension(Operator(actor)): Extension<Operator>,
    Path(id): Path<String>,
) -> Result<Json<TestCardAnswer>, Refusal> {
    let id = entity_id(&id)?;
    let record = state
        .connections
        .get(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if let Some(why) = &record.disabled_reason {
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            code: "connection_disabled",
            message: format!(
                "connection '{}' is disabled ({why}): nothing is posted to it; enable it first",
                id.as_str()
            ),
        });
    }
    let event_id =
        crate::routes::connections::queue_test_card(state.outbox.as_ref(), &state.wake, &record)
            .await?;
    let deadline = tokio::time::Instant::now() + state.test_wait;
    let (outcome, error) = loop {
        let st = state
            .outbox
            .delivery_status(&id, Some(event_id.clone()))
            .await?;
        if st.delivered > 0 {
            break ("delivered", None);
        }
        if st.dead > 0 {
            break ("dead", st.last_error);
        }
        if st.last_error.is_some() {
            break ("failed", st.last_error);
        }
        if tokio::time::Instant::now() >= deadline {
            break ("pending", None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let audit = AuditEntry {
        id: 0,
        at_ms: crate::clock::now_ms(),
        actor: actor.clone(),
        action: "test".into(),
        target: id.as_str().to_string(),
        detail: Some(match &error {
            Some(e) => format!("{event_id}: {outcome}: {e}"),
            None => format!("{event_id}: {outcome}"),
        }),
    };
    state.connections.write_audit(audit).await?;
    tracing::info!(%actor, action = "test", entity_id = id.as_str(), outcome, "admin action");
    Ok(Json(TestCardAnswer {
        event_id,
        outcome: outcome.into(),
        error,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryParams {
    connection: Option<String>,
    event: Option<String>,
    state: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    before: Option<i64>,
}

/// A time given as `name`: unix milliseconds, 0 or more.
fn time_of(name: &str, value: Option<String>) -> Result<Option<i64>, Refusal> {
    let Some(value) = given(value) else {
        return Ok(None);
    };
    match value.parse::<i64>() {
        Ok(ms) if ms >= 0 => Ok(Some(ms)),
        _ => Err(bad_request(format!(
            "{name} '{value}' is not a time: give unix milliseconds (0 or more), e.g. 1750000000000"
        ))),
    }
}

/// `since` and `until` as a range, refused when it is empty.
fn range_of(since: Option<i64>, until: Option<i64>) -> Result<(Option<i64>, Option<i64>), Refusal> {
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(bad_request(format!(
                "since ({s}) must be before until ({u})"
            )));
        }
    }
    Ok((since, until))
}

async fn deliveries(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<DeliveryPage>, Refusal> {
    let p: DeliveryParams = params(query)?;
    let limit = limit_of(p.limit)?;
    let status = given(p.state);
    if let Some(s) = &status {
        if !["pending", "delivered", "dead"].contains(&s.as_str()) {
            return Err(bad_request(format!(
                "state '{s}' is not one of pending, delivered, dead"
            )));
        }
    }
    let entity_id = match given(p.connection) {
        Some(id) => Some(entity_id(&id)?.as_str().to_string()),
        None => None,
    };
    let (since, until) = range_of(time_of("since", p.since)?, time_of("until", p.until)?)?;
    let query = DeliveryQuery {
        entity_id,
        event_id: given(p.event),
        status,
        since,
        until,
        before: p.before,
        limit: limit + 1,
    };
    let mut found = state.outbox.deliveries(query).await?;
    let next_before = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|d| d.delivery_id)
    } else {
        None
    };
    Ok(Json(DeliveryPage {
        deliveries: found,
        next_before,
    }))
}

/// A delivery id from the path, or a 400 naming it.
fn delivery_id(id: &str) -> Result<i64, Refusal> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad_request(format!("'{id}' is not a delivery id (a positive integer)")))
}

fn no_delivery(id: i64) -> Refusal {
    Refusal {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no delivery {id}"),
    }
}

/// `GET /admin/deliveries/{id}`: the delivery with every attempt at it.
async fn delivery(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, Refusal> {
    let id = delivery_id(&id)?;
    let found = state.outbox.delivery(id).await?;
    found.map(Json).ok_or_else(|| no_delivery(id))
}

fn conflict(message: String) -> Refusal {
    Refusal {
        status: StatusCode::CONFLICT,
        code: "conflict",
        message,
    }
}

/// The audit entry of a replay by `actor` (the store adds the filter and the counts).
fn replay_audit(actor: String, target: String) -> AuditEntry {
    AuditEntry {
        id: 0,
        at_ms: crate::clock::now_ms(),
        actor,
        action: "replay".into(),
        target,
        detail: None,
    }
}

/// `POST /admin/deliveries/{id}/replay`: one dead delivery due again now; answers it.
async fn replay_one(
    State(state): State<AdminState>,
    Extension(Operator(actor)): Extension<Operator>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, Refusal> {
    let id = delivery_id(&id)?;
    let found = state
        .outbox
        .delivery(id)
        .await?
        .ok_or_else(|| no_delivery(id))?;
    let status = &found.delivery.status;
    if status != "dead" {
        return Err(conflict(format!(
            "delivery {id} is {status}, not dead: only a dead delivery is replayed"
        )));
    }
    let entity = EntityId::parse(&found.delivery.entity_id).ok();
    let connection = match &entity {
        Some(e) => state.connections.get(e).await?,
        None => None,
    };
    match connection {
        None => {
            return Err(conflict(format!(
                "delivery {id}'s connection '{}' is deleted: there is nowhere to send it",
                found.delivery.entity_id
            )))
        }
        Some(c) if c.disabled_reason.is_some() => {
            return Err(conflict(format!(
                "delivery {id}'s connection '{}' is disabled: enable it first",
                found.delivery.entity_id
            )))
        }
        Some(_) => {}
    }
    let audit = replay_audit(actor.clone(), format!("delivery:{id}"));
    let done = state
        .outbox
        .replay(Replay::one(id), crate::clock::now_ms(), false, Some(audit))
        .await?;
    if done.replayed == 0 {
        return Err(conflict(format!(
            "delivery {id} changed meanwhile and was not replayed; look at it again"
        )));
    }
    tracing::info!(%actor, action = "replay", delivery_id = id, "admin action");
    let now = state
        .outbox
        .delivery(id)
        .await?
        .ok_or_else(|| no_delivery(id))?;
    Ok(Json(now))
}

/// `POST /admin/deliveries/replay`: every dead delivery matching the body's filter due
/// again now, or with `dryRun` only counted.
async fn replay_matching(
    State(state): State<AdminState>,
    Extension(Operator(actor)): Extension<Operator>,
    body: Bytes,
) -> Result<Json<ReplayAnswer>, Refusal> {
    let filter: ReplayFilter = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(&body),
    )
    .map_err(|e| {
        bad_request(format!(
            "the body must be a replay filter {{\"connection\", \"event\", \"since\", \"until\", \"dryRun\"}}: {e}"
        ))
    })?;
    for (name, value) in [("since", filter.since), ("until", filter.until)] {
        if value.is_some_and(|v| v < 0) {
            return Err(bad_request(format!(
                "{name} must be unix milliseconds, 0 or more"
            )));
        }
    }
    let (since, until) = range_of(filter.since, filter.until)?;
    let entity_id = match given(filter.connection.clone()) {
        Some(id) => Some(entity_id(&id)?.as_str().to_string()),
        None => None,
    };
    let which = Replay {
        delivery_id: None,
        entity_id,
        event_id: given(filter.event.clone()),
        dead_since: since,
        dead_until: until,
    };
    if !filter.dry_run && which == Replay::default() {
        return Err(bad_request(
            "give at least one of connection, event, since, until (since: 0 replays every dead delivery); try dryRun first",
        ));
    }
    let target = which
        .entity_id
        .clone()
        .unwrap_or_else(|| "deliveries".to_string());
    let audit = (!filter.dry_run).then(|| replay_audit(actor.clone(), target));
    let done = state
        .outbox
        .replay(which, crate::clock::now_ms(), filter.dry_run, audit)
        .await?;
    if !filter.dry_run {
        tracing::info!(%actor, action = "replay", replayed = done.replayed, "admin action");
    }
    Ok(Json(ReplayAnswer {
        matched: done.matched,
        held: done.held,
        replayed: done.replayed,
        dry_run: filter.dry_run,
    }))
}

/// How far back `GET /admin/stats` counts attempts.
const STATS_WINDOW_MS: i64 = 86_400_000;

/// `GET /admin/stats`: attempts per minute over the last day by outcome, and what is due.
async fn stats(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<DeliveryStats>, Refusal> {
    let _: NoParams = params(query)?;
    let now = crate::clock::now_ms();
    // From the start of the minute a day ago, so the first minute is counted whole.
    let since = (now - STATS_WINDOW_MS) / 60_000 * 60_000;
    Ok(Json(state.outbox.stats(since, now).await?))
}

/// A route that takes no query parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<usize>,
    before: Option<i64>,
}

async fn audit(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditPage>, Refusal> {
    let p: AuditParams = params(query)?;
    let limit = limit_of(p.limit)?;
    let mut entries = state.connections.audit_log(p.before, limit + 1).await?;
    let next_before = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_with_their_ids_and_match_only_their_secret() {
        let tokens = parse_tokens("alice:0123456789abcdef, bob:fedcba9876543210xyz").unwrap();
        assert_eq!(
            tokens.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["alice", "bob"]
        );
        assert_eq!(
            operator_of(&tokens, "fedcba9876543210xyz").as_deref(),
            Some("bob")
        );
        assert_eq!(
            operator_of(&tokens, "0123456789abcdef").as_deref(),
            Some("alice")
        );
        assert_eq!(operator_of(&tokens, "0123456789abcde"), None);
        assert_eq!(operator_of(&tokens, ""), None);
    }

    #[test]
    fn bad_tokens_are_refused_naming_the_entry_never_the_secret() {
        let no_colon = parse_tokens("alice:0123456789abcdef,secretwithoutid").unwrap_err();
        assert!(
            no_colon.contains("entry 2") && !no_colon.contains("secretwithoutid"),
            "{no_colon}"
        );
        let short = parse_tokens("alice:short").unwrap_err();
        assert!(
            short.contains("'alice'") && short.contains("16") && !short.contains("short:"),
            "{short}"
        );
        let twice = parse_tokens("a:0123456789abcdef,a:0123456789abcdeg").unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let bad_id = parse_tokens(" :0123456789abcdef").unwrap_err();
        assert!(bad_id.contains("entry 1"), "{bad_id}");
        assert!(parse_tokens("").is_err());
    }

    #[test]
    fn a_token_debug_shows_its_id_only() {
        let tokens = parse_tokens("ops:0123456789abcdef").unwrap();
        let shown = format!("{:?}", tokens[0]);
        assert!(
            shown.contains("ops") && !shown.contains("0123456789abcdef"),
            "{shown}"
        );
    }
}
