//! The sign-in to the sending service (`[account]`), in headless Chromium against the fake
//! of tests/fake_teams.js: the popup's answers (success, cancel, refused consent, wrong
//! state), the server's refusals, the proof in the save, Save only once linked, the stored
//! account on re-opening and on the tab. Built against a connector with `[account]`
//! (`cargo xtask test` runs it with `CONNECTOR_TOML=connectors/uptime-watch.toml`); with
//! another connector every test returns at once.

#![cfg(target_arch = "wasm32")]

use connector_settings::{Locale, CONNECTOR};
use leptos::prelude::*;
use serde_json::{json, Value};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlInputElement;

wasm_bindgen_test_configure!(run_in_browser);

// The helpers every page test leans on (the fake host, mounting, reading the DOM).
#[path = "web/support.rs"]
#[allow(dead_code)]
mod support;
use support::{body_text, click, el, last_validity, press_save, state, text_of, until};

/// The connector's config-name field (the card's title), typed valid.
async fn fill_name() {
    let i: HtmlInputElement = el(&format!("field-{}", name_field()))
        .unwrap()
        .unchecked_into();
    i.set_value("Shop sites");
    i.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    leptos::task::tick().await;
}

fn name_field() -> &'static str {
    CONNECTOR
        .fields
        .iter()
        .find(|f| {
            matches!(
                f.kind,
                connector_settings::FieldKind::Text {
                    config_name: true,
                    ..
                }
            )
        })
        .map(|f| f.id)
        .unwrap()
}

/// What callback.js hands `notifySuccess`.
fn popup_result() -> Value {
    json!({ "code": "code-1", "codeVerifier": "v".repeat(43), "nonce": "nonce-1",
        "redirectUri": "http://127.0.0.1/auth/callback.html" })
}

fn linked() -> Value {
    json!({ "status": 200, "body": { "account": "acme", "name": "Alice Example", "proof": "proof-1",
        "expiresAt": "2026-12-02T12:10:00Z" } })
}

/// Installs the fake with `options` (the PUT echoes, with this connector's name field),
/// mounts the page, waits for the account step. `None` without `[account]`.
async fn mount(mut options: Value) -> Option<UnmountHandle<impl Mountable>> {
    CONNECTOR.account.as_ref()?;
    if options["responses"]["PUT"].is_null() {
        options["responses"]["PUT"] = json!({ "echo": true, "nameField": name_field() });
    }
    if options["apiTimeoutMs"].is_null() {
        options["apiTimeoutMs"] = 5000.into();
    }
    let handle = support::mount(options, 2000).await;
    Some(handle)
}

async fn mount_form(options: Value) -> Option<UnmountHandle<impl Mountable>> {
    let h = mount(options).await?;
    until("the account step", || el("account-sign-in").is_some()).await;
    Some(h)
}

fn requests(method: &str, path_end: &str) -> Vec<Value> {
    state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method && r["path"].as_str().unwrap().ends_with(path_end))
        .cloned()
        .collect()
}

fn service() -> &'static str {
    CONNECTOR.account.as_ref().unwrap().service.get(Locale::En)
}

#[wasm_bindgen_test]
async fn signing_in_links_the_account_and_the_save_carries_its_proof() {
    let Some(_h) = mount_form(json!({ "authenticate": { "result": popup_result() },
        "responses": { "POST link": linked() } }))
    .await
    else {
        return;
    };
    assert_eq!(
        text_of("account-sign-in"),
        format!("Sign in to {}", service())
    );
    fill_name().await;
    until("a validity state", || last_validity().is_some()).await;
    assert_eq!(
        last_validity(),
        Some(false),
        "a valid form without an account"
    );
    click("account-sign-in").await;
    until("the linked account", || el("account-linked").is_some()).await;
    assert_eq!(
        text_of("account-linked"),
        "Connected as Alice Example (acme)"
    );
    assert_eq!(text_of("account-sign-in"), "Use another account");
    until("validity true", || last_validity() == Some(true)).await;

    let s = state();
    let params = &s["authenticate"][0];
    let url = params["url"].as_str().unwrap();
    assert!(url.ends_with("/auth/start.html"), "{url}");
    assert_eq!(
        (params["width"].as_u64(), params["height"].as_u64()),
        (Some(600), Some(600))
    );
    let link = &requests("POST", "/api/account/link")[0];
    let sent: Value = serde_json::from_str(link["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({ "code": "code-1", "codeVerifier": "v".repeat(43), "nonce": "nonce-1",
            "redirectUri": "http://127.0.0.1/auth/callback.html",
            "userObjectId": "user-1", "tenantId": "tenant-1" })
    );

    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    let put = &requests("PUT", "")[0];
    let saved: Value = serde_json::from_str(put["body"].as_str().unwrap()).unwrap();
    assert_eq!(saved["accountProof"], "proof-1");
}

/// Signs in with the popup answering `authenticate` and the server `link`; returns the
/// account step's error text.
async fn failed_sign_in(authenticate: Value, link: Value) -> Option<String> {
    let _h =
        mount_form(json!({ "authenticate": authenticate, "responses": { "POST link": link } }))
            .await?;
    fill_name().await;
    click("account-sign-in").await;
    until("the sign-in's error", || el("account-error").is_some()).await;
    assert!(el("account-linked").is_none(), "nothing is linked");
    until("a validity state", || last_validity().is_some()).await;
    assert_eq!(last_validity(), Some(false));
    assert_eq!(
        press_save().await.as_string().as_deref(),
        Some("failure"),
        "Teams' Save is refused without an account"
    );
    assert!(requests("PUT", "").is_empty(), "nothing stored");
    Some(text_of("account-error"))
}

#[wasm_bindgen_test]
async fn a_closed_sign_in_window_says_so_and_links_nothing() {
    let Some(text) = failed_sign_in(json!({ "fail": "CancelledByUser" }), linked()).await else {
        return;
    };
    assert!(text.contains("sign-in window was closed"), "{text}");
    assert!(requests("POST", "/api/account/link").is_empty());
}

#[wasm_bindgen_test]
async fn a_blocked_sign_in_window_asks_to_allow_popups() {
    let Some(text) = failed_sign_in(json!({ "fail": "FailedToOpenWindow" }), linked()).await else {
        return;
    };
    assert!(text.contains("Allow pop-ups"), "{text}");
}

#[wasm_bindgen_test]
async fn refused_consent_says_access_was_not_allowed() {
    let reason = "consent_refused: End-User aborted interaction";
    let Some(text) = failed_sign_in(json!({ "fail": reason }), linked()).await else {
        return;
    };
    assert_eq!(
        text,
        "Access was not allowed at the sign-in, so no account is connected (End-User aborted interaction)"
    );
    assert!(requests("POST", "/api/account/link").is_empty());
}

#[wasm_bindgen_test]
async fn a_wrong_state_says_the_answer_was_for_another_sign_in() {
    let Some(text) = failed_sign_in(json!({ "fail": "state_mismatch" }), linked()).await else {
        return;
    };
    assert!(text.contains("does not belong to this sign-in"), "{text}");
}

#[wasm_bindgen_test]
async fn each_server_refusal_of_the_code_gets_its_own_message() {
    let cases = [
        (
            400,
            "account_code_refused",
            "This sign-in was already used or has expired",
        ),
        (
            400,
            "account_token_invalid",
            "The sign-in could not be verified",
        ),
        (
            400,
            "account_claim_missing",
            "The sign-in does not say which account it is for",
        ),
        (
            503,
            "account_unavailable",
            "The sign-in service cannot be reached right now",
        ),
    ];
    for (status, code, words) in cases {
        let message = format!("detail of {code}");
        let link = json!({ "status": status, "body": { "error": code, "message": message } });
        let Some(text) = failed_sign_in(json!({ "result": popup_result() }), link).await else {
            return;
        };
        assert!(text.starts_with("The sign-in failed: "), "{code}: {text}");
        assert!(text.contains(words), "{code}: {text}");
        assert!(
            text.contains(&message),
            "{code}: the server's detail: {text}"
        );
    }
}

#[wasm_bindgen_test]
async fn an_expired_proof_at_save_asks_for_a_new_sign_in() {
    let refused = json!({ "status": 400, "body": { "error": "account_proof_invalid", "message": "the proof expired" } });
    let Some(_h) = mount_form(json!({ "authenticate": { "result": popup_result() },
        "responses": { "POST link": linked(), "PUT": refused } }))
    .await
    else {
        return;
    };
    fill_name().await;
    click("account-sign-in").await;
    until("the linked account", || el("account-linked").is_some()).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("failure"));
    until("the message", || {
        body_text().contains("The sign-in has expired: sign in again, then save")
    })
    .await;
    until("the link dropped", || el("account-linked").is_none()).await;
    until("validity false", || last_validity() == Some(false)).await;
}

fn stored() -> Value {
    json!({ "entityId": "conn-1", "configName": "Shop sites", "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z", "webhookKind": "connector",
        "settings": { name_field(): "Shop sites" },
        "account": { "account": "globex", "name": "Bob Example", "linkedBy": "user-1" } })
}

#[wasm_bindgen_test]
async fn reopening_shows_the_stored_account_and_saves_without_a_new_sign_in() {
    let Some(_h) = mount_form(json!({ "entityId": "conn-1",
        "responses": { "GET": { "status": 200, "body": stored() } } }))
    .await
    else {
        return;
    };
    until("the stored account", || el("account-linked").is_some()).await;
    assert_eq!(
        text_of("account-linked"),
        "Connected as Bob Example (globex)"
    );
    until("validity true", || last_validity() == Some(true)).await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
    assert!(
        state()["authenticate"].as_array().unwrap().is_empty(),
        "no popup"
    );
    let put = &requests("PUT", "/api/connections/conn-1")[0];
    let saved: Value = serde_json::from_str(put["body"].as_str().unwrap()).unwrap();
    assert!(
        saved.get("accountProof").is_none(),
        "the stored account stays: {saved}"
    );
}

#[wasm_bindgen_test]
async fn the_tab_shows_the_account() {
    let status =
        json!({ "pending": 0, "delivered": 3, "dead": 0, "lastError": null, "disabled": null });
    let key = "ab".repeat(32);
    let Some(_h) = mount(json!({ "frameContext": "content", "webhookUrl": null, "entityId": "conn-1",
        "contentUrl": format!("https://connector.example.com/?entityId=conn-1#editKey={key}"),
        "responses": { "GET": { "status": 200, "body": stored() }, "GET deliveries": { "status": 200, "body": status } } }))
    .await
    else {
        return;
    };
    until("the tab", || el("delivery-counts").is_some()).await;
    assert_eq!(text_of("tab-account"), "Bob Example (globex)");
}

#[wasm_bindgen_test]
async fn the_sign_in_speaks_the_persons_language() {
    let Some(_h) = mount_form(json!({ "locale": "fr-FR" })).await else {
        return;
    };
    let service = CONNECTOR.account.as_ref().unwrap().service.get(Locale::Fr);
    assert_eq!(
        text_of("account-sign-in"),
        format!("Se connecter à {service}")
    );
}
