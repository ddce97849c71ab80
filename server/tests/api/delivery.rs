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
    event, event_types, flow_hook, highlighted_and_plain_types, subscription, until, TestApp,
    SECRET,
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
    let d = TestApp::dev().await;
    let hook = d.connect("c", &[first()], "", Compact).await;
    retried_then_delivered_by(d, hook, mode, error).await;
}

async fn retried_then_delivered_by(d: TestApp, hook: String, mode: &str, error: &str) {
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
    let hook = d.connect("c", &[first()], "", Compact).await;
    retried_then_delivered_by(d, hook, "slow", "timed out").await;
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
    let flow = flow_hook(&d.url, "f10w");
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
    let flow = flow_hook(&d.url, "b0d9");
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

/// Every Adaptive Card the server can build for this connector: each event type, both
/// styles, highlighted or not, with short and cut-down long texts and many facts.
fn every_workflows_card() -> Vec<Value> {
    use connector_server::delivery::cards;
    use connector_server::domain::WebhookKind;
    let mut bodies = Vec::new();
    for kind in event_types() {
        for style in [Compact, Detailed] {
            for highlight in [false, true] {
                let settings: connector_settings::Values =
                    serde_json::from_value(subscription("Nightly", &[kind], "", style, highlight))
                        .unwrap();
                for (text, facts, link) in [
                    ("Step 'test' failed".to_string(), 1, true),
                    ("ü…\"<b>x</b>\n".repeat(3_000), 40, false),
                    (String::new(), 0, false),
                ] {
                    let facts: Vec<Value> = (0..facts)
                        .map(|i| json!({ "name": format!("Fact {i}"), "value": "v".repeat(300) }))
                        .collect();
                    let event: cards::Event = serde_json::from_value(json!({
                        "type": kind, "title": "Build 42 failed", "text": text, "facts": facts,
                        "link": link.then_some("https://ci.example.com/42"), "project": "api",
                    }))
                    .unwrap();
                    bodies.push(cards::card(
                        &event,
                        &settings,
                        WebhookKind::Workflows { signed: true },
                    ));
                }
            }
        }
    }
    let test = cards::test_event(None, &connector_settings::default_values());
    bodies.push(cards::card(
        &test,
        &connector_settings::default_values(),
        WebhookKind::Workflows { signed: true },
    ));
    bodies
}

#[test]
fn every_card_the_server_builds_is_one_microsofts_adaptive_card_renderer_takes() {
    use std::io::Write;
    let bodies = every_workflows_card();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("node_modules/adaptivecards").is_dir(),
        "the npm package adaptivecards is missing: `cargo xtask test` installs it (npm ci)"
    );
    let mut check = std::process::Command::new("node")
        .arg(root.join("emulator/check-cards.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&bodies).unwrap().as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("{} cards checked, 0 problems", bodies.len())),
        "{report}"
    );
}

// ---- what a Workflows trigger answers ----

/// A Workflows connection whose inbox answers `mode`: the first event disables the
/// connection with a reason containing each of `reason`, and a second one is not posted.
async fn a_flow_answering(mode: &str, reason: &[&str]) {
    let d = TestApp::dev().await;
    let hook = d.connect_flow("c", &[first()], Compact).await;
    d.mode(&hook, mode).await;
    d.send(&event(first(), "one")).await;
    until("disabled", 10, async || {
        d.status("c", &hook).await["disabled"].is_string()
    })
    .await;
    let s = d.status("c", &hook).await;
    let why = s["disabled"].as_str().unwrap();
    for part in reason {
        assert!(why.contains(part), "{mode}: {why}");
    }
    assert!(
        !why.contains("sig=abc") && !why.contains("/workflows/c/"),
        "{why}"
    );
    assert_eq!(s["dead"], 1, "{mode}: {s}");
    stops_posting(&d, &hook).await;
}

/// A disabled connection: a new event makes no delivery and the inbox gets no post.
async fn stops_posting(d: &TestApp, hook: &str) {
    let before = d.received(hook).await;
    assert!(before >= 1);
    let res: Value = d.send(&event(first(), "two")).await.json().await.unwrap();
    assert_eq!(
        res["deliveries"], 0,
        "a disabled connection gets nothing more"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(d.received(hook).await, before, "no further post");
}

#[tokio::test]
async fn a_turned_off_workflow_disables_the_connection_saying_how_to_turn_it_on() {
    a_flow_answering(
        "trigger-disabled",
        &[
            "the workflow is turned off (400 WorkflowTriggerIsNotEnabled)",
            "turn it on in Power Automate",
            "save the tab's settings again",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_deleted_workflow_disables_the_connection_saying_to_create_a_new_one() {
    a_flow_answering(
        "deleted",
        &[
            "the workflow was deleted (400 WorkflowTriggerIsNotEnabled)",
            "paste its URL in the tab's settings",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_dormant_workflow_disables_the_connection_naming_the_90_days() {
    a_flow_answering(
        "dormant",
        &[
            "the workflow is turned off (400 WorkflowTriggerIsNotEnabled)",
            "90 days without a trigger",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_workflow_disables_the_connection_without_speaking_of_connectors() {
    a_flow_answering(
        "not-found",
        &["the workflow was not found (404 WorkflowNotFound)"],
    )
    .await;
}

#[tokio::test]
async fn a_workflow_for_signed_in_callers_disables_the_connection_naming_who_can_trigger_it() {
    a_flow_answering(
        "unauthorized",
        &[
            "(401 DirectApiAuthorizationRequired)",
            "'Who can trigger the flow' to Anyone",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_token_of_the_wrong_tenant_disables_the_connection_naming_who_can_trigger_it() {
    a_flow_answering(
        "mismatching-claims",
        &[
            "(403 MisMatchingOAuthClaims)",
            "'Who can trigger the flow' to Anyone",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_card_the_trigger_schema_refuses_is_dead_with_the_code_and_the_connection_stays() {
    let d = TestApp::dev().await;
    let hook = d.connect_flow("c", &[first()], Compact).await;
    d.mode(&hook, "schema-mismatch").await;
    d.send(&event(first(), "one")).await;
    until("dead", 10, async || d.status("c", &hook).await["dead"] == 1).await;
    let s = d.status("c", &hook).await;
    let error = s["lastError"].as_str().unwrap();
    assert!(error.contains("(400 TriggerInputSchemaMismatch)"), "{s}");
    assert!(error.contains("missing from object: contentUrl"), "{s}");
    assert!(
        s["disabled"].is_null(),
        "one card refused, not the webhook: {s}"
    );
    assert_eq!(d.received(&hook).await, 1, "refused, not retried");
}

#[tokio::test]
async fn a_throttled_workflow_is_retried_after_retry_after() {
    let d = TestApp::dev().await;
    let hook = d.connect_flow("c", &[first()], Compact).await;
    retried_then_delivered_by(
        d,
        hook,
        "throttled",
        "throttled by teams (429 WorkflowRequestsThrottled)",
    )
    .await;
}

#[tokio::test]
async fn our_cards_pass_the_trigger_schema_in_both_styles() {
    let d = TestApp::dev().await;
    let compact = d.connect_flow("compact", &[first()], Compact).await;
    let detailed = d.connect_flow("detailed", &[first()], Detailed).await;
    d.send(&event(first(), "")).await;
    for (id, hook) in [("compact", &compact), ("detailed", &detailed)] {
        until("the card", 10, async || {
            d.status(id, hook).await["delivered"] == 1
        })
        .await;
        let s = d.status(id, hook).await;
        assert!(s["lastError"].is_null(), "{id}: {s}");
        let card = &d.inbox(hook).await[0]["body"];
        let attachment = &card["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(
            attachment.get("contentUrl").is_some_and(Value::is_null),
            "{card}"
        );
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    }
    // The same inbox refuses a card without contentUrl: the check above could fail.
    let bare = json!({ "type": "message", "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive",
                       "content": { "type": "AdaptiveCard", "version": "1.4", "body": [] } }] });
    let res = d.client.post(&compact).json(&bare).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TriggerInputSchemaMismatch");
}

#[tokio::test]
async fn a_connection_left_behind_by_a_failed_removal_stops_once_its_workflow_is_turned_off() {
    let d = TestApp::dev().await;
    let hook = d.connect_flow("c", &[first()], Compact).await;
    // Teams removes the tab even when the page's DELETE fails (here: sent without the
    // webhook URL or edit key), so the connection lives on and keeps posting.
    let removal = d
        .client
        .delete(format!("{}/api/connections/c", d.url))
        .send()
        .await
        .unwrap();
    assert!(removal.status().is_client_error(), "{}", removal.status());
    d.send(&event(first(), "still")).await;
    until("still posting", 10, async || {
        d.status("c", &hook).await["delivered"] == 1
    })
    .await;
    // The channel's owner turns the workflow off to stop it.
    d.mode(&hook, "trigger-disabled").await;
    d.send(&event(first(), "off")).await;
    until("disabled", 10, async || {
        d.status("c", &hook).await["disabled"].is_string()
    })
    .await;
    stops_posting(&d, &hook).await;
}

#[tokio::test]
async fn a_test_card_before_saving_says_the_workflow_is_turned_off() {
    let d = TestApp::dev().await;
    let hook = flow_hook(&d.url, "draft");
    let try_card = async || -> Value {
        d.client
            .post(format!("{}/api/test-card", d.url))
            .json(&json!({ "webhookUrl": hook, "settings": { "card_style": "detailed" } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    assert_eq!(
        try_card().await,
        json!({ "delivered": true }),
        "the schema takes it"
    );
    for (mode, says) in [
        (
            "trigger-disabled",
            "the workflow is turned off (400 WorkflowTriggerIsNotEnabled)",
        ),
        ("unauthorized", "'Who can trigger the flow' to Anyone"),
        ("schema-mismatch", "(400 TriggerInputSchemaMismatch)"),
    ] {
        d.mode(&hook, mode).await;
        let res = try_card().await;
        assert_eq!(res["delivered"], false, "{mode}");
        let error = res["error"].as_str().unwrap();
        assert!(error.contains(says), "{mode}: {error}");
        assert!(!error.contains("sig=abc"), "{error}");
    }
}

#[tokio::test]
async fn the_inbox_offers_workflows_modes_for_workflows_paths_only() {
    let d = TestApp::dev().await;
    let connector = d.hook("c");
    let path = connector.split("/emulator/webhook/").nth(1).unwrap();
    let res = d
        .client
        .put(format!("{}/emulator/api/inbox-mode/{path}", d.url))
        .json(&json!({ "mode": "trigger-disabled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("mode 'trigger-disabled' is a Workflows trigger's answer"),
        "{text}"
    );
    let res = d
        .client
        .put(format!("{}/emulator/api/inbox-mode/{path}", d.url))
        .json(&json!({ "mode": "sleepy" }))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(
        text.contains("mode 'sleepy' is not one of ok, throttled, rate-limited, gone, not-found, error, slow, trigger-disabled, deleted, dormant, unauthorized, mismatching-claims, schema-mismatch"),
        "{text}"
    );
    let modes = async |hook: &str| -> Value {
        let path = hook.split("/emulator/webhook/").nth(1).unwrap();
        d.get_path(&format!("/emulator/api/inbox/{path}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["modes"]
            .clone()
    };
    assert!(!modes(&connector)
        .await
        .as_array()
        .unwrap()
        .contains(&json!("dormant")));
    assert!(modes(&flow_hook(&d.url, "f"))
        .await
        .as_array()
        .unwrap()
        .contains(&json!("dormant")));
    // A connector path keeps its plain 404.
    d.mode(&connector, "not-found").await;
    let res = d
        .client
        .post(&connector)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.text().await.unwrap(), "not found");
}
