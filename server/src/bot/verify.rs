//! The Bot Framework's token on every activity, checked as its authentication article says
//! for "Connector to bot": a Bearer JWT signed RS256 by a key of the JWKS its OpenID metadata
//! names (the metadata fetched once, retried while it fails; the key set cached and fetched
//! again on an unknown key id, as single sign-on's is), issued by
//! `https://api.botframework.com`, for this bot's app id, within `exp`/`nbf` give or take
//! 5 minutes, its `serviceurl` claim equal to the activity's `serviceUrl`, and its key
//! endorsed for the activity's channel, which must be Teams'.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use super::{BOT_FRAMEWORK_ISSUER, SKEW_SECS, TEAMS_CHANNEL};
use crate::auth::KeySet;

/// Why an activity was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// 401: the token is missing or fails a check; the text says which.
    Refused(String),
    /// 503: the Bot Framework's keys cannot be fetched, so nothing can be checked.
    Unavailable(String),
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    /// The Bot Framework writes it in lower case; the article calls it `serviceUrl`.
    #[serde(alias = "serviceUrl")]
    serviceurl: Option<String>,
}

pub struct BotVerifier {
    app_id: String,
    metadata_url: String,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<KeySet>>>,
}

fn refused(why: impl Into<String>) -> VerifyError {
    VerifyError::Refused(why.into())
}

impl BotVerifier {
    pub fn new(app_id: &str, metadata_url: &str) -> BotVerifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        BotVerifier {
            app_id: app_id.to_string(),
            metadata_url: metadata_url.to_string(),
            http,
            keys: RwLock::new(None),
        }
    }

    /// Checks the `Authorization` header of an activity whose `serviceUrl` and `channelId`
    /// are `service_url` and `channel_id`.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        service_url: &str,
        channel_id: &str,
    ) -> Result<(), VerifyError> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refused("a Bot Framework token is required (Authorization: Bearer)"))?;
        let header =
            decode_header(token).map_err(|_| refused("the Bot Framework token is malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(refused(format!(
                "Bot Framework tokens must be signed with RS256, not {:?}",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| refused("the Bot Framework token names no signing key"))?;
        let keys = self.key_set().await?;
        let key = keys.published(&kid).await.ok_or_else(|| {
            refused(format!(
                "the Bot Framework token's signing key '{kid}' is not in the published key set"
            ))
        })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.app_id]);
        validation.set_issuer(&[BOT_FRAMEWORK_ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = SKEW_SECS;
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                refused(match e.kind() {
                    ExpiredSignature => "the Bot Framework token has expired",
                    ImmatureSignature => "the Bot Framework token is not valid yet",
                    InvalidAudience => "the Bot Framework token is for another bot (audience)",
                    InvalidIssuer => {
                        "the Bot Framework token's issuer is not https://api.botframework.com"
                    }
                    InvalidSignature => "the Bot Framework token's signature is invalid",
                    MissingRequiredClaim(_) => "the Bot Framework token lacks a required claim",
                    _ => "the Bot Framework token is invalid",
                })
            })?
            .claims;
        match claims.serviceurl.as_deref() {
            Some(claimed) if claimed == service_url => {}
            Some(claimed) => {
                return Err(refused(format!(
                    "the Bot Framework token is for service url '{claimed}', the activity names '{service_url}'"
                )))
            }
            None => return Err(refused("the Bot Framework token has no serviceurl claim")),
        }
        if channel_id != TEAMS_CHANNEL {
            return Err(refused(format!(
                "the activity comes from channel '{channel_id}'; this bot takes only Teams' ({TEAMS_CHANNEL})"
            )));
        }
        let endorsed = key
            .endorsements
            .as_ref()
            .is_some_and(|e| e.iter().any(|c| c == channel_id));
        if !endorsed {
            return Err(refused(format!(
                "the Bot Framework token's signing key '{kid}' is not endorsed for {channel_id}"
            )));
        }
        Ok(())
    }

    /// The key set the metadata names: fetched the first time, and again on each use while
    /// it cannot be fetched.
    async fn key_set(&self) -> Result<Arc<KeySet>, VerifyError> {
        if let Some(k) = self.keys.read().await.as_ref() {
            return Ok(k.clone());
        }
        let mut kept = self.keys.write().await;
        if let Some(k) = kept.as_ref() {
            return Ok(k.clone());
        }
        let unavailable = |why: String| {
            tracing::warn!(url = %self.metadata_url, error = %why, "cannot fetch the Bot Framework's OpenID metadata");
            VerifyError::Unavailable(format!(
                "the Bot Framework's signing keys cannot be fetched ({why}); try again later"
            ))
        };
        let metadata: Metadata = self
            .http
            .get(&self.metadata_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(format!("its OpenID metadata is malformed: {e}")))?;
        let keys = Arc::new(KeySet::new(metadata.jwks_uri, self.http.clone()));
        *kept = Some(keys.clone());
        Ok(keys)
    }
}
