//! `POST /api/test-card`: one test card to a webhook URL no connection is stored with yet,
//! posted at once, so the person sees it arrive in the channel before the first Save. The
//! same checks as saving (allowed hosts, public addresses, the write rate) apply; the card's
//! text is fixed and names only the connector, so this posts nothing a person chose.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use connector_settings::api::{FieldProblem, TryOutcome, TryWebhook};

use super::connections::{charge_sender, charge_target, charge_tenant, check_postable, identify};
use crate::delivery::{self, cards};
use crate::domain::WebhookUrl;
use crate::error::AppError;
use crate::extract::JsonBody;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/test-card", post(try_webhook))
}

fn invalid(message: String) -> AppError {
    AppError::Invalid {
        fields: vec![FieldProblem {
            field: "webhookUrl".into(),
            rule: "webhook_url".into(),
            message: message.clone(),
        }],
        message,
    }
}

async fn try_webhook(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody<TryWebhook>, AppError>,
) -> Result<Json<TryOutcome>, AppError> {
    charge_sender(&state, peer, &headers)?;
    let JsonBody(body) = body?;
    let webhook = WebhookUrl::parse(&body.webhook_url, &state.webhooks).map_err(invalid)?;
    let identity = identify(&state, &headers).await?;
    // With single sign-on the token's tenant pays; a URL that merely names a tenant spends
    // nothing of its budget. The target's budget bounds test cards from any address.
    charge_tenant(&state, identity.as_ref().map(|i| i.tenant.as_str()))?;
    charge_target(&state, &webhook)?;
    webhook
        .check_resolves_publicly(&state.webhooks)
        .await
        .map_err(invalid)?;
    let signed_in = identity.as_ref().map(|i| i.tenant.as_str());
    check_postable(&state, &webhook, signed_in)?;
    // The caller's texts never reach the channel: only the card's style and event type
    // come from the form, both chosen among the connector's own.
    let event: cards::Event = serde_json::from_value(cards::test_event(None, &body.settings))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let card = cards::card(&event, &body.settings, webhook.kind());
    let outcome = match delivery::flow_token::bearer_for(
        webhook.kind(),
        signed_in,
        state.flow_tokens.as_deref(),
    )
    .await
    {
        Ok(bearer) => delivery::post_now(&webhook, &card, bearer.as_deref()).await,
        Err(e) => Err(e.to_string()),
    };
    tracing::info!(webhook = %webhook, delivered = outcome.is_ok(), "test card before saving");
    Ok(Json(match outcome {
        Ok(()) => TryOutcome {
            delivered: true,
            error: None,
        },
        Err(error) => TryOutcome {
            delivered: false,
            error: Some(error),
        },
    }))
}
