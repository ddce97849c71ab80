//! The page: the view of each phase (the skeleton, the new/edit form with its message bar
//! and test-card button and, for a tab, where its cards go (`bot`: as the app, or its
//! webhook URL field), the remove view, the tab's own
//! view from `tab`, the outside-Teams explanation), started by the flows in `flows`.

use std::cell::RefCell;
use std::rc::Rc;

use connector_settings::CONNECTOR;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::account::AccountStep;
use crate::api;
use crate::bot::TabTarget;
use crate::flows::{reload, send_test_card, start, ConfigPage, Entry};
use crate::form::{ConfigForm, FormState};
use crate::i18n::strings;
use crate::parts::{Heading, NoticeBar};
use crate::state::{Page, Phase};
use crate::teams::{self, Handlers};

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
    let page = Page::new(api_timeout_ms);
    Effect::new(move |_| {
        let valid = page.valid();
        if page.phase.get() == Phase::Ready {
            let _ = teams::set_validity_state(valid);
        }
    });
    shell::<ConfigPage>(
        page,
        host_timeout_ms,
        api_timeout_ms,
        assume_framed,
        move |phase| {
            match phase {
                // The message bar comes last: what it shows arrives while the form is on
                // screen, and below the form it moves nothing (issue 7: nothing jumps).
                Phase::Ready => view! {
                    <Heading />
                    // With `[account]`: which account of the service this channel is for.
                    <AccountStep page=page />
                    <ConfigForm>
                        {move || page.tab.get().then(|| view! { <TabTarget page=page /> })}
                    </ConfigForm>
                    // A test card can go to a stored connection (not while a switch to the bot
                    // path is unsaved), or to a webhook URL just typed.
                    <Show when=move || {
                        let bot = page.posts_as_bot();
                        (page.existing.get() && (!bot || page.webhook.stored_kind.get() == "bot"))
                            || (page.tab.get() && !bot && page.webhook.editing() && page.webhook.problem().is_none())
                    }>
                        <div class="actions">
                            <button
                                class="button secondary"
                                type="button"
                                id="send-test-card"
                                disabled=move || page.testing.get() || page.saving.get()
                                on:click=move |_| spawn_local(send_test_card(page))
                            >
                                {page.strings().send_test}
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
        _ => ().into_any(),
    }
        },
    )
}

/// What both pages show around their own views: the skeleton while starting, the
/// outside-Teams explanation, a failed load with its retry; `own` shows every other phase.
/// Starts `E`'s start-up.
pub(crate) fn shell<E: Entry>(
    page: Page,
    host_timeout_ms: u32,
    api_timeout_ms: u32,
    assume_framed: bool,
    own: impl Fn(Phase) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    provide_context(page.form);
    // The SDK keeps calling these handlers for the page's whole life.
    let handlers = Rc::new(RefCell::new(Handlers::default()));
    let _keep = StoredValue::new_local(handlers.clone());
    spawn_local(start::<E>(
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
                    let s = page.strings();
                    view! {
                        <Heading />
                        <div class="message-bar error" role="alert">
                            <span>{format!("{}: {why}", s.load_failed)}</span>
                            <button class="button secondary" type="button" on:click=move |_| {
                                page.phase.set(Phase::Starting);
                                spawn_local(reload::<E>(page));
                            }>{s.retry}</button>
                        </div>
                    }
                    .into_any()
                }
                other => own(other),
            }}
        </main>
    }
}

#[component]
fn Skeleton() -> impl IntoView {
    let form = expect_context::<FormState>();
    view! {
        <div class="skeleton" role="status">
            <span class="visually-hidden">{strings(form.locale.get_value()).loading}</span>
            <div class="skeleton-line wide" aria-hidden="true"></div>
            <div class="skeleton-line" aria-hidden="true"></div>
            {CONNECTOR.fields.iter().map(|_| view! { <div class="skeleton-block" aria-hidden="true"></div> }).collect_view()}
        </div>
    }
}

#[component]
fn OutsideTeams() -> impl IntoView {
    let form = expect_context::<FormState>();
    let s = strings(form.locale.get_value());
    view! {
        <section class="outside" data-testid="outside-teams">
            <h1 class="title">{s.outside_title}</h1>
            <p>{s.outside_intro} " " <strong>{CONNECTOR.name}</strong> ": " {CONNECTOR.short_description}</p>
            <p>{s.outside_how}</p>
            <p class="help">{s.outside_dev}</p>
        </section>
    }
}
