//! The page's flows against Teams and the server: start-up, pre-fill, save, remove and the
//! test card, for a connector (Teams hands the page the channel's webhook URL) and for a
//! configurable tab (the person pastes a Workflows webhook URL, and the connection's edit
//! key, kept by Teams in the tab's `contentUrl`, proves the editor later). Each answers Teams
//! exactly once and tells the person what happened.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::api::{SaveConnection, TryWebhook};
use connector_settings::{default_values, Locale, Settings, CONNECTOR};
use futures::future::{select, Either};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Api, ApiError, Credentials, RuntimeConfig};
use crate::app::{Notice, Page, Phase};
use crate::i18n::{reason, strings};
use crate::tab::load_tab;
use crate::teams::{self, FrameContext, Handlers, NewSettings, RemoveEvent, SaveEvent};

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
    let context = teams::context().await;
    let (frame, context_entity) = match context {
        Ok(c) => {
            page.form.locale.set(Locale::from_tag(&c.locale));
            page.theme.set(c.theme);
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
        if let Err(e) = h.on_theme_change(move |t| page.theme.set(t)) {
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
        Ok(()) => reload(page).await,
    }
    if let Err(e) = teams::notify_app_loaded() {
        leptos::logging::warn!("{e}");
    }
}

/// Loads what the frame shows: the tab, or the configuration form.
pub(crate) async fn reload(page: Page) {
    if page.content.get_value() {
        load_tab(page).await
    } else {
        load(page).await
    }
}

/// With single sign-on, a fresh token from Teams; else none.
pub(crate) async fn sign_in(page: Page) -> Result<Option<String>, String> {
    if !page.sso.get_value() {
        return Ok(None);
    }
    let s = strings(page.form.locale.get_untracked());
    teams::auth_token()
        .await
        .map(Some)
        .map_err(|e| format!("{}: {e}", s.sign_in_failed))
}

/// Which connection this page is about and what proves its editor: `(entityId, the webhook
/// URL Teams handed the page, the edit key)`. Teams may load the configurationUrl instead of
/// the saved contentUrl (microsoft-teams-library-js#2370): its settings still carry both
/// the entityId and the contentUrl with the key.
pub(crate) async fn credentials(page: Page) -> (String, Option<String>, Option<String>) {
    let instance = teams::get_settings().await.unwrap_or_default();
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
    (
        page.entity_id.get_untracked(),
        instance.webhook_url,
        page.edit_key.get_value(),
    )
}

/// Finds which connection this page edits and pre-fills the form from the server.
pub(crate) async fn load(page: Page) {
    let s = strings(page.form.locale.get_untracked());
    let (id, webhook, key) = credentials(page).await;
    // No webhook from Teams: a configurable tab, whose form asks for a Workflows webhook.
    page.tab.set(webhook.is_none());
    if id.is_empty() {
        page.entity_id.set(new_entity_id());
        page.phase.set(Phase::Ready);
        return;
    }
    if webhook.is_none() && key.is_none() {
        page.phase.set(Phase::LoadFailed(s.tab_no_key.into()));
        return;
    }
    let token = match sign_in(page).await {
        Ok(t) => t,
        Err(why) => {
            page.phase.set(Phase::LoadFailed(why));
            return;
        }
    };
    let creds = Credentials {
        webhook_url: webhook.as_deref(),
        edit_key: key.as_deref(),
        token: token.as_deref(),
    };
    match page.api.get_value().load(&id, creds).await {
        Ok(conn) => {
            if let Some(why) = &conn.disabled {
                page.notice
                    .set(Some(Notice::Error(format!("{}: {why}", s.disabled))));
            }
            let mut values = default_values();
            values.extend(conn.settings);
            page.form.values.set(values);
            page.existing.set(true);
            page.webhook.stored.set(true);
            page.phase.set(Phase::Ready);
        }
        Err(e) if e.is_not_found() => {
            page.notice.set(Some(Notice::Info(s.not_found.into())));
            page.phase.set(Phase::Ready);
        }
        Err(e) => page.phase.set(Phase::LoadFailed(reason(
            &e,
            page.form.locale.get_untracked(),
        ))),
    }
}

/// Teams' Save: store on the server, then hand Teams the settings, then answer.
async fn save(page: Page, event: SaveEvent) {
    let locale = page.form.locale.get_untracked();
    let s = strings(locale);
    page.form.show_all.set(true);
    page.notice.set(None);
    let webhook_ok = !page.tab.get_untracked() || untrack(|| page.webhook.problem()).is_none();
    let outcome = match Settings::parse(page.form.values.get_untracked()) {
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
    let locale = page.form.locale.get_untracked();
    let instance = teams::get_settings().await.map_err(|e| e.to_string())?;
    let tab = instance.webhook_url.is_none();
    // A connector stores the webhook Teams handed it; a tab the one typed (none when the
    // stored one stays).
    let webhook_url = if tab {
        page.webhook.new_url()
    } else {
        instance.webhook_url
    };
    let entity_id = page.entity_id.get_untracked();
    let api = page.api.get_value();
    let body = SaveConnection {
        webhook_url: webhook_url.clone(),
        settings: settings.into_values(),
        app_type: instance.app_type,
        user_object_id: instance.user_object_id,
    };
    let token = sign_in(page).await?;
    let key = page.edit_key.get_value();
    let creds = Credentials {
        webhook_url: None,
        edit_key: key.as_deref(),
        token: token.as_deref(),
    };
    // What proves this connection if it must be forgotten again: its webhook, or its key.
    let (forget_url, forget_token) = (webhook_url.clone(), token.clone());
    let forget = move |api: Api, key: Option<String>| async move {
        let creds = Credentials {
            webhook_url: forget_url.as_deref(),
            edit_key: key.as_deref(),
            token: forget_token.as_deref(),
        };
        let _ = api.delete(&page.entity_id.get_untracked(), creds).await;
    };
    let conn = match api.save(&entity_id, &body, creds).await {
        Ok(conn) => conn,
        Err(e) => {
            if e == ApiError::TimedOut && !page.existing.get_untracked() {
                // The server may still store what we gave up on, and Teams will not know of
                // it: ask it to forget the new connection (best effort; a retried Save
                // stores it again under the same entityId).
                spawn_local(forget(api.clone(), key));
            }
            return Err(reason(&e, locale));
        }
    };
    if conn.edit_key.is_some() {
        page.edit_key.set_value(conn.edit_key.clone());
    }
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
            forget(api, key).await;
        }
        return Err(e.to_string());
    }
    Ok(())
}

/// "Send a test card". To a webhook URL just typed (before the first Save, or replacing):
/// posted at once. To the stored connection: queued through the server's outbox and
/// followed to its outcome.
pub(crate) async fn send_test_card(page: Page) {
    let locale = page.form.locale.get_untracked();
    let s = strings(locale);
    page.testing.set(true);
    page.notice.set(Some(Notice::Info(s.test_sending.into())));
    let outcome = async {
        let token = sign_in(page).await?;
        let api = page.api.get_value();
        if let (true, Some(url)) = (page.tab.get_untracked(), page.webhook.new_url()) {
            let body = TryWebhook {
                webhook_url: url,
                settings: page.form.values.get_untracked(),
            };
            let got = api
                .try_webhook(&body, token.as_deref())
                .await
                .map_err(|e| reason(&e, locale))?;
            return match got.error {
                None if got.delivered => Ok(Notice::Success(s.test_delivered.into())),
                why => Err(format!("{}: {}", s.test_failed, why.unwrap_or_default())),
            };
        }
        let (id, webhook, key) = credentials(page).await;
        if webhook.is_none() && key.is_none() {
            return Err(s.tab_no_key.to_string());
        }
        let creds = Credentials {
            webhook_url: webhook.as_deref(),
            edit_key: key.as_deref(),
            token: token.as_deref(),
        };
        let card = api
            .test_card(&id, creds)
            .await
            .map_err(|e| reason(&e, locale))?;
        let mut last = None;
        // Retries back off for minutes; a person waits about half a minute.
        for _ in 0..30 {
            TimeoutFuture::new(1_000).await;
            let status = api
                .delivery_status(&id, creds, Some(&card.event_id))
                .await
                .map_err(|e| reason(&e, locale))?;
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

/// Teams' remove: delete the connection on the server, then answer.
async fn remove(page: Page, event: RemoveEvent) {
    let locale = page.form.locale.get_untracked();
    let s = strings(locale);
    page.saving.set(true);
    page.notice.set(Some(Notice::Info(s.removing.into())));
    let outcome = async {
        let (id, webhook, key) = credentials(page).await;
        if id.is_empty() || (webhook.is_none() && key.is_none()) {
            return Err(s.no_webhook.to_string());
        }
        let token = sign_in(page).await?;
        let creds = Credentials {
            webhook_url: webhook.as_deref(),
            edit_key: key.as_deref(),
            token: token.as_deref(),
        };
        match page.api.get_value().delete(&id, creds).await {
            // Already gone is what removing wants.
            Err(e) if !e.is_not_found() => Err(reason(&e, locale)),
            _ => Ok(()),
        }
    }
    .await;
    page.saving.set(false);
    match outcome {
        Ok(()) => {
            page.notice.set(Some(Notice::Success(s.removed.into())));
            let _ = event.notify_success();
        }
        Err(why) => {
            let text = format!("{}: {why}", s.remove_failed);
            page.notice.set(Some(Notice::Error(text.clone())));
            let _ = event.notify_failure(&text);
        }
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
