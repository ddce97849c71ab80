//! The page's views and state: the skeleton, the new/edit form with its message bar and
//! test-card button (and, for a tab, its webhook URL field), the remove view, the tab's own
//! view (in `tab`), the outside-Teams explanation. The flows are in `flows`.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::{default_values, Locale, CONNECTOR};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Api, RuntimeConfig};
use crate::flows::{reload, send_test_card, start};
use crate::form::{ConfigForm, FormState};
use crate::i18n::strings;
use crate::tab::{TabData, TabView};
use crate::teams::{self, Handlers, Theme};
use crate::webhook::{WebhookField, WebhookUrlField};

/// Where the page is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Starting,
    /// No Teams host answered.
    OutsideTeams,
    /// The stored settings could not be loaded; the person may retry.
    LoadFailed(String),
    /// The form is shown (new or edit).
    Ready,
    /// Frame context `remove`: waiting for Teams' remove event, then removing.
    Remove,
    /// Frame context `content`: the tab itself.
    Tab,
}

/// A message bar's kind and text.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Info(String),
    Success(String),
    Error(String),
}

/// The page's state; `Copy`, so handlers and tasks capture it freely.
#[derive(Clone, Copy)]
pub(crate) struct Page {
    pub(crate) phase: RwSignal<Phase>,
    pub(crate) theme: RwSignal<Theme>,
    pub(crate) form: FormState,
    pub(crate) notice: RwSignal<Option<Notice>>,
    pub(crate) saving: RwSignal<bool>,
    /// The entityId this page saves to: the stored one when editing, a new one otherwise.
    pub(crate) entity_id: RwSignal<String>,
    /// Whether the connection was stored before this page opened.
    pub(crate) existing: RwSignal<bool>,
    /// A test card is on its way.
    pub(crate) testing: RwSignal<bool>,
    pub(crate) api: StoredValue<Api>,
    /// Whether API calls carry a Teams sign-on token.
    pub(crate) sso: StoredValue<bool>,
    /// A configurable tab's configuration: Teams hands no webhook URL, the person pastes one.
    pub(crate) tab: RwSignal<bool>,
    /// The tab's webhook URL field.
    pub(crate) webhook: WebhookField,
    /// The connection's edit key: from what Teams kept, or from the save that made it.
    pub(crate) edit_key: StoredValue<Option<String>>,
    /// Whether this frame is the tab itself (frame context `content`).
    pub(crate) content: StoredValue<bool>,
    /// What the tab shows.
    pub(crate) tab_data: RwSignal<Option<TabData>>,
}

/// The configuration page.
#[component]
pub fn App(
    /// How long to wait for a Teams host before saying the page is outside Teams.
    #[prop(default = 4000)]
    host_timeout_ms: u32,
    /// Skip the "is there a parent frame" check (browser tests run the page unframed).
    #[prop(optional)]
    assume_framed: bool,
    /// How long to wait for the server before telling the person it did not answer.
    #[prop(default = api::TIMEOUT_MS)]
    api_timeout_ms: u32,
) -> impl IntoView {
    let locale = RwSignal::new(Locale::En);
    let form = FormState::new(default_values(), locale);
    provide_context(form);
    let page = Page {
        phase: RwSignal::new(Phase::Starting),
        theme: RwSignal::new(Theme::Default),
        form,
        notice: RwSignal::new(None),
        saving: RwSignal::new(false),
        entity_id: RwSignal::new(String::new()),
        existing: RwSignal::new(false),
        testing: RwSignal::new(false),
        api: StoredValue::new(Api::new(&RuntimeConfig::default(), api_timeout_ms)),
        sso: StoredValue::new(false),
        tab: RwSignal::new(false),
        webhook: WebhookField::new(),
        edit_key: StoredValue::new(None),
        content: StoredValue::new(false),
        tab_data: RwSignal::new(None),
    };
    // The SDK keeps calling these handlers for the page's whole life.
    let handlers = Rc::new(RefCell::new(Handlers::default()));
    let _keep = StoredValue::new_local(handlers.clone());

    Effect::new(move |_| {
        let theme = page.theme.get();
        let lang = locale.get();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", theme.as_str());
            let _ = root.set_attribute("lang", lang.code());
        }
    });
    Effect::new(move |_| {
        let valid = form.is_valid() && (!page.tab.get() || page.webhook.problem().is_none());
        if page.phase.get() == Phase::Ready {
            let _ = teams::set_validity_state(valid);
        }
    });
    Effect::new(move |_| form.disabled.set(page.saving.get()));

    spawn_local(start(
        page,
        handlers,
        host_timeout_ms,
        api_timeout_ms,
        assume_framed,
    ));

    view! {
        <main class="page" aria-busy=move || (page.phase.get() == Phase::Starting || page.saving.get()).to_string()>
            {move || match page.phase.get() {
                Phase::Starting => view! { <Skeleton /> }.into_any(),
                Phase::OutsideTeams => view! { <OutsideTeams /> }.into_any(),
                Phase::LoadFailed(why) => {
                    let s = strings(locale.get());
                    view! {
                        <Heading />
                        <div class="message-bar error" role="alert">
                            <span>{format!("{}: {why}", s.load_failed)}</span>
                            <button class="button secondary" type="button" on:click=move |_| {
                                page.phase.set(Phase::Starting);
                                spawn_local(reload(page));
                            }>{s.retry}</button>
                        </div>
                    }
                    .into_any()
                }
                // The message bar comes last: what it shows arrives while the form is on
                // screen, and below the form it moves nothing (issue 7: nothing jumps).
                Phase::Ready => view! {
                    <Heading />
                    <ConfigForm>
                        {move || page.tab.get().then(|| view! { <WebhookUrlField field=page.webhook /> })}
                    </ConfigForm>
                    // A test card can go to a stored connection, or to a webhook URL just typed.
                    <Show when=move || page.existing.get() || (page.tab.get() && page.webhook.editing() && page.webhook.problem().is_none())>
                        <div class="actions">
                            <button
                                class="button secondary"
                                type="button"
                                id="send-test-card"
                                disabled=move || page.testing.get() || page.saving.get()
                                on:click=move |_| spawn_local(send_test_card(page))
                            >
                                {move || strings(locale.get()).send_test}
                            </button>
                        </div>
                    </Show>
                    <NoticeBar notice=page.notice saving=page.saving />
                }
                .into_any(),
                Phase::Remove => view! {
                    <Heading />
                    <NoticeBar notice=page.notice saving=page.saving />
                }
                .into_any(),
                Phase::Tab => view! { <TabView page=page /> }.into_any(),
            }}
        </main>
    }
}

#[component]
pub(crate) fn Heading() -> impl IntoView {
    view! {
        <header class="heading">
            <h1 class="title">{CONNECTOR.name}</h1>
            <p class="subtitle">{CONNECTOR.short_description}</p>
        </header>
    }
}

/// The message bar under the heading, with a spinner while saving.
#[component]
pub(crate) fn NoticeBar(
    /// The current message, if any.
    notice: RwSignal<Option<Notice>>,
    /// Whether a save is running.
    saving: RwSignal<bool>,
) -> impl IntoView {
    let form = expect_context::<FormState>();
    let slot = NodeRef::<leptos::html::Div>::new();
    // A new message below a long form is scrolled into view.
    Effect::new(move |_| {
        let shown = saving.get() || notice.with(Option::is_some);
        if let (true, Some(el)) = (shown, slot.get()) {
            el.scroll_into_view_with_bool(false);
        }
    });
    view! {
        <div class="notice-slot" aria-live="polite" node_ref=slot>
            {move || {
                if saving.get() {
                    let text = strings(form.locale.get()).saving;
                    return Some(view! {
                        <div class="message-bar info" role="status">
                            <span class="spinner" aria-hidden="true"></span>
                            <span>{text}</span>
                        </div>
                    }.into_any());
                }
                notice.get().map(|n| {
                    let (class, role, text) = match n {
                        Notice::Info(t) => ("message-bar info", "status", t),
                        Notice::Success(t) => ("message-bar success", "status", t),
                        Notice::Error(t) => ("message-bar error", "alert", t),
                    };
                    view! { <div class=class role=role>{text}</div> }.into_any()
                })
            }}
        </div>
    }
}

#[component]
fn Skeleton() -> impl IntoView {
    let form = expect_context::<FormState>();
    view! {
        <div class="skeleton" role="status">
            <span class="visually-hidden">{move || strings(form.locale.get()).loading}</span>
            <div class="skeleton-line wide" aria-hidden="true"></div>
            <div class="skeleton-line" aria-hidden="true"></div>
            {CONNECTOR.fields.iter().map(|_| view! { <div class="skeleton-block" aria-hidden="true"></div> }).collect_view()}
        </div>
    }
}

#[component]
fn OutsideTeams() -> impl IntoView {
    let form = expect_context::<FormState>();
    let s = move || strings(form.locale.get());
    view! {
        <section class="outside" data-testid="outside-teams">
            <h1 class="title">{move || s().outside_title}</h1>
            <p>{move || s().outside_intro} " " <strong>{CONNECTOR.name}</strong> ": " {CONNECTOR.short_description}</p>
            <p>{move || s().outside_how}</p>
            <p class="help">{move || s().outside_dev}</p>
        </section>
    }
}
