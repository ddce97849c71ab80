//! What wraps requests on their way in: a request id for the logs and the answer, and the
//! API's deadline and concurrency limit, which answer 503 with the API's JSON error.

use std::time::Duration;

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
pub fn overload<S: Clone + Send + Sync + 'static>(
    api: Router<S>,
    deadline: Duration,
    limit: usize,
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
