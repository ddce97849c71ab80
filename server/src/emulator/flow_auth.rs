//! How the emulator's inbox checks callers as Power Automate does ("Who can trigger the flow",
//! sources in docs/teams.md): a flow whose URL has no `sig` takes only a bearer token of its own
//! tenant for the flow service's audience; a flow with `sig` ("Anyone") fails a post that
//! carries a token. Each inbox remembers its flow's tenant (the emulator's UI sets it when it
//! makes a flow, tests with `PUT /emulator/api/inbox-tenant/{*path}`).

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use connector_settings::webhook::{kind_of_inbox_path, WebhookKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::idp;
use super::EmulatorState;
use crate::delivery::flow_token::FLOW_AUDIENCE;
use crate::error::AppError;

fn refusal(status: StatusCode, code: &str, message: &str) -> Box<Response> {
    Box::new(
        (
            status,
            Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response(),
    )
}

/// Whether a post to inbox `path` (with `query`) gets through: `Ok(Some(claims))` of the
/// bearer a sig-less flow took, `Ok(None)` when no token was asked for, `Err` the answer
/// Power Automate gives.
pub(super) fn check(
    state: &EmulatorState,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Option<Value>, Box<Response>> {
    let with_query = format!("{path}?{}", query.unwrap_or(""));
    let bearer = headers.get("authorization").map(|v| {
        v.to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .unwrap_or("")
            .trim()
            .to_string()
    });
    match (kind_of_inbox_path(&with_query), bearer) {
        // Microsoft: a token header to an "Anyone" trigger makes the post fail. The code is
        // the one Logic Apps answers a request with both a SAS and a bearer token.
        (WebhookKind::Workflows { signed: true }, Some(_)) => Err(refusal(
            StatusCode::UNAUTHORIZED,
            "DirectApiRequestHasMoreThanOneAuthorization",
            "The request has both SAS authentication scheme and 'Bearer' authorization scheme. Only one scheme should be used.",
        )),
        (WebhookKind::Workflows { signed: false }, None) => Err(refusal(
            StatusCode::UNAUTHORIZED,
            "DirectApiAuthorizationRequired",
            "The request must be authenticated only by Shared Access scheme or by an OAuth token of the flow's tenant.",
        )),
        (WebhookKind::Workflows { signed: false }, Some(token)) => {
            let audience = state
                .flow_app
                .as_ref()
                .map_or(FLOW_AUDIENCE, |app| app.audience.as_str());
            let tenant = tenant_of(state, path);
            idp::verified_flow_token(state.port, &token, audience)
                .filter(|claims| {
                    // A flow no tenant was set for takes any tenant's token.
                    tenant.as_ref().is_none_or(|t| {
                        claims["tid"]
                            .as_str()
                            .is_some_and(|tid| tid.eq_ignore_ascii_case(t))
                    })
                })
                .map(|claims| {
                    Some(json!({ "tid": claims["tid"], "oid": claims["oid"], "appid": claims["appid"], "aud": claims["aud"] }))
                })
                .ok_or_else(|| refusal(
                    StatusCode::FORBIDDEN,
                    "MisMatchingOAuthClaims",
                    "One or more claims either missing or does not match with the open authentication access control policy.",
                ))
        }
        _ => Ok(None),
    }
}

fn tenant_of(state: &EmulatorState, path: &str) -> Option<String> {
    state
        .inboxes
        .0
        .lock()
        .expect("inbox lock")
        .get(&super::inbox_key(path))
        .and_then(|i| i.tenant.clone())
}

#[derive(Deserialize)]
pub(super) struct SetTenant {
    tenant: String,
}

/// `PUT /emulator/api/inbox-tenant/{*path}` `{"tenant": "<tid>"}`: the tenant of the flow
/// behind this inbox, whose tokens alone it takes when its URL has no `sig`.
pub(super) async fn set_tenant(
    State(state): State<EmulatorState>,
    UrlPath(path): UrlPath<String>,
    Json(body): Json<SetTenant>,
) -> Result<StatusCode, AppError> {
    let tenant = body.tenant.trim();
    if tenant.is_empty() || tenant.len() > 100 {
        return Err(AppError::BadRequest {
            code: "invalid_tenant",
            message: format!("tenant '{tenant}' is not a tenant id"),
            fields: vec![],
        });
    }
    state
        .inboxes
        .0
        .lock()
        .expect("inbox lock")
        .entry(super::inbox_key(&path))
        .or_default()
        .tenant = Some(tenant.to_string());
    Ok(StatusCode::NO_CONTENT)
}
