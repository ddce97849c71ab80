//! The console: sign in with an admin token, then the delivery chart at the top and one of
//! four views picked by the address's fragment (`#/connections`, `#/connection/<id>`,
//! `#/dead`, `#/audit`), so every view is a link and the browser's back button works.

use connector_settings::admin::{
    AuditPage, ConnectionDetail, ConnectionPage, ConnectionView, DeliveryDetail, DeliveryPage,
    DeliveryRow, DeliveryStats, DisableBody, ReplayAnswer, ReplayFilter,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::de::IgnoredAny;

use crate::chart::Chart;
use crate::http::{self, get, post, query, segment, with_query, ApiError};
use crate::time;

/// What a view shows while its data comes.
#[derive(Debug, Clone, PartialEq)]
enum Load<T> {
    Loading,
    Ready(T),
    Failed(ApiError),
}

impl<T> From<Result<T, ApiError>> for Load<T> {
    fn from(r: Result<T, ApiError>) -> Self {
        match r {
            Ok(v) => Load::Ready(v),
            Err(e) => Load::Failed(e),
        }
    }
}

/// The signed-in state, shared through context.
#[derive(Clone, Copy)]
struct Session {
    token: RwSignal<Option<String>>,
}

/// Which view the fragment names.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Connections,
    Connection(String),
    Dead,
    Audit,
}

fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    let path = hash.trim_start_matches('#');
    if let Some(id) = path.strip_prefix("/connection/") {
        let id = js_sys::decode_uri_component(id)
            .map(String::from)
            .unwrap_or_else(|_| id.to_string());
        return Route::Connection(id);
    }
    match path {
        "/dead" => Route::Dead,
        "/audit" => Route::Audit,
        _ => Route::Connections,
    }
}

#[component]
pub fn App() -> impl IntoView {
    let token = RwSignal::new(http::stored_token());
    provide_context(Session { token });
    view! {
        <Show when=move || token.with(Option::is_some) fallback=|| view! { <SignIn /> }>
            <Console />
        </Show>
    }
}

/// An error as text, announced when it appears; a refused token offers to sign in again.
#[component]
fn Failure(error: ApiError) -> impl IntoView {
    let session = expect_context::<Session>();
    let unauthorized = error.is_unauthorized();
    view! {
        <div class="message error" role="alert">
            <p>{error.text()}</p>
            {unauthorized
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="button"
                            on:click=move |_| {
                                http::forget_token();
                                session.token.set(None);
                            }
                        >
                            "Sign in again"
                        </button>
                    }
                })}
        </div>
    }
}

#[component]
fn SignIn() -> impl IntoView {
    let session = expect_context::<Session>();
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let token = typed.get_untracked().trim().to_string();
        if token.is_empty() {
            error.set(Some(ApiError {
                call: "Sign-in".into(),
                status: None,
                code: None,
                message: "enter an admin token (the secret part of one --admin-token id:secret)"
                    .into(),
            }));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            http::store_token(&token);
            // A call every token may make, to know the token before showing anything.
            match get::<ConnectionPage>("/admin/connections?limit=1").await {
                Ok(_) => {
                    error.set(None);
                    session.token.set(Some(token));
                }
                Err(e) => {
                    http::forget_token();
                    error.set(Some(e));
                }
            }
            busy.set(false);
        });
    };
    view! {
        <main class="page admin" id="main">
            <h1 class="title">"Connector operators' console"</h1>
            <form class="card signin" on:submit=submit>
                <div class="field">
                    <label class="label" for="token">"Admin token"</label>
                    <input
                        id="token"
                        class="input"
                        type="password"
                        autocomplete="off"
                        aria-describedby="token-help"
                        prop:value=move || typed.get()
                        on:input=move |ev| typed.set(event_target_value(&ev))
                    />
                    <p id="token-help" class="help">
                        "The secret of one of the server's admin tokens. Kept in this tab only (sessionStorage)."
                    </p>
                </div>
                <button type="submit" class="button primary" disabled=move || busy.get()>
                    "Sign in"
                </button>
            </form>
            {move || error.get().map(|e| view! { <Failure error=e /> })}
        </main>
    }
}

#[component]
fn Console() -> impl IntoView {
    let session = expect_context::<Session>();
    let route = RwSignal::new(current_route());
    let handle = window_event_listener(leptos::ev::hashchange, move |_| route.set(current_route()));
    on_cleanup(move || handle.remove());
    let nav = move |href: &'static str, label: &'static str, is: fn(&Route) -> bool| {
        view! {
            <a
                href=href
                class="nav-link"
                aria-current=move || route.with(is).then_some("page")
            >
                {label}
            </a>
        }
    };
    view! {
        <header class="top">
            <h1 class="title">"Connector operators' console"</h1>
            <nav aria-label="Views" class="nav">
                {nav(
                    "#/connections",
                    "Connections",
                    |r| matches!(r, Route::Connections | Route::Connection(_)),
                )}
                {nav("#/dead", "Dead letters", |r| *r == Route::Dead)}
                {nav("#/audit", "Audit log", |r| *r == Route::Audit)}
            </nav>
            <button
                type="button"
                class="button"
                on:click=move |_| {
                    http::forget_token();
                    session.token.set(None);
                }
            >
                "Sign out"
            </button>
        </header>
        <main class="page admin" id="main">
            <Stats />
            {move || match route.get() {
                Route::Connections => view! { <Search /> }.into_any(),
                Route::Connection(id) => view! { <Connection id /> }.into_any(),
                Route::Dead => view! { <DeadLetters /> }.into_any(),
                Route::Audit => view! { <Audit /> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn Stats() -> impl IntoView {
    let stats = RwSignal::new(Load::<DeliveryStats>::Loading);
    let load = move || {
        spawn_local(async move {
            stats.set(get("/admin/stats").await.into());
        })
    };
    load();
    view! {
        {move || match stats.get() {
            Load::Loading => view! { <p class="help">"Loading the delivery chart…"</p> }.into_any(),
            Load::Ready(s) => view! { <Chart stats=s now_ms=time::now_ms() /> }.into_any(),
            Load::Failed(e) => view! { <Failure error=e /> }.into_any(),
        }}
        <button type="button" class="button refresh-chart" on:click=move |_| load()>
            "Refresh the chart"
        </button>
    }
}

/// A labelled text input bound to `value`.
#[component]
fn TextField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] kind: Option<&'static str>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label class="label" for=id>{label}</label>
            <input
                id=id
                class="input"
                type=kind.unwrap_or("text")
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </div>
    }
}

/// A labelled select bound to `value`, its options `(value, label)`.
#[component]
fn SelectField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    options: &'static [(&'static str, &'static str)],
) -> impl IntoView {
    view! {
        <div class="field">
            <label class="label" for=id>{label}</label>
            <select
                id=id
                class="input"
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                {options
                    .iter()
                    .map(|(v, l)| view! { <option value=*v>{*l}</option> })
                    .collect_view()}
            </select>
        </div>
    }
}

const KINDS: &[(&str, &str)] = &[
    ("", "Any kind"),
    ("connector", "Office 365 connector"),
    ("workflows", "Workflows"),
    ("workflows-sign-in", "Workflows (sign-in)"),
    ("workflows-retired", "Workflows (retired URL)"),
];
const STATES: &[(&str, &str)] = &[
    ("", "Any state"),
    ("enabled", "Enabled"),
    ("disabled", "Disabled"),
];
const PAGE: &str = "25";

fn connection_link(c: &ConnectionView) -> String {
    format!("#/connection/{}", segment(&c.entity_id))
}

#[component]
fn Search() -> impl IntoView {
    let tenant = RwSignal::new(String::new());
    let team = RwSignal::new(String::new());
    let account = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let state = RwSignal::new(String::new());
    // The cursors of the pages before this one, to go back.
    let previous = RwSignal::new(Vec::<Option<String>>::new());
    let cursor = RwSignal::new(None::<String>);
    let result = RwSignal::new(Load::<ConnectionPage>::Loading);
    let run = move || {
        result.set(Load::Loading);
        let q = query(&[
            ("tenant", tenant.get_untracked()),
            ("team", team.get_untracked()),
            ("account", account.get_untracked()),
            ("name", name.get_untracked()),
            ("kind", kind.get_untracked()),
            ("state", state.get_untracked()),
            ("limit", PAGE.into()),
            ("cursor", cursor.get_untracked().unwrap_or_default()),
        ]);
        spawn_local(async move {
            result.set(get(&with_query("/admin/connections", &q)).await.into());
        });
    };
    run();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        previous.set(Vec::new());
        cursor.set(None);
        run();
    };
    view! {
        <section class="card" aria-labelledby="search-title">
            <h2 id="search-title" class="section-title">"Connections"</h2>
            <form class="filters" on:submit=submit aria-label="Search connections">
                <TextField id="f-tenant" label="Tenant id" value=tenant />
                <TextField id="f-team" label="Team (group id)" value=team />
                <TextField id="f-account" label="Account" value=account />
                <TextField id="f-name" label="Name contains" value=name />
                <SelectField id="f-kind" label="Kind" value=kind options=KINDS />
                <SelectField id="f-state" label="State" value=state options=STATES />
                <div class="actions">
                    <button type="submit" class="button primary">"Search"</button>
                </div>
            </form>
            {move || match result.get() {
                Load::Loading => view! { <p class="help" role="status">"Searching…"</p> }.into_any(),
                Load::Failed(e) => view! { <Failure error=e /> }.into_any(),
                Load::Ready(page) => {
                    let next = page.next_cursor.clone();
                    let count = page.connections.len();
                    view! {
                        <p class="help" role="status">
                            {if count == 0 {
                                "No connection matches.".to_string()
                            } else {
                                format!("{count} connections on this page.")
                            }}
                        </p>
                        <ConnectionTable connections=page.connections />
                        <div class="actions">
                            {move || {
                                (!previous.with(Vec::is_empty))
                                    .then(|| {
                                        view! {
                                            <button
                                                type="button"
                                                class="button"
                                                on:click=move |_| {
                                                    let mut p = previous.get_untracked();
                                                    let back = p.pop().flatten();
                                                    previous.set(p);
                                                    cursor.set(back);
                                                    run();
                                                }
                                            >
                                                "Previous page"
                                            </button>
                                        }
                                    })
                            }}
                            {next
                                .map(|n| {
                                    view! {
                                        <button
                                            type="button"
                                            class="button"
                                            on:click=move |_| {
                                                previous.update(|p| p.push(cursor.get_untracked()));
                                                cursor.set(Some(n.clone()));
                                                run();
                                            }
                                        >
                                            "Next page"
                                        </button>
                                    }
                                })}
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn ConnectionTable(connections: Vec<ConnectionView>) -> impl IntoView {
    view! {
        <table class="table" aria-label="Connections found">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Kind"</th>
                    <th scope="col">"Webhook host"</th>
                    <th scope="col">"Team"</th>
                    <th scope="col">"Account"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Updated"</th>
                </tr>
            </thead>
            <tbody>
                {connections
                    .into_iter()
                    .map(|c| {
                        let href = connection_link(&c);
                        let name = if c.name.is_empty() { c.entity_id.clone() } else { c.name.clone() };
                        view! {
                            <tr>
                                <td><a href=href>{name}</a></td>
                                <td>{c.kind}</td>
                                <td class="long">{c.host.unwrap_or_default()}</td>
                                <td class="long">{c.team.map(|t| t.group).unwrap_or_default()}</td>
                                <td>{c.account.map(|a| a.account).unwrap_or_default()}</td>
                                <td>{c.state}</td>
                                <td>{c.updated_at}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Connection(id: String) -> impl IntoView {
    let id = StoredValue::new(id);
    let detail = RwSignal::new(Load::<ConnectionDetail>::Loading);
    let notice = RwSignal::new(None::<String>);
    let action_error = RwSignal::new(None::<ApiError>);
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let refresh = RwSignal::new(0u32);
    let path = move || format!("/admin/connections/{}", segment(&id.get_value()));
    let load = move || {
        spawn_local(async move {
            detail.set(get(&path()).await.into());
        })
    };
    load();
    let act = move |action: &'static str, body: Option<String>| {
        busy.set(true);
        notice.set(None);
        action_error.set(None);
        spawn_local(async move {
            match post::<ConnectionDetail>(&format!("{}/{action}", path()), body).await {
                Ok(d) => {
                    notice.set(Some(format!(
                        "{} is now {}.",
                        d.connection.name, d.connection.state
                    )));
                    reason.set(String::new());
                    detail.set(Load::Ready(d));
                    refresh.update(|n| *n += 1);
                }
                Err(e) => action_error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let disable = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = DisableBody {
            reason: reason.get_untracked(),
        };
        act("disable", Some(http::to_json(&body)));
    };
    view! {
        <section class="card" aria-labelledby="connection-title">
            <p><a href="#/connections">"← All connections"</a></p>
            {move || match detail.get() {
                Load::Loading => view! { <p class="help" role="status">"Loading the connection…"</p> }.into_any(),
                Load::Failed(e) => view! {
                    <h2 id="connection-title" class="section-title">"Connection"</h2>
                    <Failure error=e />
                }.into_any(),
                Load::Ready(d) => {
                    let c = d.connection.clone();
                    let disabled = c.state == "disabled";
                    let s = d.deliveries.clone();
                    view! {
                        <h2 id="connection-title" class="section-title">{c.name.clone()}</h2>
                        <dl class="facts">
                            <dt>"Entity id"</dt><dd>{c.entity_id.clone()}</dd>
                            <dt>"Kind"</dt><dd>{c.kind.clone()}</dd>
                            <dt>"Webhook host"</dt><dd>{c.host.clone().unwrap_or_default()}</dd>
                            <dt>"Tenant"</dt><dd>{c.tenant_id.clone().unwrap_or_default()}</dd>
                            <dt>"Team (group id)"</dt><dd>{c.team.clone().map(|t| t.group).unwrap_or_default()}</dd>
                            <dt>"Account"</dt><dd>{c.account.clone().map(|a| format!("{} ({})", a.account, a.name)).unwrap_or_default()}</dd>
                            <dt>"State"</dt>
                            <dd class=if disabled { "state disabled" } else { "state" }>
                                {c.state.clone()}
                                {c.disabled_reason.clone().map(|r| format!(": {r}"))}
                            </dd>
                            <dt>"Deliveries"</dt>
                            <dd>{format!("{} pending, {} delivered, {} dead", s.pending, s.delivered, s.dead)}</dd>
                            <dt>"Last error"</dt><dd>{s.last_error.clone().unwrap_or_else(|| "none".into())}</dd>
                            <dt>"Created"</dt><dd>{c.created_at.clone()}</dd>
                            <dt>"Updated"</dt><dd>{c.updated_at.clone()}</dd>
                        </dl>
                        {if disabled {
                            view! {
                                <button
                                    type="button"
                                    class="button primary"
                                    disabled=move || busy.get()
                                    on:click=move |_| act("enable", None)
                                >
                                    "Enable this connection"
                                </button>
                            }
                                .into_any()
                        } else {
                            view! {
                                <form class="inline-form" on:submit=disable aria-label="Disable this connection">
                                    <TextField id="reason" label="Reason for disabling (the channel's tab shows it)" value=reason />
                                    <button type="submit" class="button danger" disabled=move || busy.get()>
                                        "Disable this connection"
                                    </button>
                                </form>
                            }
                                .into_any()
                        }}
                    }
                        .into_any()
                }
            }}
            <p class="message" role="status">{move || notice.get()}</p>
            {move || action_error.get().map(|e| view! { <Failure error=e /> })}
        </section>
        {move || {
            refresh.track();
            view! { <Deliveries connection=id.get_value() /> }
        }}
    }
}

/// A connection's deliveries, newest first, in pages; each one's attempts on demand, and a
/// dead one replayed.
#[component]
fn Deliveries(connection: String) -> impl IntoView {
    let connection = StoredValue::new(connection);
    let before = RwSignal::new(None::<i64>);
    let previous = RwSignal::new(Vec::<Option<i64>>::new());
    let page = RwSignal::new(Load::<DeliveryPage>::Loading);
    let notice = RwSignal::new(None::<String>);
    let load = move || {
        page.set(Load::Loading);
        let q = query(&[
            ("connection", connection.get_value()),
            ("limit", PAGE.into()),
            (
                "before",
                before
                    .get_untracked()
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
            ),
        ]);
        spawn_local(async move {
            page.set(get(&with_query("/admin/deliveries", &q)).await.into());
        });
    };
    load();
    let replayed = Callback::new(move |text: String| {
        notice.set(Some(text));
        load();
    });
    view! {
        <section class="card" aria-labelledby="deliveries-title">
            <h2 id="deliveries-title" class="section-title">"Deliveries"</h2>
            <div class="actions">
                <button type="button" class="button" on:click=move |_| {
                    notice.set(None);
                    load()
                }>"Refresh deliveries"</button>
            </div>
            <p class="message" role="status">{move || notice.get()}</p>
            {move || match page.get() {
                Load::Loading => view! { <p class="help">"Loading deliveries…"</p> }.into_any(),
                Load::Failed(e) => view! { <Failure error=e /> }.into_any(),
                Load::Ready(p) => {
                    let next = p.next_before;
                    view! {
                        <DeliveryTable deliveries=p.deliveries on_replayed=replayed />
                        <div class="actions">
                            {move || (!previous.with(Vec::is_empty)).then(|| view! {
                                <button type="button" class="button" on:click=move |_| {
                                    let mut p = previous.get_untracked();
                                    let back = p.pop().flatten();
                                    previous.set(p);
                                    before.set(back);
                                    load();
                                }>"Newer deliveries"</button>
                            })}
                            {next.map(|n| view! {
                                <button type="button" class="button" on:click=move |_| {
                                    previous.update(|p| p.push(before.get_untracked()));
                                    before.set(Some(n));
                                    load();
                                }>"Older deliveries"</button>
                            })}
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

fn when(d: &DeliveryRow) -> String {
    let now = time::now_ms();
    match d.status.as_str() {
        "delivered" => d
            .delivered_at
            .map(|t| format!("delivered {}", time::absolute(t)))
            .unwrap_or_default(),
        "dead" => d
            .dead_at
            .map(|t| format!("died {}", time::absolute(t)))
            .unwrap_or_default(),
        _ => d
            .next_at
            .map(|t| format!("next attempt {} ({})", time::absolute(t), time::ago(t, now)))
            .unwrap_or_default(),
    }
}

#[component]
fn DeliveryTable(deliveries: Vec<DeliveryRow>, on_replayed: Callback<String>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="help">"No deliveries."</p> }.into_any();
    }
    view! {
        <table class="table" aria-label="Deliveries">
            <thead>
                <tr>
                    <th scope="col">"Delivery"</th>
                    <th scope="col">"Event"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Attempts"</th>
                    <th scope="col">"When"</th>
                    <th scope="col">"Last error"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {deliveries
                    .into_iter()
                    .map(|d| view! { <DeliveryLine d on_replayed /> })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn DeliveryLine(d: DeliveryRow, on_replayed: Callback<String>) -> impl IntoView {
    let id = d.delivery_id;
    let attempts = RwSignal::new(None::<Load<DeliveryDetail>>);
    let error = RwSignal::new(None::<ApiError>);
    let dead = d.status == "dead";
    let shown = move || attempts.with(Option::is_some);
    let toggle = move |_| {
        if shown() {
            attempts.set(None);
            return;
        }
        attempts.set(Some(Load::Loading));
        spawn_local(async move {
            attempts.set(Some(get(&format!("/admin/deliveries/{id}")).await.into()));
        });
    };
    let replay = move |_| {
        error.set(None);
        spawn_local(async move {
            match post::<IgnoredAny>(&format!("/admin/deliveries/{id}/replay"), None).await {
                Ok(_) => on_replayed.run(format!("Delivery {id} is due again.")),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let status_class = format!("status {}", d.status);
    view! {
        <tr>
            <td>{id}</td>
            <td class="long">{d.event_id.clone()}</td>
            <td class=status_class>{d.status.clone()}</td>
            <td>{d.attempts}</td>
            <td>{when(&d)}</td>
            <td class="long">{d.last_error.clone().unwrap_or_default()}</td>
            <td class="row-actions">
                <button
                    type="button"
                    class="button"
                    aria-expanded=move || shown().to_string()
                    aria-controls=format!("attempts-{id}")
                    on:click=toggle
                >
                    {format!("Attempts of {id}")}
                </button>
                {dead.then(|| view! {
                    <button type="button" class="button primary" on:click=replay>
                        {format!("Replay {id}")}
                    </button>
                })}
            </td>
        </tr>
        <tr id=format!("attempts-{id}") hidden=move || !shown()>
            <td colspan="7">
                {move || error.get().map(|e| view! { <Failure error=e /> })}
                {move || attempts.get().map(|a| match a {
                    Load::Loading => view! { <p class="help">"Loading attempts…"</p> }.into_any(),
                    Load::Failed(e) => view! { <Failure error=e /> }.into_any(),
                    Load::Ready(detail) => view! { <AttemptList detail /> }.into_any(),
                })}
            </td>
        </tr>
    }
}

#[component]
fn AttemptList(detail: DeliveryDetail) -> impl IntoView {
    if detail.attempt_log.is_empty() {
        return view! { <p class="help">"No attempt made yet."</p> }.into_any();
    }
    view! {
        <ol class="attempts" aria-label=format!("Attempts of delivery {}", detail.delivery.delivery_id)>
            {detail
                .attempt_log
                .into_iter()
                .map(|a| {
                    let code = a.code.map_or_else(|| "no answer".to_string(), |c| format!("HTTP {c}"));
                    view! {
                        <li>
                            {format!("{}: {} ({code})", time::absolute(a.at_ms), a.outcome)}
                            {a.error.map(|e| format!(" — {e}"))}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
        .into_any()
}

#[component]
fn DeadLetters() -> impl IntoView {
    let connection = RwSignal::new(String::new());
    let event = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let list = RwSignal::new(Load::<DeliveryPage>::Loading);
    // The filter a dry run counted, with its count, waiting for confirmation.
    let pending = RwSignal::new(None::<(ReplayFilter, u64, u64)>);
    let notice = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let filter = move || {
        let mut f = ReplayFilter {
            connection: Some(connection.get_untracked().trim().to_string())
                .filter(|s| !s.is_empty()),
            event: Some(event.get_untracked().trim().to_string()).filter(|s| !s.is_empty()),
            since: time::parse_local(&since.get_untracked()),
            until: time::parse_local(&until.get_untracked()),
            dry_run: false,
        };
        // No filter at all: every dead delivery, which the API asks to be said as `since: 0`.
        if f == ReplayFilter::default() {
            f.since = Some(0);
        }
        f
    };
    let load = move || {
        list.set(Load::Loading);
        let f = filter();
        let q = query(&[
            ("state", "dead".into()),
            ("connection", f.connection.unwrap_or_default()),
            ("event", f.event.unwrap_or_default()),
            ("limit", "100".into()),
        ]);
        spawn_local(async move {
            list.set(get(&with_query("/admin/deliveries", &q)).await.into());
        });
    };
    load();
    let count = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        notice.set(None);
        error.set(None);
        pending.set(None);
        load();
        let mut f = filter();
        f.dry_run = true;
        busy.set(true);
        spawn_local(async move {
            match post::<ReplayAnswer>("/admin/deliveries/replay", Some(http::to_json(&f))).await {
                Ok(a) => {
                    f.dry_run = false;
                    if a.matched == 0 {
                        notice.set(Some("No dead delivery matches: nothing to replay.".into()));
                    } else {
                        pending.set(Some((f, a.matched, a.held)));
                    }
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let confirm = move |_| {
        let Some((f, _, _)) = pending.get_untracked() else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            match post::<ReplayAnswer>("/admin/deliveries/replay", Some(http::to_json(&f))).await {
                Ok(a) => {
                    pending.set(None);
                    notice.set(Some(format!(
                        "Replayed {} of {} matching dead deliveries: they are due again ({} held).",
                        a.replayed, a.matched, a.held
                    )));
                    load();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let in_window = move |d: &DeliveryRow| {
        let f = filter();
        let at = d.dead_at.unwrap_or(0);
        f.since.is_none_or(|s| at >= s) && f.until.is_none_or(|u| at < u)
    };
    view! {
        <section class="card" aria-labelledby="dead-title">
            <h2 id="dead-title" class="section-title">"Dead letters"</h2>
            <form class="filters" on:submit=count aria-label="Filter dead deliveries">
                <TextField id="d-connection" label="Connection (entity id)" value=connection />
                <TextField id="d-event" label="Event id" value=event />
                <TextField id="d-since" label="Died at or after (UTC)" value=since kind="datetime-local" />
                <TextField id="d-until" label="Died before (UTC)" value=until kind="datetime-local" />
                <div class="actions">
                    <button type="submit" class="button primary" disabled=move || busy.get()>
                        "Count and replay matching…"
                    </button>
                    <button type="button" class="button" on:click=move |_| load()>
                        "Show matching"
                    </button>
                </div>
            </form>
            {move || pending.get().map(|(_, n, held)| view! {
                <div class="message confirm" role="alert">
                    <p id="dry-run">
                        {format!("Dry run: {n} dead deliveries match this filter")}
                        {(held > 0).then(|| format!("; {held} of them stay dead, their connection being disabled or deleted (enable it first)"))}
                        ". Replay them?"
                    </p>
                    <button type="button" class="button primary" disabled=move || busy.get() on:click=confirm>
                        {format!("Replay {} deliveries", n - held.min(n))}
                    </button>
                    <button type="button" class="button" on:click=move |_| pending.set(None)>
                        "Cancel"
                    </button>
                </div>
            })}
            <p class="message" role="status">{move || notice.get()}</p>
            {move || error.get().map(|e| view! { <Failure error=e /> })}
            {move || match list.get() {
                Load::Loading => view! { <p class="help">"Loading dead deliveries…"</p> }.into_any(),
                Load::Failed(e) => view! { <Failure error=e /> }.into_any(),
                Load::Ready(p) => {
                    let rows: Vec<DeliveryRow> = p.deliveries.into_iter().filter(in_window).collect();
                    let replayed = Callback::new(move |text: String| {
                        notice.set(Some(text));
                        load();
                    });
                    view! { <DeliveryTable deliveries=rows on_replayed=replayed /> }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn Audit() -> impl IntoView {
    let before = RwSignal::new(None::<i64>);
    let previous = RwSignal::new(Vec::<Option<i64>>::new());
    let page = RwSignal::new(Load::<AuditPage>::Loading);
    let load = move || {
        page.set(Load::Loading);
        let q = query(&[
            ("limit", "50".into()),
            (
                "before",
                before
                    .get_untracked()
                    .map(|b| b.to_string())
                    .unwrap_or_default(),
            ),
        ]);
        spawn_local(async move {
            page.set(get(&with_query("/admin/audit", &q)).await.into());
        });
    };
    load();
    view! {
        <section class="card" aria-labelledby="audit-title">
            <h2 id="audit-title" class="section-title">"Audit log"</h2>
            {move || match page.get() {
                Load::Loading => view! { <p class="help">"Loading the audit log…"</p> }.into_any(),
                Load::Failed(e) => view! { <Failure error=e /> }.into_any(),
                Load::Ready(p) if p.entries.is_empty() && before.get_untracked().is_none() => {
                    view! { <p class="help">"Nothing was done through the admin API yet."</p> }.into_any()
                }
                Load::Ready(p) => {
                    let next = p.next_before;
                    view! {
                        <table class="table" aria-label="Audit log entries">
                            <thead>
                                <tr>
                                    <th scope="col">"When"</th>
                                    <th scope="col">"Who (token id)"</th>
                                    <th scope="col">"What"</th>
                                    <th scope="col">"Target"</th>
                                    <th scope="col">"Detail"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {p.entries.into_iter().map(|e| view! {
                                    <tr>
                                        <td>{time::absolute(e.at_ms)}</td>
                                        <td>{e.actor}</td>
                                        <td>{e.action}</td>
                                        <td class="long">{e.target}</td>
                                        <td class="long">{e.detail.unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <div class="actions">
                            {move || (!previous.with(Vec::is_empty)).then(|| view! {
                                <button type="button" class="button" on:click=move |_| {
                                    let mut p = previous.get_untracked();
                                    let back = p.pop().flatten();
                                    previous.set(p);
                                    before.set(back);
                                    load();
                                }>"Newer entries"</button>
                            })}
                            {next.map(|n| view! {
                                <button type="button" class="button" on:click=move |_| {
                                    previous.update(|p| p.push(before.get_untracked()));
                                    before.set(Some(n));
                                    load();
                                }>"Older entries"</button>
                            })}
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
