//! `POST /api/test-card`: one test card to a webhook URL no connection is stored with yet,
//! posted at once, so the person sees it arrive in the channel before the first Save. The
//! same checks as saving (allowed hosts, public addresses, the write rate) apply; the card's
//! text is fixed and names only the connector, so this posts nothing a person chose. Each
//! card counts against the target webhook's rate windows (shared with deliveries and every
//! instance) and against a limit per target, whatever address asks: many addresses cannot
//! flood one channel with test cards.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use connector_settings::api::{FieldProblem, TryOutcome, TryWebhook};

use super::guard::{charge_sender, charge_tenant, check_postable, identify};
use crate::delivery::{self, cards};
use crate::domain::rate_windows::{Window, Windows};
use crate::domain::WebhookUrl;
use crate::error::AppError;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store::Reservation;

/// Test cards to one webhook URL in any minute, from all addresses together.
pub const PER_TARGET: Window = Window {
    name: "1m",
    ms: 60_000,
    limit: 5,
};

/// The window row of a target's test cards, beside its webhook's (a 32-byte hash).
fn test_card_row(hash: &[u8; 32]) -> Vec<u8> {
    [b"test-card:".as_slice(), hash].concat()
}

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
    // nothing of its budget. The target's rows below bound test cards from any address.
    charge_tenant(&state, identity.as_ref().map(|i| i.tenant.as_str()))?;
    webhook
        .check_resolves_publicly(&state.webhooks)
        .await
        .map_err(invalid)?;
    let signed_in = identity.as_ref().map(|i| i.tenant.as_str());
    check_postable(&state, &webhook, signed_in)?;
    // The caller's texts never reach the channel: only the card's style and event type
    // come from the form, both chosen among the connector's own.
    let event = cards::test_event(None, &body.settings);
    let hash = state.key.hash(&webhook).0;
    let rows = vec![
        (test_card_row(&hash), Windows::new(&[PER_TARGET])),
        (
            hash.to_vec(),
            state.windows.for_kind(webhook.kind()).clone(),
        ),
    ];
    let now = crate::clock::now_ms();
    if let Reservation::Wait { until_ms, row, .. } = state.outbox.reserve(rows, now).await? {
        let wait = std::time::Duration::from_millis((until_ms - now).max(0) as u64);
        return Err(AppError::Throttled {
            wait,
            message: if row == 0 {
                "too many test cards to this webhook; try again in {secs} s"
            } else {
                "this webhook is at Teams' rate limit; try again in {secs} s"
            },
        });
    }
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
