//! HTTP and JSON for `api`: requests through gloo-net, JSON through the browser's own `JSON`
//! and serde-wasm-bindgen (not serde_json, which would ship a second JSON parser in the wasm).
//! With `teams`, the only module of the page that touches `JsValue`.

use futures::future::{select, Either};
use gloo_net::http::RequestBuilder;
use gloo_timers::future::TimeoutFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::teams::describe;

/// Why no answer came.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The browser's reason: offline, refused, blocked by CORS.
    Network(String),
    /// Nothing within the time limit; the request was aborted.
    TimedOut,
}

/// A whole HTTP answer: its status and its body as parsed JSON (`undefined` when the body
/// is empty or not JSON).
pub struct Reply {
    pub status: u16,
    body: JsValue,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T`, or `None` when it is not that shape.
    pub fn decode<T: DeserializeOwned>(self) -> Option<T> {
        serde_wasm_bindgen::from_value(self.body).ok()
    }
}

/// `value` as JSON text, as the server reads it: maps become objects, `None` becomes `null`
/// (fields the server should not see are skipped by the types themselves).
pub fn to_json<T: Serialize>(value: &T) -> String {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()
        .and_then(|v| js_sys::JSON::stringify(&v).ok())
        .map(String::from)
        .unwrap_or_default()
}

/// `text` parsed as JSON into `T` (by the browser's parser), or `None`.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Option<T> {
    let value = js_sys::JSON::parse(text).ok()?;
    serde_wasm_bindgen::from_value(value).ok()
}

/// The answer js/handshake.js read for `config.json` while the wasm downloaded (its promise
/// of `{status, body}`, `body` as [`send`] reads it), within `timeout_ms`; `None` when there
/// was no handshake. Taking it gives up the handshake when it does not answer in time.
pub async fn early_config(timeout_ms: u32) -> Option<Result<Reply, Failure>> {
    let promise = crate::teams::early("config")?;
    let answer = match select(JsFuture::from(promise), TimeoutFuture::new(timeout_ms)).await {
        Either::Left((Ok(a), _)) => {
            let field = |name: &str| js_sys::Reflect::get(&a, &JsValue::from_str(name));
            let status = field("status").ok().and_then(|s| s.as_f64()).unwrap_or(0.0) as u16;
            let body = field("body").unwrap_or(JsValue::UNDEFINED);
            Ok(Reply { status, body })
        }
        Either::Left((Err(e), _)) => Err(Failure::Network(describe(&e))),
        Either::Right(_) => {
            crate::teams::drop_handshake();
            Err(Failure::TimedOut)
        }
    };
    Some(answer)
}

/// Sends `request` (with `body`, when given) and reads the whole answer, aborting it when
/// it has not arrived within `timeout_ms`.
pub async fn send(
    request: RequestBuilder,
    body: Option<String>,
    timeout_ms: u32,
) -> Result<Reply, Failure> {
    let abort = web_sys::AbortController::new().map_err(|e| Failure::Network(describe(&e)))?;
    // Every call names the form the page was built from: the server refuses (409) a page
    // built from another connector.toml, whose fields it would misread.
    let request = request
        .header(
            connector_settings::api::FORM_HEADER,
            connector_settings::FORM,
        )
        .abort_signal(Some(&abort.signal()));
    let exchange = Box::pin(async move {
        let request = match body {
            Some(body) => request.body(body),
            None => request.build(),
        }
        .map_err(|e| e.to_string())?;
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let raw = web_sys::Response::from(response);
        // `Response.json()`: the browser's parser; an empty or non-JSON body is `undefined`.
        let body = match raw.json() {
            Ok(promise) => JsFuture::from(promise).await.unwrap_or(JsValue::UNDEFINED),
            Err(_) => JsValue::UNDEFINED,
        };
        Ok(Reply { status, body })
    });
    match select(exchange, TimeoutFuture::new(timeout_ms)).await {
        Either::Left((answer, _)) => answer.map_err(Failure::Network),
        Either::Right(_) => {
            abort.abort();
            Err(Failure::TimedOut)
        }
    }
}
