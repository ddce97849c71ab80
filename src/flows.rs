//! The page's flows against Teams and the server: start-up, pre-fill, save, remove, the test
//! card and the tab's own data, for a connector (Teams hands the page the channel's webhook
//! URL) and for a configurable tab (the person pastes a Workflows webhook URL, and the
//! connection's edit key, kept by Teams in the tab's `contentUrl`, proves the editor later).
//! Each answers Teams exactly once and tells the person what happened.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::api::{SaveConnection, TryWebhook};
use connector_settings::{default_values, Locale, Settings, CONNECTOR};
use futures::future::{join, select, Either, LocalBoxFuture};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Api, ApiError, Credentials, RuntimeConfig};
use crate::i18n::{reason, strings, Strings};
use crate::state::{AccountLink, Notice, Page, Phase, TabData};
use crate::teams::{
    self, FrameContext, Handlers, InstanceSettings, NewSettings, RemoveEvent, SaveEvent,
};

/// Where Teams keeps the edit key: the fragment of the `contentUrl` the page saved. A
/// fragment never reaches a server, so no server or CDN log holds it.
const KEY_FRAGMENT: &str = "#editKey=";

pub(crate) async fn start(
    page: Page,
    handlers: Rc<RefCell<Handlers>>,
    timeout_ms: u32,
    api_timeout_ms: u32,
    assume_framed: bool,
) {
    let config = api::runtime_config(api_timeout_ms)
        .await
        .unwrap_or_else(|e| {
            leptos::logging::warn!(
                "config.json unreadable, using the page's origin: {}",
                reason(&e, Locale::En)
            );
            RuntimeConfig::default()
        });
    page.api.set_value(Api::new(&config, api_timeout_ms));
    page.sso.set_value(config.sso);
    page.webhook.dev_inboxes.set_value(config.dev_inboxes);
    page.webhook.flow_tokens.set_value(config.flow_tokens);
    if !assume_framed && !teams::is_framed() {
        page.phase.set(Phase::OutsideTeams);
        return;
    }
    let init = Box::pin(teams::initialize(&config.valid_message_origins));
    match select(init, TimeoutFuture::new(timeout_ms)).await {
        Either::Left((Ok(()), _)) => {}
        Either::Left((Err(e), _)) => {
            leptos::logging::warn!("teams initialize failed: {e}");
            page.phase.set(Phase::OutsideTeams);
            return;
        }
        Either::Right(_) => {
            page.phase.set(Phase::OutsideTeams);
            return;
        }
    }
    // Both at once: the context says what this frame is, the settings which connection.
    let (context, instance) = join(teams::context(), teams::get_settings()).await;
    let instance = instance.unwrap_or_else(|e| {
        leptos::logging::warn!("{e}");
        InstanceSettings::default()
    });
    let (frame, context_entity) = match context {
        Ok(c) => {
            let locale = Locale::from_tag(&c.locale);
            page.form.locale.set_value(locale);
            set_root("lang", locale.code());
            set_root("data-theme", c.theme.as_str());
            page.user.set_value((c.user_object_id, c.tenant_id));
            (c.frame_context, c.entity_id)
        }
        Err(e) => {
            leptos::logging::warn!("{e}");
            (FrameContext::Settings, None)
        }
    };
    if let Some(id) = query_entity_id().or(context_entity) {
        page.entity_id.set(id);
    }
    page.content.set_value(frame == FrameContext::Content);
    // Register only what the frame context allows: in `remove`, registering a save handler
    // throws and the remove handler would never be registered; the tab itself has neither.
    let registered = {
        let mut h = handlers.borrow_mut();
        if let Err(e) = h.on_theme_change(move |t| set_root("data-theme", t.as_str())) {
            leptos::logging::warn!("{e}");
        }
        match frame {
            FrameContext::Remove => h.on_remove(move |event| spawn_local(remove(page, event))),
            FrameContext::Content => Ok(()),
            _ => h.on_save(move |event| spawn_local(save(page, event))),
        }
    };
    match registered {
        Err(e) => page.phase.set(Phase::LoadFailed(e.to_string())),
        Ok(()) if frame == FrameContext::Remove => page.phase.set(Phase::Remove),
        Ok(()) => show(page, Some(instance)).await,
    }
    if let Err(e) = teams::notify_app_loaded() {
        leptos::logging::warn!("{e}");
    }
}

/// Loads what the frame shows (the tab, or the configuration form) again, after a failure.
pub(crate) async fn reload(page: Page) {
    show(page, None).await
}

/// Loads what the frame shows, with Teams' settings for it when they are known already.
/// Boxed: `start` and `reload` share one copy of its state machine in the wasm instead of
/// each inlining its own.
fn show(page: Page, known: Option<InstanceSettings>) -> LocalBoxFuture<'static, ()> {
    Box::pin(async move {
        let loaded = if page.content.get_value() {
            load_tab(page, known).await
        } else {
            load_form(page, known).await
        };
        if let Err(why) = loaded {
            page.phase.set(Phase::LoadFailed(why));
        }
    })
}

/// What every flow against the server starts from, made by [`begin`].
pub(crate) struct Call {
    pub(crate) locale: Locale,
    pub(crate) s: &'static Strings,
    pub(crate) api: Api,
    /// Which connection.
    pub(crate) entity_id: String,
    /// Teams' settings for this frame: a connector's webhook URL, `appType`, `userObjectId`.
    pub(crate) instance: InstanceSettings,
    /// The connection's edit key, when Teams kept one or a save made one.
    pub(crate) key: Option<String>,
    /// A Teams sign-on token, with single sign-on.
    pub(crate) token: Option<String>,
}

impl Call {
    /// What proves the editor of the connection: Teams' webhook URL or the edit key (and the
    /// token); `why` when neither is there.
    pub(crate) fn proof(&self, why: &str) -> Result<Credentials<'_>, String> {
        let webhook_url = self.instance.webhook_url.as_deref();
        if self.entity_id.is_empty() || (webhook_url.is_none() && self.key.is_none()) {
            return Err(why.to_string());
        }
        Ok(Credentials {
            webhook_url,
            edit_key: self.key.as_deref(),
            token: self.token.as_deref(),
        })
    }

    /// Why an API call failed, in the person's words.
    pub(crate) fn reason(&self, e: &ApiError) -> String {
        reason(e, self.locale)
    }
}

/// The preamble of every flow: the person's language, the message bar (`shown` replaces
/// it), Teams' settings for this frame (asked unless `known`), which connection and the key
/// that proves its editor, a sign-in token with single sign-on, and the API client. Boxed,
/// like `show`: one copy for all the flows.
pub(crate) fn begin(
    page: Page,
    shown: Option<Notice>,
    known: Option<InstanceSettings>,
) -> LocalBoxFuture<'static, Result<Call, String>> {
    Box::pin(begin_inner(page, shown, known))
}

async fn begin_inner(
    page: Page,
    shown: Option<Notice>,
    known: Option<InstanceSettings>,
) -> Result<Call, String> {
    let locale = page.locale();
    let s = strings(locale);
    if shown.is_some() {
        page.notice.set(shown);
    }
    let instance = match known {
        Some(instance) => instance,
        None => teams::get_settings().await.map_err(|e| e.to_string())?,
    };
    identify(page, &instance);
    let token = if page.sso.get_value() {
        let token = teams::auth_token()
            .await
            .map_err(|e| format!("{}: {e}", s.sign_in_failed))?;
        Some(token)
    } else {
        None
    };
    Ok(Call {
        locale,
        s,
        api: page.api.get_value(),
        entity_id: page.entity_id.get_untracked(),
        instance,
        key: page.edit_key.get_value(),
        token,
    })
}

/// Which connection this page is about and its edit key, where the page does not know them
/// yet. Teams may load the configurationUrl instead of the saved contentUrl
/// (microsoft-teams-library-js#2370): its settings still carry both the entityId and the
/// contentUrl with the key.
fn identify(page: Page, instance: &InstanceSettings) {
    if page.entity_id.get_untracked().is_empty() {
        if let Some(id) = &instance.entity_id {
            page.entity_id.set(id.clone());
        }
    }
    if page.edit_key.with_value(Option::is_none) {
        // By characters, not `split_once(KEY_FRAGMENT)`: a substring search costs KBs.
        let from_url = |url: &str| {
            let (_, fragment) = url.split_once('#')?;
            let key = fragment.strip_prefix(&KEY_FRAGMENT[1..])?;
            Some(key.split('&').next().unwrap_or("").to_string()).filter(|k| !k.is_empty())
        };
        let key = instance
            .content_url
            .as_deref()
            .and_then(from_url)
            .or_else(|| from_url(&window().location().hash().unwrap_or_default()));
        page.edit_key.set_value(key);
    }
}

/// Finds which connection this page edits and pre-fills the form from the server; a new
/// connection gets a new entityId and the form with its defaults.
async fn load_form(page: Page, known: Option<InstanceSettings>) -> Result<(), String> {
    let instance = match known {
        Some(instance) => instance,
        None => teams::get_settings().await.map_err(|e| e.to_string())?,
    };
    identify(page, &instance);
    // No webhook from Teams: a configurable tab, whose form asks for a Workflows webhook.
    page.tab.set(instance.webhook_url.is_none());
    if page.entity_id.get_untracked().is_empty() {
        page.entity_id.set(new_entity_id());
        ready(page);
        return Ok(());
    }
    let call = begin(page, None, Some(instance)).await?;
    let creds = call.proof(call.s.tab_no_key)?;
    match call.api.load(&call.entity_id, creds).await {
        Ok(conn) => {
            if let Some(why) = &conn.disabled {
                page.notice
                    .set(Some(Notice::Error(format!("{}: {why}", call.s.disabled))));
            }
            let mut values = default_values();
            values.extend(conn.settings);
            page.form.values.set(values);
            page.existing.set(true);
            page.webhook.stored.set(true);
            page.webhook.stored_kind.set(conn.webhook_kind);
            // Its stored account: no new sign-in needed to change the other settings.
            page.account.set(conn.account.map(|a| AccountLink {
                account: a.account,
                name: a.name,
                proof: None,
            }));
        }
        Err(e) if e.is_not_found() => {
            page.notice.set(Some(Notice::Info(call.s.not_found.into())));
        }
        Err(e) => return Err(call.reason(&e)),
    }
    ready(page);
    Ok(())
}

/// Shows the form. Its validity is known from its values before it renders, so Teams hears
/// it first and enables Save as early as it can; the page's effect keeps it up to date.
fn ready(page: Page) {
    if let Err(e) = teams::set_validity_state(untrack(|| page.valid())) {
        leptos::logging::warn!("{e}");
    }
    page.phase.set(Phase::Ready);
}

/// Teams' Save: store on the server, then hand Teams the settings, then answer.
async fn save(page: Page, event: SaveEvent) {
    let s = page.strings();
    page.form.show_all.set(true);
    page.notice.set(None);
    let webhook_ok = !page.tab.get_untracked() || untrack(|| page.webhook.problem()).is_none();
    let account_ok = CONNECTOR.account.is_none() || page.account.with_untracked(Option::is_some);
    let outcome = match Settings::parse(page.form.values.get_untracked()) {
        Ok(_) if !account_ok => Err(s.account_required.to_string()),
        Ok(settings) if webhook_ok => {
            page.saving.set(true);
            let outcome = store(page, settings).await;
            page.saving.set(false);
            outcome
        }
        _ => Err(s.invalid_form.to_string()),
    };
    match outcome {
        Ok(()) => {
            page.existing.set(true);
            page.webhook.stored_now();
            page.notice.set(Some(Notice::Success(s.saved.into())));
            if let Err(e) = event.notify_success() {
                leptos::logging::warn!("{e}");
            }
        }
        Err(why) => {
            let text = format!("{}: {why}", s.save_failed);
            page.notice.set(Some(Notice::Error(text.clone())));
            if let Err(e) = event.notify_failure(&text) {
                leptos::logging::warn!("{e}");
            }
        }
    }
}

async fn store(page: Page, settings: Settings) -> Result<(), String> {
    let call = begin(page, None, None).await?;
    let instance = &call.instance;
    let tab = instance.webhook_url.is_none();
    // A connector stores the webhook Teams handed it; a tab the one typed (none when the
    // stored one stays).
    let webhook_url = if tab {
        page.webhook.new_url()
    } else {
        instance.webhook_url.clone()
    };
    let entity_id = call.entity_id.clone();
    let body = SaveConnection {
        webhook_url: webhook_url.clone(),
        settings: settings.into_values(),
        app_type: instance.app_type.clone(),
        user_object_id: instance.user_object_id.clone(),
        account_proof: page
            .account
            .with_untracked(|a| a.as_ref().and_then(|a| a.proof.clone())),
    };
    let creds = Credentials {
        webhook_url: None,
        edit_key: call.key.as_deref(),
        token: call.token.as_deref(),
    };
    // What proves this connection if it must be forgotten again: its webhook, or its key.
    let (forget_url, forget_token) = (webhook_url, call.token.clone());
    let forget = move |api: Api, id: String, key: Option<String>| async move {
        let creds = Credentials {
            webhook_url: forget_url.as_deref(),
            edit_key: key.as_deref(),
            token: forget_token.as_deref(),
        };
        let _ = api.delete(&id, creds).await;
    };
    let conn = match call.api.save(&entity_id, &body, creds).await {
        Ok(conn) => conn,
        Err(e) => {
            if e == ApiError::TimedOut && !page.existing.get_untracked() {
                // The server may still store what we gave up on, and Teams will not know of
                // it: ask it to forget the new connection (best effort; a retried Save
                // stores it again under the same entityId).
                spawn_local(forget(call.api.clone(), entity_id, call.key.clone()));
            }
            if let ApiError::Refused { body, .. } = &e {
                // The server took no proof of this sign-in: the person signs in again.
                if body.error.starts_with("account_proof")
                    && page
                        .account
                        .with_untracked(|a| a.as_ref().is_some_and(|a| a.proof.is_some()))
                {
                    page.account.set(None);
                }
            }
            return Err(call.reason(&e));
        }
    };
    if conn.edit_key.is_some() {
        page.edit_key.set_value(conn.edit_key.clone());
    }
    page.webhook.stored_kind.set(conn.webhook_kind.clone());
    let key = page.edit_key.get_value();
    let content_url = content_url(&entity_id, key.as_deref());
    let new = if tab {
        NewSettings {
            entity_id: entity_id.clone(),
            suggested_display_name: Some(conn.config_name),
            website_url: Some(CONNECTOR.website_url.to_string()),
            // Teams loads it when the tab is removed, so the connection goes with the tab.
            remove_url: Some(content_url.clone()),
            content_url,
            config_name: None,
        }
    } else {
        NewSettings {
            entity_id: entity_id.clone(),
            config_name: Some(conn.config_name),
            content_url,
            ..NewSettings::default()
        }
    };
    if let Err(e) = teams::set_settings(&new).await {
        // Teams did not take it: a connection Teams never learned of must not stay stored.
        if !page.existing.get_untracked() {
            forget(call.api.clone(), entity_id, key).await;
        }
        return Err(e.to_string());
    }
    Ok(())
}

/// "Send a test card". To a webhook URL just typed (before the first Save, or replacing):
/// posted at once. To the stored connection: queued through the server's outbox and
/// followed to its outcome.
pub(crate) async fn send_test_card(page: Page) {
    page.testing.set(true);
    let s = page.strings();
    let outcome = async {
        let call = begin(page, Some(Notice::Info(s.test_sending.into())), None).await?;
        if let (true, Some(url)) = (page.tab.get_untracked(), page.webhook.new_url()) {
            let body = TryWebhook {
                webhook_url: url,
                settings: page.form.values.get_untracked(),
            };
            let got = call
                .api
                .try_webhook(&body, call.token.as_deref())
                .await
                .map_err(|e| call.reason(&e))?;
            return match got.error {
                None if got.delivered => Ok(Notice::Success(s.test_delivered.into())),
                why => Err(format!("{}: {}", s.test_failed, why.unwrap_or_default())),
            };
        }
        let creds = call.proof(s.tab_no_key)?;
        let id = &call.entity_id;
        let card = call
            .api
            .test_card(id, creds)
            .await
            .map_err(|e| call.reason(&e))?;
        let mut last = None;
        // Retries back off for minutes; a person waits about half a minute.
        for _ in 0..30 {
            TimeoutFuture::new(1_000).await;
            let status = call
                .api
                .delivery_status(id, creds, Some(&card.event_id))
                .await
                .map_err(|e| call.reason(&e))?;
            if status.delivered > 0 {
                return Ok(Notice::Success(s.test_delivered.into()));
            }
            if status.dead > 0 {
                return Err(format!(
                    "{}: {}",
                    s.test_failed,
                    status.last_error.unwrap_or_default()
                ));
            }
            last = status.last_error;
        }
        Ok(Notice::Info(match last {
            Some(why) => format!("{} ({why})", s.test_pending),
            None => s.test_pending.to_string(),
        }))
    }
    .await;
    page.testing.set(false);
    page.notice.set(Some(outcome.unwrap_or_else(Notice::Error)));
}

/// Teams' remove: delete the connection on the server, then answer, within
/// [`api::REMOVE_ANSWER_MS`] whatever the server does. Teams removes a tab on failure too,
/// so a failure says that the connection still posts and how to stop it.
async fn remove(page: Page, event: RemoveEvent) {
    let s = page.strings();
    page.saving.set(true);
    // Whether Teams handed a webhook (a connector, whose webhook goes with it) or none (a
    // tab, whose workflow lives on); a tab until the settings say.
    let tab = Rc::new(std::cell::Cell::new(true));
    let seen = tab.clone();
    let outcome = Box::pin(async move {
        let call = begin(page, Some(Notice::Info(s.removing.into())), None).await?;
        seen.set(call.instance.webhook_url.is_none());
        let creds = call.proof(s.no_webhook)?;
        let api = call.api.within(api::REMOVE_TIMEOUT_MS);
        match api.delete(&call.entity_id, creds).await {
            // Already gone is what removing wants.
            Err(e) if !e.is_not_found() => Err(call.reason(&e)),
            _ => Ok(()),
        }
    });
    // The DELETE has its own deadline; this one also bounds the settings and sign-in calls.
    let outcome = match select(outcome, TimeoutFuture::new(api::REMOVE_ANSWER_MS)).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => Err(s.timed_out.to_string()),
    };
    page.saving.set(false);
    match outcome {
        Ok(()) => {
            page.notice.set(Some(Notice::Success(s.removed.into())));
            let _ = event.notify_success();
        }
        Err(why) => {
            let mut text = format!("{}: {why}.", s.remove_failed);
            if tab.get() {
                text = text + " " + s.remove_still_posts;
            }
            page.notice.set(Some(Notice::Error(text.clone())));
            let _ = event.notify_failure(&text);
        }
    }
}

/// The tab itself: its connection and delivery status, with the edit key Teams kept for it.
async fn load_tab(page: Page, known: Option<InstanceSettings>) -> Result<(), String> {
    page.tab_data.set(Some(tab_data(page, known).await?));
    page.phase.set(Phase::Tab);
    Ok(())
}

/// Fetches what the tab shows again; a failure shows in the message bar.
pub(crate) async fn refresh_tab(page: Page) {
    match tab_data(page, None).await {
        Ok(data) => page.tab_data.set(Some(data)),
        Err(why) => page.notice.set(Some(Notice::Error(why))),
    }
}

pub(crate) async fn tab_data(
    page: Page,
    known: Option<InstanceSettings>,
) -> Result<TabData, String> {
    let call = begin(page, None, known).await?;
    let creds = call.proof(call.s.tab_no_key)?;
    let id = &call.entity_id;
    let connection = call
        .api
        .load(id, creds)
        .await
        .map_err(|e| call.reason(&e))?;
    let status = call
        .api
        .delivery_status(id, creds, None)
        .await
        .map_err(|e| call.reason(&e))?;
    Ok(TabData { connection, status })
}

/// Sets an attribute of the document's root element, where the CSS reads Teams' theme
/// (`data-theme`) and screen readers the language (`lang`).
fn set_root(name: &str, value: &str) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute(name, value);
    }
}

/// The `entityId` query parameter of this page's URL (set in the `contentUrl` we hand Teams).
fn query_entity_id() -> Option<String> {
    let search = window().location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get("entityId").filter(|s| !s.is_empty())
}

/// This page's URL carrying `entity_id`, and the edit key in the fragment: what Teams loads
/// to edit the connector, or shows as the tab.
fn content_url(entity_id: &str, key: Option<&str>) -> String {
    let location = window().location();
    let origin = location.origin().unwrap_or_default();
    let path = location.pathname().unwrap_or_default();
    let fragment = key
        .map(|k| KEY_FRAGMENT.to_string() + k)
        .unwrap_or_default();
    format!("{origin}{path}?entityId={entity_id}{fragment}")
}

fn new_entity_id() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_else(|_| format!("{:x}", js_sys::Date::now() as u64))
}
