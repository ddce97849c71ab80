//! Delivery: workers claim due deliveries from the outbox (their webhooks' rate-window slots
//! reserved in the same transaction), POST the card with an idempotency key, and settle each
//! answer (read by the webhook's kind, `answers`): delivered, retried on a schedule of more
//! than a day, dead, or the connection disabled when its webhook takes nothing until a person
//! acts (connector removed, workflow turned off, deleted or for signed-in callers only).

mod answers;
pub mod cards;
pub mod flow_token;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use crate::bot::{BotPoster, Sent};
use crate::clock::now_ms;
use crate::domain::{dev_inbox_client, webhook_client, WebhookKind, WebhookUrl};
use crate::store::{ConnectionStore, Due, Outcome};
use answers::{read_answer, without_secrets, Answer, THROTTLED};

pub use flow_token::{FlowTokenError, FlowTokenSettings, FlowTokens};
pub use worker::{prune_forever, run, Counters, DeliveryConfig};

/// Waits before each retry: 5 s, 30 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each ±10 %
/// (at least 24.8 h in all), so an outage of Teams or of one webhook of up to a day loses
/// no card.
pub const RETRY_SCHEDULE_MS: [i64; 8] = [
    5_000, 30_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
];
/// Attempts before a delivery is dead.
pub const MAX_ATTEMPTS: u32 = RETRY_SCHEDULE_MS.len() as u32 + 1;

/// The two HTTP clients: public webhooks, and the dev inbox on loopback; and the tokens
/// of flows that take only signed-in callers, when configured.
#[derive(Clone)]
struct Clients {
    web: reqwest::Client,
    dev: reqwest::Client,
    flows: Option<Arc<FlowTokens>>,
    bot: Option<BotDelivery>,
}

impl Clients {
    /// `timeout`: how long one webhook answer may take before the attempt fails.
    fn new(timeout: Duration, flows: Option<Arc<FlowTokens>>, bot: Option<BotDelivery>) -> Clients {
        Clients {
            web: webhook_client(timeout),
            dev: dev_inbox_client(timeout),
            flows,
            bot,
        }
    }
}

/// What posting as the app's bot needs: its poster, and the store of its installs (where a
/// team's service URL is).
#[derive(Clone)]
pub struct BotDelivery {
    pub poster: Arc<BotPoster>,
    pub installs: Arc<dyn ConnectionStore>,
}

impl std::fmt::Debug for BotDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotDelivery")
    }
}

/// The retry schedule; `divisor` > 1 only in tests, to live through a long outage quickly.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub divisor: u32,
}

/// One attempt: builds the card and posts it. With the outcome, the HTTP status the webhook
/// answered with (none when no answer came), for the attempt log.
async fn attempt(d: &Due, clients: &Clients, schedule: Schedule) -> (Outcome, Option<u16>) {
    let mut code = None;
    let outcome = post(d, clients, schedule, &mut code).await;
    (outcome, code)
}

async fn post(d: &Due, clients: &Clients, schedule: Schedule, code: &mut Option<u16>) -> Outcome {
    let event: cards::Event = match serde_json::from_str(&d.event) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::Dead {
                error: format!("stored event unreadable: {e}"),
            }
        }
    };
    let card = cards::card(&event, &d.settings, d.webhook_url.kind());
    if d.webhook_url.kind() == WebhookKind::Bot {
        return bot_attempt(d, card, clients.bot.as_ref(), schedule).await;
    }
    let client = if d.webhook_url.is_dev_inbox() {
        &clients.dev
    } else {
        &clients.web
    };
    let bearer = match flow_token::bearer_for(
        d.webhook_url.kind(),
        d.tenant_id.as_deref(),
        clients.flows.as_deref(),
    )
    .await
    {
        Ok(bearer) => bearer,
        Err(e) if e.transient() => return schedule.retry(d, None, e.to_string()),
        Err(e) => {
            return Outcome::Dead {
                error: e.to_string(),
            }
        }
    };
    let mut request = client
        .post(d.webhook_url.as_str())
        .header("idempotency-key", format!("{}:{}", d.event_id, d.entity_id));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let sent = request.json(&card).send().await;
    let res = match sent {
        Ok(r) => r,
        Err(e) => {
            return schedule.retry(d, None, format!("webhook unreachable: {}", without_url(&e)))
        }
    };
    let status = res.status().as_u16();
    *code = Some(status);
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = res.text().await.unwrap_or_default();
    classify(d, status, retry_after, &body, schedule)
}

/// One attempt on the bot path: the team's service URL from its install, the card posted
/// to the channel as the bot (the thread's rate windows were reserved by the claim, as a
/// webhook's are). An install that is gone, or 403 `BotNotInConversationRoster`, disables
/// the connection: the app was removed from the team.
async fn bot_attempt(
    d: &Due,
    mut card: serde_json::Value,
    bot: Option<&BotDelivery>,
    schedule: Schedule,
) -> Outcome {
    let Some(target) = d.webhook_url.bot_target() else {
        return Outcome::Dead {
            error: "the connection's bot target is unreadable".into(),
        };
    };
    let Some(bot) = bot else {
        // Another instance may be configured; this one is not (yet): try again later.
        return schedule.retry(
            d,
            None,
            "this server does not post as the app's bot (set CONNECTOR_BOT_APP_ID and CONNECTOR_BOT_APP_PASSWORD or CONNECTOR_BOT_MANAGED_IDENTITY)".into(),
        );
    };
    let install = match bot.installs.bot_install(&target.tenant, &target.team).await {
        Ok(Some(install)) => install,
        Ok(None) => {
            return Outcome::Disable {
                error: crate::bot::REMOVED_FROM_TEAM.into(),
            }
        }
        Err(e) => return schedule.retry(d, None, format!("the bot's install cannot be read: {e}")),
    };
    // The Bot Framework's attachments take no `contentUrl` beside inline content.
    if let Some(attachments) = card["attachments"].as_array_mut() {
        for a in attachments {
            if let Some(a) = a.as_object_mut() {
                a.remove("contentUrl");
            }
        }
    }
    match bot
        .poster
        .send(&install.service_url, &target.channel, &card)
        .await
    {
        Sent::Posted { .. } => Outcome::Delivered,
        Sent::Retry { after, error } => {
            let error = if error.contains(" answered 429") {
                format!("{THROTTLED} (429): {error}")
            } else {
                error
            };
            schedule.retry(d, after.map(|a| a.as_secs().max(1)), error)
        }
        Sent::Removed { error } => {
            tracing::warn!(entity_id = %d.entity_id, %error, "the app's bot is no longer in the team");
            Outcome::Disable {
                error: crate::bot::REMOVED_FROM_TEAM.into(),
            }
        }
        Sent::Failed { error } => Outcome::Dead { error },
    }
}

/// Whether a retry's error says Teams throttled the post.
pub fn throttled(error: &str) -> bool {
    error.starts_with(THROTTLED)
}

/// `status` and `body` read by `url`'s kind, the error text without the URL.
fn answer_of(url: &WebhookUrl, status: u16, body: &str) -> Answer {
    read_answer(url.kind(), status, body).map_text(|e| without_secrets(e, url))
}

/// What an answer means for the delivery.
fn classify(
    d: &Due,
    status: u16,
    retry_after: Option<u64>,
    body: &str,
    schedule: Schedule,
) -> Outcome {
    match answer_of(&d.webhook_url, status, body) {
        Answer::Delivered => Outcome::Delivered,
        Answer::Transient(error) => schedule.retry(d, retry_after, error),
        Answer::Gone(error) => Outcome::Disable { error },
        Answer::Refused(error) => Outcome::Dead { error },
    }
}

/// How long a webhook may take to answer a card sent outside the outbox: under the API's
/// default deadline (10 s), so the person hears that the webhook was slow.
pub const POST_NOW_TIMEOUT: Duration = Duration::from_secs(8);

/// Posts `card` to `url` once, now, outside the outbox: the test card a person sends before
/// any connection is stored with the webhook; `bearer` for a flow that takes only signed-in
/// callers. `Err` says why the webhook did not take it.
pub async fn post_now(
    url: &WebhookUrl,
    card: &serde_json::Value,
    bearer: Option<&str>,
) -> Result<(), String> {
    let client = if url.is_dev_inbox() {
        dev_inbox_client(POST_NOW_TIMEOUT)
    } else {
        webhook_client(POST_NOW_TIMEOUT)
    };
    let mut request = client.post(url.as_str());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let res = request
        .json(card)
        .send()
        .await
        .map_err(|e| format!("webhook unreachable: {}", without_url(&e)))?;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    match answer_of(url, status, &body) {
        Answer::Delivered => Ok(()),
        Answer::Transient(e) | Answer::Gone(e) | Answer::Refused(e) => Err(e),
    }
}

impl Schedule {
    /// The next try after attempt `d.attempts + 1` failed, at least `retry_after` seconds
    /// away (capped at a day); dead with the last error once the schedule is used up.
    fn retry(self, d: &Due, retry_after: Option<u64>, error: String) -> Outcome {
        let Some(base) = RETRY_SCHEDULE_MS.get(d.attempts as usize) else {
            return Outcome::Dead {
                error: format!(
                    "{error} (gave up after {MAX_ATTEMPTS} attempts over more than a day)"
                ),
            };
        };
        let jitter = rand::random::<f64>() * 0.2 + 0.9;
        let backoff = (*base as f64 * jitter) as i64 / i64::from(self.divisor.max(1));
        let asked = retry_after.unwrap_or(0).min(86_400) as i64 * 1_000;
        Outcome::Retry {
            at_ms: now_ms() + backoff.max(asked),
            error,
        }
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

    const REAL: Schedule = Schedule { divisor: 1 };

    const FLOW: &str = "https://default1.2a.environment.api.powerplatform.com/powerautomate/automations/direct/cu/07/workflows/abc/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIGNATURE";

    fn due(attempts: u32) -> Due {
        due_to("https://a.webhook.office.com/x", attempts)
    }

    fn due_to(url: &str, attempts: u32) -> Due {
        Due {
            delivery_id: 1,
            token: 1,
            event_id: "e".into(),
            entity_id: "c".into(),
            webhook_url: WebhookUrl::trusted(url.into()),
            settings: Default::default(),
            event: "{}".into(),
            attempts,
            tenant_id: None,
        }
    }

    #[test]
    fn each_answer_kind_has_its_outcome() {
        let c = |attempts, status, body| classify(&due(attempts), status, None, body, REAL);
        assert_eq!(c(0, 200, "1"), Outcome::Delivered);
        assert_eq!(c(0, 202, ""), Outcome::Delivered);
        assert!(matches!(
            c(
                0,
                200,
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId"
            ),
            Outcome::Retry { .. }
        ));
        assert!(matches!(c(0, 410, ""), Outcome::Disable { .. }));
        assert!(matches!(c(0, 404, ""), Outcome::Disable { .. }));
        assert!(matches!(c(0, 500, ""), Outcome::Retry { .. }));
        assert!(matches!(c(0, 400, "bad card"), Outcome::Dead { .. }));
        assert!(matches!(c(MAX_ATTEMPTS - 1, 500, ""), Outcome::Dead { .. }));
    }

    #[test]
    fn each_workflows_answer_has_its_outcome() {
        let c = |status, body: &str| classify(&due_to(FLOW, 0), status, None, body, REAL);
        let flow_error = |code: &str, message: &str| {
            serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
        };
        assert_eq!(c(202, ""), Outcome::Delivered);
        let disabled = |o: Outcome| match o {
            Outcome::Disable { error } => error,
            other => panic!("{other:?}"),
        };
        let off = flow_error(
            "WorkflowTriggerIsNotEnabled",
            "The workflow 'abc' cannot be triggered because it is in state 'Disabled'.",
        );
        assert!(disabled(c(400, &off)).starts_with("the workflow is turned off"));
        let gone = flow_error("WorkflowNotFound", "The workflow 'abc' could not be found.");
        assert!(disabled(c(404, &gone)).starts_with("the workflow was not found"));
        let anon = flow_error("DirectApiAuthorizationRequired", "");
        assert!(disabled(c(401, &anon)).contains("'Who can trigger the flow'"));
        let claims = flow_error("MisMatchingOAuthClaims", "");
        assert!(disabled(c(403, &claims)).contains("'Who can trigger the flow'"));
        let schema = flow_error(
            "TriggerInputSchemaMismatch",
            "Required properties are missing from object: contentUrl.",
        );
        assert!(
            matches!(c(400, &schema), Outcome::Dead { error } if error.contains("TriggerInputSchemaMismatch"))
        );
        let now = now_ms();
        let slow_down = flow_error("WorkflowRequestsThrottled", "slow down");
        let Outcome::Retry { at_ms, error } =
            classify(&due_to(FLOW, 0), 429, Some(60), &slow_down, REAL)
        else {
            panic!()
        };
        assert!(at_ms >= now + 60_000, "Retry-After is honoured");
        assert!(throttled(&error), "{error}");
    }

    #[test]
    fn an_error_never_carries_the_webhook_url() {
        let echo = format!("no such trigger: {FLOW}");
        let Outcome::Dead { error } = classify(&due_to(FLOW, 0), 400, None, &echo, REAL) else {
            panic!()
        };
        assert!(
            !error.contains("SIGNATURE") && !error.contains("/workflows/abc/"),
            "{error}"
        );
    }

    #[test]
    fn retry_after_is_honoured_and_backoff_grows() {
        let now = now_ms();
        let Outcome::Retry { at_ms, .. } = classify(&due(0), 429, Some(30), "", REAL) else {
            panic!()
        };
        assert!(at_ms >= now + 30_000);
        let Outcome::Retry { at_ms: early, .. } = REAL.retry(&due(0), None, "x".into()) else {
            panic!()
        };
        let Outcome::Retry { at_ms: late, .. } = REAL.retry(&due(5), None, "x".into()) else {
            panic!()
        };
        assert!(late - now > early - now, "later attempts wait longer");
    }

    #[test]
    fn retries_go_on_for_more_than_a_day_then_the_delivery_is_dead_with_its_last_error() {
        let mut waited = 0;
        for attempts in 0..MAX_ATTEMPTS - 1 {
            let before = now_ms();
            let Outcome::Retry { at_ms, .. } = REAL.retry(&due(attempts), None, "x".into()) else {
                panic!("attempt {attempts} is retried")
            };
            waited += at_ms - before;
        }
        assert!(waited >= 24 * 3_600_000, "{waited} ms");
        assert_eq!(
            classify(&due(MAX_ATTEMPTS - 1), 503, None, "down", REAL),
            Outcome::Dead {
                error: format!(
                    "webhook answered 503: down (gave up after {MAX_ATTEMPTS} attempts over more than a day)"
                )
            }
        );
    }

    #[test]
    fn retries_are_spread_by_ten_percent_of_jitter() {
        // Attempt 3 waits 5 min: deliveries that failed together come back spread out.
        let waits: Vec<i64> = (0..200)
            .map(|_| {
                let before = now_ms();
                let Outcome::Retry { at_ms, .. } = REAL.retry(&due(2), None, "x".into()) else {
                    panic!()
                };
                at_ms - before
            })
            .collect();
        let (least, most) = (*waits.iter().min().unwrap(), *waits.iter().max().unwrap());
        assert!(
            least >= 270_000 - 5 && most <= 330_000 + 5,
            "{least}..{most}"
        );
        assert!(
            most - least > 30_000,
            "spread over the band: {least}..{most}"
        );
    }

    #[test]
    fn the_test_divisor_shortens_the_schedule() {
        let fast = Schedule { divisor: 100 };
        let before = now_ms();
        let Outcome::Retry { at_ms, .. } = fast.retry(&due(3), None, "x".into()) else {
            panic!()
        };
        assert!(
            at_ms - before <= 1_800_000 * 11 / 10 / 100 + 5,
            "{}",
            at_ms - before
        );
    }
}
