//! The connector page's form and flows: validity and messages, save, pre-fill, remove, a
//! silent host, languages and theme, single sign-on, and failures with their reasons.

use leptos::prelude::*;
use serde_json::{json, Value};
use wasm_bindgen_test::*;

use crate::support::*;

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
    // A connector's contentUrl is what Teams loads to edit it: this page, not the tab page.
    let location = window().location();
    assert_eq!(
        set["contentUrl"],
        format!(
            "{}{}?entityId={id}",
            location.origin().unwrap(),
            location.pathname().unwrap()
        )
    );
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

#[wasm_bindgen_test]
async fn an_operators_disable_is_shown_with_its_reason_and_a_save_says_it_stays() {
    let stored = json!({ "entityId": "conn-1", "configName": "Deploys", "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "disabled": "disabled by an operator: abuse report 42",
        "settings": { "subscription_name": "Deploys", "events": ["deployment_finished"], "filter": "api",
            "card_style": "detailed", "mention_channel": true } });
    let _h = mount_form(json!({ "entityId": "conn-1",
        "responses": { "GET": { "status": 200, "body": stored }, "PUT": { "status": 200, "body": stored } } }))
    .await;
    until("pre-fill", || input(NAME).value() == "Deploys").await;
    let shown = body_text();
    assert!(
        shown.contains("an operator of this connector disabled the connection")
            && shown.contains("Saving does not enable it")
            && shown.contains("Reason: abuse report 42"),
        "{shown}"
    );
    assert!(
        !shown.contains("webhook is gone") && !shown.contains("Saving enables"),
        "not the gone webhook's words: {shown}"
    );
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    until("the save's notice", || {
        body_text().contains("Saved. The connection stays disabled by an operator")
    })
    .await;
    assert!(body_text().contains("abuse report 42"));
}
