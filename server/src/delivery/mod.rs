//! Delivery: workers claim due deliveries from the outbox, respect each webhook's rate
//! windows, POST the card with an idempotency key, and settle each answer: delivered,
//! retried with backoff, dead, or the connection disabled when its webhook is gone.

pub mod cards;
mod rate;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Mutex, Notify};

use crate::domain::{dev_inbox_client, webhook_client, WebhookUrl};
use crate::store::{Due, Outcome, Store};
use rate::RateWindows;

/// Attempts before a delivery is dead.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a claim lasts; a worker that dies frees its deliveries after this.
const LEASE_MS: i64 = 60_000;
/// Posts in flight at once.
const CONCURRENCY: usize = 16;

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Wakes the workers when an event was accepted.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Starts the delivery loop.
/// `timeout`: how long one webhook answer may take before the attempt fails and is retried.
pub async fn spawn(store: Arc<dyn Store>, wake: Wake, timeout: Duration) {
    let mut windows = RateWindows::default();
    // Restore the rate windows from what was delivered in the last day.
    if let Ok(recent) = store.recent_deliveries(now_ms() - rate::WINDOWS[4].0).await {
        let mut recent = recent;
        recent.sort_by_key(|(_, at)| *at);
        for (entity, at) in recent {
            windows.record(&entity, at);
        }
    }
    let windows = Arc::new(Mutex::new(windows));
    let web = webhook_client(timeout);
    let dev = dev_inbox_client(timeout);
    tokio::spawn(async move {
        loop {
            let due = match store.claim_due(now_ms(), 64, LEASE_MS).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim deliveries");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if due.is_empty() {
                let _ = tokio::time::timeout(Duration::from_millis(250), wake.0.notified()).await;
                continue;
            }
            futures_util::stream::iter(due)
                .for_each_concurrent(CONCURRENCY, |d| {
                    let (store, windows, web, dev) = (store.clone(), windows.clone(), web.clone(), dev.clone());
                    async move {
                        let outcome = attempt(&d, &windows, &web, &dev).await;
                        if let Outcome::Dead { error } | Outcome::Disable { error } = &outcome {
                            tracing::warn!(entity_id = %d.entity_id, event_id = %d.event_id, %error, "delivery failed for good");
                        }
                        if let Err(e) = store.finish(d.delivery_id, outcome, now_ms()).await {
                            tracing::error!(error = %e, "cannot record a delivery outcome");
                        }
                    }
                })
                .await;
        }
    });
}

async fn attempt(
    d: &Due,
    windows: &Mutex<RateWindows>,
    web: &reqwest::Client,
    dev: &reqwest::Client,
) -> Outcome {
    {
        let now = now_ms();
        let mut w = windows.lock().await;
        let at = w.next_allowed(&d.entity_id, now);
        if at > now {
            return Outcome::Postpone { at_ms: at };
        }
        // Reserved before posting, so concurrent posts cannot pass a window together.
        w.record(&d.entity_id, now);
    }
    let event: cards::Event = match serde_json::from_str(&d.event) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::Dead {
                error: format!("stored event unreadable: {e}"),
            }
        }
    };
    let card = cards::card(&event, &d.settings, d.webhook_url.as_str());
    let client = if d.webhook_url.as_str().starts_with("http://") {
        dev
    } else {
        web
    };
    let sent = client
        .post(d.webhook_url.as_str())
        .header("idempotency-key", format!("{}:{}", d.event_id, d.entity_id))
        .json(&card)
        .send()
        .await;
    let res = match sent {
        Ok(r) => r,
        Err(e) => return retry(d, None, format!("webhook unreachable: {}", without_url(&e))),
    };
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = res.text().await.unwrap_or_default();
    classify(d, status, retry_after, &body)
}

/// What a webhook's answer says, before attempts and backoff count.
enum Answer {
    Delivered,
    /// Worth trying again later.
    Transient(String),
    /// The webhook is gone for good.
    Gone(String),
    /// This card will never be taken.
    Refused(String),
}

fn read_answer(status: u16, body: &str) -> Answer {
    let short: String = body.chars().take(200).collect();
    match status {
        // Connector webhooks answer throttling with 200 and this text, not with 429.
        200..=299 if body.contains("HTTP error 429") => {
            Answer::Transient("throttled by teams".into())
        }
        200..=299 => Answer::Delivered,
        429 => Answer::Transient("throttled by teams (429)".into()),
        404 | 410 => Answer::Gone(format!(
            "webhook answered {status}: the connector was removed from the channel"
        )),
        408 | 500..=599 => Answer::Transient(format!("webhook answered {status}: {short}")),
        _ => Answer::Refused(format!("webhook refused the card with {status}: {short}")),
    }
}

/// What an answer means for the delivery.
fn classify(d: &Due, status: u16, retry_after: Option<u64>, body: &str) -> Outcome {
    match read_answer(status, body) {
        Answer::Delivered => Outcome::Delivered,
        Answer::Transient(error) => retry(d, retry_after, error),
        Answer::Gone(error) => Outcome::Disable { error },
        Answer::Refused(error) => Outcome::Dead { error },
    }
}

/// How long a webhook may take to answer a card sent outside the outbox (the page gives up
/// after 20 s).
pub const POST_NOW_TIMEOUT: Duration = Duration::from_secs(15);

/// Posts `card` to `url` once, now, outside the outbox: the test card a person sends before
/// any connection is stored with the webhook. `Err` says why the webhook did not take it.
pub async fn post_now(url: &WebhookUrl, card: &serde_json::Value) -> Result<(), String> {
    let client = if url.as_str().starts_with("http://") {
        dev_inbox_client(POST_NOW_TIMEOUT)
    } else {
        webhook_client(POST_NOW_TIMEOUT)
    };
    let res = client
        .post(url.as_str())
        .json(card)
        .send()
        .await
        .map_err(|e| format!("webhook unreachable: {}", without_url(&e)))?;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    match read_answer(status, &body) {
        Answer::Delivered => Ok(()),
        Answer::Transient(e) | Answer::Gone(e) | Answer::Refused(e) => Err(e),
    }
}

/// Exponential backoff with jitter, at least `retry_after` seconds; dead after the last try.
fn retry(d: &Due, retry_after: Option<u64>, error: String) -> Outcome {
    if d.attempts + 1 >= MAX_ATTEMPTS {
        return Outcome::Dead {
            error: format!("{error} (gave up after {MAX_ATTEMPTS} attempts)"),
        };
    }
    let base = 1_000i64 << d.attempts.min(9);
    let jitter = rand::random::<f64>() * 0.5 + 0.75;
    let backoff = ((base as f64) * jitter) as i64;
    let wait = backoff
        .max(retry_after.unwrap_or(0) as i64 * 1_000)
        .min(600_000);
    Outcome::Retry {
        at_ms: now_ms() + wait,
        error,
    }
}

/// A reqwest error's text names the URL; the URL is a credential.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(attempts: u32) -> Due {
        Due {
            delivery_id: 1,
            event_id: "e".into(),
            entity_id: "c".into(),
            webhook_url: WebhookUrl::trusted("https://a.webhook.office.com/x".into()),
            settings: Default::default(),
            event: "{}".into(),
            attempts,
        }
    }

    #[test]
    fn each_answer_kind_has_its_outcome() {
        assert_eq!(classify(&due(0), 200, None, "1"), Outcome::Delivered);
        assert_eq!(classify(&due(0), 202, None, ""), Outcome::Delivered);
        assert!(matches!(
            classify(
                &due(0),
                200,
                None,
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId"
            ),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(&due(0), 410, None, ""),
            Outcome::Disable { .. }
        ));
        assert!(matches!(
            classify(&due(0), 404, None, ""),
            Outcome::Disable { .. }
        ));
        assert!(matches!(
            classify(&due(0), 500, None, ""),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(&due(0), 400, None, "bad card"),
            Outcome::Dead { .. }
        ));
        assert!(matches!(
            classify(&due(MAX_ATTEMPTS - 1), 500, None, ""),
            Outcome::Dead { .. }
        ));
    }

    #[test]
    fn retry_after_is_honoured_and_backoff_grows() {
        let now = now_ms();
        let Outcome::Retry { at_ms, .. } = classify(&due(0), 429, Some(30), "") else {
            panic!()
        };
        assert!(at_ms >= now + 30_000);
        let Outcome::Retry { at_ms: early, .. } = retry(&due(0), None, "x".into()) else {
            panic!()
        };
        let Outcome::Retry { at_ms: late, .. } = retry(&due(5), None, "x".into()) else {
            panic!()
        };
        assert!(late - now > early - now, "later attempts wait longer");
    }
}
