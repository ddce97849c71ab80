//! The page's flows against Teams and the server: start-up, pre-fill, save, remove and the
//! test card. Each answers Teams exactly once and tells the person what happened.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::api::SaveConnection;
use connector_settings::{default_values, Locale, Settings};
use futures::future::{select, Either};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Api, ApiError, RuntimeConfig};
use crate::app::{Notice, Page, Phase};
use crate::i18n::{reason, strings};
use crate::teams::{self, FrameContext, Handlers, NewSettings, RemoveEvent, SaveEvent};

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
    // Register only what the frame context allows: in `remove`, registering a save handler
    // throws and the remove handler would never be registered.
    let registered = {
        let mut h = handlers.borrow_mut();
        if let Err(e) = h.on_theme_change(move |t| page.theme.set(t)) {
            leptos::logging::warn!("{e}");
        }
        if frame == FrameContext::Remove {
            h.on_remove(move |event| spawn_local(remove(page, event)))
        } else {
            h.on_save(move |event| spawn_local(save(page, event)))
        }
    };
    match registered {
        Err(e) => page.phase.set(Phase::LoadFailed(e.to_string())),
        Ok(()) if frame == FrameContext::Remove => page.phase.set(Phase::Remove),
        Ok(()) => {
            if let Some(id) = query_entity_id().or(context_entity) {
                page.entity_id.set(id);
            }
            load(page).await;
        }
    }
    if let Err(e) = teams::notify_app_loaded() {
        leptos::logging::warn!("{e}");
    }
}

/// With single sign-on, a fresh token from Teams; else none.
async fn sign_in(page: Page) -> Result<Option<String>, String> {
    if !page.sso.get_value() {
        return Ok(None);
    }
    let s = strings(page.form.locale.get_untracked());
    teams::auth_token()
        .await
        .map(Some)
        .map_err(|e| format!("{}: {e}", s.sign_in_failed))
}

/// Finds which connection this page edits and pre-fills the form from the server.
pub(crate) async fn load(page: Page) {
    let s = strings(page.form.locale.get_untracked());
    let instance = teams::get_settings().await.unwrap_or_default();
    if page.entity_id.get_untracked().is_empty() {
        // Teams may load the configurationUrl instead of the stored contentUrl when editing:
        // its own settings still carry the entityId.
        match instance.entity_id {
            Some(id) => page.entity_id.set(id),
            None => {
                page.entity_id.set(new_entity_id());
                page.phase.set(Phase::Ready);
                return;
            }
        }
    }
    let Some(webhook) = instance.webhook_url else {
        page.notice.set(Some(Notice::Error(s.no_webhook.into())));
        page.phase.set(Phase::Ready);
        return;
    };
    let id = page.entity_id.get_untracked();
    let token = match sign_in(page).await {
        Ok(t) => t,
        Err(why) => {
            page.phase.set(Phase::LoadFailed(why));
            return;
        }
    };
    match page
        .api
        .get_value()
        .load(&id, &webhook, token.as_deref())
        .await
    {
        Ok(conn) => {
            if let Some(why) = &conn.disabled {
                page.notice
                    .set(Some(Notice::Error(format!("{}: {why}", s.disabled))));
            }
            let mut values = default_values();
            values.extend(conn.settings);
            page.form.values.set(values);
            page.existing.set(true);
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
    let outcome = match Settings::parse(page.form.values.get_untracked()) {
        Err(_) => Err(s.invalid_form.to_string()),
        Ok(settings) => {
            page.saving.set(true);
            let outcome = store(page, settings).await;
            page.saving.set(false);
            outcome
        }
    };
    match outcome {
        Ok(()) => {
            page.existing.set(true);
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
    let webhook_url = instance
        .webhook_url
        .ok_or_else(|| strings(locale).no_webhook.to_string())?;
    let entity_id = page.entity_id.get_untracked();
    let api = page.api.get_value();
    let body = SaveConnection {
        webhook_url: webhook_url.clone(),
        settings: settings.into_values(),
        app_type: instance.app_type,
        user_object_id: instance.user_object_id,
    };
    let token = sign_in(page).await?;
    let conn = match api.save(&entity_id, &body, token.as_deref()).await {
        Ok(conn) => conn,
        Err(e) => {
            if e == ApiError::TimedOut && !page.existing.get_untracked() {
                // The server may still store what we gave up on, and Teams will not know of
                // it: ask it to forget the new connection (best effort; a retried Save
                // stores it again under the same entityId).
                let (api, entity_id, token) = (api.clone(), entity_id.clone(), token.clone());
                spawn_local(async move {
                    let _ = api.delete(&entity_id, &webhook_url, token.as_deref()).await;
                });
            }
            return Err(reason(&e, locale));
        }
    };
    let new = NewSettings {
        entity_id: entity_id.clone(),
        config_name: conn.config_name,
        content_url: content_url(&entity_id),
    };
    if let Err(e) = teams::set_settings(&new).await {
        // Teams did not take it: a connection Teams never learned of must not stay stored.
        if !page.existing.get_untracked() {
            let _ = api.delete(&entity_id, &webhook_url, token.as_deref()).await;
        }
        return Err(e.to_string());
    }
    Ok(())
}

/// "Send a test card": queue one through the server's outbox and follow it to its outcome.
pub(crate) async fn send_test_card(page: Page) {
    let locale = page.form.locale.get_untracked();
    let s = strings(locale);
    page.testing.set(true);
    page.notice.set(Some(Notice::Info(s.test_sending.into())));
    let outcome = async {
        let instance = teams::get_settings().await.map_err(|e| e.to_string())?;
        let webhook = instance
            .webhook_url
            .ok_or_else(|| s.no_webhook.to_string())?;
        let id = page.entity_id.get_untracked();
        let token = sign_in(page).await?;
        let api = page.api.get_value();
        let card = api
            .test_card(&id, &webhook, token.as_deref())
            .await
            .map_err(|e| reason(&e, locale))?;
        let mut last = None;
        // Retries back off for minutes; a person waits about half a minute.
        for _ in 0..30 {
            TimeoutFuture::new(1_000).await;
            let status = api
                .delivery_status(&id, &webhook, &card.event_id, token.as_deref())
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
        let instance = teams::get_settings().await.map_err(|e| e.to_string())?;
        let webhook = instance
            .webhook_url
            .ok_or_else(|| s.no_webhook.to_string())?;
        let id = instance
            .entity_id
            .or_else(query_entity_id)
            .ok_or_else(|| s.no_webhook.to_string())?;
        let token = sign_in(page).await?;
        match page
            .api
            .get_value()
            .delete(&id, &webhook, token.as_deref())
            .await
        {
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

/// This page's URL carrying `entity_id`: what Teams loads to edit the connection.
fn content_url(entity_id: &str) -> String {
    let location = window().location();
    let origin = location.origin().unwrap_or_default();
    let path = location.pathname().unwrap_or_default();
    format!("{origin}{path}?entityId={entity_id}")
}

fn new_entity_id() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_else(|_| format!("{:x}", js_sys::Date::now() as u64))
}
