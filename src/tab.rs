//! The tab itself (frame context `content`, at the `contentUrl` the page saved): what the
//! channel sees — the connection's name, its chosen settings, how deliveries go, a test card,
//! and where to change it. Its own binary (`src/bin/tab.rs`, `tab.html`), on the same
//! start-up and shell as the configuration page.

use connector_settings::{FieldKind, Locale, Value, CONNECTOR};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::app::shell;
use crate::flows::{refresh_tab, send_test_card, tab_data, TabPage};
use crate::i18n::strings;
use crate::parts::{Heading, NoticeBar};
use crate::state::{Page, Phase};

/// The tab page: the tab's view in the page's shell, with only the tab's flows.
#[component]
pub fn TabApp(
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
    shell::<TabPage>(
        page,
        host_timeout_ms,
        api_timeout_ms,
        assume_framed,
        move |phase| match phase {
            Phase::Tab => view! { <TabView page=page /> }.into_any(),
            _ => ().into_any(),
        },
    )
}

/// A stored value as the person chose it: option labels, on/off, or the text.
fn shown(kind: &FieldKind, value: Option<&Value>, locale: Locale) -> String {
    let s = strings(locale);
    let label = |options: &[connector_settings::Choice], v: &str| {
        options
            .iter()
            .find(|o| o.value == v)
            .map_or_else(|| v.to_string(), |o| o.label.get(locale).to_string())
    };
    // A value of another type (stored under an earlier connector.toml) shows as a text
    // if it is one, else as a dash.
    let plain = |value: Option<&Value>| match value {
        Some(Value::Text(t)) if !t.trim().is_empty() => t.clone(),
        _ => "—".to_string(),
    };
    match kind {
        FieldKind::Text { .. } => plain(value),
        FieldKind::SingleChoice { options, .. } => match value {
            Some(Value::Text(v)) => label(options, v),
            other => plain(other),
        },
        FieldKind::MultiChoice { options, .. } => match value {
            Some(Value::List(items)) => {
                let mut out = String::new();
                for v in items {
                    if !out.is_empty() {
                        out.push_str(", ");
                    }
                    out.push_str(&label(options, v));
                }
                out
            }
            other => plain(other),
        },
        FieldKind::Toggle { .. } => match value {
            Some(Value::Bool(on)) => if *on { s.on } else { s.off }.to_string(),
            other => plain(other),
        },
    }
}

/// The tab's view.
#[component]
fn TabView(
    /// The page's state.
    page: Page,
) -> impl IntoView {
    let locale = page.locale();
    let s = strings(locale);
    let data = move || page.tab_data.get();
    let name = move || data().map(|d| d.connection.config_name).unwrap_or_default();
    let facts = move || {
        let d = data()?;
        let l = locale;
        Some(
            CONNECTOR
                .fields
                .iter()
                .filter(|f| {
                    !matches!(
                        f.kind,
                        FieldKind::Text {
                            config_name: true,
                            ..
                        }
                    )
                })
                .map(|f| {
                    let value = shown(&f.kind, d.connection.settings.get(f.id), l);
                    view! { <dt>{f.label.get(l)}</dt><dd data-field=f.id>{value}</dd> }
                })
                .collect_view(),
        )
    };
    // With `[account]`: whose events this channel gets.
    let account = move || {
        let a = data()?.connection.account?;
        Some(view! {
            <dt>{s.account_label}</dt>
            <dd id="tab-account">{format!("{} ({})", a.name, a.account)}</dd>
        })
    };
    let status = move || {
        let d = data()?;
        let st = d.status;
        let kind = d.connection.webhook_kind.as_str();
        let disabled = d.connection.disabled.or(st.disabled).map(|why| {
            view! { <div class="message-bar error" role="alert" id="tab-disabled">{s.disabled_text(&why, kind)}</div> }
        });
        // The Logic Apps shape stopped working: nothing this connection sends arrives.
        let retired = (kind == "workflows-retired").then(|| {
            let text = format!(
                "{} {}",
                s.webhook_retired_workflows, s.retired_then_settings
            );
            view! { <div class="message-bar error" role="alert" id="webhook-retired">{text}</div> }
        });
        // A Workflows 202 says only that the trigger took the card; the run may still fail.
        let workflows = kind.starts_with("workflows") && kind != "workflows-retired";
        let note = workflows.then(|| {
            view! {
                <p class="help" id="workflows-note">
                    <strong>{s.nothing_in_channel}</strong>" "{s.workflows_note}
                </p>
            }
        });
        // The app's bot posts the cards itself: no workflow to look after.
        let bot = (kind == "bot").then(|| {
            view! { <p class="help" id="bot-note">{s.bot_tab_note}</p> }
        });
        let last = st.last_error.map(
            |e| view! { <p class="help" id="last-error">{format!("{}: {e}", s.last_error)}</p> },
        );
        let delivered = if workflows { s.accepted } else { s.delivered };
        let counts = [
            (delivered, "delivered", st.delivered),
            (s.waiting, "pending", st.pending),
            (s.failed, "dead", st.dead),
        ];
        Some(view! {
            {disabled}
            {retired}
            <dl class="facts counts" id="delivery-counts">
                {counts
                    .into_iter()
                    .map(|(label, key, n)| view! { <dt>{label}</dt><dd data-count=key>{n}</dd> })
                    .collect_view()}
            </dl>
            {last}
            {note}
            {bot}
        })
    };
    view! {
        <Heading />
        <section class="tab-section" aria-labelledby="tab-connection">
            <h2 class="section-title" id="tab-connection">{name}</h2>
            <dl class="facts">{account}{facts}</dl>
        </section>
        <section class="tab-section" aria-labelledby="tab-deliveries">
            <h2 class="section-title" id="tab-deliveries">{s.deliveries}</h2>
            {status}
        </section>
        <div class="actions">
            <button class="button secondary" type="button" id="send-test-card"
                disabled=move || page.testing.get()
                on:click=move |_| spawn_local(async move {
                    send_test_card(page).await;
                    // The counts now include the test card; the bar keeps its outcome.
                    if let Ok(d) = tab_data(page, None).await {
                        page.tab_data.set(Some(d));
                    }
                })>
                {s.send_test}
            </button>
            <button class="button secondary" type="button" id="refresh-tab"
                on:click=move |_| spawn_local(refresh_tab(page))>
                {s.refresh}
            </button>
        </div>
        <p class="help change-hint">{s.change_settings}</p>
        <NoticeBar notice=page.notice saving=page.saving />
    }
}
