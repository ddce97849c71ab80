//! `/api/connections/{entityId}`: create or update, read and delete a channel's connection.
//! Reading, changing and deleting need the channel's webhook URL (header
//! `x-teams-webhook-url`) or the connection's edit key (header `x-connector-edit-key`), as
//! `access` decides: the entityId alone grants nothing.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::{Json, Router};
use connector_settings::api::{
    Connection, DeliveryStatus, FieldProblem, SaveConnection, TestCard, EDIT_KEY_HEADER,
    WEBHOOK_HEADER,
};
use connector_settings::{EntityId, Settings};

use super::guard::{charge_sender, charge_target, charge_tenant, check_postable, identify};
use crate::access::{self, Grant, Proof, Refusal};
use crate::auth::Identity;
use crate::domain::{BotTarget, EditKey, WebhookHash, WebhookUrl};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::state::AppState;
use crate::store::{Record, Team, Upsert};

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

fn view(r: Record, edit_key: Option<&EditKey>) -> Connection {
    Connection {
        edit_key: edit_key.map(|k| k.as_str().to_string()),
        entity_id: r.entity_id.to_string(),
        config_name: r.config_name,
        settings: r.settings,
        created_at: r.created_at,
        updated_at: r.updated_at,
        disabled: r.disabled_reason,
        webhook_kind: r.webhook_url.kind().name().to_string(),
        account: r.account,
    }
}

/// The tenant a proven write counts against: with single sign-on the token's, else the
/// connection's.
fn budget_of<'a>(identity: Option<&'a Identity>, record: &'a Record) -> Option<&'a str> {
    identity
        .map(|i| i.tenant.as_str())
        .or_else(|| access::tenant_of(record))
}

async fn save(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiPath(raw_id): ApiPath<String>,
    body: Result<JsonBody<SaveConnection>, AppError>,
) -> Result<(StatusCode, Json<Connection>), AppError> {
    charge_sender(&state, peer, &headers)?;
    let JsonBody(body) = body?;
    let id = entity_id(&raw_id)?;
    let mut fields = Vec::new();
    let webhook = match &body.webhook_url {
        None => Ok(None),
        Some(raw) => WebhookUrl::parse(raw, &state.webhooks)
            .map(Some)
            .map_err(|message| {
                fields.push(FieldProblem {
                    field: "webhookUrl".into(),
                    rule: "webhook_url".into(),
                    message,
                });
            }),
    };
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
    if let Some(b) = &body.bot {
        if body.webhook_url.is_some() {
            fields.push(FieldProblem {
                field: "bot".into(),
                rule: "one_target".into(),
                message: "give 'webhookUrl' or 'bot', not both".into(),
            });
        }
        for (name, value) in [
            ("bot.tenantId", &b.tenant_id),
            ("bot.teamId", &b.team_id),
            ("bot.channelId", &b.channel_id),
        ] {
            let bad = value.is_empty()
                || value.chars().count() > MAX_BOT_ID
                || value
                    .chars()
                    .any(|c| c == '|' || c.is_whitespace() || c.is_control());
            if bad {
                fields.push(FieldProblem {
                    field: name.into(),
                    rule: "bot_id".into(),
                    message: format!(
                        "{name} must be Teams' id from the tab's context: 1 to {MAX_BOT_ID} characters without spaces or '|'"
                    ),
                });
            }
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
    let identity = identify(&state, &headers).await?;
    let linked = linked_account(
        &state,
        &body.account_proof,
        identity.as_ref(),
        &body.user_object_id,
    )?;
    let bot = match &body.bot {
        Some(b) => Some(bot_target(&state, b, identity.as_ref()).await?),
        None => None,
    };
    let stamp = crate::clock::now_rfc3339();
    let mut record = Record {
        entity_id: id.clone(),
        // Set below, once it is decided which webhook the connection keeps.
        webhook_hash: WebhookHash([0; 32]),
        webhook_url: WebhookUrl::trusted(String::new()),
        config_name: settings.config_name().to_string(),
        settings: settings.into_values(),
        app_type: body.app_type,
        user_object_id: body.user_object_id,
        tenant_id: identity.as_ref().map(|i| i.tenant.clone()),
        owner_oid: identity.as_ref().map(|i| i.user.clone()),
        disabled_reason: None,
        created_at: stamp.clone(),
        updated_at: stamp,
        edit_key_hash: None,
        team: None,
        account: None,
    };
    let Some(existing) = state.connections.get(&id).await? else {
        // A new connection: its webhook URL (or bot channel) is required, and it gets its
        // edit key.
        let webhook = webhook
            .or_else(|| bot.as_ref().map(|(url, _)| url.clone()))
            .ok_or_else(webhook_required)?;
        if let Some(accounts) = &state.accounts {
            record.account = Some(linked.ok_or_else(|| AppError::BadRequest {
                code: "account_required",
                message: accounts.required_message(),
                fields: vec![FieldProblem {
                    field: "accountProof".into(),
                    rule: "required".into(),
                    message: accounts.required_message(),
                }],
            })?);
        }
        // Only a sign-in proves the tenant of a new connection: a URL that merely names one
        // must not spend its budget. The target's budget bounds creates instead.
        charge_tenant(&state, identity.as_ref().map(|i| i.tenant.as_str()))?;
        charge_target(&state, &webhook)?;
        if bot.is_none() {
            resolves_publicly(&state, &webhook).await?;
            check_postable(&state, &webhook, record.tenant_id.as_deref())?;
        }
        let key = EditKey::generate();
        record.webhook_hash = state.key.hash(&webhook);
        record.team = match &bot {
            Some((_, team)) => Some(team.clone()),
            None => webhook.identity().map(Team::of),
        };
        record.webhook_url = webhook;
        record.edit_key_hash = Some(state.key.hash_edit_key(&key));
        let outcome = state.connections.upsert(record).await?;
        if let Some((url, _)) = &bot {
            keep_bot_channel(&state, url, &outcome).await?;
        }
        return saved(&state, &id, outcome, Some(&key));
    };
    let sent_key = edit_key(&headers);
    let proof = Proof {
        webhook: webhook.as_ref().map(Ok),
        edit_key: sent_key.as_ref().map(|k| k.as_ref().map_err(|_| ())),
        identity: identity.as_ref(),
    };
    let grant = access::decide(&existing, &proof, &state.key).map_err(|r| match r {
        Refusal::NoCredential => webhook_required(),
        Refusal::WrongKey => AppError::Forbidden(format!(
            "the edit key is not the one of connection '{id}'; it was not changed"
        )),
        Refusal::OtherWebhook => AppError::Forbidden(format!(
            "connection '{id}' belongs to another webhook url; it was not changed (a new webhook url of the same team needs the connection's edit key or a sign-in of its organisation)"
        )),
        Refusal::UnreadableConnector => AppError::Forbidden(format!(
            "the webhook url is on a connector host but not in a form teams hands out (…/webhookb2/<group>@<tenant>/IncomingWebhook/<id>/<user>[/V2…]); connection '{id}' was not changed"
        )),
        other => refusal(other, &id),
    })?;
    charge_tenant(&state, budget_of(identity.as_ref(), &existing))?;
    if let Some((url, team)) = &bot {
        // Only the edit key moves a connection to a bot channel (a channel's ids are no
        // secret), and only within the team and tenant it was added in.
        if grant != Grant::Key {
            return Err(webhook_required());
        }
        if let Some(added) = &existing.team {
            if added.tenant != team.tenant {
                return Err(refusal(Refusal::WebhookOtherTenant, &id));
            }
            if added.group != team.group {
                return Err(refusal(Refusal::WebhookOtherTeam, &id));
            }
        }
        if let Some(tenant) = access::tenant_of(&existing) {
            if !tenant.eq_ignore_ascii_case(&team.tenant) {
                return Err(refusal(Refusal::WebhookOtherTenant, &id));
            }
        }
        let mut record = record;
        record.account = linked.or_else(|| existing.account.clone());
        let minted = existing.edit_key_hash.is_none().then(EditKey::generate);
        record.edit_key_hash = minted.as_ref().map(|k| state.key.hash_edit_key(k));
        record.team = existing.team.clone().or_else(|| Some(team.clone()));
        record.webhook_hash = state.key.hash(url);
        record.webhook_url = url.clone();
        let outcome = if record.webhook_hash.matches(&existing.webhook_hash) {
            state.connections.upsert(record).await?
        } else {
            tracing::info!(entity_id = %id, "connection moves to a channel of the app's bot");
            state
                .connections
                .rebind(record, &existing.webhook_hash)
                .await?
        };
        keep_bot_channel(&state, url, &outcome).await?;
        return saved(&state, &id, outcome, minted.as_ref());
    }
    if let Some(webhook) = &webhook {
        resolves_publicly(&state, webhook).await?;
        // Only a URL the connection moves to must be postable; the stored one stays as is.
        if matches!(
            grant,
            Grant::SameWebhook { replaces: true } | Grant::NewWebhook
        ) {
            let tenant = record
                .tenant_id
                .as_deref()
                .or(existing.tenant_id.as_deref());
            check_postable(&state, webhook, tenant)?;
        }
    }
    // Without a new sign-in the connection keeps its account; with one, it moves to it.
    record.account = linked.or_else(|| existing.account.clone());
    // A connection stored before edit keys existed gets one now.
    let minted = existing.edit_key_hash.is_none().then(EditKey::generate);
    record.edit_key_hash = minted.as_ref().map(|k| state.key.hash_edit_key(k));
    // The team it was added in stays whatever it moves to; one added on a Workflows URL
    // gets the team of the first connector URL it moves to.
    record.team = existing.team.clone();
    let outcome = match (grant, webhook) {
        (Grant::SameWebhook { replaces: true } | Grant::NewWebhook, Some(webhook)) => {
            if record.team.is_none() {
                record.team = webhook.identity().map(Team::of);
            }
            tracing::info!(entity_id = %id, from = %existing.webhook_url, to = %webhook, "connection moves to another webhook url");
            record.webhook_hash = state.key.hash(&webhook);
            record.webhook_url = webhook;
            state
                .connections
                .rebind(record, &existing.webhook_hash)
                .await?
        }
        // The stored webhook stays: no URL sent, the same one, or another form of it that
        // does not replace it.
        _ => {
            record.webhook_hash = existing.webhook_hash.clone();
            record.webhook_url = existing.webhook_url.clone();
            state.connections.upsert(record).await?
        }
    };
    saved(&state, &id, outcome, minted.as_ref())
}

/// The longest team, channel or tenant id taken for the bot path.
const MAX_BOT_ID: usize = 200;

/// The bot channel a save names, as the connection keeps it, and the team it is in: taken
/// only when this server posts as the app's bot and holds the bot's install for that team
/// (the install event, `/api/messages`); with single sign-on, only in the token's tenant.
async fn bot_target(
    state: &AppState,
    b: &connector_settings::api::BotChannel,
    identity: Option<&Identity>,
) -> Result<(WebhookUrl, Team), AppError> {
    let refuse = |code: &'static str, message: String| AppError::BadRequest {
        code,
        fields: vec![FieldProblem {
            field: "bot".into(),
            rule: code.into(),
            message: message.clone(),
        }],
        message,
    };
    if state.bot.as_ref().is_none_or(|b| b.poster.is_none()) {
        return Err(refuse(
            "bot_not_configured",
            "this server does not post as the app's bot (CONNECTOR_BOT_APP_ID and CONNECTOR_BOT_APP_PASSWORD or CONNECTOR_BOT_MANAGED_IDENTITY): give the channel's 'webhookUrl' instead".into(),
        ));
    }
    let tenant = b.tenant_id.to_ascii_lowercase();
    if identity.is_some_and(|who| !who.tenant.eq_ignore_ascii_case(&tenant)) {
        return Err(AppError::OtherTenant);
    }
    let Some(install) = state.connections.bot_install(&tenant, &b.team_id).await? else {
        return Err(refuse(
            "bot_not_in_team",
            format!(
                "the app's bot is not in team '{}': add the app to the team in Teams (or give the channel's Workflows 'webhookUrl' instead)",
                b.team_id
            ),
        ));
    };
    let team = Team {
        group: install
            .aad_group_id
            .clone()
            .unwrap_or_else(|| install.team_id.clone()),
        tenant: tenant.clone(),
    };
    let url = WebhookUrl::bot(&BotTarget {
        tenant,
        team: b.team_id.clone(),
        channel: b.channel_id.clone(),
    });
    Ok((url, team))
}

/// Adds a saved bot connection's channel to its install's channels (only once it is saved,
/// so a refused save adds nothing).
async fn keep_bot_channel(
    state: &AppState,
    url: &WebhookUrl,
    outcome: &Upsert,
) -> Result<(), AppError> {
    if let (Some(t), Upsert::Created(_) | Upsert::Updated(_)) = (url.bot_target(), outcome) {
        state
            .connections
            .add_bot_channel(&t.tenant, &t.team, &t.channel)
            .await?;
    }
    Ok(())
}

/// The account a save's `accountProof` links, checked before anything is stored: refused
/// when the build has no `[account]`, when it is not this server's or has expired, and
/// (403) when it was made for another Teams user or tenant than the save's.
fn linked_account(
    state: &AppState,
    proof: &Option<String>,
    identity: Option<&Identity>,
    user_object_id: &Option<String>,
) -> Result<Option<connector_settings::api::ConnectionAccount>, AppError> {
    let Some(proof) = proof else { return Ok(None) };
    let refuse = |code, message: String| AppError::BadRequest {
        code,
        fields: vec![FieldProblem {
            field: "accountProof".into(),
            rule: "account_proof".into(),
            message: message.clone(),
        }],
        message,
    };
    let Some(accounts) = &state.accounts else {
        return Err(refuse(
            "invalid_body",
            "'accountProof' is not taken: this connector has no [account] in its connector.toml"
                .into(),
        ));
    };
    let save = crate::account::TeamsUser::of(identity, None, user_object_id.as_deref());
    accounts
        .check_proof(proof, &save, crate::clock::now_secs())
        .map(Some)
        .map_err(|e| match e {
            crate::account::ProofError::Invalid(m) => refuse("account_proof_invalid", m),
            crate::account::ProofError::Mismatch(m) => AppError::Denied {
                code: "account_proof_mismatch",
                message: m,
            },
        })
}

/// Refuses a webhook URL whose host resolves to a private address.
async fn resolves_publicly(state: &AppState, webhook: &WebhookUrl) -> Result<(), AppError> {
    webhook
        .check_resolves_publicly(&state.webhooks)
        .await
        .map_err(|message| AppError::Invalid {
            fields: vec![FieldProblem {
                field: "webhookUrl".into(),
                rule: "webhook_url".into(),
                message: message.clone(),
            }],
            message,
        })
}

/// The answer to a save; `minted` is returned when it is the key now stored.
fn saved(
    state: &AppState,
    id: &EntityId,
    outcome: Upsert,
    minted: Option<&EditKey>,
) -> Result<(StatusCode, Json<Connection>), AppError> {
    let stored_key = |r: &Record| {
        minted.filter(|k| {
            r.edit_key_hash
                .as_ref()
                .is_some_and(|h| h.matches(&state.key.hash_edit_key(k)))
        })
    };
    match outcome {
        Upsert::Created(r) => {
            tracing::info!(entity_id = %id, webhook = %r.webhook_url, "connection created");
            let key = stored_key(&r);
            Ok((StatusCode::CREATED, Json(view(r, key))))
        }
        Upsert::Updated(r) => {
            tracing::info!(entity_id = %id, "connection updated");
            let key = stored_key(&r);
            Ok((StatusCode::OK, Json(view(r, key))))
        }
        Upsert::OtherWebhook => Err(AppError::Forbidden(format!(
            "connection '{id}' belongs to another webhook url, or its webhook changed while saving; it was not changed"
        ))),
    }
}

fn webhook_required() -> AppError {
    AppError::BadRequest {
        code: "invalid_body",
        message: "'webhookUrl' is required to create a connection, and to change one without its edit key".into(),
        fields: vec![FieldProblem {
            field: "webhookUrl".into(),
            rule: "required".into(),
            message: "'webhookUrl' is required".into(),
        }],
    }
}

/// The edit key header: `None` when absent, `Some(Err)` when it holds no key.
fn edit_key(headers: &HeaderMap) -> Option<Result<EditKey, ()>> {
    headers
        .get(EDIT_KEY_HEADER)
        .map(|v| v.to_str().ok().and_then(EditKey::parse).ok_or(()))
}

/// The answers every route gives alike; the caller maps the refusals that differ.
fn refusal(r: Refusal, id: &EntityId) -> AppError {
    match r {
        Refusal::NoCredential => AppError::MissingCredential(format!(
            "the '{WEBHOOK_HEADER}' header with the channel's webhook url, or the '{EDIT_KEY_HEADER}' header with the connection's edit key, is required"
        )),
        Refusal::WrongKey | Refusal::OtherWebhook | Refusal::UnreadableConnector => {
            AppError::NotFound(format!("no connection '{id}' for this webhook url or edit key"))
        }
        Refusal::WebhookOtherTeam => AppError::Denied {
            code: "webhook_other_team",
            message: "this webhook url posts to another team's channel; a connection only posts to the team it was added in".into(),
        },
        Refusal::WebhookOtherTenant => AppError::Denied {
            code: "webhook_other_tenant",
            message: "this webhook url belongs to another organisation (tenant) than the connection".into(),
        },
        Refusal::OtherTenant => {
            tracing::warn!(entity_id = %id, "refused a token from another tenant");
            AppError::OtherTenant
        }
    }
}

/// The stored record and the sign-in's identity, if the request proves its editor (see
/// [`access::decide`]). An unknown id, a wrong edit key and an unrelated webhook URL answer
/// alike, so ids cannot be probed.
async fn authorised(
    state: &AppState,
    headers: &HeaderMap,
    id: &EntityId,
) -> Result<(Record, Option<Identity>), AppError> {
    let identity = identify(state, headers).await?;
    let webhook = headers.get(WEBHOOK_HEADER).map(|raw| {
        raw.to_str()
            .ok()
            .and_then(|s| WebhookUrl::parse(s, &state.webhooks).ok())
            .ok_or(())
    });
    let key = edit_key(headers);
    if webhook.is_none() && key.is_none() {
        return Err(refusal(Refusal::NoCredential, id));
    }
    let record = state
        .connections
        .get(id)
        .await?
        .ok_or_else(|| refusal(Refusal::OtherWebhook, id))?;
    let proof = Proof {
        webhook: webhook.as_ref().map(|w| w.as_ref().map_err(|_| ())),
        edit_key: key.as_ref().map(|k| k.as_ref().map_err(|_| ())),
        identity: identity.as_ref(),
    };
    access::decide(&record, &proof, &state.key).map_err(|r| refusal(r, id))?;
    Ok((record, identity))
}

async fn read(
    State(state): State<AppState>,
    ApiPath(raw_id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<Connection>, AppError> {
    let id = entity_id(&raw_id)?;
    Ok(Json(view(authorised(&state, &headers, &id).await?.0, None)))
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(raw_id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    charge_sender(&state, peer, &headers)?;
    let id = entity_id(&raw_id)?;
    let (record, identity) = authorised(&state, &headers, &id).await?;
    charge_tenant(&state, budget_of(identity.as_ref(), &record))?;
    state.connections.delete(&id).await?;
    tracing::info!(entity_id = %id, "connection deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    event: Option<String>,
}

/// Delivery counts (of one event with `?event=`), last error and whether the connection is
/// disabled.
async fn deliveries(
    State(state): State<AppState>,
    ApiPath(raw_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventQuery>,
    headers: HeaderMap,
) -> Result<Json<DeliveryStatus>, AppError> {
    let id = entity_id(&raw_id)?;
    authorised(&state, &headers, &id).await?;
    Ok(Json(state.outbox.delivery_status(&id, q.event).await?))
}

/// Queues a test card to this connection through the same outbox as real events.
async fn test_card(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(raw_id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<TestCard>), AppError> {
    charge_sender(&state, peer, &headers)?;
    let id = entity_id(&raw_id)?;
    let (record, identity) = authorised(&state, &headers, &id).await?;
    charge_tenant(&state, budget_of(identity.as_ref(), &record))?;
    let event_id = queue_test_card(state.outbox.as_ref(), &state.wake, &record).await?;
    Ok((StatusCode::ACCEPTED, Json(TestCard { event_id })))
}

/// Queues the test card of `record` (the configuration page's, and the admin API's) through
/// the same outbox as real events and wakes the workers; answers its event id.
pub(crate) async fn queue_test_card(
    outbox: &dyn crate::store::Outbox,
    wake: &crate::store::Wake,
    record: &Record,
) -> Result<String, crate::store::StoreError> {
    let event = crate::delivery::cards::test_event(Some(&record.config_name), &record.settings);
    let event_id = format!("test-{}", hex::encode(rand::random::<[u8; 12]>()));
    let new = crate::store::NewEvent {
        id: event_id.clone(),
        body: serde_json::to_string(&event).map_err(crate::store::db)?,
        received_at: crate::clock::now_rfc3339(),
    };
    outbox
        .enqueue_one(new, &record.entity_id, crate::clock::now_ms())
        .await?;
    wake.wake();
    Ok(event_id)
}
