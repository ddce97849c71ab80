//! All HTTP from the page: the runtime configuration and the connection API. Errors keep a
//! network failure, a refusal with the server's message and a server fault apart, so the
//! person is told which.

use connector_settings::api::{
    Connection, DeliveryStatus, ErrorBody, SaveConnection, TestCard, WEBHOOK_HEADER,
};
use gloo_net::http::{Request, Response};
use serde::Deserialize;

/// Deployment values read at run time from `config.json` beside `index.html`, so one build
/// serves several environments.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// The server's base URL, without a trailing slash; empty for the page's own origin.
    pub api_base_url: String,
    /// Extra host origins passed to `app.initialize` (e.g. an emulator on another origin).
    pub valid_message_origins: Vec<String>,
    /// Teams single sign-on: send a token from `authentication.getAuthToken` with each call.
    pub sso: bool,
}

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all.
    Network(String),
    /// The server refused the request (4xx), with its explanation.
    Refused { status: u16, body: ErrorBody },
    /// The server failed (5xx) or answered with something unreadable.
    Server { status: u16 },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Refused { status: 404, .. })
    }
}

/// Reads `config.json`; a missing file means "same origin, defaults".
pub async fn runtime_config() -> Result<RuntimeConfig, ApiError> {
    let resp = Request::get("config.json").send().await.map_err(network)?;
    match resp.status() {
        200 => resp
            .json()
            .await
            .map_err(|_| ApiError::Server { status: 200 }),
        404 => Ok(RuntimeConfig::default()),
        status => Err(ApiError::Server { status }),
    }
}

/// The API client for one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    base: String,
}

impl Api {
    pub fn new(config: &RuntimeConfig) -> Api {
        Api {
            base: config.api_base_url.trim_end_matches('/').to_string(),
        }
    }

    fn url(&self, entity_id: &str) -> String {
        format!("{}/api/connections/{}", self.base, encode(entity_id))
    }

    /// Creates or updates the connection `entity_id` (idempotent).
    pub async fn save(
        &self,
        entity_id: &str,
        body: &SaveConnection,
        token: Option<&str>,
    ) -> Result<Connection, ApiError> {
        let req = bearer(Request::put(&self.url(entity_id)), token)
            .json(body)
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let resp = req.send().await.map_err(network)?;
        decode(resp).await
    }

    /// The stored connection, proven ours by its webhook URL.
    pub async fn load(
        &self,
        entity_id: &str,
        webhook_url: &str,
        token: Option<&str>,
    ) -> Result<Connection, ApiError> {
        let resp = bearer(Request::get(&self.url(entity_id)), token)
            .header(WEBHOOK_HEADER, webhook_url)
            .send()
            .await
            .map_err(network)?;
        decode(resp).await
    }

    /// Queues a test card to the connection's channel.
    pub async fn test_card(
        &self,
        entity_id: &str,
        webhook_url: &str,
        token: Option<&str>,
    ) -> Result<TestCard, ApiError> {
        let resp = bearer(
            Request::post(&format!("{}/test-card", self.url(entity_id))),
            token,
        )
        .header(WEBHOOK_HEADER, webhook_url)
        .send()
        .await
        .map_err(network)?;
        decode(resp).await
    }

    /// How the deliveries of `event_id` to the connection went.
    pub async fn delivery_status(
        &self,
        entity_id: &str,
        webhook_url: &str,
        event_id: &str,
        token: Option<&str>,
    ) -> Result<DeliveryStatus, ApiError> {
        let url = format!(
            "{}/deliveries?event={}",
            self.url(entity_id),
            encode(event_id)
        );
        let resp = bearer(Request::get(&url), token)
            .header(WEBHOOK_HEADER, webhook_url)
            .send()
            .await
            .map_err(network)?;
        decode(resp).await
    }

    /// Deletes the connection.
    pub async fn delete(
        &self,
        entity_id: &str,
        webhook_url: &str,
        token: Option<&str>,
    ) -> Result<(), ApiError> {
        let resp = bearer(Request::delete(&self.url(entity_id)), token)
            .header(WEBHOOK_HEADER, webhook_url)
            .send()
            .await
            .map_err(network)?;
        if resp.ok() {
            Ok(())
        } else {
            Err(failure(resp).await)
        }
    }
}

fn bearer(
    req: gloo_net::http::RequestBuilder,
    token: Option<&str>,
) -> gloo_net::http::RequestBuilder {
    match token {
        Some(t) => req.header("authorization", &format!("Bearer {t}")),
        None => req,
    }
}

fn network(e: gloo_net::Error) -> ApiError {
    ApiError::Network(e.to_string())
}

async fn decode<T: for<'de> Deserialize<'de>>(resp: Response) -> Result<T, ApiError> {
    if !resp.ok() {
        return Err(failure(resp).await);
    }
    let status = resp.status();
    resp.json().await.map_err(|_| ApiError::Server { status })
}

async fn failure(resp: Response) -> ApiError {
    let status = resp.status();
    if (400..500).contains(&status) {
        let body = resp
            .json::<ErrorBody>()
            .await
            .unwrap_or_else(|_| ErrorBody {
                error: "http_error".into(),
                message: format!("the server answered {status}"),
                fields: Vec::new(),
            });
        ApiError::Refused { status, body }
    } else {
        ApiError::Server { status }
    }
}

/// Percent-encodes a path segment (entity ids are URL-safe already; this keeps a hostile
/// one from changing the path).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
