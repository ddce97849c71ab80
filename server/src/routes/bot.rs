//! `POST /api/messages`: the Bot Framework's activities for the app's bot (its messaging
//! endpoint). Each is authenticated before anything is read from it (`bot::verify`: 401, and
//! nothing stored, for any failed check); install and uninstall events then add or remove the
//! team's conversation reference (`bot::activity`), whose service URL must be on an allowed
//! Bot Framework host. Everything else is acknowledged with 200 and kept nowhere.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use connector_settings::api::BotInstallStatus;
use serde_json::Value;

use crate::bot::{Activity, Change, VerifyError, CHANNEL_DELETED, REMOVED_FROM_TEAM, TEAM_DELETED};
use crate::domain::WebhookKind;
use crate::error::AppError;
use crate::extract::{body_rejection, ApiQuery};
use crate::state::AppState;
use crate::store::{AuditEntry, ConnectionQuery, ConnectionStore};

/// The bot's messaging endpoint.
pub const PATH: &str = "/api/messages";
/// An activity's size at most: Teams' install and channel events are a few kilobytes, and
/// a conversation update may list many members.
pub const BODY_LIMIT: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, post(receive).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route(INSTALL_PATH, get(install_status))
}

/// Where the configuration page asks whether the bot is in its team.
pub const INSTALL_PATH: &str = "/api/bot/install";

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InstallQuery {
    tenant_id: String,
    team_id: String,
}

/// Whether a connection of the team can be on the bot path: this server posts as the bot
/// and holds its install for the team. Says nothing but that (a team's id is not guessable,
/// and the answer names no channel, service URL or connection).
async fn install_status(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InstallQuery>,
) -> Result<Json<BotInstallStatus>, AppError> {
    let available = state.bot.as_ref().is_some_and(|b| b.poster.is_some());
    let installed = available
        && state
            .connections
            .bot_install(&q.tenant_id.to_ascii_lowercase(), &q.team_id)
            .await?
            .is_some();
    Ok(Json(BotInstallStatus {
        available,
        installed,
    }))
}

/// Disables the team's connections on the bot path (all of them, or only those posting to
/// `channel`) with `reason` ("the app was removed from this team", as the tab shows it; the
/// audit log names `teams` as who did it); how many.
async fn disable_team(
    store: &dyn ConnectionStore,
    tenant: &str,
    team: &str,
    channel: Option<&str>,
    reason: &str,
) -> Result<usize, AppError> {
    let mut disabled = 0;
    let mut after = None;
    loop {
        let page = store
            .search(ConnectionQuery {
                tenant: Some(tenant.to_ascii_lowercase()),
                kind: Some(WebhookKind::Bot.name().into()),
                disabled: Some(false),
                after: after.clone(),
                limit: 200,
                ..ConnectionQuery::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.entity_id.as_str().to_string());
        for r in &page {
            let Some(target) = r.webhook_url.bot_target() else {
                continue;
            };
            if target.team != team || channel.is_some_and(|c| target.channel != c) {
                continue;
            }
            let audit = AuditEntry {
                id: 0,
                at_ms: crate::clock::now_ms(),
                actor: "teams".into(),
                action: "disable".into(),
                target: r.entity_id.as_str().to_string(),
                detail: Some(reason.into()),
            };
            if store
                .set_disabled(&r.entity_id, Some(reason.into()), audit)
                .await?
            {
                disabled += 1;
            }
        }
    }
    Ok(disabled)
}

fn invalid(message: String) -> AppError {
    AppError::BadRequest {
        code: "invalid_activity",
        message,
        fields: vec![],
    }
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, AppError> {
    let Some(bot) = state.bot.as_deref() else {
        return Err(AppError::NotFound(
            "the app's bot is not configured on this server (set CONNECTOR_BOT_APP_ID)".into(),
        ));
    };
    let body = body.map_err(|e| body_rejection(e, BODY_LIMIT))?;
    // Only what the token is checked against is read before it is: a caller without a
    // valid token learns nothing but 401, whatever it sent.
    let loose: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let service_url = loose["serviceUrl"].as_str().unwrap_or("");
    let channel = loose["channelId"].as_str().unwrap_or("");
    if let Err(e) = bot.verifier.verify(&headers, service_url, channel).await {
        return Err(match e {
            VerifyError::Refused(why) => {
                tracing::warn!(reason = %why, "bot activity refused");
                AppError::Unauthenticated(why)
            }
            VerifyError::Unavailable(why) => AppError::Unavailable {
                code: "bot_keys_unavailable",
                message: why,
                retry_after: Some(5),
            },
        });
    }
    let activity: Activity = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("the activity is not a Bot Framework activity: {e}")))?;
    let change = activity
        .change(&crate::clock::now_rfc3339())
        .map_err(invalid)?;
    let store = &state.connections;
    match change {
        Change::Install(install) => {
            let policy = &bot.settings.service_urls;
            let checked = match policy.check(&install.service_url) {
                Ok(()) => policy.check_resolves_publicly(&install.service_url).await,
                Err(why) => Err(why),
            };
            checked.map_err(|why| {
                tracing::warn!(tenant = %install.tenant_id, team = %install.team_id, reason = %why,
                        "bot install refused: its service url is not allowed");
                AppError::BadRequest {
                    code: "service_url_not_allowed",
                    message: why,
                    fields: vec![],
                }
            })?;
            tracing::info!(tenant = %install.tenant_id, team = %install.team_id, scope = %install.scope,
                service_url = %install.service_url, "the app's bot was added");
            store.save_bot_install(install).await?;
        }
        Change::Uninstall { tenant, team } => {
            let known = store.remove_bot_install(&tenant, &team).await?;
            let disabled =
                disable_team(store.as_ref(), &tenant, &team, None, REMOVED_FROM_TEAM).await?;
            tracing::info!(%tenant, %team, known, disabled, "the app's bot was removed");
        }
        Change::TeamDeleted { tenant, team } => {
            let known = store.remove_bot_install(&tenant, &team).await?;
            let disabled = disable_team(store.as_ref(), &tenant, &team, None, TEAM_DELETED).await?;
            tracing::info!(%tenant, %team, known, disabled, "a team the app's bot was in was deleted");
        }
        Change::ChannelAdded {
            tenant,
            team,
            channel,
        } => {
            let known = store.add_bot_channel(&tenant, &team, &channel).await?;
            tracing::info!(%tenant, %team, %channel, known, "a channel was created in a team");
        }
        Change::ChannelRemoved {
            tenant,
            team,
            channel,
        } => {
            let known = store.remove_bot_channel(&tenant, &team, &channel).await?;
            let disabled = disable_team(
                store.as_ref(),
                &tenant,
                &team,
                Some(&channel),
                CHANNEL_DELETED,
            )
            .await?;
            tracing::info!(%tenant, %team, %channel, known, disabled, "a channel was deleted in a team");
        }
        Change::Nothing(why) => {
            tracing::debug!(kind = %activity.kind, why, "bot activity kept nowhere");
        }
    }
    Ok(StatusCode::OK)
}
