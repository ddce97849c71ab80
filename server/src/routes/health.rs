//! Liveness (`/healthz`: the process answers), readiness (`/readyz`: the database answers
//! and its schema is this binary's), and the API's OpenAPI document. Outside the API's
//! concurrency limit, so a load balancer still hears from a busy instance.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::AppError;
use crate::state::AppState;

const OPENAPI: &str = include_str!("../../openapi.json");

/// How long readiness waits for the database: a load balancer's probe gives up soon.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .route("/api/openapi.json", get(openapi))
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    state.connections.ping().await?;
    // The form, so a deployment can check that its page (`dist/form.txt`) is this server's.
    Ok(Json(
        serde_json::json!({ "status": "ok", "form": connector_settings::FORM }),
    ))
}

async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    let not_ready = |message: String| AppError::Unavailable {
        code: "not_ready",
        message,
        retry_after: None,
    };
    match tokio::time::timeout(READY_WITHIN, state.connections.schema_problem()).await {
        Ok(Ok(None)) => Ok(Json(serde_json::json!({ "status": "ready" }))),
        Ok(Ok(Some(problem))) => {
            tracing::warn!(%problem, "not ready");
            Err(not_ready(problem))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            Err(not_ready("the database does not answer".into()))
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer within 2 s");
            Err(not_ready("the database did not answer within 2 s".into()))
        }
    }
}

async fn openapi() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}
