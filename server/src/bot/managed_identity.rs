//! The bot's token from a managed identity (an Azure Bot of type *UserAssignedMSI*, whose
//! Microsoft App ID is the identity's client id): no client secret; the platform the server
//! runs on hands out the identity's tokens. Two ways, as Azure's identity libraries take
//! them (the Bot Framework SDK's `ManagedIdentityAppCredentials` goes through them, for the
//! resource `https://api.botframework.com`):
//!
//! - **Azure Instance Metadata Service** (virtual machines, AKS, Container Instances):
//!   `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=…&client_id=…`
//!   with the header `Metadata: true`.
//! - **App Service / Functions / Container Apps**: the platform sets `IDENTITY_ENDPOINT` and
//!   `IDENTITY_HEADER`; `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…&client_id=…`
//!   with `X-IDENTITY-HEADER: $IDENTITY_HEADER`.
//!
//! Both answer `{"access_token", "expires_in"?, "expires_on", "token_type", …}` with the times
//! as strings of seconds (`expires_on` since the epoch). The token is kept until five
//! minutes before it ends and fetched anew one request at a time, as client-credentials
//! tokens are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::delivery::flow_token::REFRESH_MARGIN;

/// The Instance Metadata Service's token endpoint.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The API versions asked of each.
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// How long the endpoint may take (it is local to the host).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the managed identity's tokens come from.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagedIdentity {
    /// The user-assigned identity's client id (the bot's Microsoft App ID).
    pub client_id: String,
    /// The token endpoint: the Instance Metadata Service's, or `IDENTITY_ENDPOINT`.
    pub endpoint: String,
    /// `IDENTITY_HEADER` (App Service's shape); `None`: the Instance Metadata Service's.
    pub identity_header: Option<String>,
}

impl std::fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("client_id", &self.client_id)
            .field("endpoint", &self.endpoint)
            .field(
                "identity_header",
                &self.identity_header.as_ref().map(|_| "…"),
            )
            .finish()
    }
}

#[derive(Clone)]
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// The managed identity's tokens for one resource.
pub struct ManagedIdentityTokens {
    identity: ManagedIdentity,
    resource: String,
    client: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

/// A number of seconds, as the endpoints write it: a string, or a number.
fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Granted {
    access_token: String,
    #[serde(default)]
    expires_in: Value,
    #[serde(default)]
    expires_on: Value,
}

impl ManagedIdentityTokens {
    pub fn new(identity: ManagedIdentity, resource: &str) -> ManagedIdentityTokens {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // The endpoint is on the host (169.254.169.254, or App Service's localhost):
            // never through a proxy.
            .no_proxy()
            .build()
            .expect("the identity client builds");
        ManagedIdentityTokens {
            identity,
            resource: resource.trim_end_matches('/').to_string(),
            client,
            cached: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The token, from the cache while it has more than five minutes left.
    pub async fn token(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        if let Some(c) = cached.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: now + lifetime.saturating_sub(REFRESH_MARGIN),
        });
        Ok(token)
    }

    /// Drops `token` when it is still the cached one (the service refused it).
    pub async fn forget(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let id = &self.identity;
        let (api_version, header) = match &id.identity_header {
            Some(h) => (APP_SERVICE_API_VERSION, ("x-identity-header", h.as_str())),
            None => (IMDS_API_VERSION, ("metadata", "true")),
        };
        let said = |what: String| {
            format!(
                "cannot get the bot's token from its managed identity '{}' at {}: {what}",
                id.client_id, id.endpoint
            )
        };
        let res = self
            .client
            .get(&id.endpoint)
            .query(&[
                ("api-version", api_version),
                ("resource", self.resource.as_str()),
                ("client_id", id.client_id.as_str()),
            ])
            .header(header.0, header.1)
            .send()
            .await
            .map_err(|e| {
                said(if e.is_timeout() {
                    "no answer in time".into()
                } else {
                    "unreachable (is a managed identity assigned to this host?)".into()
                })
            })?;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            // Both answer errors as {"error", "error_description"} (App Service also as
            // {"statusCode", "message"}).
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let text = [&v["error"], &v["error_description"], &v["message"]]
                .iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(": ");
            let text = if text.is_empty() {
                body.chars().take(200).collect()
            } else {
                text.lines().next().unwrap_or_default().to_string()
            };
            return Err(said(format!("{status} {text}")));
        }
        let granted: Granted = serde_json::from_str(&body)
            .map_err(|e| said(format!("{status} with an unreadable answer: {e}")))?;
        let lifetime = match (seconds(&granted.expires_in), seconds(&granted.expires_on)) {
            (Some(n), _) => n,
            (None, Some(on)) => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
                on.saturating_sub(now)
            }
            (None, None) => return Err(said("the answer says no expiry".into())),
        };
        Ok((granted.access_token, Duration::from_secs(lifetime)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_read_as_strings_or_numbers() {
        assert_eq!(seconds(&Value::String("3599".into())), Some(3599));
        assert_eq!(seconds(&serde_json::json!(86399)), Some(86399));
        assert_eq!(seconds(&Value::Null), None);
        assert_eq!(seconds(&Value::String("soon".into())), None);
    }

    #[test]
    fn the_identity_header_is_not_shown() {
        let id = ManagedIdentity {
            client_id: "c".into(),
            endpoint: IMDS_ENDPOINT.into(),
            identity_header: Some("s3cret-header".into()),
        };
        assert!(!format!("{id:?}").contains("s3cret"));
    }
}
