//! Start-up: Teams' SDK initialised within a deadline, the frame's context and settings
//! read, the handlers this frame allows registered, and what the frame shows loaded.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::Locale;
use futures::future::{join, select, Either, LocalBoxFuture};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{query_entity_id, set_root};
use super::prefill::load_form;
use super::remove::remove;
use super::save::save;
use super::tab::load_tab;
use crate::api::{self, Api, RuntimeConfig};
use crate::i18n::reason;
use crate::state::{Page, Phase, TabChannel};
use crate::teams::{self, FrameContext, Handlers, InstanceSettings};

/// Starts the page in its frame: configuration, Teams, the handlers, then what it shows.
pub(crate) async fn start(
    page: Page,
    handlers: Rc<RefCell<Handlers>>,
    timeout_ms: u32,
    api_timeout_ms: u32,
    assume_framed: bool,
) {
    // What js/handshake.js asked Teams while the wasm downloaded, if it ran.
    teams::take_handshake();
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
    page.bot_server.set_value(config.bot);
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
            // A channel of a team: where the app's bot would post.
            if let (Some(tenant_id), Some(team_id), Some(channel_id)) =
                (&c.tenant_id, c.team_id, c.channel_id)
            {
                page.channel.set_value(Some(TabChannel {
                    tenant_id: tenant_id.clone(),
                    team_id,
                    name: c.channel_name.unwrap_or_else(|| channel_id.clone()),
                    channel_id,
                }));
            }
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
