//! Events in, cards out: signed events, matching, the outbox and every kind of webhook
//! answer, against the emulator's webhook inbox on the same server (dev mode). The fields
//! and event types come from the connector's roles: `cargo xtask test` runs these tests
//! against `connector.toml` and again against `connectors/uptime-watch.toml`.

use std::time::Duration;

use connector_server::sign_event as sign;
use connector_settings::CardStyle::{Compact, Detailed};
use connector_settings::CONNECTOR;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    event, event_types, highlighted_and_plain_types, subscription, until, TestApp, SECRET,
};

/// The connector's first event type, the one most tests send.
fn first() -> &'static str {
    event_types()[0]
}

/// Another event type.
fn second() -> &'static str {
    event_types()[1]
}

#[tokio::test]
async fn unsigned_badly_signed_and_old_events_are_refused() {
    let d = TestApp::dev().await;
    let body = event(first(), "api").to_string();
    let post = |ts: i64, sig: String| {
        d.client
            .post(format!("{}/api/events", d.url))
            .header("x-connector-timestamp", ts.to_string())
            .header("x-connector-signature", sig)
            .body(body.clone())
            .send()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let missing = d
        .client
        .post(format!("{}/api/events", d.url))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let wrong = post(now, sign("another-secret", now, body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("signature does not match"));
    let old = post(now - 3600, sign(SECRET, now - 3600, body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert!(old.text().await.unwrap().contains("away from now"));
}

#[tokio::test]
async fn an_event_of_an_undeclared_type_is_400() {
    let d = TestApp::dev().await;
    let res = d.send(&event("coffee_ready", "")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    let want = format!(
        "event type 'coffee_ready' is not one of: {}",
        event_types().join(", ")
    );
    assert!(text.contains(&want), "{text}");
}

#[tokio::test]
async fn an_event_reaches_exactly_the_matching_connections_as_a_card() {
    let d = TestApp::dev().await;
    let wants = d.connect("wants", &[first()], "api", Detailed).await;
    let other_type = d.connect("other-type", &[second()], "", Compact).await;
    let other_project = d.connect("other-project", &[first()], "web", Compact).await;
    let res = d.send(&event(first(), "api-gateway")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let accepted: Value = res.json().await.unwrap();
    assert_eq!(accepted["deliveries"], 1);
    until("the card", 10, async || !d.inbox(&wants).await.is_empty()).await;
    let card = &d.inbox(&wants).await[0];
    assert_eq!(card["body"]["@type"], "MessageCard");
    assert_eq!(card["body"]["title"], "Build 42 failed");
    assert_eq!(card["body"]["sections"][0]["facts"][0]["value"], "main");
    let key = card["headers"]["idempotency-key"].as_str().unwrap();
    assert_eq!(
        key,
        format!("{}:wants", accepted["eventId"].as_str().unwrap())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(d.inbox(&other_type).await.is_empty());
    assert!(d.inbox(&other_project).await.is_empty());
    assert_eq!(d.status("wants", &wants).await["delivered"], 1);
}

#[tokio::test]
async fn a_repeated_event_id_is_accepted_once() {
    let d = TestApp::dev().await;
    let hook = d.connect("c", &[first()], "", Compact).await;
    let mut e = event(first(), "");
    e["id"] = json!("build-42");
    let first: Value = d.send(&e).await.json().await.unwrap();
    let again = d.send(&e).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (first["duplicate"].clone(), again["duplicate"].clone()),
        (json!(false), json!(true))
    );
    until("the card", 10, async || !d.inbox(&hook).await.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(d.inbox(&hook).await.len(), 1);
}

#[tokio::test]
async fn a_gone_webhook_disables_the_connection_until_it_is_saved_again() {
    let d = TestApp::dev().await;
    let hook = d.connect("c", &[first()], "", Compact).await;
    d.mode(&hook, "gone").await;
    // Distinct events: the same body signed in the same second would be one event.
    d.send(&event(first(), "one")).await;
    until("disabled", 10, async || {
        d.status("c", &hook).await["disabled"].is_string()
    })
    .await;
    let s = d.status("c", &hook).await;
    assert_eq!(s["dead"], 1);
    assert!(s["disabled"].as_str().unwrap().contains("410"));
    // Disabled connections get nothing more.
    let res: Value = d.send(&event(first(), "two")).await.json().await.unwrap();
    assert_eq!(res["deliveries"], 0);
    // Saving re-enables it.
    d.mode(&hook, "ok").await;
    let settings = subscription("Sub c", &[first()], "", Compact, false);
    d.client
        .put(format!("{}/api/connections/c", d.url))
        .json(&json!({ "webhookUrl": hook, "settings": settings }))
        .send()
        .await
        .unwrap();
    assert!(d.status("c", &hook).await["disabled"].is_null());
    let res: Value = d.send(&event(first(), "three")).await.json().await.unwrap();
    assert_eq!(res["deliveries"], 1);
}

#[tokio::test]
async fn a_404_webhook_disables_the_connection_too() {
    let d = TestApp::dev().await;
    let hook = d.connect("c", &[first()], "", Compact).await;
    d.mode(&hook, "not-found").await;
    d.send(&event(first(), "")).await;
    until("disabled", 10, async || {
        d.status("c", &hook).await["disabled"].is_string()
    })
    .await;
}

async fn retried_then_delivered(mode: &str, error: &str) {
    retried_then_delivered_by(TestApp::dev().await, mode, error).await;
}

async fn retried_then_delivered_by(d: TestApp, mode: &str, error: &str) {
    let hook = d.connect("c", &[first()], "", Compact).await;
    d.mode(&hook, mode).await;
    d.send(&event(first(), "")).await;
    until("a failed attempt", 10, async || {
        d.status("c", &hook).await["lastError"].is_string()
    })
    .await;
    let s = d.status("c", &hook).await;
    assert_eq!(s["pending"], 1, "{mode}: kept for a retry, not dropped");
    assert!(
        s["lastError"].as_str().unwrap().contains(error),
        "{mode}: {s}"
    );
    d.mode(&hook, "ok").await;
    until("the retry", 15, async || {
        d.status("c", &hook).await["delivered"] == 1
    })
    .await;
    // Every attempt carried the same idempotency key.
    let keys: Vec<Value> = d
        .inbox(&hook)
        .await
        .iter()
        .map(|m| m["headers"]["idempotency-key"].clone())
        .collect();
    assert!(
        keys.len() >= 2 && keys.iter().all(|k| *k == keys[0]),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_5xx_answer_is_retried_with_backoff() {
    retried_then_delivered("error", "webhook answered 500").await;
}

#[tokio::test]
async fn the_teams_throttle_text_is_retried() {
    retried_then_delivered("throttled", "throttled by teams").await;
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    retried_then_delivered("rate-limited", "throttled by teams (429)").await;
}

#[tokio::test]
async fn a_webhook_that_does_not_answer_in_time_is_retried() {
    // The inbox's "slow" answer takes 15 s; with a 1 s time-out the attempt fails.
    let d = TestApp::dev_with(|c| c.webhook_timeout = 1).await;
    retried_then_delivered_by(d, "slow", "timed out").await;
}

#[tokio::test]
async fn the_per_second_rate_window_is_never_exceeded() {
    let d = TestApp::dev().await;
    let hook = d.connect("c", &[first()], "", Compact).await;
    for i in 0..10 {
        assert_eq!(
            d.send(&event(first(), &format!("project-{i}")))
                .await
                .status(),
            StatusCode::ACCEPTED
        );
    }
    until("ten cards", 20, async || d.inbox(&hook).await.len() == 10).await;
    let times: Vec<time::OffsetDateTime> = d
        .inbox(&hook)
        .await
        .iter()
        .map(|m| {
            time::OffsetDateTime::parse(
                m["receivedAt"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    for (i, t) in times.iter().enumerate() {
        let in_second = times[i..]
            .iter()
            .take_while(|u| **u - *t < time::Duration::seconds(1))
            .count();
        assert!(
            in_second <= 4,
            "{in_second} posts within one second from post {i}"
        );
    }
}

/// A Workflows webhook (today's shape, signed) on `d`'s emulator inbox, named `id`.
fn flow_hook(d: &TestApp, id: &str) -> String {
    format!(
        "{}/emulator/webhook/powerautomate/automations/direct/workflows/{id}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s{id}",
        d.url
    )
}

/// When each card in the emulator inbox behind `hook` arrived, in ms after the first.
async fn arrivals(d: &TestApp, hook: &str) -> Vec<f64> {
    let times: Vec<time::OffsetDateTime> = d
        .inbox(hook)
        .await
        .iter()
        .map(|m| {
            time::OffsetDateTime::parse(
                m["receivedAt"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    let first = *times.iter().min().unwrap();
    let mut ms: Vec<f64> = times
        .iter()
        .map(|t| (*t - first).as_seconds_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

/// The most cards of `ms` (ascending) in any `window` ms.
fn most_within(ms: &[f64], window: f64) -> usize {
    (0..ms.len())
        .map(|i| ms[i..].iter().take_while(|t| **t - ms[i] < window).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_burst_goes_to_a_workflows_webhook_at_the_flow_bots_pace_and_to_a_connector_at_four_a_second(
) {
    use connector_server::domain::rate_windows::{exceeded, Windows, DEFAULT_DAILY_BUDGET};
    let d = TestApp::dev().await;
    let connector = d.connect("conn", &[first()], "", Compact).await;
    let flow = flow_hook(&d, "f10w");
    let settings = subscription("Flow", &[first()], "", Compact, false);
    d.create("flow", &flow, &settings).await;
    for i in 0..20 {
        let res = d.send(&event(first(), &format!("p{i}"))).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    until("20 cards in each inbox", 30, async || {
        d.inbox(&flow).await.len() == 20 && d.inbox(&connector).await.len() == 20
    })
    .await;
    let (to_flow, to_connector) = (arrivals(&d, &flow).await, arrivals(&d, &connector).await);
    // The Flow bot takes 7 a second and 8 in 2 s; a connector 4 a second.
    assert!(
        most_within(&to_flow, 1_000.0) > 4,
        "more than a connector's 4 in a second: {to_flow:?}"
    );
    assert_eq!(
        exceeded(&Windows::workflows(DEFAULT_DAILY_BUDGET), &to_flow),
        0,
        "{to_flow:?}"
    );
    assert!(to_flow[19] < 10_000.0, "within seconds: {to_flow:?}");
    assert!(most_within(&to_connector, 1_000.0) <= 4, "{to_connector:?}");
    assert_eq!(exceeded(&Windows::connector(), &to_connector), 0);
    assert!(
        to_connector[19] > 3_500.0,
        "20 at 4 a second are spread over more than 4 s: {to_connector:?}"
    );
}

#[tokio::test]
async fn a_workflows_webhook_gets_no_more_than_its_daily_budget_and_the_rest_waits() {
    let d = TestApp::dev_with(|c| c.workflows_daily_budget = 3).await;
    let flow = flow_hook(&d, "b0d9");
    let settings = subscription("Flow", &[first()], "", Compact, false);
    d.create("flow", &flow, &settings).await;
    let connector = d.connect("conn", &[first()], "", Compact).await;
    for i in 0..5 {
        d.send(&event(first(), &format!("p{i}"))).await;
    }
    until("the connector's five", 20, async || {
        d.inbox(&connector).await.len() == 5
    })
    .await;
    until("the flow's three", 10, async || {
        d.inbox(&flow).await.len() == 3
    })
    .await;
    let status = d.status("flow", &flow).await;
    assert_eq!(status["delivered"], 3, "{status}");
    assert_eq!(status["pending"], 2, "the rest waits for the day: {status}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(d.inbox(&flow).await.len(), 3, "nothing more today");
}

#[tokio::test]
async fn a_test_card_goes_through_the_outbox_and_reports_its_outcome() {
    let d = TestApp::dev().await;
    let hook = d.connect("c", &[second()], "", Compact).await;
    let res = d
        .client
        .post(format!("{}/api/connections/c/test-card", d.url))
        .header("x-teams-webhook-url", &hook)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let event_id = res.json::<Value>().await.unwrap()["eventId"]
        .as_str()
        .unwrap()
        .to_string();
    let status = async || -> Value {
        d.client
            .get(format!(
                "{}/api/connections/c/deliveries?event={event_id}",
                d.url
            ))
            .header("x-teams-webhook-url", &hook)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    until("the test card", 10, async || {
        status().await["delivered"] == 1
    })
    .await;
    assert!(d.inbox(&hook).await[0]["body"]["title"]
        .as_str()
        .unwrap()
        .starts_with(&format!("Test card from {}", CONNECTOR.name)));
    let no_hook = d
        .client
        .post(format!("{}/api/connections/c/test-card", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_hook.status(),
        StatusCode::UNAUTHORIZED,
        "the webhook url is needed"
    );
}

#[tokio::test]
async fn cards_follow_the_style_and_highlight_roles_in_the_connectors_colour() {
    let d = TestApp::dev().await;
    let (marked, plain) = highlighted_and_plain_types();
    let loud = d.hook("loud");
    let settings = subscription("Loud", &[marked, plain], "", Detailed, true);
    d.create("loud", &loud, &settings).await;
    let quiet = d.connect("quiet", &[marked], "", Compact).await;
    for kind in [marked, plain] {
        let mut e = event(kind, "");
        e["title"] = json!(kind);
        assert_eq!(d.send(&e).await.status(), StatusCode::ACCEPTED);
    }
    until("the cards", 10, async || {
        d.inbox(&loud).await.len() == 2 && d.inbox(&quiet).await.len() == 1
    })
    .await;
    let card = |cards: &[Value], kind: &str| -> Value {
        cards
            .iter()
            .map(|m| m["body"].clone())
            .find(|b| b["title"] == kind)
            .unwrap_or_else(|| panic!("no card '{kind}' in {cards:?}"))
    };
    let accent = CONNECTOR.accent_color.trim_start_matches('#');
    let loud_cards = d.inbox(&loud).await;
    let urgent = card(&loud_cards, marked);
    assert_eq!(urgent["themeColor"], "C4314B");
    assert_eq!(urgent["sections"][0]["activitySubtitle"], "Urgent");
    assert_eq!(
        urgent["sections"][0]["facts"][0]["name"], "Branch",
        "detailed"
    );
    let calm = card(&loud_cards, plain);
    assert_eq!(calm["themeColor"], accent);
    assert!(calm["sections"][0].get("activitySubtitle").is_none());
    // Highlighting off, compact cards: the accent colour, no text, no facts.
    let compact = card(&d.inbox(&quiet).await, marked);
    assert_eq!(compact["themeColor"], accent);
    assert!(compact["sections"][0].get("activitySubtitle").is_none());
    assert!(compact["sections"][0].get("text").is_none());
    assert!(compact["sections"][0].get("facts").is_none());
}
