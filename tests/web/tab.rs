//! A configurable tab: no webhook from Teams, a Workflows webhook pasted and checked as
//! typed, the edit key in the tab's settings, the tab page and its remove.

use leptos::prelude::*;
use serde_json::{json, Value};
use wasm_bindgen_test::*;

use crate::support::*;

/// The Logic Apps shape, which stopped working on 2025-11-30.
const RETIRED_FLOW: &str = "https://prod-12.westeurope.logic.azure.com:443/workflows/8f1c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";
const WEBHOOK: &str = "field-webhook_url";

fn key() -> String {
    "ab".repeat(32)
}

fn stored_tab() -> Value {
    json!({ "entityId": "tab-1", "configName": "Deploys", "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "settings": { "subscription_name": "Deploys", "events": ["deployment_finished"], "filter": "api",
            "card_style": "detailed", "mention_channel": true } })
}

/// A tab that was saved before: Teams keeps its contentUrl, with the edit key.
fn saved_tab(extra: Value) -> Value {
    let mut o = json!({ "webhookUrl": null, "entityId": "tab-1",
        "contentUrl": format!("https://connector.example.com/?entityId=tab-1#editKey={}", key()),
        "responses": { "GET": { "status": 200, "body": stored_tab() }, "PUT": { "echo": true } } });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

#[wasm_bindgen_test]
async fn a_tab_asks_for_a_workflows_url_and_checks_it_as_typed() {
    let _h = mount_form(json!({ "webhookUrl": null })).await;
    assert!(
        el(WEBHOOK).is_some(),
        "a tab's form has the webhook URL field"
    );
    assert!(body_text().contains("Send webhook alerts to a channel"));
    type_into(NAME, "Nightly builds").await;
    until("validity false", || last_validity() == Some(false)).await;
    type_into(
        WEBHOOK,
        "https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/a/u",
    )
    .await;
    until("the retired message", || {
        text_of("field-webhook_url-error").contains("retired")
    })
    .await;
    type_into(WEBHOOK, RETIRED_FLOW).await;
    until("the retired Workflows message", || {
        text_of("field-webhook_url-error").contains("stopped working in November 2025")
    })
    .await;
    type_into(WEBHOOK, &FLOW.replace("&sig=AbC", "")).await;
    until("the sign-in message", || {
        text_of("field-webhook_url-error").contains("Who can trigger the flow")
    })
    .await;
    type_into(WEBHOOK, &FLOW.replace("/paths/invoke", "")).await;
    until("the partial message", || {
        text_of("field-webhook_url-error").contains("only part")
    })
    .await;
    assert_eq!(
        input(WEBHOOK).get_attribute("aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(last_validity(), Some(false));
    type_into(WEBHOOK, FLOW).await;
    until("validity true", || last_validity() == Some(true)).await;
    assert_eq!(text_of("field-webhook_url-error"), "");
}

#[wasm_bindgen_test]
async fn the_dev_inbox_counts_as_a_workflows_host_only_when_config_names_it() {
    let inbox = "http://127.0.0.1:8080/emulator/webhook/";
    let url =
        format!("{inbox}powerautomate/automations/direct/cu/3/workflows/x/triggers/manual/paths/invoke?api-version=1&sig=y");
    let _h = mount_form(json!({ "webhookUrl": null, "config": { "devInboxes": [inbox] } })).await;
    type_into(NAME, "Nightly builds").await;
    type_into(WEBHOOK, &url).await;
    until("validity true", || last_validity() == Some(true)).await;
    drop(_h);
    let _h = mount_form(json!({ "webhookUrl": null })).await;
    type_into(NAME, "Nightly builds").await;
    type_into(WEBHOOK, &url).await;
    until("the https message", || {
        text_of("field-webhook_url-error").contains("https://")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_tab_saves_the_typed_url_and_hands_teams_its_tab_settings_with_the_edit_key() {
    let _h = mount_form(
        json!({ "webhookUrl": null, "responses": { "PUT": { "echo": true, "editKey": key() } } }),
    )
    .await;
    type_into(NAME, "Nightly builds").await;
    type_into(WEBHOOK, FLOW).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let put = &requests("PUT")[0];
    let sent: Value = serde_json::from_str(put["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["webhookUrl"], FLOW);
    let set = &state()["setSettings"][0];
    let id = set["entityId"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    // The tab is the tab page beside this one; removing it loads this page (the
    // configuration page), which removes the connection. Both with the entityId and key.
    let location = window().location();
    let here = location.origin().unwrap() + &location.pathname().unwrap();
    let dir = &here[..here.rfind('/').unwrap() + 1];
    let content = set["contentUrl"].as_str().unwrap();
    assert_eq!(
        content,
        format!("{dir}tab.html?entityId={id}#editKey={}", key())
    );
    assert_eq!(
        set["removeUrl"],
        format!("{here}?entityId={id}#editKey={}", key()),
        "removing the tab loads the configuration page to remove the connection"
    );
    assert_eq!(set["suggestedDisplayName"], "Nightly builds");
    assert_eq!(set["websiteUrl"], "https://example.com");
    assert!(set.get("configName").is_none());
    until("the stored state", || el("webhook-replace").is_some()).await;
    assert!(el(WEBHOOK).is_none());
    assert!(
        !body_text().contains("powerplatform.com"),
        "the URL is never shown back"
    );
}

#[wasm_bindgen_test]
async fn a_tab_pre_fills_with_its_edit_key_and_keeps_the_stored_url_unseen() {
    let _h = mount(saved_tab(json!({})), 2000).await;
    until("pre-fill", || {
        el(NAME).is_some_and(|_| input(NAME).value() == "Deploys")
    })
    .await;
    let get = &requests("GET")[1];
    assert_eq!(get["path"], "/api/connections/tab-1");
    assert_eq!(get["editKey"], key());
    assert!(get["webhook"].is_null());
    assert!(el("webhook-replace").is_some() && el(WEBHOOK).is_none());
    until("validity true", || last_validity() == Some(true)).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let put = &requests("PUT")[0];
    let sent: Value = serde_json::from_str(put["body"].as_str().unwrap()).unwrap();
    assert!(sent.get("webhookUrl").is_none(), "the stored webhook stays");
    assert_eq!(put["editKey"], key());
    let set = &state()["setSettings"][0];
    assert_eq!(set["entityId"], "tab-1");
    assert!(
        set["contentUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#editKey={}", key())),
        "the key stays with the tab"
    );
}

#[wasm_bindgen_test]
async fn replacing_the_webhook_url_sends_the_new_one_with_the_edit_key() {
    let _h = mount(saved_tab(json!({})), 2000).await;
    until("the replace button", || el("webhook-replace").is_some()).await;
    click("webhook-replace").await;
    until("the field", || el(WEBHOOK).is_some()).await;
    until("validity false", || last_validity() == Some(false)).await;
    let other = FLOW.replace("8f1c", "9e2d");
    type_into(WEBHOOK, &other).await;
    until("validity true", || last_validity() == Some(true)).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let put = &requests("PUT")[0];
    let sent: Value = serde_json::from_str(put["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["webhookUrl"], other.as_str());
    assert_eq!(put["editKey"], key());
}

#[wasm_bindgen_test]
async fn a_test_card_goes_to_the_typed_url_before_the_first_save() {
    let _h = mount_form(json!({ "webhookUrl": null,
        "responses": { "POST": { "status": 200, "body": { "delivered": true } } } }))
    .await;
    assert!(el("send-test-card").is_none(), "nothing to test yet");
    type_into(WEBHOOK, FLOW).await;
    until("the test button", || el("send-test-card").is_some()).await;
    click("send-test-card").await;
    until("the outcome", || {
        body_text().contains("Workflows accepted the test card.")
    })
    .await;
    let post = &requests("POST")[0];
    assert_eq!(post["path"], "/api/test-card");
    let sent: Value = serde_json::from_str(post["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["webhookUrl"], FLOW);
}

#[wasm_bindgen_test]
async fn the_tab_page_shows_the_connection_its_choices_and_its_deliveries() {
    let status = json!({ "pending": 1, "delivered": 3, "dead": 0, "lastError": "webhook answered 500: busy", "disabled": null });
    let _h = mount(
        saved_tab(json!({ "frameContext": "content",
            "responses": { "GET": { "status": 200, "body": stored_tab() }, "GET deliveries": { "status": 200, "body": status } } })),
        2000,
    )
    .await;
    until("the tab", || el("delivery-counts").is_some()).await;
    assert_eq!(text_of("tab-connection"), "Deploys");
    let shown = |field: &str| {
        document()
            .query_selector(&format!("dd[data-field={field}]"))
            .unwrap()
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    };
    assert_eq!(shown("events"), "Deployment finished");
    assert_eq!(shown("filter"), "api");
    assert_eq!(shown("card_style"), "Detailed");
    assert_eq!(shown("mention_channel"), "On");
    assert!(text_of("delivery-counts").contains('3'));
    assert!(text_of("last-error").contains("busy"));
    assert!(
        body_text().contains("choose Settings"),
        "says where to change it"
    );
    let s = state();
    assert!(
        !s["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "save"),
        "the tab registers no save handler"
    );
    assert_eq!(s["appSuccess"], 1);
    let api: Vec<Value> = requests("GET")
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/api/"))
        .collect();
    assert_eq!(api.len(), 2, "the connection and its deliveries");
    assert!(api.iter().all(|r| r["editKey"] == key()));
}

/// The tab's Remove page, with its saved settings (no webhook from Teams, the edit key).
async fn mount_tab_remove(extra: Value) -> UnmountHandle<impl Mountable> {
    let mut o = saved_tab(json!({ "frameContext": "remove" }));
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    let h = mount(o, 2000).await;
    until("the remove handler", || {
        state()["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "remove")
    })
    .await;
    h
}

fn remove_reason() -> String {
    state()["notified"][0][2]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[wasm_bindgen_test]
async fn a_remove_whose_delete_never_answers_is_answered_within_twelve_seconds() {
    // The page's usual 20 s wait for the server: Teams would have stopped listening at 15 s.
    let _h = mount_tab_remove(json!({ "responses": { "DELETE": { "hang": true } } })).await;
    let started = js_sys::Date::now();
    assert_eq!(press_remove().await.as_string().as_deref(), Some("failure"));
    let took = js_sys::Date::now() - started;
    assert!(took < 12_000.0, "answered after {took} ms");
    assert_eq!(state()["aborted"][0], "DELETE", "the DELETE was given up");
    let why = remove_reason();
    assert!(why.contains("did not answer in time"), "{why}");
    assert!(why.contains("still posts to the channel"), "{why}");
    assert!(why.contains("turn off or delete the workflow"), "{why}");
    assert!(why.contains("add the tab again and remove it"), "{why}");
    until("the message on the page", || {
        body_text().contains("still posts to the channel")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_remove_the_server_fails_says_the_connection_still_posts() {
    let _h = mount_tab_remove(json!({ "responses": { "DELETE": { "status": 500 } } })).await;
    assert_eq!(press_remove().await.as_string().as_deref(), Some("failure"));
    let why = remove_reason();
    assert!(why.starts_with("Could not remove the connection"), "{why}");
    assert!(why.contains("HTTP 500"), "{why}");
    assert!(why.contains("still posts to the channel"), "{why}");
    assert!(why.contains("Workflows"), "{why}");
    assert_eq!(requests("DELETE")[0]["editKey"], key());
    until("the message on the page", || {
        body_text().contains("still posts to the channel")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_failed_remove_says_so_in_the_persons_language() {
    let _h = mount_tab_remove(
        json!({ "locale": "fr-FR", "responses": { "DELETE": { "network": true } } }),
    )
    .await;
    assert_eq!(press_remove().await.as_string().as_deref(), Some("failure"));
    let why = remove_reason();
    assert!(why.contains("publie toujours dans le canal"), "{why}");
    drop(_h);
    let _h = mount_tab_remove(
        json!({ "locale": "de-DE", "responses": { "DELETE": { "status": 503 } } }),
    )
    .await;
    assert_eq!(press_remove().await.as_string().as_deref(), Some("failure"));
    let why = remove_reason();
    assert!(why.contains("postet weiter in den Kanal"), "{why}");
}

/// The tab page of a connection stored with `kind` of webhook (and `extra` in its JSON).
async fn mount_tab_page(kind: &str, locale: &str, extra: Value) -> UnmountHandle<impl Mountable> {
    let mut stored = stored_tab();
    stored["webhookKind"] = json!(kind);
    for (k, v) in extra.as_object().unwrap() {
        stored[k] = v.clone();
    }
    let status =
        json!({ "pending": 0, "delivered": 4, "dead": 0, "lastError": null, "disabled": null });
    let h = mount(
        saved_tab(json!({ "frameContext": "content", "locale": locale,
            "responses": { "GET": { "status": 200, "body": stored }, "GET deliveries": { "status": 200, "body": status } } })),
        2000,
    )
    .await;
    until("the tab", || el("delivery-counts").is_some()).await;
    h
}

#[wasm_bindgen_test]
async fn a_workflows_tab_counts_cards_as_accepted_and_says_where_to_look() {
    let _h = mount_tab_page("workflows", "en-US", json!({})).await;
    let counts = text_of("delivery-counts");
    assert!(counts.contains("Accepted by Workflows"), "{counts}");
    assert!(!counts.contains("Delivered"), "{counts}");
    let note = text_of("workflows-note");
    assert!(note.contains("Nothing in the channel?"), "{note}");
    assert!(note.contains("run history in Power Automate"), "{note}");
    assert!(note.contains("co-owner"), "{note}");
    assert!(note.contains("90 days"), "{note}");
    assert!(el("webhook-retired").is_none());
    drop(_h);
    let _h = mount_tab_page("workflows-sign-in", "de-DE", json!({})).await;
    assert!(text_of("delivery-counts").contains("Von Workflows angenommen"));
    assert!(text_of("workflows-note").contains("Mitbesitzer"));
    drop(_h);
    let _h = mount_tab_page("workflows", "fr-FR", json!({})).await;
    assert!(text_of("delivery-counts").contains("Acceptées par Workflows"));
    assert!(text_of("workflows-note").contains("copropriétaire"));
}

#[wasm_bindgen_test]
async fn a_connector_tab_counts_cards_as_delivered_without_the_workflows_note() {
    let _h = mount_tab_page("connector", "en-US", json!({})).await;
    assert!(text_of("delivery-counts").contains("Delivered"));
    assert!(el("workflows-note").is_none());
}

#[wasm_bindgen_test]
async fn a_tab_stored_with_a_retired_workflows_url_says_how_to_replace_it() {
    let _h = mount_tab_page("workflows-retired", "en-US", json!({})).await;
    let advice = text_of("webhook-retired");
    assert!(
        advice.contains("stopped working in November 2025")
            && advice.contains("copy its new URL")
            && advice.contains("Settings")
            && advice.contains("Replace"),
        "{advice}"
    );
    assert!(
        !text_of("delivery-counts").contains("Accepted by Workflows"),
        "nothing is accepted there"
    );
    drop(_h);
    let _h = mount_tab_page("workflows-retired", "de-DE", json!({})).await;
    assert!(text_of("webhook-retired").contains("seit November 2025"));
    drop(_h);
    let _h = mount_tab_page("workflows-retired", "fr-FR", json!({})).await;
    assert!(text_of("webhook-retired").contains("depuis novembre 2025"));
    drop(_h);
    // The form says the same beside the stored URL's Replace.
    let mut stored = stored_tab();
    stored["webhookKind"] = json!("workflows-retired");
    let _h = mount(
        saved_tab(json!({ "responses": { "GET": { "status": 200, "body": stored } } })),
        2000,
    )
    .await;
    until("the stored URL's advice", || {
        text_of("webhook-stored-retired").contains("stopped working in November 2025")
    })
    .await;
    assert!(text_of("webhook-stored-retired").contains("choose Replace"));
    assert!(el("webhook-replace").is_some());
}

#[wasm_bindgen_test]
async fn a_disabled_connection_shows_its_reason_on_the_tab() {
    let why = "the workflow is turned off (WorkflowTriggerIsNotEnabled)";
    let _h = mount_tab_page("workflows", "en-US", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("Cards are not delivered") && shown.contains(why),
        "{shown}"
    );
    drop(_h);
    let _h = mount_tab_page("workflows", "de-DE", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("Karten werden nicht zugestellt") && shown.contains(why),
        "{shown}"
    );
    drop(_h);
    let _h = mount_tab_page("workflows", "fr-FR", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("Les cartes ne sont pas publiées") && shown.contains(why),
        "{shown}"
    );
}

#[wasm_bindgen_test]
async fn an_operators_disable_shows_the_operators_reason_on_the_tab() {
    let why = "disabled by an operator: abuse report 42";
    let _h = mount_tab_page("connector", "en-US", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("an operator of this connector disabled the connection")
            && shown.contains("Reason: abuse report 42")
            && !shown.contains("webhook is gone")
            && !shown.contains("disabled by an operator:"),
        "{shown}"
    );
    drop(_h);
    let _h = mount_tab_page("connector", "de-DE", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("ein Betreiber dieses Connectors") && shown.contains("abuse report 42"),
        "{shown}"
    );
    drop(_h);
    let _h = mount_tab_page("connector", "fr-FR", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("un opérateur de ce connecteur") && shown.contains("abuse report 42"),
        "{shown}"
    );
}

#[wasm_bindgen_test]
async fn a_tab_without_an_edit_key_says_what_to_do() {
    let _h = mount(json!({ "webhookUrl": null, "entityId": "tab-1" }), 2000).await;
    until("the message", || body_text().contains("carry no edit key")).await;
}

#[wasm_bindgen_test]
async fn another_teams_webhook_is_refused_in_words_and_with_what_to_do() {
    let body = json!({ "error": "webhook_other_team", "message": "this webhook url posts to another team's channel" });
    let _h = mount(
        json!({ "entityId": "conn-1", "responses": { "GET": { "status": 403, "body": body } } }),
        2000,
    )
    .await;
    until("the explanation", || {
        body_text().contains("another team's channel")
    })
    .await;
    assert!(body_text().contains("Create the webhook in a channel of this team"));
}

#[wasm_bindgen_test]
async fn a_disabled_bot_connection_says_the_app_can_no_longer_post_not_that_a_webhook_is_gone() {
    let why = "the app was removed from this team";
    let _h = mount_tab_page("bot", "en-US", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("the app can no longer post to this channel")
            && shown.contains("Add the app to the team again")
            && shown.contains(why),
        "{shown}"
    );
    assert!(!shown.contains("webhook is gone"), "{shown}");
    drop(_h);
    let _h = mount_tab_page("bot", "fr-FR", json!({ "disabled": why })).await;
    let shown = text_of("tab-disabled");
    assert!(
        shown.contains("l'application ne peut plus publier"),
        "{shown}"
    );
}
