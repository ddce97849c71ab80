//! The admin API through gloo-net, with the operator's token from sessionStorage; JSON
//! through the browser's own parser and serde-wasm-bindgen, as the configuration page does.
//! A failed call becomes an [`ApiError`] that names the call and what the server said.

use connector_settings::api::ErrorBody;
use futures::future::{select, Either};
use gloo_net::http::{Method, RequestBuilder};
use gloo_timers::future::TimeoutFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// Where the token is kept: sessionStorage only, so it ends with the tab.
const TOKEN_KEY: &str = "connector-admin-token";
/// How long a call may take before it is abandoned.
const TIMEOUT_MS: u32 = 20_000;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The token this tab signed in with.
pub fn stored_token() -> Option<String> {
    storage()?
        .get_item(TOKEN_KEY)
        .ok()
        .flatten()
        .filter(|t| !t.is_empty())
}

pub fn store_token(token: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(TOKEN_KEY, token);
    }
}

pub fn forget_token() {
    if let Some(s) = storage() {
        let _ = s.remove_item(TOKEN_KEY);
    }
}

/// A call that failed: which one, and what went wrong (the server's [`ErrorBody`] when it
/// sent one).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// `GET /admin/connections`.
    pub call: String,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The API's error kind, e.g. `admin_token_refused`.
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    /// One line for a person: the call, the status and the server's words.
    pub fn text(&self) -> String {
        match (self.status, &self.code) {
            (Some(s), Some(code)) => {
                format!("{} failed ({s}, {code}): {}", self.call, self.message)
            }
            (Some(s), None) => format!("{} failed ({s}): {}", self.call, self.message),
            _ => format!("{} failed: {}", self.call, self.message),
        }
    }

    /// The token was refused or missing: signing in again is the remedy.
    pub fn is_unauthorized(&self) -> bool {
        self.status == Some(401)
    }
}

fn describe(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    js_sys::Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// `value` as JSON text.
pub fn to_json<T: Serialize>(value: &T) -> String {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()
        .and_then(|v| js_sys::JSON::stringify(&v).ok())
        .map(String::from)
        .unwrap_or_default()
}

/// `GET path` as `T`.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    call(Method::GET, path, None).await
}

/// `POST path` with `body` (JSON) as `T`.
pub async fn post<T: DeserializeOwned>(path: &str, body: Option<String>) -> Result<T, ApiError> {
    call(Method::POST, path, body).await
}

async fn call<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<T, ApiError> {
    let shown = path.split('?').next().unwrap_or(path);
    let name = format!("{method} {shown}");
    let fail = |status: Option<u16>, code: Option<String>, message: String| ApiError {
        call: name.clone(),
        status,
        code,
        message,
    };
    let Some(token) = stored_token() else {
        return Err(fail(None, None, "no admin token: sign in first".into()));
    };
    let abort = web_sys::AbortController::new().map_err(|e| fail(None, None, describe(&e)))?;
    let mut request = RequestBuilder::new(path)
        .method(method)
        .header("Authorization", &format!("Bearer {token}"))
        .abort_signal(Some(&abort.signal()));
    if body.is_some() {
        request = request.header("Content-Type", "application/json");
    }
    let exchange = Box::pin(async move {
        let request = match body {
            Some(body) => request.body(body),
            None => request.build(),
        }
        .map_err(|e| e.to_string())?;
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok::<_, String>((status, text))
    });
    let (status, text) = match select(exchange, TimeoutFuture::new(TIMEOUT_MS)).await {
        Either::Left((Ok(answer), _)) => answer,
        Either::Left((Err(e), _)) => {
            return Err(fail(None, None, format!("no answer from the server ({e})")))
        }
        Either::Right(_) => {
            abort.abort();
            return Err(fail(
                None,
                None,
                format!("no answer within {} s", TIMEOUT_MS / 1000),
            ));
        }
    };
    let parsed = js_sys::JSON::parse(&text).ok();
    if !(200..300).contains(&status) {
        let body: Option<ErrorBody> = parsed.and_then(|v| serde_wasm_bindgen::from_value(v).ok());
        return Err(match body {
            Some(b) => fail(Some(status), Some(b.error), b.message),
            None => fail(
                Some(status),
                None,
                if text.trim().is_empty() {
                    "the answer had no body".into()
                } else {
                    text.chars().take(200).collect()
                },
            ),
        });
    }
    let Some(value) = parsed else {
        return Err(fail(Some(status), None, "the answer is not JSON".into()));
    };
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        fail(
            Some(status),
            None,
            format!("the answer is not the expected shape: {e}"),
        )
    })
}

/// `key=value&…` of the pairs whose value is not empty, URL-encoded.
pub fn query(pairs: &[(&str, String)]) -> String {
    let params = web_sys::UrlSearchParams::new().expect("URLSearchParams exists");
    for (k, v) in pairs {
        let v = v.trim();
        if !v.is_empty() {
            params.append(k, v);
        }
    }
    String::from(params.to_string())
}

/// `path` with `query` when it is not empty.
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A path segment, URL-encoded.
pub fn segment(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}
