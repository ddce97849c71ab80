//! The Workflows webhook URL field of a configurable tab, where Teams hands the page no
//! webhook: checked as it is typed, and treated as a secret — once stored it is never shown
//! again, and the field offers "Replace" instead.

use connector_settings::webhook::{workflows_url_problem, WebhookProblem};
use connector_settings::Locale;
use leptos::prelude::*;

use crate::form::FormState;
use crate::i18n::strings;

/// The field's state; `Copy`, like the page's.
#[derive(Clone, Copy)]
pub(crate) struct WebhookField {
    /// What is typed (never a stored URL: the server hands none back).
    pub(crate) typed: RwSignal<String>,
    /// A webhook is stored for this connection.
    pub(crate) stored: RwSignal<bool>,
    /// The stored webhook's kind as the server names it (`WebhookKind::name`), when known.
    pub(crate) stored_kind: RwSignal<String>,
    /// The person chose to replace the stored webhook.
    pub(crate) replacing: RwSignal<bool>,
    /// The person typed or left the field: its message shows.
    pub(crate) touched: RwSignal<bool>,
    /// URL prefixes of the dev-mode emulator inboxes, accepted like Workflows hosts.
    pub(crate) dev_inboxes: StoredValue<Vec<String>>,
    /// The server can post to a flow that takes only signed-in callers (no `sig`).
    pub(crate) flow_tokens: StoredValue<bool>,
}

impl WebhookField {
    pub(crate) fn new() -> WebhookField {
        WebhookField {
            typed: RwSignal::new(String::new()),
            stored: RwSignal::new(false),
            stored_kind: RwSignal::new(String::new()),
            replacing: RwSignal::new(false),
            touched: RwSignal::new(false),
            dev_inboxes: StoredValue::new(Vec::new()),
            flow_tokens: StoredValue::new(false),
        }
    }

    /// Whether a URL is to be typed (nothing stored yet, or replacing).
    pub(crate) fn editing(&self) -> bool {
        !self.stored.get() || self.replacing.get()
    }

    /// What is wrong with the typed URL, when one is to be typed.
    pub(crate) fn problem(&self) -> Option<WebhookProblem> {
        if !self.editing() {
            return None;
        }
        let tokens = self.flow_tokens.get_value();
        self.typed.with(|t| {
            self.dev_inboxes
                .with_value(|d| workflows_url_problem(t, d, tokens))
        })
    }

    /// The URL to send: the typed one, when one is to be typed and it is well formed.
    pub(crate) fn new_url(&self) -> Option<String> {
        untrack(|| {
            (self.editing() && self.problem().is_none())
                .then(|| self.typed.get().trim().to_string())
        })
    }

    /// After a save: the typed URL is now the stored one, and the field forgets it.
    pub(crate) fn stored_now(&self) {
        self.stored.set(true);
        self.replacing.set(false);
        self.touched.set(false);
        self.typed.set(String::new());
    }
}

/// The words for a problem.
fn message(problem: WebhookProblem, locale: Locale) -> &'static str {
    let s = strings(locale);
    match problem {
        WebhookProblem::Empty => s.webhook_empty,
        WebhookProblem::NotHttps => s.webhook_not_https,
        WebhookProblem::RetiredConnector => s.webhook_retired,
        WebhookProblem::NotWorkflowsHost => s.webhook_not_workflows,
        WebhookProblem::NotTriggerUrl => s.webhook_partial,
        WebhookProblem::RetiredWorkflows => s.webhook_retired_workflows,
        WebhookProblem::NeedsSignIn => s.webhook_needs_sign_in,
    }
}

/// The field, first in the tab's form.
#[component]
pub(crate) fn WebhookUrlField(
    /// The field's state.
    field: WebhookField,
) -> impl IntoView {
    let form = expect_context::<FormState>();
    let s = strings(form.locale.get_value());
    let shown_problem = move || {
        let visible = field.touched.get() || form.show_all.get();
        visible
            .then(|| field.problem())
            .flatten()
            .map(|p| message(p, form.locale.get_value()))
    };
    let invalid = move || shown_problem().is_some();
    // Closures rather than `<Show>`: the same DOM for less wasm.
    let stored = move || {
        view! {
            <span class="label" id="field-webhook_url-label">{s.webhook_label}</span>
            <div class="stored-secret" role="group" aria-labelledby="field-webhook_url-label">
                <span id="webhook-stored">{s.webhook_stored}</span>
                <button class="button secondary" type="button" id="webhook-replace"
                    aria-describedby="webhook-stored"
                    disabled=move || form.disabled.get()
                    on:click=move |_| field.replacing.set(true)>
                    {s.webhook_replace}
                </button>
            </div>
            {move || (field.stored_kind.get() == "workflows-retired").then(|| view! {
                <p class="field-error" id="webhook-stored-retired" role="alert">
                    {s.webhook_retired_workflows}" "{s.retired_then_replace}
                </p>
            })}
        }
    };
    let keep = move || {
        field.replacing.get().then(|| {
            view! {
                <div>
                    <button class="button secondary" type="button" id="webhook-keep"
                        on:click=move |_| {
                            field.replacing.set(false);
                            field.typed.set(String::new());
                            field.touched.set(false);
                        }>
                        {s.webhook_keep}
                    </button>
                </div>
            }
        })
    };
    let editing = move || {
        view! {
            <label class="label" for="field-webhook_url">
                {s.webhook_label}
                <span class="required" aria-hidden="true">" *"</span>
            </label>
            <input
                id="field-webhook_url"
                class="input"
                type="url"
                inputmode="url"
                autocomplete="off"
                spellcheck="false"
                aria-describedby="field-webhook_url-help field-webhook_url-error"
                aria-required="true"
                aria-invalid=move || invalid().to_string()
                disabled=move || form.disabled.get()
                prop:value=move || field.typed.get()
                on:input=move |ev| {
                    field.typed.set(event_target_value(&ev));
                    field.touched.set(true);
                }
                on:blur=move |_| field.touched.set(true)
            />
            <p id="field-webhook_url-help" class="help">
                {s.webhook_help}<br />{s.webhook_help_2}
            </p>
            <p id="field-webhook_url-error" class="field-error" aria-live="polite">{shown_problem}</p>
            {keep}
        }
    };
    view! {
        <div class="field" class:invalid=invalid>
            {move || if field.editing() { editing().into_any() } else { stored().into_any() }}
        </div>
    }
}
