//! Views that the form and the tab share: the heading and the message bar.

use connector_settings::CONNECTOR;
use leptos::prelude::*;

use crate::form::FormState;
use crate::i18n::strings;
use crate::state::Notice;

/// The connector's name and what it does.
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
                    let text = strings(form.locale.get_value()).saving;
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
