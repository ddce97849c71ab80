//! Start-up: Teams' SDK initialised within a deadline, the frame's context and settings
//! read, the handlers this frame allows registered, and what the frame shows loaded.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::Locale;
use futures::future::{join, select, Either, LocalBoxFuture};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{go_to, query_entity_id, set_root, CONFIG_PAGE, TAB_PAGE};
use super::prefill::load_form;
use super::remove::remove;
use super::save::save;
use super::tab::load_tab;
use crate::api::{self, Api, RuntimeConfig};
use crate::i18n::reason;
use crate::state::{Page, Phase, TabChannel};
use crate::teams::{self, FrameContext, Handlers, InstanceSettings, TeamsError};

/// What one of the page's binaries serves: the configuration page ([`ConfigPage`]: frame
/// contexts `settings` and `remove`) or the tab page ([`TabPage`]: `content`). The start-up
/// is generic over it, so each binary holds only the flows of its own frames.
pub(crate) trait Entry: 'static {
    /// The page of the frames this one does not serve, beside it.
    const OTHER: &'static str;
    /// The frame assumed when Teams' context cannot be read.
    const UNKNOWN_FRAME: FrameContext;
    /// Whether this page serves `frame` (else it hands the frame to [`Entry::OTHER`]).
    fn serves(frame: FrameContext) -> bool;
    /// Registers the handlers `frame` allows and needs (the theme's is registered already).
    fn register(page: Page, frame: FrameContext, h: &mut Handlers) -> Result<(), TeamsError>;
    /// Loads what the frame shows, with Teams' settings for it when they are known already.
    fn show(page: Page, known: Option<InstanceSettings>) -> LocalBoxFuture<'static, ()>;
}

/// The configuration page: the form and its save (`settings`), and the remove (`remove`).
pub(crate) struct ConfigPage;

impl Entry for ConfigPage {
    const OTHER: &'static str = TAB_PAGE;
    const UNKNOWN_FRAME: FrameContext = FrameContext::Settings;
    fn serves(frame: FrameContext) -> bool {
        frame != FrameContext::Content
    }
    fn register(page: Page, frame: FrameContext, h: &mut Handlers) -> Result<(), TeamsError> {
        // In `remove`, registering a save handler throws and the remove handler would never
        // be registered.
        match frame {
            FrameContext::Remove => h.on_remove(move |event| spawn_local(remove(page, event))),
            _ => h.on_save(move |event| spawn_local(save(page, event))),
        }
    }
    fn show(page: Page, known: Option<InstanceSettings>) -> LocalBoxFuture<'static, ()> {
        shown(page, load_form(page, known))
    }
}

/// The tab page (frame context `content`): the tab itself, which has neither save nor remove.
pub(crate) struct TabPage;

impl Entry for TabPage {
    const OTHER: &'static str = CONFIG_PAGE;
    const UNKNOWN_FRAME: FrameContext = FrameContext::Content;
    fn serves(frame: FrameContext) -> bool {
        frame == FrameContext::Content
    }
    fn register(_: Page, _: FrameContext, _: &mut Handlers) -> Result<(), TeamsError> {
        Ok(())
    }
    fn show(page: Page, known: Option<InstanceSettings>) -> LocalBoxFuture<'static, ()> {
        shown(page, load_tab(page, known))
    }
}

/// Boxed: `start` and `reload` share one copy of the load's state machine in the wasm
/// instead of each inlining its own. A failure shows with a retry.
fn shown(
    page: Page,
    load: impl std::future::Future<Output = Result<(), String>> + 'static,
) -> LocalBoxFuture<'static, ()> {
    Box::pin(async move {
        if let Err(why) = load.await {
            page.phase.set(Phase::LoadFailed(why));
        }
    })
}

/// Starts the page in its frame: configuration, Teams, the handlers, then what it shows.
pub(crate) async fn start<E: Entry>(
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
            (E::UNKNOWN_FRAME, None)
        }
    };
    if !E::serves(frame) {
        // A frame of the other page's (a tab saved before the two were split points its
        // contentUrl at the configuration page): that page, with this one's entityId and
        // edit key. The skeleton stays until it loads.
        go_to(E::OTHER);
        return;
    }
    if let Some(id) = query_entity_id().or(context_entity) {
        page.entity_id.set(id);
    }
    // Register only what the frame context allows; the tab itself has neither save nor remove.
    let registered = {
        let mut h = handlers.borrow_mut();
        if let Err(e) = h.on_theme_change(move |t| set_root("data-theme", t.as_str())) {
            leptos::logging::warn!("{e}");
        }
        E::register(page, frame, &mut h)
    };
    match registered {
        Err(e) => page.phase.set(Phase::LoadFailed(e.to_string())),
        Ok(()) if frame == FrameContext::Remove => page.phase.set(Phase::Remove),
        Ok(()) => E::show(page, Some(instance)).await,
    }
    if let Err(e) = teams::notify_app_loaded() {
        leptos::logging::warn!("{e}");
    }
}

/// Loads what the frame shows (the tab, or the configuration form) again, after a failure.
pub(crate) async fn reload<E: Entry>(page: Page) {
    E::show(page, None).await
}
