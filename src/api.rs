//! All HTTP from the page: the runtime configuration and the connection API. Errors keep a
//! network failure, a refusal with the server's message and a server fault apart, so the
//! person is told which.

use connector_settings::api::{
    Connection, DeliveryStatus, ErrorBody, FieldProblem, SaveConnection, TestCard, TryOutcome,
    TryWebhook, EDIT_KEY_HEADER, WEBHOOK_HEADER,
};

use crate::fetch::{self, Failure, Reply};
use crate::json::{Json, Object};

/// Deployment values read at run time from `config.json` beside `index.html`, so one build
/// serves several environments.
#[derive(Debug, Clone, Default, PartialEq)]
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

impl From<Failure> for ApiError {
    fn from(f: Failure) -> ApiError {
        match f {
            Failure::Network(why) => ApiError::Network(why),
            Failure::TimedOut => ApiError::TimedOut,
        }
    }
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Refused { status: 404, .. })
    }
}

/// Reads `config.json`; a missing file means "same origin, defaults".
pub async fn runtime_config(timeout_ms: u32) -> Result<RuntimeConfig, ApiError> {
    let reply = fetch::send("GET", "config.json", &[], None, timeout_ms)
        .await
        .map_err(ApiError::from)?;
    match reply.status {
        200 => reply
            .json()
            .and_then(|j| runtime_config_from(&j))
            .ok_or(ApiError::Server { status: 200 }),
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

impl Api {
    /// The client for the configured server; each request gives up after `timeout_ms`.
    pub fn new(config: &RuntimeConfig, timeout_ms: u32) -> Api {
        Api {
            base: config.api_base_url.trim_end_matches('/').to_string(),
            timeout_ms,
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
        let body = Object::default()
            .opt_str("webhookUrl", body.webhook_url.as_deref())
            .values("settings", &body.settings)
            .opt_str("appType", body.app_type.as_deref())
            .opt_str("userObjectId", body.user_object_id.as_deref())
            .to_json();
        let creds = Credentials {
            webhook_url: None,
            ..creds
        };
        let reply = self
            .call("PUT", &self.url(entity_id), creds, Some(&body))
            .await?;
        decode(reply, connection_from)
    }

    /// The stored connection, proven ours by `creds`.
    pub async fn load(
        &self,
        entity_id: &str,
        creds: Credentials<'_>,
    ) -> Result<Connection, ApiError> {
        let reply = self.call("GET", &self.url(entity_id), creds, None).await?;
        decode(reply, connection_from)
    }

    /// Queues a test card to the connection's channel.
    pub async fn test_card(
        &self,
        entity_id: &str,
        creds: Credentials<'_>,
    ) -> Result<TestCard, ApiError> {
        let url = self.url(entity_id) + "/test-card";
        let reply = self.call("POST", &url, creds, None).await?;
        decode(reply, |j| {
            Some(TestCard {
                event_id: j.str("eventId")?,
            })
        })
    }

    /// Posts a test card now to a webhook no connection is stored with yet.
    pub async fn try_webhook(
        &self,
        body: &TryWebhook,
        token: Option<&str>,
    ) -> Result<TryOutcome, ApiError> {
        let body = Object::default()
            .str("webhookUrl", &body.webhook_url)
            .values("settings", &body.settings)
            .to_json();
        let creds = Credentials {
            token,
            ..Credentials::default()
        };
        let url = self.base.clone() + "/api/test-card";
        let reply = self.call("POST", &url, creds, Some(&body)).await?;
        decode(reply, |j| {
            Some(TryOutcome {
                delivered: j.get("delivered")?.as_bool()?,
                error: j.str("error"),
            })
        })
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
        let reply = self.call("GET", &url, creds, None).await?;
        decode(reply, delivery_status_from)
    }

    /// Deletes the connection.
    pub async fn delete(&self, entity_id: &str, creds: Credentials<'_>) -> Result<(), ApiError> {
        let reply = self
            .call("DELETE", &self.url(entity_id), creds, None)
            .await?;
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
        method: &str,
        url: &str,
        creds: Credentials<'_>,
        body: Option<&str>,
    ) -> Result<Reply, ApiError> {
        let bearer = creds.token.map(|t| "Bearer ".to_string() + t);
        let mut headers = Vec::with_capacity(4);
        if let Some(w) = creds.webhook_url {
            headers.push((WEBHOOK_HEADER, w));
        }
        if let Some(k) = creds.edit_key {
            headers.push((EDIT_KEY_HEADER, k));
        }
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        fetch::send(method, url, &headers, body, self.timeout_ms)
            .await
            .map_err(ApiError::from)
    }
}

/// A successful reply read by `read`; anything unreadable is a server fault.
fn decode<T>(reply: Reply, read: fn(&Json) -> Option<T>) -> Result<T, ApiError> {
    if !reply.ok() {
        return Err(failure(reply));
    }
    let status = reply.status;
    reply
        .json()
        .and_then(|j| read(&j))
        .ok_or(ApiError::Server { status })
}

fn failure(reply: Reply) -> ApiError {
    let status = reply.status;
    if (400..500).contains(&status) {
        let body = reply
            .json()
            .and_then(|j| error_body_from(&j))
            .unwrap_or_else(|| ErrorBody {
                error: "http_error".into(),
                message: "the server answered ".to_string() + &status.to_string(),
                fields: Vec::new(),
            });
        ApiError::Refused { status, body }
    } else {
        ApiError::Server { status }
    }
}

/// A list of texts, or `None` when it is something else; an absent member is empty.
fn texts(j: &Json, key: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    if let Some(list) = j.get(key) {
        for o in list.as_list()? {
            out.push(o.as_str()?);
        }
    }
    Some(out)
}

/// `config.json`; every member optional.
fn runtime_config_from(j: &Json) -> Option<RuntimeConfig> {
    Some(RuntimeConfig {
        api_base_url: match j.get("apiBaseUrl") {
            Some(v) => v.as_str()?,
            None => String::new(),
        },
        valid_message_origins: texts(j, "validMessageOrigins")?,
        sso: match j.get("sso") {
            Some(v) => v.as_bool()?,
            None => false,
        },
        dev_inboxes: texts(j, "devInboxes")?,
    })
}

fn connection_from(j: &Json) -> Option<Connection> {
    Some(Connection {
        entity_id: j.str("entityId")?,
        config_name: j.str("configName")?,
        settings: j.get("settings")?.as_values()?,
        created_at: j.str("createdAt")?,
        updated_at: j.str("updatedAt")?,
        disabled: j.str("disabled"),
        edit_key: j.str("editKey"),
    })
}

fn delivery_status_from(j: &Json) -> Option<DeliveryStatus> {
    Some(DeliveryStatus {
        pending: j.get("pending")?.as_u64()?,
        delivered: j.get("delivered")?.as_u64()?,
        dead: j.get("dead")?.as_u64()?,
        last_error: j.str("lastError"),
        disabled: j.str("disabled"),
    })
}

fn error_body_from(j: &Json) -> Option<ErrorBody> {
    let mut fields = Vec::new();
    if let Some(list) = j.get("fields") {
        for f in list.as_list()? {
            fields.push(FieldProblem {
                field: f.str("field")?,
                rule: f.str("rule")?,
                message: f.str("message")?,
            });
        }
    }
    Some(ErrorBody {
        error: j.str("error")?,
        message: j.str("message")?,
        fields,
    })
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
