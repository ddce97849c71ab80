//! Prometheus metrics on a listener of their own (`--metrics-addr`): requests by route
//! template, what the outbox did, and gauges read from the store. No label ever names a
//! connection, an entity id or a URL: series stay bounded and webhook URLs stay secret.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::domain::rate_windows::NAMES as WINDOW_NAMES;
use crate::store::Outbox;

const REQUESTS: &str = "connector_http_requests_total";
const LATENCY: &str = "connector_http_request_duration_seconds";
/// How often the gauges are read from the store.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use (one per process: the `metrics` macros
/// write to a global recorder). Until then every macro below costs next to nothing.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(LATENCY.into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test's) may be installed already: then that one counts.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Serves `/metrics` on `listener` until the process ends, reading the gauges from
/// `outbox` every few seconds meanwhile; with `admin`, the admin API (`/admin/…`) beside it.
pub async fn serve(listener: TcpListener, outbox: Arc<dyn Outbox>, admin: Option<Router>) {
    let handle = recorder();
    zero_counters();
    tokio::spawn(refresh_gauges(outbox, handle.clone()));
    let mut app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    if let Some(admin) = admin {
        app = app.merge(admin);
    }
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

async fn refresh_gauges(outbox: Arc<dyn Outbox>, handle: PrometheusHandle) {
    let mut every = tokio::time::interval(GAUGE_EVERY);
    loop {
        every.tick().await;
        handle.run_upkeep();
        let now = crate::clock::now_ms();
        match outbox.gauges(now).await {
            Ok(g) => {
                gauge!("connector_deliveries_pending").set(g.pending as f64);
                gauge!("connector_deliveries_due").set(g.due as f64);
                gauge!("connector_oldest_due_delivery_age_seconds").set(
                    g.oldest_due_ms
                        .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
                );
                gauge!("connector_deliveries_dead").set(g.dead as f64);
                gauge!("connector_connections_disabled").set(g.disabled_connections as f64);
                gauge!("connector_database_connections_in_use").set(g.pool_in_use as f64);
                gauge!("connector_database_up").set(1.0);
            }
            Err(e) => {
                gauge!("connector_database_up").set(0.0);
                tracing::warn!(error = %e, "cannot read the gauges from the database");
            }
        }
    }
}

/// How a delivery attempt can end, as `connector_deliveries_total` labels it.
pub const OUTCOMES: [&str; 5] = ["delivered", "retried", "throttled", "dead", "disabled"];
/// Why a request was shed, as `connector_requests_shed_total` labels it.
pub const SHED_REASONS: [&str; 2] = ["overload", "deadline"];

/// Every counter with a known label set, at zero from the start: an alert's `increase()`
/// then sees the first card that dies, and a rule's series exist before anything happened.
/// (Adding zero leaves a counter already counting as it is.)
fn zero_counters() {
    counter!("connector_events_accepted_total").increment(0);
    counter!("connector_event_deliveries_stored_total").increment(0);
    counter!("connector_delivery_leases_lost_total").increment(0);
    for outcome in OUTCOMES {
        counter!("connector_deliveries_total", "outcome" => outcome).increment(0);
    }
    for window in WINDOW_NAMES {
        counter!("connector_delivery_postponements_total", "window" => window).increment(0);
    }
    for reason in SHED_REASONS {
        counter!("connector_requests_shed_total", "reason" => reason).increment(0);
    }
}

/// Counts each request by route template, method and status class, with its latency.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("static", |p| p.as_str())
        .to_string();
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let start = Instant::now();
    let res = next.run(req).await;
    let status = match res.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    counter!(REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    histogram!(LATENCY, "route" => route, "method" => method).record(start.elapsed().as_secs_f64());
    res
}

/// An event was accepted, with `deliveries` stored for it.
pub fn event_accepted(deliveries: usize) {
    counter!("connector_events_accepted_total").increment(1);
    counter!("connector_event_deliveries_stored_total").increment(deliveries as u64);
}

/// How attempts ended: delivered, retried, throttled, dead or disabled.
pub fn delivery_outcome(outcome: &'static str) {
    debug_assert!(OUTCOMES.contains(&outcome), "{outcome} is not in OUTCOMES");
    counter!("connector_deliveries_total", "outcome" => outcome).increment(1);
}

/// Deliveries a claim moved later, by the rate window that held them.
pub fn postponed(by_window: &[usize]) {
    for (n, window) in by_window.iter().zip(WINDOW_NAMES) {
        if *n > 0 {
            counter!("connector_delivery_postponements_total", "window" => window)
                .increment(*n as u64);
        }
    }
}

/// Outcomes that came after their claim's lease was lost to another claim.
pub fn leases_lost(n: usize) {
    counter!("connector_delivery_leases_lost_total").increment(n as u64);
}

/// A request refused for overload or abandoned at its deadline.
pub fn shed(reason: &'static str) {
    debug_assert!(
        SHED_REASONS.contains(&reason),
        "{reason} is not in SHED_REASONS"
    );
    counter!("connector_requests_shed_total", "reason" => reason).increment(1);
}
