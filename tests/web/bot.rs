//! A configurable tab on the bot path: a server that posts as the app's bot (`config.json`
//! says `bot`) and a tab in a team's channel ask `/api/bot/install`; with the app in the team
//! the form asks no webhook URL and Save sends the channel; without it the page says so and
//! offers the Workflows field; without a bot the page is as before.

use serde_json::{json, Value};
use wasm_bindgen_test::*;

use crate::support::*;

const WEBHOOK: &str = "field-webhook_url";
const TEAM: &str = "19:team@thread.tacv2";
const CHANNEL: &str = "19:deploys@thread.tacv2";

fn key() -> String {
    "cd".repeat(32)
}

fn install_asks() -> Vec<Value> {
    requests("GET")
        .into_iter()
        .filter(|r| r["path"] == "/api/bot/install")
        .collect()
}

fn install(available: bool, installed: bool) -> Value {
    json!({ "status": 200, "body": { "available": available, "installed": installed } })
}

/// A new tab in a team's channel, with a server that posts as the bot, and `install` as
/// the install question's answer (or answers, in turn).
fn new_tab(install: Value) -> Value {
    json!({ "webhookUrl": null, "teamId": TEAM, "channelId": CHANNEL, "config": { "bot": true },
        "responses": { "GET install": install, "PUT": { "echo": true, "editKey": key(), "kind": "auto" } } })
}

/// A tab saved before, whose connection has `kind`.
fn saved_tab(kind: &str, install: Value, frame: &str) -> Value {
    json!({ "webhookUrl": null, "teamId": TEAM, "channelId": CHANNEL, "config": { "bot": true },
        "entityId": "tab-1", "frameContext": frame,
        "contentUrl": format!("https://connector.example.com/?entityId=tab-1#editKey={}", key()),
        "responses": {
            "GET install": install,
            "GET tab-1": { "status": 200, "body": { "entityId": "tab-1", "configName": "Deploys",
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "webhookKind": kind,
                "settings": { "subscription_name": "Deploys", "events": ["deployment_finished"], "filter": "api",
                    "card_style": "detailed", "mention_channel": true } } },
            "GET deliveries": { "status": 200, "body": { "delivered": 2, "pending": 0, "dead": 0 } },
            "PUT": { "echo": true, "kind": "auto" } } })
}

fn sent_body(put: &Value) -> Value {
    serde_json::from_str(put["body"].as_str().unwrap()).unwrap()
}

#[wasm_bindgen_test]
async fn with_the_app_in_the_team_the_form_asks_no_url_and_save_sends_the_channel() {
    let _h = mount_form(new_tab(install(true, true))).await;
    let ask = &install_asks()[0];
    assert_eq!(
        ask["query"],
        "?tenantId=tenant-1&teamId=19%3Ateam%40thread.tacv2"
    );
    assert!(
        el(WEBHOOK).is_none(),
        "no webhook URL field on the bot path"
    );
    assert!(input("post-as-bot").checked());
    assert!(text_of("bot-posts-here").contains("#Deploys"));
    assert!(text_of("bot-choice").contains("How cards reach the channel"));
    type_into(NAME, "Nightly builds").await;
    until("validity true without a URL", || {
        last_validity() == Some(true)
    })
    .await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let puts = requests("PUT");
    assert_eq!(puts.len(), 1, "one save");
    let sent = sent_body(&puts[0]);
    assert_eq!(
        sent["bot"],
        json!({ "tenantId": "tenant-1", "teamId": TEAM, "channelId": CHANNEL })
    );
    assert!(sent.get("webhookUrl").is_none(), "{sent}");
    let set = &state()["setSettings"][0];
    assert!(set["contentUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("#editKey={}", key())));
    assert!(
        el(WEBHOOK).is_none(),
        "still on the bot path after the save"
    );
    assert!(
        el("send-test-card").is_some(),
        "the saved connection takes a test card"
    );
}

#[wasm_bindgen_test]
async fn without_the_app_in_the_team_the_page_says_so_offers_workflows_and_checks_again() {
    let _h = mount_form(new_tab(json!([install(true, false), install(true, true)]))).await;
    let said = text_of("bot-not-installed");
    assert!(said.contains("add the app to the team"), "{said}");
    assert_eq!(
        el("bot-not-installed")
            .unwrap()
            .get_attribute("role")
            .as_deref(),
        Some("status")
    );
    assert!(el(WEBHOOK).is_some(), "the Workflows path is offered");
    type_into(NAME, "Nightly builds").await;
    until("validity false without a URL", || {
        last_validity() == Some(false)
    })
    .await;
    click("bot-check-again").await;
    until("the bot path", || el("bot-posts-here").is_some()).await;
    assert_eq!(install_asks().len(), 2);
    assert!(el(WEBHOOK).is_none());
    until("validity true", || last_validity() == Some(true)).await;
}

#[wasm_bindgen_test]
async fn without_the_app_in_the_team_a_workflows_url_saves() {
    let _h = mount_form(new_tab(install(true, false))).await;
    type_into(NAME, "Nightly builds").await;
    type_into(WEBHOOK, FLOW).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let sent = sent_body(&requests("PUT")[0]);
    assert_eq!(sent["webhookUrl"], FLOW);
    assert!(sent.get("bot").is_none(), "{sent}");
}

#[wasm_bindgen_test]
async fn without_a_bot_the_page_is_as_before_and_asks_nothing() {
    // config.json names no bot: no question at all.
    let mut o = new_tab(install(true, true));
    o["config"] = json!({});
    let _h = mount_form(o).await;
    assert!(el(WEBHOOK).is_some());
    assert!(el("bot-choice").is_none() && el("bot-not-installed").is_none());
    assert!(
        install_asks().is_empty(),
        "no request beyond what is needed"
    );
    drop(_h);
    // A server that answers it does not post as the bot: the same page.
    let _h = mount_form(new_tab(install(false, false))).await;
    assert!(el(WEBHOOK).is_some());
    assert!(el("bot-choice").is_none() && el("bot-not-installed").is_none());
    drop(_h);
    // Not in a team's channel (a chat): nothing to ask about.
    let mut o = new_tab(install(true, true));
    o.as_object_mut().unwrap().remove("teamId");
    let _h = mount_form(o).await;
    assert!(el(WEBHOOK).is_some());
    assert!(install_asks().is_empty());
}

#[wasm_bindgen_test]
async fn a_failed_install_question_is_said_and_the_workflows_path_stays() {
    let _h = mount_form(new_tab(json!([
        { "status": 500, "body": { "error": "internal", "message": "boom" } },
        install(true, false)
    ])))
    .await;
    let alert = el("bot-check-failed").expect("the failure is said");
    assert_eq!(alert.get_attribute("role").as_deref(), Some("alert"));
    let said = text_of("bot-check-failed");
    assert!(
        said.contains("Could not find out whether the app is in this team"),
        "{said}"
    );
    assert!(said.contains("HTTP 500"), "{said}");
    assert!(el(WEBHOOK).is_some());
    click("bot-check-again").await;
    until("the second answer", || el("bot-not-installed").is_some()).await;
    assert!(el("bot-check-failed").is_none());
}

#[wasm_bindgen_test]
async fn a_hanging_install_question_gives_up_with_the_pages_time_limit() {
    let mut o = new_tab(json!({ "hang": true }));
    o["apiTimeoutMs"] = json!(300);
    let _h = mount_form(o).await;
    assert!(
        text_of("bot-check-failed").contains("did not answer"),
        "{}",
        body_text()
    );
    assert!(el(WEBHOOK).is_some());
}

#[wasm_bindgen_test]
async fn a_stored_bot_connection_opens_on_the_bot_path_and_moves_to_workflows_and_back() {
    let _h = mount(saved_tab("bot", install(true, true), "settings"), 2000).await;
    until("pre-fill", || {
        el(NAME).is_some_and(|_| input(NAME).value() == "Deploys")
    })
    .await;
    assert!(input("post-as-bot").checked());
    assert!(el(WEBHOOK).is_none());
    let shown = leptos::prelude::document()
        .query_selector("main.page")
        .unwrap()
        .and_then(|m| m.text_content())
        .unwrap_or_default();
    assert!(
        !shown.contains("bot:") && !shown.contains(CHANNEL),
        "the bot target is never shown as a URL: {shown}"
    );
    assert!(el("send-test-card").is_some());
    // To Workflows: a URL is needed now (none is stored for this connection).
    click("post-as-workflows").await;
    until("the URL field", || el(WEBHOOK).is_some()).await;
    assert!(el("webhook-replace").is_none(), "no stored webhook to keep");
    until("validity false", || last_validity() == Some(false)).await;
    type_into(WEBHOOK, FLOW).await;
    until("validity true", || last_validity() == Some(true)).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let puts = requests("PUT");
    assert_eq!(puts.len(), 1, "one save");
    assert_eq!(puts[0]["editKey"], key());
    let sent = sent_body(&puts[0]);
    assert_eq!(sent["webhookUrl"], FLOW);
    assert!(sent.get("bot").is_none(), "{sent}");
    until("the stored Workflows webhook", || {
        el("webhook-replace").is_some()
    })
    .await;
    // And back to the bot: the channel, no URL.
    click("post-as-bot").await;
    until("the bot path", || el("bot-posts-here").is_some()).await;
    until("validity true", || last_validity() == Some(true)).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let puts = requests("PUT");
    assert_eq!(puts.len(), 2);
    let sent = sent_body(&puts[1]);
    assert_eq!(sent["bot"]["channelId"], CHANNEL);
    assert!(sent.get("webhookUrl").is_none(), "{sent}");
}

#[wasm_bindgen_test]
async fn a_stored_workflows_connection_moves_to_the_bot_in_one_save() {
    let _h = mount(
        saved_tab("workflows", install(true, true), "settings"),
        2000,
    )
    .await;
    until("pre-fill", || {
        el(NAME).is_some_and(|_| input(NAME).value() == "Deploys")
    })
    .await;
    assert!(
        input("post-as-workflows").checked(),
        "it stays as it is stored"
    );
    assert!(el("webhook-replace").is_some());
    click("post-as-bot").await;
    until("the bot path", || el("bot-posts-here").is_some()).await;
    assert!(
        el("send-test-card").is_none(),
        "no test card to the old webhook while the move is unsaved"
    );
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let puts = requests("PUT");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0]["editKey"], key());
    assert_eq!(sent_body(&puts[0])["bot"]["teamId"], TEAM);
    until("the test card for the bot", || {
        el("send-test-card").is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_stored_bot_connection_whose_app_left_the_team_offers_workflows() {
    let _h = mount(saved_tab("bot", install(true, false), "settings"), 2000).await;
    until("the message", || el("bot-not-installed").is_some()).await;
    assert!(el(WEBHOOK).is_some());
    assert!(el("webhook-replace").is_none());
}

#[wasm_bindgen_test]
async fn the_tab_page_of_a_bot_connection_says_the_app_posts() {
    let _h = mount(saved_tab("bot", install(true, true), "content"), 2000).await;
    until("the tab", || el("delivery-counts").is_some()).await;
    assert!(text_of("bot-note").contains("posted by the app itself"));
    assert!(el("workflows-note").is_none());
    assert!(text_of("delivery-counts").contains("Delivered"));
    assert!(
        install_asks().is_empty(),
        "the tab page asks nothing of the bot"
    );
}

#[wasm_bindgen_test]
async fn the_bot_path_speaks_german_and_french() {
    let mut o = new_tab(install(true, false));
    o["locale"] = json!("de-DE");
    let _h = mount_form(o).await;
    assert!(text_of("bot-not-installed").contains("Die App ist nicht in diesem Team"));
    assert_eq!(text_of("bot-check-again"), "Erneut prüfen");
    drop(_h);
    let mut o = new_tab(install(true, true));
    o["locale"] = json!("fr-FR");
    let _h = mount_form(o).await;
    assert!(text_of("bot-posts-here").contains("L'application publie elle-même"));
}

#[wasm_bindgen_test]
async fn a_failed_remove_in_a_team_with_the_bot_says_removing_the_app_stops_it() {
    let mut o = saved_tab("bot", install(true, true), "remove");
    o["responses"]["DELETE"] = json!({ "status": 500 });
    let _h = mount(o, 2000).await;
    until("the remove handler", || {
        state()["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "remove")
    })
    .await;
    assert_eq!(press_remove().await.as_string().as_deref(), Some("failure"));
    let why = state()["notified"][0][2]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("still posts to the channel"), "{why}");
    assert!(
        why.contains("removing the app from the team stops it"),
        "{why}"
    );
    assert!(
        install_asks().is_empty(),
        "removing asks nothing of the bot"
    );
}
