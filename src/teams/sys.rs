//! The raw `microsoftTeams` global as teams-js 2.x defines it. Private to `teams`: every
//! call that can throw is `catch`, and nothing here leaves the module but [`describe`], which
//! `http` shares.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["microsoftTeams", "app"], js_name = initialize, catch)]
    pub fn initialize(valid_message_origins: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "app"], js_name = getContext, catch)]
    pub fn get_context() -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "app"], js_name = notifySuccess, catch)]
    pub fn notify_success() -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "app"], js_name = registerOnThemeChangeHandler, catch)]
    pub fn register_on_theme_change_handler(
        handler: &Closure<dyn FnMut(String)>,
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "settings"], js_name = getSettings, catch)]
    pub fn get_settings(callback: &Closure<dyn FnMut(JsValue)>) -> Result<(), JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "settings"], js_name = setSettings, catch)]
    pub fn set_settings(
        settings: &JsValue,
        callback: &Closure<dyn FnMut(JsValue, JsValue)>,
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "settings"], js_name = setValidityState, catch)]
    pub fn set_validity_state(valid: bool) -> Result<(), JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "settings"], js_name = registerOnSaveHandler, catch)]
    pub fn register_on_save_handler(handler: &Closure<dyn FnMut(SaveEvent)>)
        -> Result<(), JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "settings"], js_name = registerOnRemoveHandler, catch)]
    pub fn register_on_remove_handler(
        handler: &Closure<dyn FnMut(RemoveEvent)>,
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "authentication"], js_name = getAuthToken, catch)]
    pub fn get_auth_token() -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["microsoftTeams", "authentication"], js_name = authenticate, catch)]
    pub fn authenticate(params: &JsValue) -> Result<Promise, JsValue>;

    pub type SaveEvent;
    #[wasm_bindgen(method, js_name = notifySuccess, catch)]
    pub fn notify_success(this: &SaveEvent) -> Result<(), JsValue>;
    #[wasm_bindgen(method, js_name = notifyFailure, catch)]
    pub fn notify_failure(this: &SaveEvent, reason: &str) -> Result<(), JsValue>;

    /// `window.connectorHandshake` (js/handshake.js): what was asked of Teams while the wasm
    /// downloaded.
    pub type Handshake;
    #[wasm_bindgen(method)]
    pub fn take(this: &Handshake, name: &str) -> Option<Promise>;
    #[wasm_bindgen(method, catch)]
    pub fn handle(this: &Handshake, name: &str, handler: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, js_name = drop)]
    pub fn give_up(this: &Handshake);

    pub type RemoveEvent;
    #[wasm_bindgen(method, js_name = notifySuccess, catch)]
    pub fn notify_success(this: &RemoveEvent) -> Result<(), JsValue>;
    #[wasm_bindgen(method, js_name = notifyFailure, catch)]
    pub fn notify_failure(this: &RemoveEvent, reason: &str) -> Result<(), JsValue>;
}

/// Takes `window.connectorHandshake` off the window (each start of the page takes the one
/// begun for it), if js/handshake.js began one.
pub fn take_handshake() -> Option<Handshake> {
    let global = js_sys::global();
    let key = JsValue::from_str("connectorHandshake");
    let value = js_sys::Reflect::get(&global, &key).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let _ = js_sys::Reflect::delete_property(global.unchecked_ref::<js_sys::Object>(), &key);
    Some(value.unchecked_into())
}

/// Whether the page runs inside another window's frame, as it does in Teams.
pub fn is_framed() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    match window.parent() {
        Ok(Some(parent)) => !JsValue::from(parent).eq(&JsValue::from(window)),
        // A cross-origin parent can make the access itself throw: still framed.
        Err(_) => true,
        Ok(None) => false,
    }
}

/// The readable text of a thrown JS value (an `Error`'s message, or the value as a string).
pub fn describe(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    // Not `{:?}`: JsValue's Debug pulls float formatting into the wasm.
    err.as_string()
        .unwrap_or_else(|| "unknown error".to_string())
}
