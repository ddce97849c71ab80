//! The handshake js/handshake.js begins while the wasm downloads: what Teams answered, and
//! any save or remove pressed before the wasm took over, reach the page's flows as if the
//! page had asked and registered itself; a slow host only delays the page.

use gloo_timers::future::TimeoutFuture;
use serde_json::{json, Value};
use wasm_bindgen_test::*;

use crate::support::*;

fn registered() -> Vec<Value> {
    state()["registered"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn has(name: &str) -> bool {
    registered().iter().any(|r| r == name)
}

/// [`until`] for before the page is mounted: no Leptos executor to tick yet.
async fn before_mount(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        TimeoutFuture::new(10).await;
    }
    panic!(
        "timed out waiting for {what}; registered: {:?}",
        registered()
    );
}

fn notified() -> Vec<Value> {
    state()["notified"].as_array().cloned().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn a_save_pressed_before_the_wasm_takes_over_is_kept_and_answered_once() {
    let options = json!({ "responses": { "PUT": { "echo": true } } });
    install(&options.to_string());
    begin_handshake();
    before_mount("the handshake's save handler", || has("save")).await;
    // Save pressed while the wasm would still be on the wire: kept, not answered yet.
    wasm_bindgen_futures::spawn_local(async {
        press_save().await;
    });
    TimeoutFuture::new(50).await;
    assert!(notified().is_empty(), "nobody answers before the page");
    let _h = mount_installed(options, 2000).await;
    until("the answer", || !notified().is_empty()).await;
    let n = notified();
    assert_eq!(n.len(), 1, "answered exactly once: {n:?}");
    assert_eq!(n[0][0], "save");
    assert_eq!(n[0][1], "failure", "a new form without a name is not saved");
    assert!(
        n[0][2].as_str().unwrap().contains("Could not save"),
        "{n:?}"
    );
    assert!(
        state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["method"] != "PUT"),
        "nothing stored"
    );
    // The page took over the handshake's handlers instead of registering its own.
    assert_eq!(
        registered().iter().filter(|r| *r == "save").count(),
        1,
        "{:?}",
        registered()
    );
    // Later presses reach the page directly, and a valid form is saved.
    until("the form", || el(NAME).is_some()).await;
    type_into(NAME, "Nightly builds").await;
    until("validity true", || last_validity() == Some(true)).await;
    let second = press_save().await.as_string();
    assert_eq!(second.as_deref(), Some("success"), "{:?}", notified());
    assert_eq!(notified().len(), 2);
    assert_eq!(state()["setSettings"][0]["configName"], "Nightly builds");
}

#[wasm_bindgen_test]
async fn a_remove_pressed_before_the_wasm_takes_over_deletes_the_connection() {
    let options = json!({ "frameContext": "remove", "entityId": "conn-1",
        "responses": { "DELETE": { "status": 204 } } });
    install(&options.to_string());
    begin_handshake();
    // In `remove` the SDK refuses a save handler: the handshake registers the remove one.
    before_mount("the handshake's remove handler", || has("remove")).await;
    assert!(!has("save"), "{:?}", registered());
    wasm_bindgen_futures::spawn_local(async {
        press_remove().await;
    });
    TimeoutFuture::new(50).await;
    assert!(notified().is_empty());
    let _h = mount_installed(options, 2000).await;
    until("the answer", || !notified().is_empty()).await;
    assert_eq!(notified(), vec![json!(["remove", "success"])]);
    assert!(state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["method"] == "DELETE" && r["path"] == "/api/connections/conn-1"));
}

#[wasm_bindgen_test]
async fn a_slow_host_only_delays_the_form() {
    // Every answer of the host 300 ms late: the page mounts before `initialize` has been
    // answered and waits for the handshake's answers, asking nothing twice.
    let options = json!({ "hostDelayMs": 300, "responses": { "PUT": { "echo": true } } });
    install(&options.to_string());
    begin_handshake();
    let _h = mount_installed(options, 2000).await;
    assert!(el(NAME).is_none(), "no form before Teams answered");
    until("the form", || el(NAME).is_some()).await;
    until("a validity state", || last_validity().is_some()).await;
    let validity = state()["validity"].as_array().cloned().unwrap();
    assert!(
        validity.iter().all(|v| v == false),
        "a new form: {validity:?}"
    );
    assert_eq!(
        registered(),
        vec![json!("themeChange"), json!("save")],
        "each handler once"
    );
    let configs = state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/config.json"))
        .count();
    assert_eq!(configs, 1, "config.json read once, by the handshake");
    assert_eq!(state()["appSuccess"], 1);
    type_into(NAME, "Nightly builds").await;
    assert_eq!(press_save().await.as_string().as_deref(), Some("success"));
}

#[wasm_bindgen_test]
async fn a_host_that_never_answers_the_handshake_shows_the_outside_teams_message() {
    let options = json!({ "hostSilent": true });
    install(&options.to_string());
    begin_handshake();
    let _h = mount_installed(options, 200).await;
    until("the outside message", || {
        body_text().contains("Open this page from Microsoft Teams")
    })
    .await;
    assert!(registered().is_empty(), "{:?}", registered());
}

#[wasm_bindgen_test]
async fn theme_changes_before_the_wasm_are_applied_after_the_context_theme() {
    let options = json!({ "theme": "default" });
    install(&options.to_string());
    begin_handshake();
    before_mount("the handshake's theme handler", || has("themeChange")).await;
    change_theme("dark");
    let _h = mount_installed(options, 2000).await;
    until("the form", || el(NAME).is_some()).await;
    until("the dark theme", || {
        document_theme().as_deref() == Some("dark")
    })
    .await;
}

fn document_theme() -> Option<String> {
    leptos::prelude::document()
        .document_element()
        .and_then(|e| e.get_attribute("data-theme"))
}
