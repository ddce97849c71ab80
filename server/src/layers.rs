//! What wraps requests on their way in: a request id for the logs and the answer, the
//! whole body read first, and the API's deadline and concurrency limit, which answer 503
//! with the API's JSON error.

use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use tower::ServiceBuilder;

use crate::error::AppError;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Takes the caller's `x-request-id` when it is a plain token (letters, digits, `-_.:`, at
/// most 64), else makes one; the request span logs it and the answer carries it back.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| plain(v.as_bytes()))
        .cloned();
    let id = given.unwrap_or_else(|| {
        HeaderValue::from_str(&hex::encode(rand::random::<[u8; 8]>()))
            .expect("hex is a header value")
    });
    req.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(REQUEST_ID.clone(), id);
    res
}

fn plain(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// The deadline and the concurrency limit, around every route of `api`: past `deadline` a
/// request is dropped (its transaction rolls back) and answered 503; beyond `limit`
/// requests at once the rest are answered 503 with `Retry-After` at once, not queued.
/// `body_limit` says how large a body each path takes (read whole before either).
pub fn overload<S: Clone + Send + Sync + 'static>(
    api: Router<S>,
    deadline: Duration,
    limit: usize,
    body_limit: fn(&str) -> usize,
) -> Router<S> {
    api.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |e: BoxError| async move {
                refuse(e, deadline)
            }))
            .load_shed()
            // One count for every route (the plain layer would give each route its own).
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(limit))
            .timeout(deadline),
    )
    // Outside the limit and the deadline: they start when the body is here.
    .layer(axum::middleware::from_fn(
        move |req: Request, next: Next| body_first(req, next, body_limit),
    ))
}

/// Reads the whole body before the concurrency limit and the deadline see the request. A
/// client that sends its body slowly then waits on its own connection until the body
/// time-out answers 408, holding no API slot: slow bodies cannot lock the API out, and the
/// deadline measures the server's work, not the client's upload.
async fn body_first(req: Request, next: Next, body_limit: fn(&str) -> usize) -> Response {
    use http_body_util::BodyExt;
    if http_body::Body::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let limit = body_limit(req.uri().path());
    let (parts, body) = req.into_parts();
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => {
            next.run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await
        }
        Err(e) => body_error(e.as_ref(), limit).into_response(),
    }
}

/// The answer to a body that could not be read: over `limit`, too slow, or broken off.
fn body_error(e: &(dyn std::error::Error + Send + Sync + 'static), limit: usize) -> AppError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return AppError::PayloadTooLarge(limit);
        }
        if let Some(late) = err.downcast_ref::<crate::serve::BodyTimedOut>() {
            return AppError::RequestTimeout(late.to_string());
        }
        source = err.source();
    }
    AppError::BadRequest {
        code: "invalid_body",
        message: format!("cannot read the request body: {e}"),
        fields: vec![],
    }
}

fn refuse(e: BoxError, deadline: Duration) -> Response {
    if e.is::<tower::timeout::error::Elapsed>() {
        crate::metrics::shed("deadline");
        tracing::warn!(
            deadline_secs = deadline.as_secs(),
            "request abandoned at its deadline"
        );
        AppError::Unavailable {
            code: "deadline_exceeded",
            message: format!(
                "the server could not answer within {} s; nothing was changed, try again",
                deadline.as_secs()
            ),
            retry_after: None,
        }
        .into_response()
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        crate::metrics::shed("overload");
        AppError::Unavailable {
            code: "overloaded",
            message: "the server is busy; try again in 1 s".into(),
            retry_after: Some(1),
        }
        .into_response()
    } else {
        AppError::Internal(e.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_request_ids_are_taken() {
        assert!(super::plain(b"3f2a-77:b.c_d"));
        assert!(!super::plain(b""));
        assert!(!super::plain(b"a b"));
        assert!(!super::plain("é".as_bytes()));
        assert!(!super::plain(&[b'a'; 65]));
    }
}
