//! HTTP through the browser's own `fetch`. Not `gloo-net`: it brings `serde_json` into the
//! wasm users download. Like `teams`, this module keeps every `JsValue` to itself.

use wasm_bindgen::{JsCast, JsValue};

use crate::json::Json;
use wasm_bindgen_futures::JsFuture;

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

/// `fetch(url, {method, headers, body})`. `Err` is the browser's reason when no answer
/// arrived at all (offline, refused, blocked by CORS).
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, String> {
    let window = web_sys::window().ok_or("no window")?;
    let head = web_sys::Headers::new().map_err(|e| describe(&e))?;
    for (name, value) in headers {
        head.set(name, value).map_err(|e| describe(&e))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&head);
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

fn describe(err: &JsValue) -> String {
    match err.dyn_ref::<js_sys::Error>() {
        Some(e) => e.message().into(),
        None => err.as_string().unwrap_or_else(|| "unknown error".into()),
    }
}
