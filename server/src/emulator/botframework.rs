//! Dev mode's Bot Framework (`--dev-bot`): it signs the activities Teams would send the app's
//! bot with its own development key, publishes that key as OpenID metadata and a JWKS with
//! endorsements (as `login.botframework.com` does), and on "Add the app to the team" sends
//! the signed install activity to this server's `/api/messages`, so development and tests run
//! the same checks as production. The keys are fixed development keys, published in this
//! repository: only a server started with `--dev-bot` trusts them. Variants make the forged
//! activities a server must refuse.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use connector_settings::CONNECTOR;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::EmulatorState;
use crate::bot::BOT_FRAMEWORK_ISSUER;
use crate::error::AppError;

/// The app id a `--dev-bot` server takes unless given another.
pub const DEV_BOT_APP_ID: &str = "00000000-0000-4000-8000-00000000b07e";
pub use super::idp::DEV_BOT_APP_SECRET;
/// The tenant a `--dev-bot` server's bot gets its tokens from (a single-tenant bot's own).
pub const DEV_BOT_TENANT: &str = "00000000-0000-4000-8000-0000000000b0";

const KEY_ID: &str = "emulator-botframework-1";
const PRIVATE_KEY: &str = include_str!("dev-bot-key.pem");
const MODULUS: &str = include_str!("dev-bot-n.txt");
/// A key the JWKS endorses for Web Chat only, not for Teams.
const WEBCHAT_KEY_ID: &str = "emulator-botframework-webchat";
const WEBCHAT_KEY: &str = include_str!("dev-bot-webchat-key.pem");
const WEBCHAT_MODULUS: &str = include_str!("dev-bot-webchat-n.txt");

/// Where the emulated Bot Framework's OpenID metadata is on a dev server on `port`.
pub fn openid_metadata_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/emulator/botframework/v1/.well-known/openidconfiguration")
}

/// The start of the emulator's connector service URLs (as `https://smba.trafficmanager.net/`).
pub fn service_url_prefix(port: u16) -> String {
    format!("http://127.0.0.1:{port}/emulator/smba/")
}

/// The service URL the emulator's activities name (a region's, as Teams' do).
fn service_url(port: u16) -> String {
    format!("{}amer/", service_url_prefix(port))
}

/// `GET /emulator/botframework/v1/.well-known/openidconfiguration`, shaped as Microsoft's.
pub async fn metadata(State(state): State<EmulatorState>) -> Json<Value> {
    Json(json!({
        "issuer": BOT_FRAMEWORK_ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("http://127.0.0.1:{}/emulator/botframework/v1/.well-known/keys", state.port),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

/// `GET /emulator/botframework/v1/.well-known/keys`: the signing keys with the channels each
/// is endorsed for.
pub async fn keys() -> Json<Value> {
    Json(json!({ "keys": [
        { "kty": "RSA", "use": "sig", "kid": KEY_ID, "n": MODULUS.trim(), "e": "AQAB",
          "endorsements": ["msteams", "webchat", "directline", "emulator"] },
        { "kty": "RSA", "use": "sig", "kid": WEBCHAT_KEY_ID, "n": WEBCHAT_MODULUS.trim(), "e": "AQAB",
          "endorsements": ["webchat"] },
    ] }))
}

/// What "Add the app to the team" (and its siblings) sends.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Send {
    /// `add`, `remove`, `channel-created`, `channel-deleted` or `team-deleted`.
    action: String,
    /// `installationUpdate` (default) or `conversationUpdate` (the bot as a team member) for
    /// `add` and `remove`.
    #[serde(default)]
    via: Option<String>,
    tenant: String,
    team_id: String,
    channel_id: String,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    team_name: Option<String>,
    /// How the activity is signed: `valid` unless a forgery is asked for.
    #[serde(default)]
    variant: Option<String>,
}

/// The forgeries (and near misses) the emulator can send.
pub const VARIANTS: &[&str] = &[
    "valid",
    "within-skew",
    "bad-signature",
    "wrong-audience",
    "wrong-issuer",
    "expired",
    "not-yet-valid",
    "service-url-mismatch",
    "not-endorsed",
    "unknown-key",
    "no-token",
    "disallowed-service-url",
];

fn bad_request(code: &'static str, message: String) -> AppError {
    AppError::BadRequest {
        code,
        message,
        fields: vec![],
    }
}

/// The activity Teams sends for `s`, with `service_url`.
fn activity(s: &Send, app_id: &str, service_url: &str) -> Result<Value, AppError> {
    let bot = json!({ "id": format!("28:{app_id}"), "name": CONNECTOR.name });
    let team = json!({ "id": s.team_id, "name": s.team_name.clone().unwrap_or_else(|| "Contoso Engineering".into()),
                       "aadGroupId": s.group_id });
    let mut a = json!({
        "id": format!("f:{:016x}", rand::random::<u64>()),
        "timestamp": crate::clock::now_rfc3339(),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": { "id": "29:1emulator-user", "aadObjectId": "b4c8e0f2-3a5d-4e7f-9a1b-2c3d4e5f6a7b" },
        "recipient": bot,
        "conversation": { "isGroup": true, "conversationType": "channel", "tenantId": s.tenant, "id": s.channel_id },
        "channelData": { "team": team, "tenant": { "id": s.tenant }, "channel": { "id": s.channel_id } },
        "locale": "en-US",
    });
    let via = s.via.as_deref().unwrap_or("installationUpdate");
    match (s.action.as_str(), via) {
        ("add" | "remove", "installationUpdate") => {
            a["type"] = json!("installationUpdate");
            a["action"] = json!(s.action);
            a["channelData"]["settings"] = json!({ "selectedChannel": { "id": s.channel_id } });
            a["channelData"]["source"] = json!({ "name": "message" });
        }
        ("add" | "remove", "conversationUpdate") => {
            a["type"] = json!("conversationUpdate");
            // The bot joins the team, in its General channel (whose id is the team's).
            a["conversation"]["id"] = json!(s.team_id);
            let (event, members) = if s.action == "add" {
                ("teamMemberAdded", "membersAdded")
            } else {
                ("teamMemberRemoved", "membersRemoved")
            };
            a["channelData"]["eventType"] = json!(event);
            a[members] = json!([{ "id": format!("28:{app_id}") }]);
        }
        ("team-deleted", _) => {
            a["type"] = json!("conversationUpdate");
            a["conversation"]["id"] = json!(s.team_id);
            a["channelData"]["eventType"] = json!("teamDeleted");
            a["channelData"]
                .as_object_mut()
                .expect("channelData")
                .remove("channel");
        }
        ("channel-created" | "channel-deleted", _) => {
            a["type"] = json!("conversationUpdate");
            a["conversation"]["id"] = json!(s.team_id);
            a["channelData"]["eventType"] = json!(if s.action == "channel-created" {
                "channelCreated"
            } else {
                "channelDeleted"
            });
        }
        (action, via) => {
            return Err(bad_request(
                "invalid_action",
                format!("action '{action}' via '{via}' is not one of add, remove (via installationUpdate or conversationUpdate), channel-created, channel-deleted, team-deleted"),
            ))
        }
    }
    Ok(a)
}

/// The token the Bot Framework would send with an activity to `service_url`, forged as
/// `variant` asks (`None`: no token at all).
fn token(variant: &str, app_id: &str, service_url: &str) -> Result<Option<String>, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "serviceurl": service_url,
        "nbf": now - 5, "exp": now + 3600,
        "iss": BOT_FRAMEWORK_ISSUER, "aud": app_id,
    });
    let (mut kid, mut pem) = (KEY_ID, PRIVATE_KEY);
    match variant {
        "valid" | "disallowed-service-url" => {}
        "no-token" => return Ok(None),
        // Two minutes past its expiry: within the 5 minutes of skew.
        "within-skew" => claims["exp"] = json!(now - 120),
        // Beyond the skew.
        "expired" => {
            claims["nbf"] = json!(now - 7200);
            claims["exp"] = json!(now - 600);
        }
        "not-yet-valid" => claims["nbf"] = json!(now + 900),
        "bad-signature" => pem = super::idp::IMPOSTOR_KEY,
        "wrong-audience" => claims["aud"] = json!("5a1c0b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"),
        "wrong-issuer" => claims["iss"] = json!("https://api.botframework.evil.example"),
        "service-url-mismatch" => {
            claims["serviceurl"] = json!("https://smba.trafficmanager.net/emea/")
        }
        "not-endorsed" => (kid, pem) = (WEBCHAT_KEY_ID, WEBCHAT_KEY),
        "unknown-key" => kid = "emulator-botframework-unknown",
        other => {
            return Err(bad_request(
                "invalid_variant",
                format!("variant '{other}' is not one of {}", VARIANTS.join(", ")),
            ))
        }
    }
    let key =
        EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, &claims, &key)
        .map(Some)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// `POST /emulator/api/bot/activity`: "Add the app to the team", "Remove the app", a channel
/// created or deleted, the team deleted: the activity Teams would send, signed (or forged, per `variant`), sent
/// to this server's `/api/messages`; answers what the server answered.
pub async fn send(
    State(state): State<EmulatorState>,
    Json(s): Json<Send>,
) -> Result<Json<Value>, AppError> {
    let Some(app_id) = state.bot_app_id.clone() else {
        return Err(AppError::NotFound(
            "the emulator plays the Bot Framework only for a server started with --dev-bot".into(),
        ));
    };
    for (field, value) in [
        ("tenant", &s.tenant),
        ("teamId", &s.team_id),
        ("channelId", &s.channel_id),
    ] {
        if value.trim().is_empty() {
            return Err(bad_request("invalid_activity", format!("{field} is empty")));
        }
    }
    let variant = s.variant.as_deref().unwrap_or("valid");
    // A service URL Teams would never give: the server must not take it even when signed.
    let service_url = if variant == "disallowed-service-url" {
        "https://smba.evil.example/amer/".to_string()
    } else {
        service_url(state.port)
    };
    let activity = activity(&s, &app_id, &service_url)?;
    let token = token(variant, &app_id, &service_url)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut req = client
        .post(format!("http://127.0.0.1:{}/api/messages", state.port))
        .json(&activity);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req
        .send()
        .await
        .map_err(|e| AppError::Internal(format!("the server did not answer: {e}")))?;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let answer = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    tracing::info!(
        action = %s.action,
        variant,
        status,
        "emulator: Bot Framework activity sent"
    );
    Ok(Json(
        json!({ "status": status, "answer": answer, "activity": activity }),
    ))
}

/// `GET /emulator/api/bot`: whether this server plays the Bot Framework, and the forgeries
/// offered.
pub async fn info(State(state): State<EmulatorState>) -> Json<Value> {
    Json(json!({ "appId": state.bot_app_id, "variants": VARIANTS }))
}

// ---- the Bot Connector service (where the bot posts) ----

/// What a conversation of the emulated connector service answers a post.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationMode {
    /// 201 with the new activity's id; the activity is kept.
    #[default]
    Ok,
    /// 403 `BotNotInConversationRoster`: the app was removed from the team.
    NotInRoster,
    /// 429 with `Retry-After: 1`.
    Throttled,
    /// 412 (Teams' answer to a write it could not apply yet).
    PreconditionFailed,
    /// 502.
    BadGateway,
}

/// Every mode, as the emulator's UI lists them.
pub const CONVERSATION_MODES: &[&str] = &[
    "ok",
    "throttled",
    "not-in-roster",
    "precondition-failed",
    "bad-gateway",
];

#[derive(Default)]
pub struct Conversation {
    mode: ConversationMode,
    /// Posts still to be answered in `mode` before the conversation answers `ok` again;
    /// `None`: until the mode is changed.
    remaining: Option<u64>,
    activities: Vec<Value>,
    received: u64,
}

/// The conversations posted to, by conversation id.
#[derive(Default)]
pub struct Conversations(Mutex<HashMap<String, Conversation>>);

/// Activities kept per conversation; older ones are dropped.
const KEEP: usize = 500;

/// `%XX` decoded (a conversation id in a path; `+` stays itself, as in paths).
fn percent_decoded(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn connector_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// `POST /emulator/smba/{region}/v3/conversations/{conversation id}/activities`: the Bot
/// Connector service. It takes a bearer token of the emulator's identity provider for
/// `https://api.botframework.com` issued to this server's bot, and answers as the
/// conversation's mode says.
pub async fn post_activity(
    State(state): State<EmulatorState>,
    uri: Uri,
    headers: HeaderMap,
    Json(activity): Json<Value>,
) -> Response {
    let rest = uri.path().strip_prefix("/emulator/smba/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    let conversation = match parts.as_slice() {
        [_region, "v3", "conversations", id, "activities"] => percent_decoded(id),
        _ => None,
    };
    let Some(conversation) = conversation.filter(|c| !c.is_empty()) else {
        return connector_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such resource on the Bot Connector service",
        );
    };
    let claims = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| {
            super::idp::verified_flow_token(
                state.port,
                t.trim(),
                crate::bot::connector::BOT_FRAMEWORK_AUDIENCE,
            )
        });
    let bot = state.bot_app_id.as_deref();
    if bot.is_none() || claims.as_ref().and_then(|c| c["appid"].as_str()) != bot {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "Authorization has been denied for this request." })),
        )
            .into_response();
    }
    let mut all = state.conversations.0.lock().expect("conversations lock");
    let c = all.entry(conversation).or_default();
    c.received += 1;
    let mode = c.mode;
    if let Some(n) = c.remaining.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            (c.mode, c.remaining) = (ConversationMode::Ok, None);
        }
    }
    match mode {
        ConversationMode::Ok => {
            let id = format!("1:{:x}", rand::random::<u64>());
            // The service posts as the bot the token was issued to, as Teams shows it.
            let from =
                json!({ "id": format!("28:{}", bot.unwrap_or_default()), "name": CONNECTOR.name });
            c.activities.push(json!({
                "id": id, "receivedAt": crate::clock::now_rfc3339(), "from": from, "activity": activity,
            }));
            if c.activities.len() > KEEP {
                c.activities.remove(0);
            }
            (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
        }
        ConversationMode::NotInRoster => connector_error(
            StatusCode::FORBIDDEN,
            "BotNotInConversationRoster",
            "The bot is not part of the conversation roster.",
        ),
        ConversationMode::Throttled => {
            let mut res = connector_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttled",
                "Too many requests to this conversation.",
            );
            res.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            res
        }
        ConversationMode::PreconditionFailed => connector_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The conversation is not ready; try again.",
        ),
        ConversationMode::BadGateway => connector_error(
            StatusCode::BAD_GATEWAY,
            "BadGateway",
            "The service is unavailable.",
        ),
    }
}

/// `GET /emulator/api/bot/conversations/{id}`: what was posted to a conversation, and how it
/// answers.
pub async fn conversation(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
) -> Json<Value> {
    let all = state.conversations.0.lock().expect("conversations lock");
    let (mode, remaining, activities, received) = all
        .get(&id)
        .map_or((ConversationMode::Ok, None, Vec::new(), 0), |c| {
            (c.mode, c.remaining, c.activities.clone(), c.received)
        });
    Json(
        json!({ "mode": mode, "remaining": remaining, "modes": CONVERSATION_MODES,
                 "activities": activities, "received": received }),
    )
}

#[derive(Deserialize)]
pub struct SetConversationMode {
    mode: ConversationMode,
    /// For how many posts (then `ok` again); absent: until changed.
    #[serde(default)]
    count: Option<u64>,
}

/// `PUT /emulator/api/bot/conversations/{id}` `{"mode": …, "count"?: n}`: how it answers
/// from now on (the next `count` posts only, when given).
pub async fn set_conversation_mode(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
    Json(m): Json<SetConversationMode>,
) -> Result<StatusCode, AppError> {
    if m.count == Some(0) || m.count.is_some_and(|n| n > 1000) {
        return Err(bad_request(
            "invalid_count",
            format!(
                "count {} is not between 1 and 1000",
                m.count.unwrap_or_default()
            ),
        ));
    }
    let mut all = state.conversations.0.lock().expect("conversations lock");
    let c = all.entry(id).or_default();
    c.mode = m.mode;
    c.remaining = m.count.filter(|_| m.mode != ConversationMode::Ok);
    Ok(StatusCode::NO_CONTENT)
}
