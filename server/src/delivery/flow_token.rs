//! Tokens for flows that take only signed-in callers ("Who can trigger the flow: Any user in
//! my tenant", the default of new flows; their URLs carry no `sig`). Power Automate wants a
//! bearer token of the flow's own tenant for the flow service's audience, so the server asks
//! Entra for one per tenant with client credentials (the Entra app it signs people in with,
//! whose service principal the tenant's admin consented to), keeps it until five minutes
//! before it ends, and fetches it anew one request at a time per tenant.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::domain::WebhookKind;

/// The flow service's audience, exactly as flows compare it (trailing slash included).
pub const FLOW_AUDIENCE: &str = "https://service.flow.microsoft.com/";
/// How long before its end a token is fetched anew, so one never expires on its way.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// How long the identity provider may take to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What asks for flow tokens: the Entra app and where its tokens come from.
#[derive(Clone)]
pub struct FlowTokenSettings {
    pub client_id: String,
    pub client_secret: String,
    /// `https://login.microsoftonline.com`, without a trailing slash.
    pub authority: String,
    /// The flow service's audience, exactly as flows compare it: `https://service.flow.microsoft.com/`.
    pub audience: String,
}

impl std::fmt::Debug for FlowTokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTokenSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"…")
            .field("authority", &self.authority)
            .field("audience", &self.audience)
            .finish()
    }
}

impl FlowTokenSettings {
    /// The client-credentials scope: the audience and `/.default`. The audience ends with a
    /// slash, and it must: the token's `aud` is the scope without `/.default`, and a flow
    /// compares `aud` exactly, so `https://service.flow.microsoft.com//.default` it is.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.audience)
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!(
            "{}/{tenant}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/')
        )
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowTokenError {
    /// The flow takes only signed-in callers and this server has no flow tokens configured.
    #[error("this workflow only accepts signed-in callers and this server has no flow token configured (--flow-client-id); set 'Who can trigger the flow' to 'Anyone' in its trigger")]
    NotConfigured,
    /// The connection was stored without single sign-on, so its tenant is unknown.
    #[error("this workflow only accepts signed-in callers of its tenant and the connection's tenant is unknown (saved without single sign-on); save it again signed in")]
    NoTenant,
    /// The identity provider refused or could not be reached: what it said.
    #[error("cannot get a token for tenant '{tenant}' from the identity provider: {said}")]
    Refused { tenant: String, said: String },
}

impl FlowTokenError {
    /// Whether trying again later may help (the identity provider, or a consent not given yet).
    pub fn transient(&self) -> bool {
        matches!(self, FlowTokenError::Refused { .. })
    }
}

/// A token and when it is to be fetched anew.
#[derive(Clone)]
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Tokens per tenant.
pub struct FlowTokens {
    settings: FlowTokenSettings,
    client: reqwest::Client,
    /// One slot per tenant; its lock is held while fetching, so one fetch at a time per tenant.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for FlowTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTokens")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Granted {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct Refusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl FlowTokens {
    pub fn new(settings: FlowTokenSettings) -> FlowTokens {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the token client builds");
        FlowTokens {
            settings,
            client,
            slots: Mutex::default(),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &FlowTokenSettings {
        &self.settings
    }

    /// Tokens asked of the identity provider so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token of `tenant`, from the cache while it has more than five minutes left.
    pub async fn token(&self, tenant: &str) -> Result<String, FlowTokenError> {
        self.token_at(tenant, Instant::now()).await
    }

    async fn token_at(&self, tenant: &str, now: Instant) -> Result<String, FlowTokenError> {
        let key = tenant.to_ascii_lowercase();
        let slot = self
            .slots
            .lock()
            .expect("flow token slots")
            .entry(key)
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch(tenant).await?;
        let fresh = Cached {
            token: token.clone(),
            refresh_at: now + lifetime.saturating_sub(REFRESH_MARGIN),
        };
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops `token` of `tenant` from the cache when it is still the cached one (the service
    /// it was sent to refused it: revoked, or expired early by a clock that is off), so the
    /// next ask fetches a new one; a token fetched meanwhile by another ask stays.
    pub async fn forget(&self, tenant: &str, token: &str) {
        let slot = self
            .slots
            .lock()
            .expect("flow token slots")
            .get(&tenant.to_ascii_lowercase())
            .cloned();
        if let Some(slot) = slot {
            let mut cached = slot.lock().await;
            if cached.as_ref().is_some_and(|c| c.token == token) {
                *cached = None;
            }
        }
    }

    /// Asks the identity provider; the error says what it answered, never the secret.
    async fn fetch(&self, tenant: &str) -> Result<(String, Duration), FlowTokenError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let refused = |said: String| FlowTokenError::Refused {
            tenant: tenant.to_string(),
            said,
        };
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
        {
            return Err(refused(format!("'{tenant}' is not a tenant id")));
        }
        let s = &self.settings;
        let res = self
            .client
            .post(s.token_url(tenant))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", s.client_id.as_str()),
                ("client_secret", s.client_secret.as_str()),
                ("scope", s.scope().as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                refused(if e.is_timeout() {
                    "no answer in time".into()
                } else {
                    "unreachable".into()
                })
            })?;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let r: Refusal = serde_json::from_str(&body).unwrap_or_default();
            let said = match (r.error.as_str(), r.error_description.lines().next()) {
                ("", _) => format!("{status}: {}", body.chars().take(200).collect::<String>()),
                (e, Some(d)) if !d.is_empty() => format!("{status} {e}: {d}"),
                (e, _) => format!("{status} {e}"),
            };
            return Err(refused(said));
        }
        let granted: Granted = serde_json::from_str(&body)
            .map_err(|e| refused(format!("{status} with an unreadable answer: {e}")))?;
        Ok((
            granted.access_token,
            Duration::from_secs(granted.expires_in),
        ))
    }
}

/// The bearer token a post to a webhook of `kind` carries: one of the connection's tenant for
/// a flow that takes only signed-in callers, none for every other webhook. Microsoft: "Do not
/// pass an authentication token header if you selected the 'Anyone' authentication option,
/// or POST requests to the trigger will fail."
pub async fn bearer_for(
    kind: WebhookKind,
    tenant: Option<&str>,
    tokens: Option<&FlowTokens>,
) -> Result<Option<String>, FlowTokenError> {
    if kind != (WebhookKind::Workflows { signed: false }) {
        return Ok(None);
    }
    let tokens = tokens.ok_or(FlowTokenError::NotConfigured)?;
    let tenant = tenant.ok_or(FlowTokenError::NoTenant)?;
    tokens.token(tenant).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::extract::State;
    use axum::routing::post;
    use axum::{Form, Json, Router};
    use std::sync::atomic::AtomicU64;

    fn settings(authority: &str) -> FlowTokenSettings {
        FlowTokenSettings {
            client_id: "client-1".into(),
            client_secret: "s3cret-value".into(),
            authority: authority.into(),
            audience: "https://service.flow.microsoft.com/".into(),
        }
    }

    #[test]
    fn the_scope_has_the_double_slash_flows_need() {
        let s = settings("https://login.microsoftonline.com/");
        assert_eq!(s.scope(), "https://service.flow.microsoft.com//.default");
        assert_eq!(
            s.token_url("t-1"),
            "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
        );
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    /// A token endpoint on loopback that counts requests, answers `lifetime` seconds, slowly
    /// (so concurrent asks overlap), and refuses a wrong secret as Entra does.
    async fn idp(lifetime: u64) -> (String, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        async fn token(
            State((count, lifetime)): State<(Arc<AtomicU64>, u64)>,
            Form(f): Form<HashMap<String, String>>,
        ) -> Result<Json<serde_json::Value>, (axum::http::StatusCode, Json<serde_json::Value>)>
        {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if f.get("client_secret").map(String::as_str) != Some("s3cret-value") {
                return Err((
                    axum::http::StatusCode::UNAUTHORIZED,
                    Json(serde_json::json!({ "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x" })),
                ));
            }
            assert_eq!(f["scope"], "https://service.flow.microsoft.com//.default");
            assert_eq!(f["grant_type"], "client_credentials");
            Ok(Json(
                serde_json::json!({ "access_token": format!("token-{n}"), "expires_in": lifetime, "token_type": "Bearer" }),
            ))
        }
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state((count.clone(), lifetime));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, count)
    }

    #[tokio::test]
    async fn a_token_is_fetched_once_per_tenant_while_it_lasts_even_when_asked_at_once() {
        let (url, count) = idp(3599).await;
        let tokens = Arc::new(FlowTokens::new(settings(&url)));
        let asks: Vec<_> = (0..8)
            .map(|_| {
                let t = tokens.clone();
                tokio::spawn(async move { t.token("tenant-a").await })
            })
            .collect();
        for a in asks {
            assert_eq!(a.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "one fetch for eight asks");
        assert_eq!(tokens.token("TENANT-A").await.unwrap(), "token-1");
        assert_eq!(tokens.token("tenant-b").await.unwrap(), "token-2");
        assert_eq!(tokens.fetches(), 2);
    }

    #[tokio::test]
    async fn a_token_is_fetched_anew_five_minutes_before_it_ends() {
        let (url, count) = idp(3600).await;
        let tokens = FlowTokens::new(settings(&url));
        let start = Instant::now();
        assert_eq!(tokens.token_at("t", start).await.unwrap(), "token-1");
        let almost = start + Duration::from_secs(3600 - 301);
        assert_eq!(tokens.token_at("t", almost).await.unwrap(), "token-1");
        let late = start + Duration::from_secs(3600 - 299);
        assert_eq!(tokens.token_at("t", late).await.unwrap(), "token-2");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_forgotten_token_is_fetched_anew_and_another_forgotten_one_changes_nothing() {
        let (url, count) = idp(3600).await;
        let tokens = FlowTokens::new(settings(&url));
        assert_eq!(tokens.token("t").await.unwrap(), "token-1");
        tokens.forget("T", "token-1").await;
        assert_eq!(tokens.token("t").await.unwrap(), "token-2");
        // A refusal of the old token, arriving late, keeps the new one.
        tokens.forget("t", "token-1").await;
        tokens.forget("unknown-tenant", "token-2").await;
        assert_eq!(tokens.token("t").await.unwrap(), "token-2");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_says_what_the_identity_provider_answered_and_never_the_secret() {
        let (url, _) = idp(3600).await;
        let mut wrong = settings(&url);
        wrong.client_secret = "not-it".into();
        let err = FlowTokens::new(wrong).token("t").await.unwrap_err();
        let text = err.to_string();
        assert!(err.transient());
        assert!(
            text.contains("tenant 't'")
                && text
                    .contains("401 invalid_client: AADSTS7000215: Invalid client secret provided."),
            "{text}"
        );
        assert!(
            !text.contains("not-it") && !text.contains("Trace ID"),
            "{text}"
        );
        let unreachable = FlowTokens::new(settings("http://127.0.0.1:9"))
            .token("t")
            .await
            .unwrap_err();
        assert!(
            unreachable.to_string().contains("unreachable"),
            "{unreachable}"
        );
    }

    #[tokio::test]
    async fn only_flows_without_sig_get_a_bearer() {
        let (url, count) = idp(3600).await;
        let tokens = FlowTokens::new(settings(&url));
        let unsigned = WebhookKind::Workflows { signed: false };
        for kind in [
            WebhookKind::Workflows { signed: true },
            WebhookKind::Connector,
            WebhookKind::RetiredWorkflows,
        ] {
            assert_eq!(bearer_for(kind, Some("t"), Some(&tokens)).await, Ok(None));
        }
        assert_eq!(count.load(Ordering::SeqCst), 0);
        assert_eq!(
            bearer_for(unsigned, Some("t"), Some(&tokens)).await,
            Ok(Some("token-1".into()))
        );
        assert_eq!(
            bearer_for(unsigned, None, Some(&tokens)).await,
            Err(FlowTokenError::NoTenant)
        );
        assert_eq!(
            bearer_for(unsigned, Some("t"), None).await,
            Err(FlowTokenError::NotConfigured)
        );
    }
}
