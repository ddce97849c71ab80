//! Extractors whose every refusal is an `AppError` JSON answer (axum's own answer plain
//! text): the JSON body (naming the field when serde names one), path and query.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
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
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_rejection(e, BODY_LIMIT))?;
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

/// The answer to a body that could not be read: over `limit`, too slow, or broken off.
pub fn body_rejection(e: BytesRejection, limit: usize) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::PayloadTooLarge(limit);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(late) = err.downcast_ref::<crate::serve::BodyTimedOut>() {
            return AppError::RequestTimeout(late.to_string());
        }
        source = err.source();
    }
    AppError::BadRequest {
        code: "invalid_body",
        message: format!("cannot read the request body: {}", e.body_text()),
        fields: vec![],
    }
}

/// A path parameter; one that is not valid percent-encoded UTF-8 is a 400 naming the path.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| {
                use axum::extract::path::ErrorKind;
                use axum::extract::rejection::PathRejection;
                let path = parts.uri.path();
                let message = match &e {
                    PathRejection::FailedToDeserializePathParams(p) => match p.kind() {
                        ErrorKind::InvalidUtf8InPathParam { key } => format!(
                            "'{key}' in the path '{path}' is not valid UTF-8 once percent-decoded"
                        ),
                        _ => format!("the path '{path}' cannot be read: {}", p.body_text()),
                    },
                    _ => format!("the path '{path}' cannot be read: {}", e.body_text()),
                };
                AppError::BadRequest {
                    code: "invalid_path",
                    message,
                    fields: vec![],
                }
            })
    }
}

/// Query parameters; unknown, repeated or malformed ones are a 400 naming the query.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| AppError::BadRequest {
                code: "invalid_query",
                message: format!("the query '{query}' cannot be read: {e}"),
                fields: vec![],
            })
    }
}
