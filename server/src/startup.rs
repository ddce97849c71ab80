//! Builds and starts the application: keys checked against the database, state, listener,
//! the router (assembled in `routes`), and the delivery workers it runs beside the API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::Verifier;
use crate::config::{Config, Role};
use crate::delivery::{self, Counters, DeliveryConfig};
use crate::domain::WebhookPolicy;
use crate::emulator::{self, EmulatorState};
use crate::routes::{self, static_files};
use crate::state::{AppState, Shared};
use crate::store::{self, Stores, Wake};
use crate::write_limit::RateLimiter;

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
    /// The admin API, served on the metrics' listener when both are on.
    admin: Option<Router>,
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
        store::check_keys(stores.connections.as_ref(), &key, &keyring).await?;
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
        // One for the whole instance: the API's and the admin API's new deliveries wake the
        // same workers.
        let wake = Wake::default();
        let admin_tokens = config.admin_tokens()?;
        let admin = if admin_tokens.is_empty() {
            tracing::info!("the admin API is off: no admin token (CONNECTOR_ADMIN_TOKEN or CONNECTOR_ADMIN_TOKEN_FILE)");
            None
        } else if config.metrics_addr.is_none() {
            tracing::warn!("the admin API is off: admin tokens are set but --metrics-addr is not, and it is served only on that internal listener");
            None
        } else {
            let ids: Vec<&str> = admin_tokens.iter().map(|t| t.id.as_str()).collect();
            tracing::info!(tokens = ?ids, "the admin API is on at /admin on the metrics listener");
            let api = crate::admin::router(crate::admin::AdminState {
                connections: stores.connections.clone(),
                outbox: stores.outbox.clone(),
                tokens: admin_tokens.into(),
                wake: wake.clone(),
                test_wait: std::time::Duration::from_secs(15),
            });
            // The operators' console (dist/admin/), on this listener only.
            Some(crate::admin_page::with_page(
                api,
                &config.dist.join("admin"),
            ))
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
            .flow_tokens(&emulator::idp::authority(port))?
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
        let bot = config.bot(port)?.map(|s| Arc::new(crate::bot::Bot::new(s)));
        delivery.bot =
            bot.as_ref()
                .and_then(|b| b.poster.clone())
                .map(|poster| delivery::BotDelivery {
                    poster,
                    installs: stores.connections.clone(),
                });
        if let Some(b) = &bot {
            tracing::info!(app_id = %b.settings.app_id, metadata = %b.settings.openid_metadata_url,
                "the app's bot takes Bot Framework activities on /api/messages");
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
            wake,
            sso: config.sso(port)?.map(|s| Arc::new(Verifier::new(s))),
            address_limit: Arc::new(RateLimiter::new(config.write_rate)),
            tenant_limit: Arc::new(RateLimiter::new(config.tenant_write_rate)),
            target_limit: Arc::new(RateLimiter::new(config.target_write_rate)),
            trust_forwarded_for: config.trust_forwarded_for,
            page_policy: static_files::page_policy(&config.dist, config.dev)?,
            flow_tokens,
            windows: delivery.windows.clone(),
            accounts,
            bot: bot.clone(),
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
        let emulator = config.dev.then(|| {
            EmulatorState::new(
                port,
                config.dev_inbox_origin.as_deref(),
                config.dev_sso,
                state.flow_tokens.as_ref().map(|t| t.settings().clone()),
                config
                    .dev_bot
                    .then(|| bot.as_ref().map(|b| b.settings.app_id.clone()))
                    .flatten(),
            )
        });
        let router = routes::router(state, &config, emulator);
        let limits = config.limits(crate::serve::fd_limit());
        Ok(Application {
            limits,
            delivery: (config.role != Role::Api).then_some(delivery),
            counters: Arc::default(),
            listener,
            metrics,
            admin,
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
            tokio::spawn(crate::metrics::serve(
                listener,
                self.stores.outbox.clone(),
                self.admin,
            ));
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
