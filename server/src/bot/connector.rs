//! Posting as the app's bot, the first half: a client-credentials token for the Bot Framework
//! (the same cache as flow tokens: kept until five minutes before it ends, one fetch at a time)
//! and `POST {serviceUrl}/v3/conversations/{conversation id}/activities`, its answer sorted into
//! what a delivery does next (MS: bot-docs rest-api/bot-framework-rest-connector-authentication.md,
//! "Bot to Connector"; msteams-docs bots/how-to/rate-limit.md), and the bot's rate windows per
//! thread, kept in the store for every instance. The delivery workers post a bot
//! connection's cards with it (`delivery::bot_attempt`); the claim reserves the thread's
//! windows, a bot connection's target being one channel.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::managed_identity::{ManagedIdentity, ManagedIdentityTokens};
use crate::delivery::flow_token::{FlowTokenSettings, FlowTokens};
use crate::domain::rate_windows::Windows;
use crate::store::{Outbox, Reservation, StoreError};

/// The audience of the tokens the Bot Connector service takes; the scope is it + `/.default`.
pub const BOT_FRAMEWORK_AUDIENCE: &str = "https://api.botframework.com";
/// The tenant legacy multi-tenant bots get their tokens from.
pub const LEGACY_BOT_TENANT: &str = "botframework.com";
/// How long the connector service may take to answer.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who posts: the bot's Entra app, the tenant its tokens come from (its own, for a
/// single-tenant bot) and where they come from: client credentials with `app_secret`, or
/// the bot's managed identity (then the secret, tenant and authority are not used).
#[derive(Debug, Clone)]
pub struct PosterSettings {
    pub app_id: String,
    pub app_secret: String,
    pub tenant: String,
    /// `https://login.microsoftonline.com`, without a trailing slash.
    pub authority: String,
    pub managed_identity: Option<ManagedIdentity>,
}

/// Where the bot's tokens come from.
enum Tokens {
    ClientCredentials { tenant: String, tokens: FlowTokens },
    ManagedIdentity(ManagedIdentityTokens),
}

impl Tokens {
    async fn token(&self) -> Result<String, String> {
        match self {
            Tokens::ClientCredentials { tenant, tokens } => {
                tokens.token(tenant).await.map_err(|e| e.to_string())
            }
            Tokens::ManagedIdentity(m) => m.token().await,
        }
    }

    async fn forget(&self, token: &str) {
        match self {
            Tokens::ClientCredentials { tenant, tokens } => tokens.forget(tenant, token).await,
            Tokens::ManagedIdentity(m) => m.forget(token).await,
        }
    }

    fn fetches(&self) -> u64 {
        match self {
            Tokens::ClientCredentials { tokens, .. } => tokens.fetches(),
            Tokens::ManagedIdentity(m) => m.fetches(),
        }
    }
}

/// What one post came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// 200 or 201: in the conversation, with the id Teams gave it.
    Posted { id: Option<String> },
    /// Throttled (429) or a passing failure (412, 502, 504, other 5xx, no answer, no token):
    /// try again, after `after` when Teams said.
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// 403 `BotNotInConversationRoster`: the app was removed from this team.
    Removed { error: String },
    /// Anything else: trying again will not help.
    Failed { error: String },
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Posts activities as the bot.
pub struct BotPoster {
    tokens: Tokens,
    client: reqwest::Client,
}

/// `{service_url}/v3/conversations/{conversation}/activities`, the conversation id encoded as
/// one path segment as the Bot Framework SDK does (`encodeURIComponent`), so
/// `19:…@thread.tacv2;messageid=…` keeps its meaning.
pub fn activities_url(service_url: &str, conversation: &str) -> Result<String, String> {
    let base = url::Url::parse(service_url)
        .map_err(|e| format!("service url '{service_url}' is not a url: {e}"))?;
    if base.cannot_be_a_base() {
        return Err(format!("service url '{service_url}' cannot take a path"));
    }
    let id: String = url::form_urlencoded::byte_serialize(conversation.as_bytes()).collect();
    Ok(format!(
        "{}/v3/conversations/{}/activities",
        service_url.trim_end_matches('/'),
        id.replace('+', "%20")
    ))
}

/// The rate-window row of a thread the bot posts to, beside webhooks' (32-byte hashes) and
/// test cards' rows: the conversation id posted to (a channel, or one of its reply chains
/// `…;messageid=…`), each a thread of its own.
pub fn thread_row(conversation: &str) -> Vec<u8> {
    [b"bot-thread:".as_slice(), conversation.as_bytes()].concat()
}

/// Takes a slot in the thread's windows (7 in 1 s, 8 in 2 s, 60 in 30 s, 1,800 in an hour),
/// kept in the store so every instance counts the same posts; `Wait` says until when.
pub async fn reserve_post(
    outbox: &dyn Outbox,
    conversation: &str,
    now_ms: i64,
) -> Result<Reservation, StoreError> {
    outbox
        .reserve(
            vec![(thread_row(conversation), Windows::bot_thread())],
            now_ms,
        )
        .await
}

impl BotPoster {
    pub fn new(s: PosterSettings) -> BotPoster {
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the bot client builds");
        let tokens = match s.managed_identity {
            Some(identity) => Tokens::ManagedIdentity(ManagedIdentityTokens::new(
                identity,
                BOT_FRAMEWORK_AUDIENCE,
            )),
            None => Tokens::ClientCredentials {
                tokens: FlowTokens::new(FlowTokenSettings {
                    client_id: s.app_id,
                    client_secret: s.app_secret,
                    authority: s.authority,
                    audience: BOT_FRAMEWORK_AUDIENCE.into(),
                }),
                tenant: s.tenant,
            },
        };
        BotPoster { tokens, client }
    }

    /// Tokens asked for so far.
    pub fn token_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// Posts `activity` (a `message` with its Adaptive Card) to `conversation` at
    /// `service_url` (which passed the service URL checks when it was stored).
    pub async fn send(&self, service_url: &str, conversation: &str, activity: &Value) -> Sent {
        let url = match activities_url(service_url, conversation) {
            Ok(url) => url,
            Err(error) => return Sent::Failed { error },
        };
        // A token the service refuses (401: expired early, revoked) is dropped and a new one
        // fetched, once; a second 401 is a delivery to try again later.
        let mut refused = false;
        loop {
            let token = match self.tokens.token().await {
                Ok(t) => t,
                Err(error) => return Sent::Retry { after: None, error },
            };
            let res = match self
                .client
                .post(&url)
                .bearer_auth(&token)
                .json(activity)
                .send()
                .await
            {
                Ok(res) => res,
                Err(e) => {
                    return Sent::Retry {
                        after: None,
                        error: if e.is_timeout() {
                            "the Bot Connector service did not answer in time".into()
                        } else {
                            "the Bot Connector service cannot be reached".into()
                        },
                    }
                }
            };
            let status = res.status().as_u16();
            if status == 401 {
                self.tokens.forget(&token).await;
                if !refused {
                    refused = true;
                    tracing::info!(
                        "the Bot Connector service refused the bot's token; fetching a new one"
                    );
                    continue;
                }
            }
            let after = res
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = res.text().await.unwrap_or_default();
            return sort(status, after, &body);
        }
    }
}

/// What an answer means for the delivery.
fn sort(status: u16, after: Option<Duration>, body: &str) -> Sent {
    if (200..300).contains(&status) {
        let id = serde_json::from_str::<Answer>(body).ok().and_then(|a| a.id);
        return Sent::Posted { id };
    }
    let e: ErrorAnswer = serde_json::from_str(body).unwrap_or_default();
    let error = match (e.error.code.as_str(), e.error.message.as_str()) {
        ("", _) => format!(
            "the Bot Connector service answered {status}: {}",
            body.chars().take(200).collect::<String>()
        ),
        (code, message) => format!("the Bot Connector service answered {status} {code}: {message}"),
    };
    match status {
        403 if e.error.code == "BotNotInConversationRoster" => Sent::Removed { error },
        // A fresh token refused too: the bot's registration (app id, tenant) is off, which
        // an operator can fix; the card waits for it.
        401 => Sent::Retry {
            after,
            error: format!("{error} (the bot's token was refused twice; check CONNECTOR_BOT_APP_ID and CONNECTOR_BOT_TENANT)"),
        },
        429 | 412 | 500..=599 => Sent::Retry { after, error },
        _ => Sent::Failed { error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activities_url_keeps_the_conversation_id_one_segment() {
        assert_eq!(
            activities_url(
                "https://smba.trafficmanager.net/amer/",
                "19:abc@thread.tacv2;messageid=17"
            )
            .unwrap(),
            "https://smba.trafficmanager.net/amer/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D17/activities"
        );
        assert_eq!(
            activities_url("https://smba.infra.gcc.teams.microsoft.com/teams", "a/b c").unwrap(),
            "https://smba.infra.gcc.teams.microsoft.com/teams/v3/conversations/a%2Fb%20c/activities"
        );
    }

    #[test]
    fn each_answer_is_sorted_into_what_a_delivery_does_next() {
        assert_eq!(
            sort(201, None, r#"{"id":"1:abc"}"#),
            Sent::Posted {
                id: Some("1:abc".into())
            }
        );
        let roster = r#"{"error":{"code":"BotNotInConversationRoster","message":"The bot is not part of the conversation roster."}}"#;
        assert!(
            matches!(sort(403, None, roster), Sent::Removed { error } if error.contains("BotNotInConversationRoster"))
        );
        let blocked = r#"{"error":{"code":"Forbidden","message":"MessageWritesBlocked"}}"#;
        assert!(matches!(sort(403, None, blocked), Sent::Failed { .. }));
        let wait = Some(Duration::from_secs(3));
        assert!(matches!(sort(429, wait, ""), Sent::Retry { after, .. } if after == wait));
        for status in [412, 502, 504, 500] {
            assert!(
                matches!(sort(status, None, ""), Sent::Retry { after: None, .. }),
                "{status}"
            );
        }
        assert!(
            matches!(sort(401, None, r#"{"message":"Authorization has been denied for this request."}"#),
                Sent::Retry { error, .. } if error.contains("refused twice"))
        );
        assert!(
            matches!(sort(404, None, "not here"), Sent::Failed { error } if error.contains("404: not here"))
        );
    }
}
