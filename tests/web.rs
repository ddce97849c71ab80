//! The page in headless Chromium against a fake `window.microsoftTeams` and a fake `fetch`
//! (tests/fake_teams.js): the form's validity and messages, pre-fill, and the save, remove
//! and failure flows, asserted on what the page did to the SDK and the API.

#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use leptos::mount::mount_to;
use leptos::prelude::*;
use serde_json::{json, Value};
use teams_connector::App;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/fake_teams.js")]
extern "C" {
    fn install(options: &str);
    fn state_json() -> String;
    async fn press_save() -> JsValue;
    async fn press_remove() -> JsValue;
    fn change_theme(theme: &str);
}

const NAME: &str = "field-subscription_name";

fn state() -> Value {
    serde_json::from_str(&state_json()).unwrap()
}

fn el(id: &str) -> Option<web_sys::Element> {
    document().get_element_by_id(id)
}

fn input(id: &str) -> HtmlInputElement {
    el(id)
        .unwrap_or_else(|| panic!("no element #{id}"))
        .dyn_into()
        .unwrap()
}

fn text_of(id: &str) -> String {
    el(id).and_then(|e| e.text_content()).unwrap_or_default()
}

fn body_text() -> String {
    document()
        .body()
        .unwrap()
        .text_content()
        .unwrap_or_default()
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        TimeoutFuture::new(10).await;
        leptos::task::tick().await;
    }
    panic!("timed out waiting for {what}; page text: {}", body_text());
}

async fn type_into(id: &str, text: &str) {
    let i = input(id);
    i.set_value(text);
    i.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    i.dispatch_event(&web_sys::Event::new("blur").unwrap())
        .unwrap();
    leptos::task::tick().await;
}

async fn click(id: &str) {
    el(id)
        .unwrap_or_else(|| panic!("no element #{id}"))
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
}

fn last_validity() -> Option<bool> {
    state()["validity"]
        .as_array()
        .and_then(|v| v.last())
        .and_then(Value::as_bool)
}

/// Installs the fake with `options`, mounts the page in a fresh element, waits for `ready`.
async fn mount(options: Value, timeout_ms: u32) -> UnmountHandle<impl Mountable> {
    install(&options.to_string());
    let parent: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&parent).unwrap();
    // `apiTimeoutMs` in the options shortens the page's wait for the server.
    let api_timeout_ms = options["apiTimeoutMs"]
        .as_u64()
        .map_or(20_000, |n| n as u32);
    let handle = mount_to(parent, move || {
        view! { <App host_timeout_ms=timeout_ms api_timeout_ms=api_timeout_ms assume_framed=true /> }
    });
    leptos::task::tick().await;
    handle
}

async fn mount_form(options: Value) -> UnmountHandle<impl Mountable> {
    let h = mount(options, 2000).await;
    until("the form", || el(NAME).is_some()).await;
    h
}

#[wasm_bindgen_test]
async fn save_stays_disabled_until_the_form_is_valid() {
    let _h = mount_form(json!({ "responses": { "PUT": { "echo": true } } })).await;
    until("a validity state", || last_validity().is_some()).await;
    assert_eq!(last_validity(), Some(false), "a new form has no name yet");
    type_into(NAME, "Nightly builds").await;
    until("validity true", || last_validity() == Some(true)).await;
    type_into(NAME, "ab").await;
    until("validity false", || last_validity() == Some(false)).await;
}

#[wasm_bindgen_test]
async fn a_touched_invalid_field_shows_its_message_and_aria_invalid() {
    let _h = mount_form(json!({})).await;
    assert_eq!(
        text_of("field-subscription_name-error"),
        "",
        "untouched fields show nothing"
    );
    type_into(NAME, "ab").await;
    until("the message", || {
        text_of("field-subscription_name-error") == "Use at least 3 characters."
    })
    .await;
    assert_eq!(
        input(NAME).get_attribute("aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        input(NAME).get_attribute("aria-describedby").as_deref(),
        Some("field-subscription_name-help field-subscription_name-error")
    );
    type_into(NAME, "Nightly <b>").await;
    until("the pattern message", || {
        text_of("field-subscription_name-error").contains("letters, digits")
    })
    .await;
    type_into(NAME, "Nightly").await;
    until("no message", || {
        text_of("field-subscription_name-error").is_empty()
    })
    .await;
    assert_eq!(
        input(NAME).get_attribute("aria-invalid").as_deref(),
        Some("false")
    );
}

#[wasm_bindgen_test]
async fn unchecking_every_event_type_asks_for_at_least_one() {
    let _h = mount_form(json!({})).await;
    type_into(NAME, "Nightly builds").await;
    until("valid", || last_validity() == Some(true)).await;
    assert!(
        input("field-events-build_failed").checked(),
        "defaults from connector.toml"
    );
    click("field-events-build_failed").await;
    click("field-events-incident_opened").await;
    until("the message", || {
        text_of("field-events-error") == "Choose at least one."
    })
    .await;
    assert_eq!(last_validity(), Some(false));
}

#[wasm_bindgen_test]
async fn save_stores_the_connection_then_sets_settings_then_notifies_success() {
    let _h = mount_form(json!({ "responses": { "PUT": { "echo": true } } })).await;
    type_into(NAME, "Nightly builds").await;
    click("field-card_style-detailed").await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let s = state();
    let put = &s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == "PUT")
        .expect("a PUT")["body"];
    let sent: Value = serde_json::from_str(put.as_str().unwrap()).unwrap();
    assert_eq!(
        sent["webhookUrl"],
        "https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/abc/u"
    );
    assert_eq!(sent["settings"]["card_style"], "detailed");
    assert_eq!(
        sent["settings"]["events"],
        json!(["build_failed", "incident_opened"])
    );
    let set = &s["setSettings"][0];
    assert_eq!(set["configName"], "Nightly builds");
    let id = set["entityId"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a new random entityId: {id}");
    assert!(set["contentUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("?entityId={id}")));
    assert!(s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"] == format!("/api/connections/{id}")));
    until("the saved notice", || body_text().contains("Saved.")).await;
}

#[wasm_bindgen_test]
async fn a_second_save_uses_the_same_entity_id() {
    let _h = mount_form(json!({ "responses": { "PUT": { "echo": true } } })).await;
    type_into(NAME, "Nightly builds").await;
    press_save().await;
    press_save().await;
    let s = state();
    assert_eq!(
        s["setSettings"][0]["entityId"],
        s["setSettings"][1]["entityId"]
    );
}

#[wasm_bindgen_test]
async fn a_server_error_at_save_notifies_failure_with_a_reason() {
    let _h = mount_form(json!({ "responses": { "PUT": { "status": 500, "body": { "error": "internal", "message": "x" } } } })).await;
    type_into(NAME, "Nightly builds").await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("failure"));
    let s = state();
    let reason = s["notified"][0][2].as_str().unwrap();
    assert!(
        reason.starts_with("Could not save: the server had a problem"),
        "{reason}"
    );
    assert!(reason.contains("HTTP 500"), "{reason}");
    assert_eq!(
        s["setSettings"].as_array().unwrap().len(),
        0,
        "teams is not told of an unsaved connection"
    );
    until("the error bar", || body_text().contains("Could not save")).await;
}

#[wasm_bindgen_test]
async fn an_unreachable_server_at_save_says_so() {
    let _h = mount_form(json!({ "responses": { "PUT": { "network": true } } })).await;
    type_into(NAME, "Nightly builds").await;
    press_save().await;
    let reason = state()["notified"][0][2].as_str().unwrap().to_string();
    assert!(reason.contains("could not be reached"), "{reason}");
}

#[wasm_bindgen_test]
async fn a_server_that_never_answers_at_save_times_out_and_aborts() {
    let _h =
        mount_form(json!({ "apiTimeoutMs": 300, "responses": { "PUT": { "hang": true } } })).await;
    type_into(NAME, "Nightly builds").await;
    press_save().await;
    let s = state();
    let reason = s["notified"][0][2].as_str().unwrap().to_string();
    assert!(reason.contains("did not answer in time"), "{reason}");
    assert_eq!(
        s["aborted"],
        json!(["PUT"]),
        "the request is aborted, not left open"
    );
    assert_eq!(s["setSettings"].as_array().unwrap().len(), 0);
    until("the error bar", || {
        body_text().contains("did not answer in time")
    })
    .await;
    // The new connection the server may still store is asked to be forgotten.
    until("the clean-up", || {
        state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["method"] == "DELETE")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_server_that_never_answers_at_load_offers_a_retry() {
    let _h = mount(
        json!({ "apiTimeoutMs": 300, "entityId": "conn-1", "responses": { "GET": { "hang": true } } }),
        2000,
    )
    .await;
    until("the load error", || {
        body_text().contains("did not answer in time")
    })
    .await;
    assert!(body_text().contains("Try again"));
    assert_eq!(state()["aborted"], json!(["GET"]));
}

#[wasm_bindgen_test]
async fn a_refusal_names_the_field_and_rule() {
    let body = json!({ "error": "validation_failed", "message": "settings are invalid",
        "fields": [{ "field": "filter", "rule": "max_length", "message": "Use at most 100 characters." }] });
    let _h = mount_form(json!({ "responses": { "PUT": { "status": 422, "body": body } } })).await;
    type_into(NAME, "Nightly builds").await;
    press_save().await;
    let reason = state()["notified"][0][2].as_str().unwrap().to_string();
    assert!(
        reason.contains("filter: Use at most 100 characters."),
        "{reason}"
    );
}

#[wasm_bindgen_test]
async fn save_with_an_invalid_form_fails_and_shows_every_message() {
    let _h = mount_form(json!({ "responses": { "PUT": { "echo": true } } })).await;
    press_save().await;
    let s = state();
    assert_eq!(s["notified"][0][1], "failure");
    assert!(s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["method"] != "PUT"));
    until("the message", || {
        text_of("field-subscription_name-error") == "This field is required."
    })
    .await;
}

#[wasm_bindgen_test]
async fn when_teams_refuses_set_settings_a_new_connection_is_deleted_again() {
    let _h = mount_form(json!({ "setSettingsFails": true,
        "responses": { "PUT": { "echo": true }, "DELETE": { "status": 204 } } }))
    .await;
    type_into(NAME, "Nightly builds").await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("failure"));
    let s = state();
    assert!(s["notified"][0][2]
        .as_str()
        .unwrap()
        .contains("host said no"));
    assert!(s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["method"] == "DELETE"));
}

#[wasm_bindgen_test]
async fn editing_prefills_every_field_from_the_server_and_then_reports_loaded() {
    let stored = json!({ "entityId": "conn-1", "configName": "Deploys", "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "settings": { "subscription_name": "Deploys", "events": ["deployment_finished"], "filter": "api",
            "card_style": "detailed", "mention_channel": true } });
    let _h = mount_form(json!({ "entityId": "conn-1",
        "responses": { "GET": { "status": 200, "body": stored }, "PUT": { "echo": true } } }))
    .await;
    until("pre-fill", || input(NAME).value() == "Deploys").await;
    assert_eq!(input("field-filter").value(), "api");
    assert!(input("field-events-deployment_finished").checked());
    assert!(!input("field-events-build_failed").checked());
    assert!(input("field-card_style-detailed").checked());
    assert!(input("field-mention_channel").checked());
    let s = state();
    assert_eq!(s["appSuccess"], 1);
    let get = s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == "GET" && r["path"] == "/api/connections/conn-1")
        .cloned()
        .expect("a GET");
    assert!(get["webhook"]
        .as_str()
        .unwrap()
        .starts_with("https://contoso.webhook.office.com/"));
    press_save().await;
    assert_eq!(
        state()["setSettings"][0]["entityId"],
        "conn-1",
        "an edit keeps its entityId"
    );
}

#[wasm_bindgen_test]
async fn a_failed_load_offers_a_retry() {
    let _h = mount(
        json!({ "entityId": "conn-1", "responses": { "GET": { "status": 503 } } }),
        2000,
    )
    .await;
    until("the load error", || {
        body_text().contains("could not be loaded")
    })
    .await;
    assert!(body_text().contains("Try again"));
}

#[wasm_bindgen_test]
async fn remove_deletes_the_connection_and_notifies_success() {
    let _h = mount(
        json!({ "frameContext": "remove", "entityId": "conn-1",
        "responses": { "DELETE": { "status": 204 } } }),
        2000,
    )
    .await;
    until("the remove handler", || {
        state()["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "remove")
    })
    .await;
    assert!(!state()["registered"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "save"));
    assert_eq!(press_remove().await.as_string().as_deref(), Some("success"));
    let s = state();
    assert!(s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["method"] == "DELETE" && r["path"] == "/api/connections/conn-1"));
}

#[wasm_bindgen_test]
async fn remove_fails_with_a_reason_when_the_server_fails() {
    let _h = mount(
        json!({ "frameContext": "remove", "entityId": "conn-1",
        "responses": { "DELETE": { "status": 500 } } }),
        2000,
    )
    .await;
    until("the remove handler", || {
        state()["registered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "remove")
    })
    .await;
    assert_eq!(press_remove().await.as_string().as_deref(), Some("failure"));
    assert!(state()["notified"][0][2]
        .as_str()
        .unwrap()
        .contains("Could not remove"));
}

#[wasm_bindgen_test]
async fn a_silent_host_shows_the_outside_teams_message() {
    let _h = mount(json!({ "hostSilent": true }), 200).await;
    until("the outside message", || {
        body_text().contains("Open this page from Microsoft Teams")
    })
    .await;
}

#[wasm_bindgen_test]
async fn the_german_locale_shows_german_labels_and_messages() {
    let _h = mount_form(json!({ "locale": "de-DE" })).await;
    assert!(body_text().contains("Name des Abonnements"));
    type_into(NAME, "ab").await;
    until("the German message", || {
        text_of("field-subscription_name-error") == "Mindestens 3 Zeichen."
    })
    .await;
    assert_eq!(
        document()
            .document_element()
            .unwrap()
            .get_attribute("lang")
            .as_deref(),
        Some("de")
    );
}

#[wasm_bindgen_test]
async fn the_french_locale_speaks_french_and_falls_back_to_english_labels() {
    let _h = mount_form(json!({ "locale": "fr-FR" })).await;
    // connector.toml gives this label no French text: English it is.
    assert!(body_text().contains("Subscription name"));
    type_into(NAME, "ab").await;
    until("the French message", || {
        text_of("field-subscription_name-error") == "Au moins 3 caractères."
    })
    .await;
    assert_eq!(
        document()
            .document_element()
            .unwrap()
            .get_attribute("lang")
            .as_deref(),
        Some("fr")
    );
}

#[wasm_bindgen_test]
async fn the_theme_follows_context_and_theme_changes() {
    let _h = mount_form(json!({ "theme": "dark" })).await;
    let theme = || {
        document()
            .document_element()
            .unwrap()
            .get_attribute("data-theme")
            .unwrap_or_default()
    };
    until("dark", || theme() == "dark").await;
    change_theme("contrast");
    until("contrast", || theme() == "contrast").await;
}

#[wasm_bindgen_test]
async fn with_sso_every_api_call_carries_the_teams_token() {
    let _h =
        mount_form(json!({ "config": { "sso": true }, "responses": { "PUT": { "echo": true } } }))
            .await;
    type_into(NAME, "Nightly builds").await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let s = state();
    let put = s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(put["authorization"], "Bearer token-for-tests");
}

#[wasm_bindgen_test]
async fn a_failed_sign_in_fails_the_save_with_a_reason() {
    let _h = mount_form(json!({ "config": { "sso": true }, "tokenFails": true, "responses": { "PUT": { "echo": true } } })).await;
    type_into(NAME, "Nightly builds").await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("failure"));
    let s = state();
    assert!(s["notified"][0][2]
        .as_str()
        .unwrap()
        .contains("signing in with Teams failed"));
    assert!(
        s["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["method"] != "PUT"),
        "nothing sent without a token"
    );
}

#[wasm_bindgen_test]
async fn a_connection_of_another_tenant_says_so_when_editing() {
    let body = json!({ "error": "other_tenant", "message": "this connection belongs to another organisation (tenant)" });
    let _h = mount(json!({ "config": { "sso": true }, "entityId": "conn-1", "responses": { "GET": { "status": 403, "body": body } } }), 2000).await;
    until("the load error", || {
        body_text().contains("belongs to another organisation")
    })
    .await;
}

// ---- a configurable tab: no webhook from Teams, a Workflows webhook pasted, an edit key ----

/// A Workflows URL as Teams hands them out today (with the `cu/<NN>` routing segment).
const FLOW: &str = "https://default72f988bf86f141af91ab2d7cd011db.47.environment.api.powerplatform.com:443/powerautomate/automations/direct/cu/07/workflows/8f1c/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";
/// The Logic Apps shape, which stopped working on 2025-11-30.
const RETIRED_FLOW: &str = "https://prod-12.westeurope.logic.azure.com:443/workflows/8f1c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";
const WEBHOOK: &str = "field-webhook_url";

fn key() -> String {
    "ab".repeat(32)
}

fn requests(method: &str) -> Vec<Value> {
    state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method)
        .cloned()
        .collect()
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
    let content = set["contentUrl"].as_str().unwrap();
    assert!(
        content.ends_with(&format!("?entityId={id}#editKey={}", key())),
        "{content}"
    );
    assert_eq!(
        set["removeUrl"], content,
        "removing the tab loads the page to remove the connection"
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
        body_text().contains("The test card was posted to the channel.")
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

// ---- the wire format: the page's own API client against JSON exactly as the server writes it
// (serde_json of the `settings::api` types), and what the page sends read back the way the
// server reads it (serde_json into the same types, unknown fields refused). A field renamed or
// retyped on either side fails here, not in production.

use connector_settings::api::{
    Connection, DeliveryStatus, ErrorBody, FieldProblem, SaveConnection, TestCard, TryOutcome,
    TryWebhook,
};
use connector_settings::Value as Setting;
use teams_connector::api::{Api, ApiError, Credentials, RuntimeConfig};

fn api() -> Api {
    Api::new(&RuntimeConfig::default(), 2000)
}

fn creds() -> Credentials<'static> {
    Credentials {
        webhook_url: Some("https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/abc/u"),
        edit_key: Some("key-1"),
        token: Some("token-1"),
    }
}

fn server_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn a_connection() -> Connection {
    let mut settings = connector_settings::Values::new();
    settings.insert("subscription_name".into(), Setting::Text("Deploys".into()));
    settings.insert(
        "events".into(),
        Setting::List(vec!["build_failed".into(), "deployment_finished".into()]),
    );
    settings.insert("mention_channel".into(), Setting::Bool(true));
    Connection {
        entity_id: "conn-1".into(),
        config_name: "Deploys".into(),
        settings,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-02T00:00:00Z".into(),
        disabled: Some("the webhook answered 410".into()),
        webhook_kind: "workflows".into(),
        edit_key: Some("ab".repeat(32)),
        account: None,
    }
}

#[wasm_bindgen_test]
async fn the_page_reads_every_answer_as_the_server_writes_it() {
    let conn = a_connection();
    let status = DeliveryStatus {
        pending: 2,
        delivered: 9_007_199_254_740_991,
        dead: 1,
        last_error: Some("webhook answered 500".into()),
        disabled: None,
    };
    let card = TestCard {
        event_id: "test-1".into(),
    };
    let outcome = TryOutcome {
        delivered: false,
        error: Some("the webhook answered 404".into()),
    };
    install(
        &json!({ "responses": {
            "GET conn-1": { "status": 200, "body": server_json(&conn) },
            "GET deliveries": { "status": 200, "body": server_json(&status) },
            "POST test-card": { "status": 202, "body": server_json(&card) },
        } })
        .to_string(),
    );
    assert_eq!(api().load("conn-1", creds()).await, Ok(conn));
    assert_eq!(
        api().delivery_status("conn-1", creds(), None).await,
        Ok(status)
    );
    assert_eq!(api().test_card("conn-1", creds()).await, Ok(card));
    install(
        &json!({ "responses": { "POST": { "status": 200, "body": server_json(&outcome) } } })
            .to_string(),
    );
    let body = TryWebhook {
        webhook_url: FLOW.into(),
        settings: a_connection().settings,
    };
    assert_eq!(api().try_webhook(&body, None).await, Ok(outcome));
}

#[wasm_bindgen_test]
async fn the_page_reads_the_servers_refusals_with_their_fields() {
    let refusal = ErrorBody {
        error: "validation_failed".into(),
        message: "settings are invalid".into(),
        fields: vec![FieldProblem {
            field: "filter".into(),
            rule: "max_length".into(),
            message: "Use at most 100 characters.".into(),
        }],
    };
    install(
        &json!({ "responses": { "GET": { "status": 422, "body": server_json(&refusal) } } })
            .to_string(),
    );
    assert_eq!(
        api().load("conn-1", creds()).await,
        Err(ApiError::Refused {
            status: 422,
            body: refusal
        })
    );
    // An answer of another shape is a server fault, not a silently empty connection.
    install(
        &json!({ "responses": { "GET": { "status": 200, "body": { "entityId": 5 } } } })
            .to_string(),
    );
    assert_eq!(
        api().load("conn-1", creds()).await,
        Err(ApiError::Server { status: 200 })
    );
}

#[wasm_bindgen_test]
async fn what_the_page_sends_the_server_reads_into_its_own_types() {
    install(&json!({ "responses": { "PUT": { "echo": true }, "POST": { "status": 200, "body": { "delivered": true } } } }).to_string());
    let body = SaveConnection {
        webhook_url: Some(FLOW.into()),
        settings: a_connection().settings,
        app_type: Some("Connector".into()),
        user_object_id: None,
        account_proof: None,
    };
    let saved = api().save("conn-1", &body, creds()).await.unwrap();
    assert_eq!(saved.settings, body.settings);
    let try_body = TryWebhook {
        webhook_url: FLOW.into(),
        settings: a_connection().settings,
    };
    api().try_webhook(&try_body, Some("token-1")).await.unwrap();
    let s = state();
    let sent = |method: &str| -> String {
        s["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method)
            .unwrap()["body"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // As the server reads them: serde_json, `deny_unknown_fields`.
    let put: SaveConnection = serde_json::from_str(&sent("PUT")).unwrap();
    assert_eq!(server_json(&put), server_json(&body));
    let post: TryWebhook = serde_json::from_str(&sent("POST")).unwrap();
    assert_eq!(server_json(&post), server_json(&try_body));
}

#[wasm_bindgen_test]
async fn config_json_as_the_dev_server_writes_it_configures_the_page() {
    let inbox = "http://127.0.0.1:8080/emulator/webhook/";
    let config =
        json!({ "apiBaseUrl": "", "validMessageOrigins": [], "sso": true, "devInboxes": [inbox] });
    install(&json!({ "config": config }).to_string());
    let got = teams_connector::api::runtime_config(2000).await.unwrap();
    assert_eq!(
        got,
        RuntimeConfig {
            api_base_url: String::new(),
            valid_message_origins: Vec::new(),
            sso: true,
            dev_inboxes: vec![inbox.into()],
            flow_tokens: false,
        }
    );
    // What `cargo xtask dist` writes: fewer members, the rest default.
    let config = json!({ "apiBaseUrl": "https://api.example.com", "validMessageOrigins": ["https://host.example.com"] });
    install(&json!({ "config": config }).to_string());
    let got = teams_connector::api::runtime_config(2000).await.unwrap();
    assert_eq!(got.api_base_url, "https://api.example.com");
    assert_eq!(got.valid_message_origins, ["https://host.example.com"]);
    assert!(!got.sso && got.dev_inboxes.is_empty());
}
