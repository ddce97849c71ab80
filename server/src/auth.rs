//! Teams single sign-on: the page sends the token `authentication.getAuthToken()` gave it,
//! and the server checks its RS256 signature against a JWKS (fetched, cached, refreshed on
//! an unknown key id), its issuer, audience, expiry and not-before, and reads the tenant
//! (`tid`) and user (`oid`) the connection is bound to.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

/// Where tokens come from and whom they are for.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The `aud` the tokens must carry: the app's `webApplicationInfo.resource` or client id.
    pub audience: String,
    /// The `iss` expected, with `{tid}` standing for the token's tenant.
    pub issuer_pattern: String,
    pub jwks_url: String,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: String,
    pub user: String,
}

/// Why a token was refused; the text is shown to the person.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenError(pub String);

#[derive(Deserialize)]
struct Claims {
    iss: String,
    tid: String,
    oid: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    /// The channels the Bot Framework endorses the key for (`msteams`, …); other issuers
    /// publish none.
    endorsements: Option<Vec<String>>,
}

/// A key of a published set, with what its publisher endorses it for.
#[derive(Clone)]
pub struct PublishedKey {
    pub key: DecodingKey,
    /// `None` when the set says nothing (an Entra or OpenID Connect key set).
    pub endorsements: Option<Vec<String>>,
}

/// Refetching the key set for an unknown key id happens at most this often.
#[cfg(not(test))]
const REFRESH_GAP: Duration = Duration::from_secs(30);
/// Unit tests see a rotation without waiting half a minute.
#[cfg(test)]
const REFRESH_GAP: Duration = Duration::from_millis(200);

/// A published key set (JWKS) by key id: fetched when a token names a key it does not hold,
/// at most every [`REFRESH_GAP`], so a rotated key is picked up and junk ids cost nothing.
/// RSA keys, and P-256 EC keys (ES256).
pub struct KeySet {
    url: String,
    client: reqwest::Client,
    keys: RwLock<(HashMap<String, PublishedKey>, Option<Instant>)>,
}

impl KeySet {
    pub fn new(url: String, client: reqwest::Client) -> KeySet {
        KeySet {
            url,
            client,
            keys: RwLock::new((HashMap::new(), None)),
        }
    }

    /// The key `kid`, if the set holds it (fetched again if not, unless just fetched).
    pub async fn get(&self, kid: &str) -> Option<DecodingKey> {
        self.published(kid).await.map(|k| k.key)
    }

    /// The same, with its endorsements.
    pub async fn published(&self, kid: &str) -> Option<PublishedKey> {
        if let Some(k) = self.keys.read().await.0.get(kid) {
            return Some(k.clone());
        }
        let mut guard = self.keys.write().await;
        let recently = guard.1.is_some_and(|t| t.elapsed() < REFRESH_GAP);
        if !recently {
            guard.1 = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => guard.0 = keys,
                Err(e) => {
                    tracing::warn!(error = %e, url = %self.url, "cannot fetch the sign-in key set")
                }
            }
        }
        guard.0.get(kid).cloned()
    }

    async fn fetch(&self) -> Result<HashMap<String, PublishedKey>, String> {
        let jwks: Jwks = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut out = HashMap::new();
        for k in jwks.keys {
            let Some(kid) = k.kid else { continue };
            let key = match (k.kty.as_str(), k.n, k.e, k.crv.as_deref(), k.x, k.y) {
                ("RSA", Some(n), Some(e), ..) => DecodingKey::from_rsa_components(&n, &e).ok(),
                ("EC", _, _, Some("P-256"), Some(x), Some(y)) => {
                    DecodingKey::from_ec_components(&x, &y).ok()
                }
                _ => None,
            };
            if let Some(key) = key {
                let endorsements = k.endorsements;
                out.insert(kid, PublishedKey { key, endorsements });
            }
        }
        Ok(out)
    }
}

pub struct Verifier {
    settings: SsoSettings,
    keys: KeySet,
}

impl Verifier {
    pub fn new(settings: SsoSettings) -> Verifier {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Verifier {
            keys: KeySet::new(settings.jwks_url.clone(), client),
            settings,
        }
    }

    /// The identity of the `Authorization: Bearer` token in `headers`.
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<Identity, TokenError> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                TokenError("a teams sign-in token is required (Authorization: Bearer)".into())
            })?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let header = decode_header(token)
            .map_err(|_| TokenError("the sign-in token is malformed".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError(format!(
                "sign-in tokens must be signed with RS256, not {:?}",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError("the sign-in token names no signing key".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            TokenError(
                match e.kind() {
                    ExpiredSignature => "the sign-in token has expired",
                    ImmatureSignature => "the sign-in token is not valid yet",
                    InvalidAudience => "the sign-in token is for another application (audience)",
                    InvalidSignature => "the sign-in token's signature is invalid",
                    MissingRequiredClaim(_) => "the sign-in token lacks a required claim",
                    _ => "the sign-in token is invalid",
                }
                .into(),
            )
        })?;
        let claims = data.claims;
        let expected = self.settings.issuer_pattern.replace("{tid}", &claims.tid);
        if claims.iss != expected || claims.tid.is_empty() {
            return Err(TokenError(format!(
                "the sign-in token's issuer '{}' is not accepted",
                claims.iss
            )));
        }
        if claims.oid.is_empty() {
            return Err(TokenError("the sign-in token names no user".into()));
        }
        Ok(Identity {
            tenant: claims.tid,
            user: claims.oid,
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        self.keys
            .get(kid)
            .await
            .ok_or_else(|| TokenError("the sign-in token's signing key is unknown".into()))
    }
}
