//! `/api/account`: what the sign-in popup needs (builds with `[account]`), and
//! `/api/account/link`, which turns the popup's authorization code into a proof for the save.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use connector_settings::api::{AccountInfo, FieldProblem, LinkAccount, LinkedAccount};

use super::guard::{charge_sender, identify};
use crate::account::oidc::LinkError;
use crate::account::{Accounts, TeamsUser};
use crate::error::AppError;
use crate::extract::JsonBody;
use crate::state::AppState;

/// The longest code, verifier, nonce or redirect URI taken (all far shorter in practice).
const MAX_PART: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/account", get(info))
        .route("/api/account/link", post(link))
}

fn accounts(state: &AppState) -> Result<&Accounts, AppError> {
    state.accounts.as_deref().ok_or_else(|| AppError::Absent {
        code: "no_accounts",
        message:
            "this connector has no accounts to sign in to ([account] is not in its connector.toml)"
                .into(),
    })
}

impl From<LinkError> for AppError {
    fn from(e: LinkError) -> Self {
        let bad = |code, message| AppError::BadRequest {
            code,
            message,
            fields: vec![],
        };
        match e {
            LinkError::CodeRefused(m) => bad("account_code_refused", m),
            LinkError::TokenInvalid(m) => bad("account_token_invalid", m),
            LinkError::ClaimMissing(m) => bad("account_claim_missing", m),
            LinkError::Unavailable(m) => AppError::Unavailable {
                code: "account_unavailable",
                message: m,
                retry_after: None,
            },
        }
    }
}

async fn info(State(state): State<AppState>) -> Result<Json<AccountInfo>, AppError> {
    Ok(Json(accounts(&state)?.info().await?))
}

async fn link(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody<LinkAccount>, AppError>,
) -> Result<Json<LinkedAccount>, AppError> {
    // Each link costs the provider a code exchange: it counts as a write.
    charge_sender(&state, peer, &headers)?;
    let accounts = accounts(&state)?;
    let JsonBody(body) = body?;
    let mut fields = Vec::new();
    for (name, value) in [
        ("code", &body.code),
        ("codeVerifier", &body.code_verifier),
        ("nonce", &body.nonce),
        ("redirectUri", &body.redirect_uri),
    ] {
        if value.is_empty() || value.len() > MAX_PART {
            fields.push(FieldProblem {
                field: name.into(),
                rule: "length".into(),
                message: format!("'{name}' must be 1 to {MAX_PART} characters"),
            });
        }
    }
    for (name, value) in [
        ("userObjectId", &body.user_object_id),
        ("tenantId", &body.tenant_id),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 100) {
            fields.push(FieldProblem {
                field: name.into(),
                rule: "max_length".into(),
                message: format!("'{name}' is longer than 100 characters"),
            });
        }
    }
    if !fields.is_empty() {
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        return Err(AppError::BadRequest {
            code: "invalid_body",
            message: format!("invalid: {}", names.join(", ")),
            fields,
        });
    }
    let identity = identify(&state, &headers).await?;
    let teams = TeamsUser::of(
        identity.as_ref(),
        body.tenant_id.as_deref(),
        body.user_object_id.as_deref(),
    );
    let linked = accounts
        .link(&body, teams, crate::clock::now_secs())
        .await?;
    tracing::info!(account = %linked.account, "account linked");
    Ok(Json(linked))
}
