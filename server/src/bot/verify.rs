//! The Bot Framework's token on every activity, checked as its authentication article says
//! for "Connector to bot": a Bearer JWT signed RS256 by a key of the JWKS its OpenID metadata
//! names (the metadata fetched on first use, retried while it fails and read again once a
//! day; the key set cached and fetched again on an unknown key id, as single sign-on's is),
//! issued by
//! `https://api.botframework.com`, for this bot's app id, within `exp`/`nbf` give or take
//! 5 minutes, its `serviceurl` claim equal to the activity's `serviceUrl`, and its key
//! endorsed for the activity's channel, which must be Teams'.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How long the metadata is kept before it is read again (the Bot Framework SDK's day).
#[cfg(not(test))]
const METADATA_AGE: Duration = Duration::from_secs(24 * 3600);
#[cfg(test)]
const METADATA_AGE: Duration = Duration::from_millis(1500);

/// The key set the metadata named, its address, and when the metadata was read.
struct Discovered {
    keys: Arc<KeySet>,
    jwks_uri: String,
    read_at: Instant,
}

pub struct BotVerifier {
    app_id: String,
    metadata_url: String,
    http: reqwest::Client,
    discovered: RwLock<Option<Discovered>>,
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
            discovered: RwLock::new(None),
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

    /// The key set the metadata names: the metadata read on first use, again on each use
    /// while it cannot be read, and again once it is [`METADATA_AGE`] old; a key set whose
    /// address did not change is kept with its keys. When reading it again fails, the key
    /// set known goes on serving until the next try.
    async fn key_set(&self) -> Result<Arc<KeySet>, VerifyError> {
        let fresh = |d: &Option<Discovered>| {
            d.as_ref()
                .filter(|d| d.read_at.elapsed() < METADATA_AGE)
                .map(|d| d.keys.clone())
        };
        if let Some(k) = fresh(&*self.discovered.read().await) {
            return Ok(k);
        }
        let mut kept = self.discovered.write().await;
        if let Some(k) = fresh(&kept) {
            return Ok(k);
        }
        match self.jwks_uri().await {
            Ok(jwks_uri) => {
                let keys = match kept.take() {
                    Some(d) if d.jwks_uri == jwks_uri => d.keys,
                    _ => Arc::new(KeySet::new(jwks_uri.clone(), self.http.clone())),
                };
                *kept = Some(Discovered {
                    keys: keys.clone(),
                    jwks_uri,
                    read_at: Instant::now(),
                });
                Ok(keys)
            }
            Err(e) => match kept.as_mut() {
                Some(d) => {
                    d.read_at = Instant::now();
                    Ok(d.keys.clone())
                }
                None => Err(e),
            },
        }
    }

    /// The `jwks_uri` of the OpenID metadata.
    async fn jwks_uri(&self) -> Result<String, VerifyError> {
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
        Ok(metadata.jwks_uri)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::routing::get;
    use axum::{Json, Router};
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::{json, Value};

    use super::*;

    const KEY: &str = include_str!("../emulator/dev-bot-key.pem");
    const MODULUS: &str = include_str!("../emulator/dev-bot-n.txt");
    const APP: &str = "00000000-0000-4000-8000-00000000b07e";
    const SERVICE: &str = "https://smba.trafficmanager.net/amer/";

    /// A Bot Framework stand-in on a free port: its metadata, its key set (which a test
    /// changes) and how often each was fetched.
    struct Publisher {
        url: String,
        keys: Arc<Mutex<Vec<&'static str>>>,
        /// Whether the metadata is served (else 503).
        up: Arc<AtomicBool>,
        metadata_fetches: Arc<AtomicUsize>,
        key_fetches: Arc<AtomicUsize>,
    }

    async fn publisher() -> Publisher {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(vec!["k1"]));
        let (m, k) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jwks_uri = format!("{base}/keys");
        let up = Arc::new(AtomicBool::new(true));
        let app = Router::new()
            .route(
                "/metadata",
                get({
                    let (m, up) = (m.clone(), up.clone());
                    move || async move {
                        m.fetch_add(1, Ordering::SeqCst);
                        if !up.load(Ordering::SeqCst) {
                            return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                        }
                        Ok(Json(
                            json!({ "issuer": BOT_FRAMEWORK_ISSUER, "jwks_uri": jwks_uri }),
                        ))
                    }
                }),
            )
            .route(
                "/keys",
                get({
                    let (k, keys) = (k.clone(), keys.clone());
                    move || async move {
                        k.fetch_add(1, Ordering::SeqCst);
                        let published: Vec<Value> = keys
                            .lock()
                            .unwrap()
                            .iter()
                            .map(|kid| {
                                json!({ "kty": "RSA", "kid": kid, "n": MODULUS.trim(), "e": "AQAB",
                                               "endorsements": ["msteams"] })
                            })
                            .collect();
                        Json(json!({ "keys": published }))
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Publisher {
            url: format!("{base}/metadata"),
            keys,
            up,
            metadata_fetches: m,
            key_fetches: k,
        }
    }

    fn headers(kid: &str) -> HeaderMap {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({ "serviceurl": SERVICE, "nbf": now - 5, "exp": now + 3600,
                             "iss": BOT_FRAMEWORK_ISSUER, "aud": APP });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let token = encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn keys_are_fetched_once_kept_and_fetched_again_for_an_unknown_key_id() {
        let p = publisher().await;
        let v = BotVerifier::new(APP, &p.url);
        let fetches = || {
            (
                p.metadata_fetches.load(Ordering::SeqCst),
                p.key_fetches.load(Ordering::SeqCst),
            )
        };
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        assert_eq!(fetches(), (1, 1), "metadata and keys kept");
        // The Bot Framework rotates its key: a token naming the new id fetches the set again.
        *p.keys.lock().unwrap() = vec!["k2"];
        tokio::time::sleep(REFRESH_GAP_FOR_TESTS).await;
        assert_eq!(v.verify(&headers("k2"), SERVICE, "msteams").await, Ok(()));
        assert_eq!(fetches(), (1, 2));
        // An id nobody published: refused, and junk ids right after cost no fetch.
        tokio::time::sleep(REFRESH_GAP_FOR_TESTS).await;
        for _ in 0..3 {
            let e = v.verify(&headers("junk"), SERVICE, "msteams").await;
            assert!(
                matches!(&e, Err(VerifyError::Refused(m)) if m.contains("'junk' is not in the published key set")),
                "{e:?}"
            );
        }
        assert_eq!(fetches(), (1, 3));
        // The old key is gone from the set.
        let e = v.verify(&headers("k1"), SERVICE, "msteams").await;
        assert!(matches!(e, Err(VerifyError::Refused(_))), "{e:?}");
    }

    #[tokio::test]
    async fn metadata_that_cannot_be_fetched_is_unavailable_not_refused_and_is_tried_again() {
        let p = publisher().await;
        p.up.store(false, Ordering::SeqCst);
        let v = BotVerifier::new(APP, &p.url);
        for _ in 0..2 {
            let e = v.verify(&headers("k1"), SERVICE, "msteams").await;
            assert!(
                matches!(&e, Err(VerifyError::Unavailable(m)) if m.contains("cannot be fetched")),
                "{e:?}"
            );
        }
        assert_eq!(
            p.metadata_fetches.load(Ordering::SeqCst),
            2,
            "each use tries"
        );
        // Once it answers, the same verifier takes tokens.
        p.up.store(true, Ordering::SeqCst);
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        // A token for another channel than Teams is refused even with a Teams-endorsed key.
        let e = v.verify(&headers("k1"), SERVICE, "webchat").await;
        assert!(
            matches!(&e, Err(VerifyError::Refused(m)) if m.contains("only Teams'")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn the_metadata_is_read_again_once_old_keeping_the_keys_and_surviving_an_outage() {
        let p = publisher().await;
        let v = BotVerifier::new(APP, &p.url);
        let fetches = || {
            (
                p.metadata_fetches.load(Ordering::SeqCst),
                p.key_fetches.load(Ordering::SeqCst),
            )
        };
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        tokio::time::sleep(METADATA_AGE + Duration::from_millis(100)).await;
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        assert_eq!(
            fetches(),
            (2, 1),
            "read again; the same key set, its keys kept"
        );
        // Old again while the metadata is down: the keys known go on serving.
        p.up.store(false, Ordering::SeqCst);
        tokio::time::sleep(METADATA_AGE + Duration::from_millis(100)).await;
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        assert_eq!(v.verify(&headers("k1"), SERVICE, "msteams").await, Ok(()));
        assert_eq!(fetches(), (3, 1), "one try, then not again until it is old");
    }

    /// A little more than the key set's refresh gap under test.
    const REFRESH_GAP_FOR_TESTS: std::time::Duration = std::time::Duration::from_millis(250);
}
