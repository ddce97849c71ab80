//! All HTTP from the page: the runtime configuration and the connection API. Errors keep a
//! network failure, a refusal with the server's message and a server fault apart, so the
//! person is told which.

use connector_settings::api::{
    BotInstallStatus, Connection, DeliveryStatus, ErrorBody, LinkAccount, LinkedAccount,
    SaveConnection, TestCard, TryOutcome, TryWebhook, EDIT_KEY_HEADER, WEBHOOK_HEADER,
};
use gloo_net::http::{Request, RequestBuilder};
use serde::Deserialize;

use crate::http::{self, Failure, Reply};

/// Deployment values read at run time from `config.json` beside `index.html`, so one build
/// serves several environments. Every member is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuntimeConfig {
    /// The server's base URL, without a trailing slash; empty for the page's own origin.
    pub api_base_url: String,
    /// Extra host origins passed to `app.initialize` (e.g. an emulator on another origin).
    pub valid_message_origins: Vec<String>,
    /// Teams single sign-on: send a token from `authentication.getAuthToken` with each call.
    pub sso: bool,
    /// URL prefixes of the emulator's webhook inboxes, which only a dev-mode server names:
    /// the tab's form takes a Workflows URL there.
    pub dev_inboxes: Vec<String>,
    /// The server posts to flows that take only signed-in callers (Workflows URLs without
    /// `sig`) with a token of the connection's tenant, so the form takes them.
    pub flow_tokens: bool,
    /// The server posts as the app's bot: a tab's configuration asks it whether the app is
    /// in the tab's team (`/api/bot/install`); without it the page never asks.
    pub bot: bool,
}

/// What proves the editor of a connection to the server: the webhook URL Teams handed the
/// page (a connector), the connection's edit key, and with single sign-on a token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    pub webhook_url: Option<&'a str>,
    pub edit_key: Option<&'a str>,
    pub token: Option<&'a str>,
}

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all.
    Network(String),
    /// The server did not answer within the time limit.
    TimedOut,
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

/// Reads `config.json`; a missing file means "same origin, defaults". `index.html` preloads
/// it (`<link rel="preload" as="fetch" crossorigin>`): this request has the same mode and
/// credentials, so the browser hands over the preloaded answer.
/// When js/handshake.js read it already while the wasm downloaded, its answer is taken.
pub async fn runtime_config(timeout_ms: u32) -> Result<RuntimeConfig, ApiError> {
    let reply = match http::early_config(timeout_ms).await {
        Some(answer) => answer?,
        None => http::send(Request::get("config.json"), None, timeout_ms).await?,
    };
    match reply.status {
        200 => reply.decode().ok_or(ApiError::Server { status: 200 }),
        404 => Ok(RuntimeConfig::default()),
        status => Err(ApiError::Server { status }),
    }
}

/// The API client for one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    base: String,
    timeout_ms: u32,
}

/// How long the page waits for the server: well inside the 30 s Teams gives the page to
/// answer Save, so the person hears why instead of Teams' generic time-out.
pub const TIMEOUT_MS: u32 = 20_000;

/// How long Teams' remove page waits for the page's answer before it answers for it: Teams
/// gives it 15 s and removes the tab either way (removal-page.md), so the page answers
/// within this, with its own reason, while Teams still listens.
pub const REMOVE_ANSWER_MS: u32 = 12_000;

/// The remove's DELETE gives up after this: inside [`REMOVE_ANSWER_MS`], with time left for
/// the settings and sign-in calls before it and the answer after it.
pub const REMOVE_TIMEOUT_MS: u32 = 10_000;

impl Api {
    /// The client for the configured server; each request gives up after `timeout_ms`.
    pub fn new(config: &RuntimeConfig, timeout_ms: u32) -> Api {
        Api {
            base: config.api_base_url.trim_end_matches('/').to_string(),
            timeout_ms,
        }
    }

    /// The same client, giving up after `timeout_ms` when that is sooner than its own limit.
    pub fn within(&self, timeout_ms: u32) -> Api {
        Api {
            base: self.base.clone(),
            timeout_ms: self.timeout_ms.min(timeout_ms),
        }
    }

    fn url(&self, entity_id: &str) -> String {
        self.base.clone() + "/api/connections/" + &encode(entity_id)
    }

    /// Creates or updates the connection `entity_id` (idempotent). The webhook URL goes in
    /// the body (when there is one to store), the edit key and token in headers.
    pub async fn save(
        &self,
        entity_id: &str,
        body: &SaveConnection,
        creds: Credentials<'_>,
    ) -> Result<Connection, ApiError> {
        let creds = Credentials {
            webhook_url: None,
            ..creds
        };
        let request = Request::put(&self.url(entity_id));
        let reply = self.call(request, creds, Some(http::to_json(body))).await?;
        decode(reply)
    }

    /// The stored connection, proven ours by `creds`.
    pub async fn load(
        &self,
        entity_id: &str,
        creds: Credentials<'_>,
    ) -> Result<Connection, ApiError> {
        let reply = self
            .call(Request::get(&self.url(entity_id)), creds, None)
            .await?;
        decode(reply)
    }

    /// Queues a test card to the connection's channel.
    pub async fn test_card(
        &self,
        entity_id: &str,
        creds: Credentials<'_>,
    ) -> Result<TestCard, ApiError> {
        let request = Request::post(&(self.url(entity_id) + "/test-card"));
        decode(self.call(request, creds, None).await?)
    }

    /// Posts a test card now to a webhook no connection is stored with yet.
    pub async fn try_webhook(
        &self,
        body: &TryWebhook,
        token: Option<&str>,
    ) -> Result<TryOutcome, ApiError> {
        let creds = Credentials {
            token,
            ..Credentials::default()
        };
        let request = Request::post(&(self.base.clone() + "/api/test-card"));
        decode(self.call(request, creds, Some(http::to_json(body))).await?)
    }

    /// Whether the server posts as the app's bot and holds its install for the team
    /// (`team_id`: the context's `team.internalId`).
    pub async fn bot_install(
        &self,
        tenant_id: &str,
        team_id: &str,
        token: Option<&str>,
    ) -> Result<BotInstallStatus, ApiError> {
        let creds = Credentials {
            token,
            ..Credentials::default()
        };
        let request = Request::get(&(self.base.clone() + "/api/bot/install"))
            .query([("tenantId", tenant_id), ("teamId", team_id)]);
        decode(self.call(request, creds, None).await?)
    }

    /// Exchanges the sign-in popup's code for the account and a proof for the save
    /// (`[account]` builds).
    pub async fn link_account(
        &self,
        body: &LinkAccount,
        token: Option<&str>,
    ) -> Result<LinkedAccount, ApiError> {
        let creds = Credentials {
            token,
            ..Credentials::default()
        };
        let request = Request::post(&(self.base.clone() + "/api/account/link"));
        decode(self.call(request, creds, Some(http::to_json(body))).await?)
    }

    /// How the deliveries to the connection went (of one event, when `event_id` is given).
    pub async fn delivery_status(
        &self,
        entity_id: &str,
        creds: Credentials<'_>,
        event_id: Option<&str>,
    ) -> Result<DeliveryStatus, ApiError> {
        let mut url = self.url(entity_id) + "/deliveries";
        if let Some(event) = event_id {
            url = url + "?event=" + &encode(event);
        }
        decode(self.call(Request::get(&url), creds, None).await?)
    }

    /// Deletes the connection.
    pub async fn delete(&self, entity_id: &str, creds: Credentials<'_>) -> Result<(), ApiError> {
        let request = Request::delete(&self.url(entity_id));
        let reply = self.call(request, creds, None).await?;
        if reply.ok() {
            Ok(())
        } else {
            Err(failure(reply))
        }
    }

    /// One request with the credentials in headers: never in the URL, which servers and
    /// CDNs log.
    async fn call(
        &self,
        mut request: RequestBuilder,
        creds: Credentials<'_>,
        body: Option<String>,
    ) -> Result<Reply, ApiError> {
        if let Some(w) = creds.webhook_url {
            request = request.header(WEBHOOK_HEADER, w);
        }
        if let Some(k) = creds.edit_key {
            request = request.header(EDIT_KEY_HEADER, k);
        }
        if let Some(t) = creds.token {
            request = request.header("authorization", &("Bearer ".to_string() + t));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        Ok(http::send(request, body, self.timeout_ms).await?)
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> ApiError {
        match f {
            Failure::Network(why) => ApiError::Network(why),
            Failure::TimedOut => ApiError::TimedOut,
        }
    }
}

/// A successful reply as `T` (one of `settings::api`'s types, as the server writes them);
/// anything else is a server fault.
fn decode<T: serde::de::DeserializeOwned>(reply: Reply) -> Result<T, ApiError> {
    if !reply.ok() {
        return Err(failure(reply));
    }
    let status = reply.status;
    reply.decode().ok_or(ApiError::Server { status })
}

fn failure(reply: Reply) -> ApiError {
    let status = reply.status;
    if status == 503 {
        // The one 5xx that says why: the service's identity provider is unreachable.
        return match reply.decode::<ErrorBody>() {
            Some(body) if body.error == "account_unavailable" => ApiError::Refused { status, body },
            _ => ApiError::Server { status },
        };
    }
    if (400..500).contains(&status) {
        let body = reply.decode().unwrap_or_else(|| ErrorBody {
            error: "http_error".into(),
            message: "the server answered ".to_string() + &status.to_string(),
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
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}
