//! The service's OpenID Connect provider, as a confidential client: its discovery document
//! (fetched at start, fetched again on use while it failed), the authorization code
//! exchange (client_secret_basic, PKCE verifier, redirect URI) and the ID token's checks
//! (signature from its JWKS, issuer, audience, nonce, expiry).

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::auth::KeySet;

/// Why linking failed; each is one error code of the API.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The token endpoint refused the code (used already, expired, or not for this client).
    CodeRefused(String),
    /// The ID token failed a check; the text says which.
    TokenInvalid(String),
    /// The ID token lacks this claim.
    ClaimMissing(String),
    /// The provider cannot be reached or answers nonsense.
    Unavailable(String),
}

/// What the discovery document says, and the key set it names.
pub struct Discovered {
    pub authorization_endpoint: String,
    token_endpoint: String,
    keys: KeySet,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Seconds of clock difference allowed on `exp` (and `iat`, `nbf`).
const SKEW_SECS: u64 = 60;

pub struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    discovered: RwLock<Option<Arc<Discovered>>>,
}

impl Provider {
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> Provider {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Provider {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            http,
            discovered: RwLock::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The discovery document, fetched once it is first asked for and kept from then on;
    /// while it cannot be fetched, each use tries again.
    pub async fn discovered(&self) -> Result<Arc<Discovered>, LinkError> {
        if let Some(d) = self.discovered.read().await.as_ref() {
            return Ok(d.clone());
        }
        let mut kept = self.discovered.write().await;
        if let Some(d) = kept.as_ref() {
            return Ok(d.clone());
        }
        let d = Arc::new(self.fetch_discovery().await?);
        *kept = Some(d.clone());
        Ok(d)
    }

    async fn fetch_discovery(&self) -> Result<Discovered, LinkError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let unavailable = |why: String| {
            LinkError::Unavailable(format!(
                "the sign-in service '{}' cannot be reached ({why}): try again later",
                self.issuer
            ))
        };
        let doc: Document = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(format!("its discovery document is malformed: {e}")))?;
        if doc.issuer != self.issuer {
            return Err(unavailable(format!(
                "its discovery document names the issuer '{}'",
                doc.issuer
            )));
        }
        Ok(Discovered {
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            keys: KeySet::new(doc.jwks_uri, self.http.clone()),
        })
    }

    /// Exchanges an authorization code for its ID token.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, LinkError> {
        let d = self.discovered().await?;
        // RFC 6749 2.3.1: the id and secret are form-encoded before Basic encodes them.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let answer = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(enc(&self.client_id), Some(enc(&self.client_secret)))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(|e| {
                LinkError::Unavailable(format!(
                    "the sign-in service '{}' cannot be reached ({}): try again later",
                    self.issuer,
                    e.without_url()
                ))
            })?;
        let status = answer.status();
        let body = answer.bytes().await.unwrap_or_default();
        if status.is_success() {
            let token: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
                LinkError::Unavailable("the sign-in service's token answer is malformed".into())
            })?;
            return token.id_token.ok_or_else(|| {
                LinkError::TokenInvalid(
                    "the sign-in service answered without an ID token (is 'openid' among the scopes?)".into(),
                )
            });
        }
        let refusal: Option<TokenRefusal> = serde_json::from_slice(&body).ok();
        match refusal {
            Some(r) if r.error == "invalid_client" || r.error == "unauthorized_client" => {
                tracing::error!(error = %r.error, issuer = %self.issuer, "the sign-in service refused this server's client id or secret");
                Err(LinkError::Unavailable(format!(
                    "the sign-in service refused this server's client credentials ('{}'): the operator must check CONNECTOR_ACCOUNT_CLIENT_ID and CONNECTOR_ACCOUNT_CLIENT_SECRET",
                    r.error
                )))
            }
            Some(r) => Err(LinkError::CodeRefused(format!(
                "this sign-in was already used or has expired: sign in again (the sign-in service said '{}'{})",
                r.error,
                r.error_description
                    .map(|d| format!(": {}", d.chars().take(200).collect::<String>()))
                    .unwrap_or_default()
            ))),
            None => Err(LinkError::Unavailable(format!(
                "the sign-in service answered {status} to the code exchange"
            ))),
        }
    }

    /// The claims of `id_token` once every check passed: its signature by a key of the
    /// issuer's set (RS256 or ES256), `iss`, `aud` holding the client id, `exp` (with 60 s
    /// of skew) and `nonce`.
    pub async fn validate(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, LinkError> {
        let invalid = |why: &str| LinkError::TokenInvalid(why.to_string());
        let header = decode_header(id_token).map_err(|_| invalid("the ID token is malformed"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(LinkError::TokenInvalid(format!(
                "the ID token is signed with {:?}; only RS256 and ES256 are taken",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the ID token names no signing key (kid)"))?;
        let d = self.discovered().await?;
        let key = d.keys.get(&kid).await.ok_or_else(|| {
            LinkError::TokenInvalid(format!(
                "the ID token's signing key '{}' is not in the sign-in service's key set (signature)",
                kid.chars().take(60).collect::<String>()
            ))
        })?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = SKEW_SECS;
        let claims = decode::<Map<String, Value>>(id_token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                invalid(match e.kind() {
                    InvalidSignature => "the ID token's signature is invalid",
                    InvalidIssuer => "the ID token is from another issuer than the sign-in service",
                    InvalidAudience => "the sign-in was for another application (audience)",
                    ExpiredSignature => "the ID token has expired: sign in again",
                    ImmatureSignature => "the ID token is not valid yet",
                    MissingRequiredClaim(_) => "the ID token lacks exp, iss or aud",
                    _ => "the ID token is invalid",
                })
            })?
            .claims;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(invalid(
                "the ID token's nonce is not this sign-in's: sign in again",
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const KEY: &str = include_str!("../emulator/dev-idp-key.pem");
    const OTHER_KEY: &str = include_str!("../emulator/dev-idp-impostor-key.pem");
    const MODULUS: &str = include_str!("../emulator/dev-idp-n.txt");

    /// A discovery document and key set on loopback; the issuer is its origin.
    async fn provider() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let doc = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
        });
        let jwks =
            json!({ "keys": [{ "kty": "RSA", "kid": "k1", "n": MODULUS.trim(), "e": "AQAB" }] });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(doc) }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || async move { axum::Json(jwks) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider::new(&issuer, "teams-app", "secret")
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn token(p: &Provider, change: impl FnOnce(&mut Map<String, Value>), pem: &str) -> String {
        let mut claims = json!({
            "iss": p.issuer, "aud": "teams-app", "sub": "alice", "org": "acme",
            "name": "Alice Example", "nonce": "n-1", "iat": now(), "exp": now() + 300,
        })
        .as_object()
        .unwrap()
        .clone();
        change(&mut claims);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn message(e: LinkError) -> String {
        match e {
            LinkError::TokenInvalid(m) => m,
            other => panic!("not token_invalid: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_good_id_token_gives_its_claims() {
        let p = provider().await;
        let claims = p.validate(&token(&p, |_| {}, KEY), "n-1").await.unwrap();
        assert_eq!(claims["org"], "acme");
        let d = p.discovered().await.unwrap();
        assert_eq!(d.authorization_endpoint, format!("{}/auth", p.issuer));
    }

    #[tokio::test]
    async fn each_check_of_the_id_token_names_what_failed() {
        let p = provider().await;
        let cases: Vec<(String, &str)> = vec![
            (token(&p, |_| {}, OTHER_KEY), "signature"),
            (
                token(
                    &p,
                    |c| {
                        c.insert("iss".into(), json!("https://evil.example"));
                    },
                    KEY,
                ),
                "another issuer",
            ),
            (
                token(
                    &p,
                    |c| {
                        c.insert("aud".into(), json!("other-app"));
                    },
                    KEY,
                ),
                "another application",
            ),
            (
                token(
                    &p,
                    |c| {
                        c.insert("nonce".into(), json!("n-2"));
                    },
                    KEY,
                ),
                "nonce",
            ),
            (
                token(
                    &p,
                    |c| {
                        c.remove("nonce");
                    },
                    KEY,
                ),
                "nonce",
            ),
            (
                token(
                    &p,
                    |c| {
                        c.insert("exp".into(), json!(now() - 120));
                    },
                    KEY,
                ),
                "expired",
            ),
        ];
        for (t, expected) in cases {
            let m = message(p.validate(&t, "n-1").await.unwrap_err());
            assert!(m.contains(expected), "{expected}: {m}");
        }
        // Within the 60 s of skew an expiry just past is still taken.
        let t = token(
            &p,
            |c| {
                c.insert("exp".into(), json!(now() - 30));
            },
            KEY,
        );
        assert!(p.validate(&t, "n-1").await.is_ok());
        // An audience list holding the client id is taken.
        let t = token(
            &p,
            |c| {
                c.insert("aud".into(), json!(["x", "teams-app"]));
            },
            KEY,
        );
        assert!(p.validate(&t, "n-1").await.is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_unavailable_and_tried_again_on_use() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let p = Provider::new(&issuer, "teams-app", "secret");
        let Err(LinkError::Unavailable(m)) = p.discovered().await else {
            panic!("unavailable")
        };
        assert!(m.contains(&issuer), "{m}");
        assert!(
            p.discovered.read().await.is_none(),
            "nothing kept: the next use tries again"
        );
    }
}
