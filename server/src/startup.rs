//! Builds the application: keys checked against the database, state, router, listener, and
//! the delivery workers it runs beside the API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use connector_settings::api::{EDIT_KEY_HEADER, FORM_HEADER, WEBHOOK_HEADER};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{SsoSettings, Verifier};
use crate::config::{Config, Role};
use crate::delivery::{self, Counters, DeliveryConfig};
use crate::domain::{HashKey, Keyring, WebhookPolicy};
use crate::emulator::{self, inboxes::Inboxes};
use crate::extract::BODY_LIMIT;
use crate::layers;
use crate::routes::{account, connections, events, health, static_files, try_webhook};
use crate::state::{AppState, Shared};
use crate::store::{self, ConnectionStore, Stores, Wake};
use crate::write_limit::RateLimiter;

/// All routes; only health for an instance that only delivers.
pub fn router(state: AppState, config: &Config) -> Router {
    if config.role == Role::Delivery {
        return observed(health::router(), config).with_state(state);
    }
    let api = Router::new()
        .merge(connections::router())
        .merge(try_webhook::router())
        .merge(events::router())
        .merge(account::router())
        .route(
            "/api/{*rest}",
            axum::routing::any(static_files::api_not_found),
        )
        // Before the overload layers wrap the routes, while they can still take it.
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .layer(axum::middleware::from_fn(crate::form::check));
    let mut app = layers::overload(
        api,
        Duration::from_secs(config.request_deadline),
        config.max_concurrent_requests as usize,
    )
    .merge(health::router());
    if config.dev {
        app = app.merge(emulator::router(&config.emulator_dir));
        // The built page's config.json knows nothing of dev mode; here it names the
        // emulator's inboxes (which the tab's form then takes as Workflows webhooks) and,
        // with --dev-sso, single sign-on.
        let page_config =
            emulator::page_config(&state.webhooks, config.dev_sso, state.flow_tokens.is_some());
        app = app.route(
            "/config.json",
            axum::routing::get(move || async move { axum::Json(page_config) }),
        );
    }
    let app = app
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .merge(static_files::router(&config.dist))
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(cors(&config.cors_origins))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            static_files::headers,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    observed(app, config).with_state(state)
}

/// Each request's span and answer line (with its request id), and its metrics when on.
fn observed(app: Router<AppState>, config: &Config) -> Router<AppState> {
    let app = app.layer(
        TraceLayer::new_for_http()
            .make_span_with(request_span)
            .on_response(
                |res: &axum::http::Response<_>, latency: Duration, _: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        ms = latency.as_secs_f64() * 1000.0,
                        "answered"
                    )
                },
            ),
    );
    let app = match config.metrics_addr {
        Some(_) => app.layer(axum::middleware::from_fn(crate::metrics::track)),
        None => app,
    };
    app.layer(axum::middleware::from_fn(layers::request_id))
}

/// The span of one request: method and path only. Never the query string (a Workflows
/// webhook URL's signature is in it), and of an emulator inbox's paths only their start
/// (what follows is a webhook URL's secret part).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let path = req.uri().path();
    let inbox = [
        connector_settings::webhook::DEV_INBOX_PATH,
        "/emulator/api/inbox/",
        "/emulator/api/inbox-mode/",
    ]
    .into_iter()
    .find(|p| path.starts_with(p));
    let shown = match inbox {
        Some(prefix) => format!("{prefix}…"),
        None => path.to_string(),
    };
    let id = req
        .headers()
        .get(&layers::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", request_id = id, method = %req.method(), path = %shown)
}

/// The single sign-on settings: the emulator's identity provider with `--dev-sso`, Entra's
/// with `--sso-audience`, else none.
fn sso(config: &Config, port: u16) -> anyhow::Result<Option<SsoSettings>> {
    // clap refuses --dev-sso without --dev (`requires`).
    if config.dev_sso {
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
            HeaderName::from_static(FORM_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Stops the start when an instance's keys are not the ones the database was made with:
/// with many instances, one with another key would make connections unreachable or seal
/// them so the others cannot open them.
pub async fn check_keys(
    connections: &dyn ConnectionStore,
    key: &HashKey,
    ring: &Keyring,
) -> anyhow::Result<()> {
    let check = key.check();
    if connections.key_check("hash-key", &check).await? != check {
        anyhow::bail!(
            "the hash key (CONNECTOR_HASH_KEY or --hash-key-file) is not the key this database was made with; every instance must use the same keys"
        );
    }
    for (id, check) in ring.checks() {
        if connections
            .key_check(&format!("encryption-key:{id}"), &check)
            .await?
            != check
        {
            anyhow::bail!(
                "encryption key '{id}' is not the key '{id}' this database was sealed with; every instance must use the same keys"
            );
        }
    }
    Ok(())
}

/// The server, bound and ready to run.
pub struct Application {
    stores: Stores,
    wake: Wake,
    /// How to deliver, unless this instance only serves the API.
    delivery: Option<DeliveryConfig>,
    counters: Arc<Counters>,
    listener: TcpListener,
    /// The metrics' own listener, when on.
    metrics: Option<TcpListener>,
    router: Router,
    limits: crate::serve::Limits,
    port: u16,
    host: String,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // Before the database is opened (and migrated): a page of another form is an
        // operator's mistake to fix first.
        if config.role != Role::Delivery {
            crate::form::check_dist(&config.dist)?;
        }
        let events_secrets = config
            .checked_events_secrets()
            .map_err(anyhow::Error::msg)?
            .map(Arc::new);
        let (key, keyring) = config.keys()?;
        let mut delivery = config.delivery()?;
        let database = config.database()?;
        let stall = config.test_stall_writes_ms.map(Duration::from_millis);
        if stall.is_some() {
            tracing::warn!("tests only: every connection save stalls inside its transaction");
        }
        let stores = store::open_stalling(&database, keyring.clone(), stall)
            .await
            .with_context(|| match &database {
                store::Database::Sqlite(path) => {
                    format!("cannot open database {}", path.display())
                }
                store::Database::Postgres { .. } => "cannot open the postgres database".into(),
            })?;
        check_keys(stores.connections.as_ref(), &key, &keyring).await?;
        let resealed = stores
            .connections
            .reseal()
            .await
            .context("cannot re-encrypt webhook urls with the current key")?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                key = keyring.current_id(),
                "re-encrypted webhook urls with the current key"
            );
        }
        let filled = stores
            .connections
            .fill_webhook_kinds()
            .await
            .context("cannot store the webhook kinds of older connections")?;
        if filled > 0 {
            tracing::info!(
                filled,
                "stored the webhook kind of connections saved before it was kept"
            );
        }
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        let metrics = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?,
            ),
            None => None,
        };
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
        let flow_tokens = config
            .flow_tokens(&format!("http://127.0.0.1:{port}/emulator/idp"))?
            .map(|s| Arc::new(delivery::FlowTokens::new(s)));
        if let Some(t) = &flow_tokens {
            tracing::info!(client_id = %t.settings().client_id, authority = %t.settings().authority,
                "flows that take only signed-in callers get a token of the connection's tenant");
            if config.sso_audience.is_none() && !config.dev_sso {
                tracing::warn!("flow tokens are configured without single sign-on: no connection has a tenant, so flows without sig are still refused");
            }
        }
        delivery.flow_tokens = flow_tokens.clone();
        let accounts = config
            .accounts(connector_settings::CONNECTOR.account.as_ref())?
            .map(|a| {
                Arc::new(crate::account::Accounts::new(
                    a.spec,
                    &a.issuer,
                    &a.client_id,
                    &a.client_secret,
                    &key,
                ))
            });
        if let Some(a) = &accounts {
            // Not awaited: the server starts whether or not the provider answers.
            let a = a.clone();
            tokio::spawn(async move { a.warm_up().await });
        }
        let state = AppState::new(Shared {
            connections: stores.connections.clone(),
            outbox: stores.outbox.clone(),
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
            events_secrets,
            wake: Wake::default(),
            sso: sso(&config, port)?.map(|s| Arc::new(Verifier::new(s))),
            address_limit: Arc::new(RateLimiter::new(config.write_rate)),
            tenant_limit: Arc::new(RateLimiter::new(config.tenant_write_rate)),
            target_limit: Arc::new(RateLimiter::new(config.target_write_rate)),
            trust_forwarded_for: config.trust_forwarded_for,
            page_policy: static_files::page_policy(&config.dist, config.dev)?,
            inboxes: Inboxes::default(),
            flow_tokens,
            idp: Default::default(),
            windows: delivery.windows.clone(),
            accounts,
        });
        let wake = state.wake.clone();
        if config.role != Role::Api {
            // Listening before the server says it listens: nothing accepted elsewhere from
            // then on goes unnoticed until the next poll.
            stores
                .outbox
                .listen(wake.clone())
                .await
                .context("cannot listen for other instances' events")?;
        }
        let router = router(state, &config);
        let limits = config.limits(crate::serve::fd_limit());
        Ok(Application {
            limits,
            delivery: (config.role != Role::Api).then_some(delivery),
            counters: Arc::default(),
            listener,
            metrics,
            router,
            port,
            host: config.host,
            stores,
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

    /// Where `/metrics` is served (`http://host:port/metrics`), when it is.
    pub fn metrics_url(&self) -> Option<String> {
        let addr = self.metrics.as_ref()?.local_addr().ok()?;
        Some(format!("http://{addr}/metrics"))
    }

    /// What the delivery workers did so far.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Serves until Ctrl-C or SIGTERM, finishing requests in flight; the delivery workers
    /// then stop claiming, finish or hand back what they hold.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let Some(listener) = self.metrics {
            tokio::spawn(crate::metrics::serve(listener, self.stores.outbox.clone()));
        }
        let workers = match self.delivery {
            Some(config) => {
                let outbox = self.stores.outbox.clone();
                if let Some(retention) = config.retention {
                    tokio::spawn(delivery::prune_forever(outbox.clone(), retention));
                }
                Some(tokio::spawn(delivery::run(
                    outbox,
                    self.wake,
                    config,
                    self.counters,
                    stop_rx,
                )))
            }
            None => None,
        };
        let served = crate::serve::serve(self.listener, self.router, self.limits, async move {
            shutdown().await;
            let _ = stop_tx.send(true);
        })
        .await;
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        served
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
