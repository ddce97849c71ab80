//! The one error type of the API: an `ErrorBody` JSON answer with the right status, and
//! internals kept out of the body (they are logged instead, once).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use connector_settings::api::{ErrorBody, FieldProblem};

#[derive(Debug)]
pub enum AppError {
    /// 400 with a machine-readable code and a message for people.
    BadRequest {
        code: &'static str,
        message: String,
        fields: Vec<FieldProblem>,
    },
    /// 422: the settings or the webhook URL broke a rule.
    Invalid {
        message: String,
        fields: Vec<FieldProblem>,
    },
    /// 401: neither the webhook header nor the edit key header came with the request.
    MissingCredential(String),
    /// 401 for a missing or refused sign-in token.
    Unauthenticated(String),
    /// 401 for an event whose signature or timestamp is refused.
    BadSignature(String),
    Forbidden(String),
    /// 403: single sign-on says the connection belongs to another tenant.
    OtherTenant,
    /// 403 with its own machine-readable code (e.g. `webhook_other_team`), for the page to
    /// explain in the person's language.
    Denied {
        code: &'static str,
        message: String,
    },
    NotFound(String),
    /// 404 with its own machine-readable code (e.g. `no_accounts`).
    Absent {
        code: &'static str,
        message: String,
    },
    /// 413; the limit in bytes.
    PayloadTooLarge(usize),
    /// 408: the body came too slowly.
    RequestTimeout(String),
    /// 405 from routing (the `Allow` header names the methods there are).
    MethodNotAllowed(String),
    /// 429 with `Retry-After`.
    TooManyRequests(std::time::Duration),
    /// 429 with `Retry-After` and its own message (`{secs}` stands for the wait in seconds).
    Throttled {
        wait: std::time::Duration,
        message: &'static str,
    },
    UnsupportedMediaType,
    /// 503: abandoned at its deadline, the server overloaded or not ready; `Retry-After`
    /// when the caller should wait a given number of seconds.
    Unavailable {
        code: &'static str,
        message: String,
        retry_after: Option<u64>,
    },
    /// 500; the text goes to the log only.
    Internal(String),
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let throttled = match self {
            AppError::TooManyRequests(wait) => {
                Some((wait, "too many changes; try again in {secs} s"))
            }
            AppError::Throttled { wait, message } => Some((wait, message)),
            _ => None,
        };
        if let Some((wait, message)) = throttled {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let body = ErrorBody {
                error: "rate_limited".into(),
                message: message.replace("{secs}", &secs.to_string()),
                fields: vec![],
            };
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, secs.to_string())],
                Json(body),
            )
                .into_response();
        }
        if let AppError::Unavailable {
            code,
            message,
            retry_after,
        } = self
        {
            let body = Json(ErrorBody {
                error: code.into(),
                message,
                fields: vec![],
            });
            let mut res = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
            if let Some(secs) = retry_after {
                res.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            return res;
        }
        if let AppError::RequestTimeout(message) = self {
            // The rest of the body may still be on its way: this connection is done.
            let body = ErrorBody {
                error: "request_timeout".into(),
                message,
                fields: vec![],
            };
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(axum::http::header::CONNECTION, "close")],
                Json(body),
            )
                .into_response();
        }
        let (status, code, message, fields) = match self {
            AppError::BadRequest {
                code,
                message,
                fields,
            } => (StatusCode::BAD_REQUEST, code, message, fields),
            AppError::Invalid { message, fields } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
                fields,
            ),
            AppError::MissingCredential(m) => {
                (StatusCode::UNAUTHORIZED, "webhook_url_required", m, vec![])
            }
            AppError::BadSignature(m) => (StatusCode::UNAUTHORIZED, "invalid_signature", m, vec![]),
            AppError::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, "invalid_token", m, vec![]),
            AppError::OtherTenant => (
                StatusCode::FORBIDDEN,
                "other_tenant",
                "this connection belongs to another organisation (tenant)".into(),
                vec![],
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, vec![]),
            AppError::Denied { code, message } => (StatusCode::FORBIDDEN, code, message, vec![]),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, vec![]),
            AppError::Absent { code, message } => (StatusCode::NOT_FOUND, code, message, vec![]),
            AppError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {} KiB", limit / 1024),
                vec![],
            ),
            AppError::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                m,
                vec![],
            ),
            AppError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be application/json".into(),
                vec![],
            ),
            AppError::TooManyRequests(_)
            | AppError::Throttled { .. }
            | AppError::Unavailable { .. }
            | AppError::RequestTimeout(_) => {
                unreachable!("answered above")
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                    vec![],
                )
            }
        };
        (
            status,
            Json(ErrorBody {
                error: code.into(),
                message,
                fields,
            }),
        )
            .into_response()
    }
}

/// Routing's 405, in the API's shape (axum adds the `Allow` header).
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> AppError {
    AppError::MethodNotAllowed(format!(
        "method {method} is not allowed on '{}'",
        uri.path()
    ))
}

/// Under `/api/`, an error answered by anything but a handler (a layer, a rejection no
/// extractor here maps) still reaches the client as the API's JSON error.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    let json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let message =
        text.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    let code = status
        .canonical_reason()
        .unwrap_or("error")
        .to_lowercase()
        .replace([' ', '-'], "_");
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let body = Json(ErrorBody {
        error: code,
        message,
        fields: vec![],
    });
    (parts, body).into_response()
}
