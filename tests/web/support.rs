//! What every page test leans on: the fake Teams host and fetch (tests/fake_teams.js), the
//! page mounted in a fresh element, and reading and driving the DOM.

use gloo_timers::future::TimeoutFuture;
use leptos::mount::mount_to;
use leptos::prelude::*;
use serde_json::Value;
use teams_connector::{App, TabApp};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, HtmlInputElement};

#[wasm_bindgen(module = "/tests/fake_teams.js")]
extern "C" {
    pub(crate) fn install(options: &str);
    pub(crate) fn state_json() -> String;
    pub(crate) async fn press_save() -> JsValue;
    pub(crate) async fn press_remove() -> JsValue;
    pub(crate) fn change_theme(theme: &str);
}

pub(crate) const NAME: &str = "field-subscription_name";

pub(crate) fn state() -> Value {
    serde_json::from_str(&state_json()).unwrap()
}

/// The requests the fake server got with `method`, in order.
pub(crate) fn requests(method: &str) -> Vec<Value> {
    state()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method)
        .cloned()
        .collect()
}

pub(crate) fn el(id: &str) -> Option<web_sys::Element> {
    document().get_element_by_id(id)
}

pub(crate) fn input(id: &str) -> HtmlInputElement {
    el(id)
        .unwrap_or_else(|| panic!("no element #{id}"))
        .dyn_into()
        .unwrap()
}

pub(crate) fn text_of(id: &str) -> String {
    el(id).and_then(|e| e.text_content()).unwrap_or_default()
}

pub(crate) fn body_text() -> String {
    document()
        .body()
        .unwrap()
        .text_content()
        .unwrap_or_default()
}

pub(crate) async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        TimeoutFuture::new(10).await;
        leptos::task::tick().await;
    }
    panic!("timed out waiting for {what}; page text: {}", body_text());
}

pub(crate) async fn type_into(id: &str, text: &str) {
    let i = input(id);
    i.set_value(text);
    i.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    i.dispatch_event(&web_sys::Event::new("blur").unwrap())
        .unwrap();
    leptos::task::tick().await;
}

pub(crate) async fn click(id: &str) {
    el(id)
        .unwrap_or_else(|| panic!("no element #{id}"))
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
}

pub(crate) fn last_validity() -> Option<bool> {
    state()["validity"]
        .as_array()
        .and_then(|v| v.last())
        .and_then(Value::as_bool)
}

/// Installs the fake with `options`, mounts the page in a fresh element, waits for `ready`.
pub(crate) async fn mount(options: Value, timeout_ms: u32) -> UnmountHandle<impl Mountable> {
    install(&options.to_string());
    mount_installed(options, timeout_ms).await
}

/// Begins the page's own handshake (js/handshake.js, as index.html loads it) against the
/// fake installed now, as it runs in Teams' frame while the wasm downloads.
pub(crate) fn begin_handshake() {
    js_sys::Function::new_no_args(include_str!("../../js/handshake.js"))
        .call0(&JsValue::UNDEFINED)
        .unwrap();
    js_sys::Function::new_no_args(
        "window.connectorHandshake = window.connectorHandshakeBegin(window.microsoftTeams);",
    )
    .call0(&JsValue::UNDEFINED)
    .unwrap();
}

/// [`mount`] on the fake installed already (with `options`).
pub(crate) async fn mount_installed(
    options: Value,
    timeout_ms: u32,
) -> UnmountHandle<impl Mountable> {
    let parent: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&parent).unwrap();
    // `apiTimeoutMs` in the options shortens the page's wait for the server.
    let api_timeout_ms = options["apiTimeoutMs"]
        .as_u64()
        .map_or(20_000, |n| n as u32);
    // Each frame gets its own page, as Teams loads it: the tab page (tab.html) in `content`,
    // the configuration page (index.html) in `settings` and `remove`.
    let tab = options["frameContext"] == "content";
    let handle = mount_to(parent, move || {
        if tab {
            view! { <TabApp host_timeout_ms=timeout_ms api_timeout_ms=api_timeout_ms assume_framed=true /> }.into_any()
        } else {
            view! { <App host_timeout_ms=timeout_ms api_timeout_ms=api_timeout_ms assume_framed=true /> }.into_any()
        }
    });
    leptos::task::tick().await;
    handle
}

pub(crate) async fn mount_form(options: Value) -> UnmountHandle<impl Mountable> {
    let h = mount(options, 2000).await;
    until("the form", || el(NAME).is_some()).await;
    h
}

/// A Workflows URL as Teams hands them out today (with the `cu/<NN>` routing segment).
pub(crate) const FLOW: &str = "https://default72f988bf86f141af91ab2d7cd011db.47.environment.api.powerplatform.com:443/powerautomate/automations/direct/cu/07/workflows/8f1c/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";
