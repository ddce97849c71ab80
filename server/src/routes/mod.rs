//! The HTTP side assembled: one file per resource, and here their routes put together with
//! their layers (the API's deadline and concurrency limit, JSON errors, CORS, the page's
//! headers, request spans and metrics); in dev mode the emulator's routes merged in.
//! `guard` holds the checks several routes make (no route imports another).

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use connector_settings::api::{EDIT_KEY_HEADER, FORM_HEADER, WEBHOOK_HEADER};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::config::{Config, Role};
use crate::emulator::{self, EmulatorState};
use crate::extract::BODY_LIMIT;
use crate::layers;
use crate::state::AppState;

pub mod account;
pub mod bot;
pub mod connections;
pub mod events;
mod guard;
pub mod health;
pub mod static_files;
pub mod try_webhook;

/// All routes (in dev mode the emulator's, with its own state); only health for an
/// instance that only delivers.
pub(crate) fn router(state: AppState, config: &Config, emulator: Option<EmulatorState>) -> Router {
    if config.role == Role::Delivery {
        return observed(health::router(), config).with_state(state);
    }
    let api = Router::new()
        .merge(connections::router())
        .merge(try_webhook::router())
        .merge(events::router())
        .merge(account::router())
        .merge(bot::router())
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
        body_limit,
    )
    .merge(health::router());
    let posts_as_bot = state.bot.as_ref().is_some_and(|b| b.poster.is_some());
    if let Some(emulator) = emulator {
        app = app.merge(emulator::router(&config.emulator_dir, emulator));
    } else if posts_as_bot {
        // The page this server serves asks whether the app is in a tab's team (the
        // emulator's config.json says so itself in dev mode).
        app = app.merge(static_files::config_with_bot(&config.dist));
    }
    let app = app
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        // The admin API and its page are the internal listener's only (`crate::admin`).
        .route("/admin", axum::routing::any(static_files::admin_not_here))
        // `/admin/{*rest}` does not match `/admin/` itself, which ServeDir would answer
        // with dist/admin/index.html (the console).
        .route("/admin/", axum::routing::any(static_files::admin_not_here))
        .route(
            "/admin/{*rest}",
            axum::routing::any(static_files::admin_not_here),
        )
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

/// The largest body an API route takes for `path`: events are bigger than the rest.
fn body_limit(path: &str) -> usize {
    match path {
        events::PATH => crate::domain::event::BODY_LIMIT,
        bot::PATH => bot::BODY_LIMIT,
        _ => BODY_LIMIT,
    }
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
    let inbox = emulator::SECRET_PATHS
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
