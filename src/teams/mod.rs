//! The Teams JavaScript SDK as Rust: typed values, `Result`s and futures over the
//! `microsoftTeams` global; its objects to and from Rust through serde-wasm-bindgen. With
//! `http`, the only modules of the page that touch `JsValue`.

mod sys;

pub(crate) use sys::describe;

use std::cell::RefCell;

use futures::channel::oneshot;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Something the SDK or the host refused or could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsError(pub String);

impl std::fmt::Display for TeamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: &str, e: JsValue) -> TeamsError {
    TeamsError(format!("{what}: {}", sys::describe(&e)))
}

thread_local! {
    /// The handshake js/handshake.js began while the wasm downloaded, for this start.
    static HANDSHAKE: RefCell<Option<sys::Handshake>> = const { RefCell::new(None) };
}

/// Takes over the handshake begun before the wasm (none when the page runs without
/// js/handshake.js, or unframed): until each answer is taken, the functions below hand out
/// the early ones instead of asking Teams again.
pub fn take_handshake() {
    let early = sys::take_handshake();
    HANDSHAKE.with(|h| *h.borrow_mut() = early);
}

/// Forgets the handshake: the page asks Teams everything itself from now on.
pub fn drop_handshake() {
    if let Some(h) = HANDSHAKE.with(|h| h.borrow_mut().take()) {
        h.give_up();
    }
}

/// The handshake's promise of `name`, once.
pub(crate) fn early(name: &str) -> Option<js_sys::Promise> {
    HANDSHAKE.with(|h| h.borrow().as_ref().and_then(|h| h.take(name)))
}

/// Hands `handler` to the handshake when it registered `name` (true), or says it did not
/// (false: register it with the SDK); what registering threw is the page's error.
fn adopt(name: &str, handler: &JsValue, what: &str) -> Result<bool, TeamsError> {
    HANDSHAKE.with(|h| match h.borrow().as_ref() {
        Some(h) => h.handle(name, handler).map_err(|e| err(what, e)),
        None => Ok(false),
    })
}

/// Whether a parent window exists that could be Teams.
pub fn is_framed() -> bool {
    sys::is_framed()
}

/// `app.initialize(validMessageOrigins)`: the handshake with the host.
pub async fn initialize(valid_message_origins: &[String]) -> Result<(), TeamsError> {
    let origins = if valid_message_origins.is_empty() {
        JsValue::UNDEFINED
    } else {
        valid_message_origins
            .iter()
            .map(|o| JsValue::from_str(o))
            .collect::<js_sys::Array>()
            .into()
    };
    let promise = match early("initialize") {
        Some(p) => p,
        None => sys::initialize(&origins).map_err(|e| err("teams sdk not available", e))?,
    };
    JsFuture::from(promise)
        .await
        .map_err(|e| err("initialize failed", e))?;
    Ok(())
}

/// The page's frame context: where Teams shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameContext {
    /// Adding or editing a connection (a connector's or a tab's configuration).
    Settings,
    /// The connector or tab is being removed.
    Remove,
    /// The tab itself, at the `contentUrl` the page saved.
    Content,
    Other,
}

/// Teams' theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Default,
    Dark,
    Contrast,
}

impl Theme {
    pub fn parse(s: &str) -> Theme {
        match s {
            "dark" => Theme::Dark,
            "contrast" => Theme::Contrast,
            _ => Theme::Default,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Default => "default",
            Theme::Dark => "dark",
            Theme::Contrast => "contrast",
        }
    }
}

/// What the page needs of `app.getContext()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub locale: String,
    pub theme: Theme,
    pub frame_context: FrameContext,
    /// `page.id`: the entityId Teams stored for this configuration, if any.
    pub entity_id: Option<String>,
    /// `user.id`: the person's Microsoft Entra object id.
    pub user_object_id: Option<String>,
    /// `user.tenant.id`.
    pub tenant_id: Option<String>,
    /// `team.internalId` (`19:…@thread.tacv2`): the id the bot's install event names.
    pub team_id: Option<String>,
    /// `channel.id`: the channel the tab is in.
    pub channel_id: Option<String>,
    /// `channel.displayName`.
    pub channel_name: Option<String>,
}

/// `app.getContext()` as the SDK returns it (v2 shape); every member is optional, as hosts
/// fill what they know.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawContext {
    app: RawApp,
    page: RawPage,
    user: RawUser,
    team: RawTeam,
    channel: RawChannel,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawTeam {
    internal_id: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawChannel {
    id: String,
    display_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUser {
    id: String,
    tenant: RawTenant,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTenant {
    id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawApp {
    locale: String,
    theme: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPage {
    id: String,
    frame_context: String,
}

/// `app.getContext()`.
pub async fn context() -> Result<Context, TeamsError> {
    let promise = match early("context") {
        Some(p) => p,
        None => sys::get_context().map_err(|e| err("getContext failed", e))?,
    };
    let value = JsFuture::from(promise)
        .await
        .map_err(|e| err("getContext failed", e))?;
    let raw: RawContext = serde_wasm_bindgen::from_value(value)
        .map_err(|e| TeamsError(format!("getContext answered something else: {e}")))?;
    Ok(Context {
        locale: raw.app.locale,
        theme: Theme::parse(&raw.app.theme),
        frame_context: match raw.page.frame_context.as_str() {
            "settings" => FrameContext::Settings,
            "remove" => FrameContext::Remove,
            "content" => FrameContext::Content,
            _ => FrameContext::Other,
        },
        entity_id: Some(raw.page.id).filter(|s| !s.is_empty()),
        user_object_id: Some(raw.user.id).filter(|s| !s.is_empty()),
        tenant_id: Some(raw.user.tenant.id).filter(|s| !s.is_empty()),
        team_id: Some(raw.team.internal_id).filter(|s| !s.is_empty()),
        channel_id: Some(raw.channel.id).filter(|s| !s.is_empty()),
        channel_name: Some(raw.channel.display_name).filter(|s| !s.is_empty()),
    })
}

/// `app.notifySuccess()`: the page is ready; Teams hides its loading indicator.
pub fn notify_app_loaded() -> Result<(), TeamsError> {
    sys::notify_success()
        .map(drop)
        .map_err(|e| err("notifySuccess failed", e))
}

/// `authentication.getAuthToken()`: a Microsoft Entra token for this app, for the server.
pub async fn auth_token() -> Result<String, TeamsError> {
    let promise = sys::get_auth_token().map_err(|e| err("getAuthToken failed", e))?;
    let value = JsFuture::from(promise)
        .await
        .map_err(|e| err("sign-in failed", e))?;
    value
        .as_string()
        .ok_or_else(|| TeamsError("sign-in returned no token".into()))
}

/// Why `authentication.authenticate` gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The person closed the window (Teams answers `CancelledByUser`).
    Cancelled,
    /// The browser did not open the window (Teams answers `FailedToOpenWindow`).
    Blocked,
    /// Any other reason: the popup's own `notifyFailure(reason)`, or the SDK's error.
    Failed(String),
}

#[derive(Serialize)]
struct AuthenticateParams<'a> {
    url: &'a str,
    width: u32,
    height: u32,
}

/// `authentication.authenticate({url, width, height})`: Teams opens `url` in a window and
/// answers with what the window passed to `notifySuccess`.
pub async fn authenticate(url: &str, width: u32, height: u32) -> Result<String, AuthError> {
    let params = serde_wasm_bindgen::to_value(&AuthenticateParams { url, width, height })
        .map_err(|e| AuthError::Failed(e.to_string()))?;
    let promise = sys::authenticate(&params).map_err(|e| AuthError::Failed(sys::describe(&e)))?;
    match JsFuture::from(promise).await {
        Ok(value) => Ok(value.as_string().unwrap_or_default()),
        Err(e) => Err(match sys::describe(&e).as_str() {
            "CancelledByUser" => AuthError::Cancelled,
            "FailedToOpenWindow" => AuthError::Blocked,
            other => AuthError::Failed(other.to_string()),
        }),
    }
}

/// What `settings.getSettings` returns. Every field is optional: the v2 types omit
/// `webhookUrl`, `appType` and `userObjectId`, but hosts pass them through (for a tab, Teams
/// hands none of them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceSettings {
    pub entity_id: Option<String>,
    pub config_name: Option<String>,
    pub content_url: Option<String>,
    pub webhook_url: Option<String>,
    pub app_type: Option<String>,
    pub user_object_id: Option<String>,
}

impl InstanceSettings {
    /// An empty text counts as absent, as the SDK's hosts send "" for unknown values.
    fn without_empty(self) -> InstanceSettings {
        let some = |v: Option<String>| v.filter(|s| !s.is_empty());
        InstanceSettings {
            entity_id: some(self.entity_id),
            config_name: some(self.config_name),
            content_url: some(self.content_url),
            webhook_url: some(self.webhook_url),
            app_type: some(self.app_type),
            user_object_id: some(self.user_object_id),
        }
    }
}

/// `settings.getSettings()`.
pub async fn get_settings() -> Result<InstanceSettings, TeamsError> {
    let value = match early("settings") {
        Some(p) => JsFuture::from(p)
            .await
            .map_err(|e| err("getSettings failed", e))?,
        None => ask_settings().await?,
    };
    let settings: InstanceSettings = serde_wasm_bindgen::from_value(value)
        .map_err(|e| TeamsError(format!("getSettings answered something else: {e}")))?;
    Ok(settings.without_empty())
}

/// `settings.getSettings(callback)`'s answer.
async fn ask_settings() -> Result<JsValue, TeamsError> {
    let (tx, rx) = oneshot::channel();
    let tx = RefCell::new(Some(tx));
    let callback = Closure::<dyn FnMut(JsValue)>::new(move |value: JsValue| {
        if let Some(tx) = tx.borrow_mut().take() {
            let _ = tx.send(value);
        }
    });
    sys::get_settings(&callback).map_err(|e| err("getSettings failed", e))?;
    // `callback` lives until the answer arrives, then is dropped with this future.
    let value = rx
        .await
        .map_err(|_| TeamsError("getSettings was never answered".into()))?;
    drop(callback);
    Ok(value)
}

/// What the page hands Teams with `settings.setSettings`: a connector's `configName`, or a
/// tab's `suggestedDisplayName`, `websiteUrl` and `removeUrl`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSettings {
    pub entity_id: String,
    pub content_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_url: Option<String>,
}

/// `settings.setSettings(settings, callback)`: the callback form, because without it the SDK
/// throws when the host answers with a failure.
pub async fn set_settings(settings: &NewSettings) -> Result<(), TeamsError> {
    let value = serde_wasm_bindgen::to_value(settings)
        .map_err(|e| TeamsError(format!("setSettings failed: {e}")))?;
    let (tx, rx) = oneshot::channel::<Result<(), String>>();
    let tx = RefCell::new(Some(tx));
    let callback =
        Closure::<dyn FnMut(JsValue, JsValue)>::new(move |status: JsValue, reason: JsValue| {
            let answer =
                if status.as_bool() == Some(true) || status.is_null() || status.is_undefined() {
                    Ok(())
                } else {
                    Err(reason
                        .as_string()
                        .or_else(|| status.as_string())
                        .unwrap_or_else(|| "the host refused the settings".into()))
                };
            if let Some(tx) = tx.borrow_mut().take() {
                let _ = tx.send(answer);
            }
        });
    sys::set_settings(&value, &callback).map_err(|e| err("setSettings failed", e))?;
    let answer = rx
        .await
        .map_err(|_| TeamsError("setSettings was never answered".into()))?;
    drop(callback);
    answer.map_err(|reason| TeamsError(format!("teams refused the settings: {reason}")))
}

/// `settings.setValidityState(valid)`: enables or disables Teams' Save button.
pub fn set_validity_state(valid: bool) -> Result<(), TeamsError> {
    sys::set_validity_state(valid).map_err(|e| err("setValidityState failed", e))
}

/// One press of Teams' Save button; answer it exactly once.
pub struct SaveEvent(sys::SaveEvent);

impl SaveEvent {
    pub fn notify_success(self) -> Result<(), TeamsError> {
        self.0
            .notify_success()
            .map_err(|e| err("save notifySuccess failed", e))
    }
    pub fn notify_failure(self, reason: &str) -> Result<(), TeamsError> {
        self.0
            .notify_failure(reason)
            .map_err(|e| err("save notifyFailure failed", e))
    }
}

/// The removal of the connector; answer it exactly once.
pub struct RemoveEvent(sys::RemoveEvent);

impl RemoveEvent {
    pub fn notify_success(self) -> Result<(), TeamsError> {
        self.0
            .notify_success()
            .map_err(|e| err("remove notifySuccess failed", e))
    }
    pub fn notify_failure(self, reason: &str) -> Result<(), TeamsError> {
        self.0
            .notify_failure(reason)
            .map_err(|e| err("remove notifyFailure failed", e))
    }
}

/// Owns the page's long-lived SDK handlers: dropping it would leave the SDK calling freed
/// closures, so the page holds exactly one for its whole life.
#[derive(Default)]
pub struct Handlers {
    save: Option<Closure<dyn FnMut(sys::SaveEvent)>>,
    remove: Option<Closure<dyn FnMut(sys::RemoveEvent)>>,
    theme: Option<Closure<dyn FnMut(String)>>,
}

impl Handlers {
    /// `settings.registerOnSaveHandler`. Only the last registered handler counts.
    pub fn on_save(
        &mut self,
        mut handler: impl FnMut(SaveEvent) + 'static,
    ) -> Result<(), TeamsError> {
        let closure = Closure::<dyn FnMut(sys::SaveEvent)>::new(move |e| handler(SaveEvent(e)));
        let what = "registerOnSaveHandler failed";
        if !adopt("save", closure.as_ref(), what)? {
            sys::register_on_save_handler(&closure).map_err(|e| err(what, e))?;
        }
        self.save = Some(closure);
        Ok(())
    }

    /// `settings.registerOnRemoveHandler`; allowed only in the `remove` frame context.
    pub fn on_remove(
        &mut self,
        mut handler: impl FnMut(RemoveEvent) + 'static,
    ) -> Result<(), TeamsError> {
        let closure = Closure::<dyn FnMut(sys::RemoveEvent)>::new(move |e| handler(RemoveEvent(e)));
        let what = "registerOnRemoveHandler failed";
        if !adopt("remove", closure.as_ref(), what)? {
            sys::register_on_remove_handler(&closure).map_err(|e| err(what, e))?;
        }
        self.remove = Some(closure);
        Ok(())
    }

    /// `app.registerOnThemeChangeHandler`.
    pub fn on_theme_change(
        &mut self,
        mut handler: impl FnMut(Theme) + 'static,
    ) -> Result<(), TeamsError> {
        let closure = Closure::<dyn FnMut(String)>::new(move |t: String| handler(Theme::parse(&t)));
        let what = "registerOnThemeChangeHandler failed";
        if !adopt("theme", closure.as_ref(), what)? {
            sys::register_on_theme_change_handler(&closure).map_err(|e| err(what, e))?;
        }
        self.theme = Some(closure);
        Ok(())
    }
}
