//! A JSON body extractor whose every refusal is an `AppError` JSON answer (axum's own
//! answers plain text), naming the field when serde names one.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use connector_settings::api::FieldProblem;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 16 * 1024;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            });
        if !json {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest {
                    code: "invalid_body",
                    message: e.body_text(),
                    fields: vec![],
                }
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let message = e.to_string();
            let field = |marker: &str| {
                message
                    .split(marker)
                    .nth(1)
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_string)
            };
            let fields = match (field("missing field `"), field("unknown field `")) {
                (Some(f), _) => vec![FieldProblem {
                    field: f.clone(),
                    rule: "required".into(),
                    message: format!("'{f}' is required"),
                }],
                (_, Some(f)) => vec![FieldProblem {
                    field: f.clone(),
                    rule: "unknown_field".into(),
                    message: format!("'{f}' is not a known field"),
                }],
                _ => vec![],
            };
            let code = if e.is_syntax() || e.is_eof() {
                "invalid_json"
            } else {
                "invalid_body"
            };
            AppError::BadRequest {
                code,
                message: format!("request body: {message}"),
                fields,
            }
        })
    }
}
