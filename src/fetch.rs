//! HTTP through the browser's own `fetch`. Not `gloo-net`: it brings `serde_json` into the
//! wasm users download. Like `teams`, this module keeps every `JsValue` to itself.

use futures::future::{select, Either};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::json::Json;
use crate::teams::describe;

/// Why no answer came.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The browser's reason: offline, refused, blocked by CORS.
    Network(String),
    /// Nothing within the time limit; the request was aborted.
    TimedOut,
}

/// A whole HTTP answer: the bodies the page reads are small, so the text is read at once.
pub struct Reply {
    pub status: u16,
    pub text: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<Json> {
        Json::parse(&self.text)
    }
}

/// `fetch(url, {method, headers, body})`, aborted when the whole answer has not arrived
/// within `timeout_ms`.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout_ms: u32,
) -> Result<Reply, Failure> {
    let abort = web_sys::AbortController::new().map_err(|e| Failure::Network(describe(&e)))?;
    let signal = abort.signal();
    let exchange = Box::pin(exchange(method, url, headers, body, signal));
    match select(exchange, TimeoutFuture::new(timeout_ms)).await {
        Either::Left((answer, _)) => answer.map_err(Failure::Network),
        Either::Right(_) => {
            abort.abort();
            Err(Failure::TimedOut)
        }
    }
}

async fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    signal: web_sys::AbortSignal,
) -> Result<Reply, String> {
    let window = web_sys::window().ok_or("no window")?;
    let head = web_sys::Headers::new().map_err(|e| describe(&e))?;
    for (name, value) in headers {
        head.set(name, value).map_err(|e| describe(&e))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&head);
    init.set_signal(Some(&signal));
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let answer = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| describe(&e))?;
    let response: web_sys::Response = answer.unchecked_into();
    let status = response.status();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .map_err(|e| describe(&e))?
            .as_string()
            .unwrap_or_default(),
        Err(e) => return Err(describe(&e)),
    };
    Ok(Reply { status, text })
}
