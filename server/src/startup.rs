//! Builds the application: state, router, listener.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use connector_settings::api::{EDIT_KEY_HEADER, WEBHOOK_HEADER};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{SsoSettings, Verifier};
use crate::config::Config;
use crate::delivery::Wake;
use crate::domain::{HashKey, Keyring, WebhookPolicy};
use crate::emulator::{self, inboxes::Inboxes};
use crate::extract::BODY_LIMIT;
use crate::rate_limit::RateLimiter;
use crate::routes::{connections, events, health, static_files, try_webhook};
use crate::state::AppState;
use crate::store::{SqliteStore, Store};

/// All routes.
pub fn router(state: AppState, config: &Config) -> Router {
    let mut app = Router::new()
        .merge(connections::router())
        .merge(try_webhook::router())
        .merge(events::router())
        .merge(health::router());
    app = app.route(
        "/api/{*rest}",
        axum::routing::any(static_files::api_not_found),
    );
    if config.dev {
        app = app.merge(emulator::router(&config.emulator_dir));
        // The built page's config.json knows nothing of dev mode; here it names the
        // emulator's inboxes (which the tab's form then takes as Workflows webhooks) and,
        // with --dev-sso, single sign-on.
        let page_config = emulator::page_config(&state.webhooks, config.dev_sso);
        app = app.route(
            "/config.json",
            axum::routing::get(move || async move { axum::Json(page_config) }),
        );
    }
    app.merge(static_files::router(&config.dist))
        .layer(cors(&config.cors_origins))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            static_files::headers,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request: method and path only. Never the query string (a Workflows
/// webhook URL's signature is in it), and of an emulator inbox's paths only their start
/// (what follows is a webhook URL's secret part).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = req.uri().path();
    let inbox = [
        "/emulator/webhook/",
        "/emulator/api/inbox/",
        "/emulator/api/inbox-mode/",
    ]
    .into_iter()
    .find(|p| path.starts_with(p));
    let shown = match inbox {
        Some(prefix) => format!("{prefix}…"),
        None => path.to_string(),
    };
    tracing::debug_span!("request", method = %req.method(), path = %shown)
}

/// The single sign-on settings: the emulator's identity provider with `--dev-sso`, Entra's
/// with `--sso-audience`, else none.
fn sso(config: &Config, port: u16) -> anyhow::Result<Option<SsoSettings>> {
    if config.dev_sso {
        if !config.dev {
            anyhow::bail!("--dev-sso needs --dev");
        }
        tracing::warn!(
            "dev mode: single sign-on trusts the emulator's development identity provider"
        );
        return Ok(Some(crate::emulator::idp::settings(port)));
    }
    Ok(config.sso_audience.as_ref().map(|audience| SsoSettings {
        audience: audience.clone(),
        issuer_pattern: config.sso_issuer.clone(),
        jwks_url: config.sso_jwks_url.clone(),
    }))
}

/// CORS for exactly the configured page origins; none configured means same origin only.
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::PUT, Method::POST, Method::DELETE])
        // `authorization` carries the single sign-on token; the edit key has its own header
        // (never a query string, which servers and CDNs log).
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static(WEBHOOK_HEADER),
            HeaderName::from_static(EDIT_KEY_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// The server, bound and ready to run.
pub struct Application {
    store: Arc<dyn Store>,
    wake: Wake,
    webhook_timeout: std::time::Duration,
    listener: TcpListener,
    router: Router,
    port: u16,
    host: String,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let events_secret = config
            .checked_events_secret()
            .map_err(anyhow::Error::msg)?
            .map(Arc::from);
        let keyring = match &config.encryption_keys {
            Some(ring) => Keyring::parse(ring).context("CONNECTOR_ENCRYPTION_KEYS")?,
            None => Keyring::load_or_create(&config.encryption_key_path())?,
        };
        let store = SqliteStore::open(&config.db, keyring)
            .with_context(|| format!("cannot open database {}", config.db.display()))?;
        let key = match &config.secret_key {
            Some(hex) => HashKey::from_hex(hex).context("CONNECTOR_SECRET_KEY")?,
            None => HashKey::load_or_create(&config.key_path())?,
        };
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        for origin in &config.cors_origins {
            if !(origin.starts_with("https://") || origin.starts_with("http://")) {
                anyhow::bail!(
                    "cors origin '{origin}' must be an origin like https://cdn.example.com"
                );
            }
        }
        if config.dev {
            tracing::warn!(port, "dev mode: serving the Teams host emulator; webhook urls of its own inbox are allowed");
        }
        if let Some(origin) = &config.dev_inbox_origin {
            tracing::warn!(%origin, "dev mode: webhook urls of the emulator inbox at this origin are allowed too");
        }
        let state = AppState {
            store: Arc::new(store),
            key,
            webhooks: {
                let policy = WebhookPolicy::new(&config.webhook_hosts, config.dev.then_some(port))
                    .map_err(|e| anyhow::anyhow!(e))?;
                match &config.dev_inbox_origin {
                    Some(origin) => policy
                        .with_inbox_origin(origin)
                        .map_err(|e| anyhow::anyhow!(e))?,
                    None => policy,
                }
            },
            events_secret,
            wake: Wake::default(),
            sso: sso(&config, port)?.map(|s| Arc::new(Verifier::new(s))),
            address_limit: Arc::new(RateLimiter::new(config.write_rate)),
            tenant_limit: Arc::new(RateLimiter::new(config.tenant_write_rate)),
            trust_forwarded_for: config.trust_forwarded_for,
            page_policy: Arc::new(static_files::page_policy(&config.dist, config.dev)),
            inboxes: Inboxes::default(),
        };
        let store = state.store.clone();
        let wake = state.wake.clone();
        let router = router(state, &config);
        Ok(Application {
            webhook_timeout: std::time::Duration::from_secs(config.webhook_timeout),
            listener,
            router,
            port,
            host: config.host,
            store,
            wake,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://host:port` without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Serves until Ctrl-C or SIGTERM, finishing requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        crate::delivery::spawn(self.store, self.wake, self.webhook_timeout).await;
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown())
        .await
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
