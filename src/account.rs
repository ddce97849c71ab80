//! The sign-in to the sending service (`[account]` in `connector.toml`): the step above the
//! form, the popup through `authentication.authenticate` (public/auth/ runs in it), and the
//! exchange of its code for the account and the proof that goes in the save.

use connector_settings::api::LinkAccount;
use connector_settings::{AccountSpec, CONNECTOR};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

use crate::http;
use crate::i18n::{reason, Strings};
use crate::state::{AccountLink, Page};
use crate::teams::{self, AuthError};

/// The popup's size, as the contract asks of `authenticate`.
const POPUP: (u32, u32) = (600, 600);

/// What callback.js hands `notifySuccess`, as JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PopupResult {
    code: String,
    code_verifier: String,
    nonce: String,
    redirect_uri: String,
}

/// `auth/start.html` beside this page (the page may live under a sub-path).
fn start_url() -> String {
    let location = window().location();
    let origin = location.origin().unwrap_or_default();
    let path = location.pathname().unwrap_or_default();
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{origin}{dir}auth/start.html")
}

/// Why the popup gave no code, in the person's words.
fn popup_failure(e: AuthError, s: &Strings) -> String {
    match e {
        AuthError::Cancelled => s.account_cancelled.to_string(),
        AuthError::Blocked => s.account_blocked.to_string(),
        AuthError::Failed(why) => {
            if let Some(detail) = why.strip_prefix("consent_refused") {
                let detail = detail.trim_start_matches(':').trim();
                if detail.is_empty() {
                    s.account_consent_refused.to_string()
                } else {
                    format!("{} ({detail})", s.account_consent_refused)
                }
            } else if why == "state_mismatch" {
                s.account_state_mismatch.to_string()
            } else {
                format!("{}: {why}", s.account_failed)
            }
        }
    }
}

/// The popup, then `POST /api/account/link`.
async fn link(page: Page) -> Result<AccountLink, String> {
    let locale = page.locale();
    let s = page.strings();
    let answer = teams::authenticate(&start_url(), POPUP.0, POPUP.1)
        .await
        .map_err(|e| popup_failure(e, s))?;
    let popup: PopupResult = http::from_json(&answer)
        .ok_or_else(|| format!("{}: {}", s.account_failed, s.account_bad_answer))?;
    let token = if page.sso.get_value() {
        Some(
            teams::auth_token()
                .await
                .map_err(|e| format!("{}: {e}", s.sign_in_failed))?,
        )
    } else {
        None
    };
    let (user_object_id, tenant_id) = page.user.get_value();
    let body = LinkAccount {
        code: popup.code,
        code_verifier: popup.code_verifier,
        nonce: popup.nonce,
        redirect_uri: popup.redirect_uri,
        user_object_id,
        tenant_id,
    };
    let linked = page
        .api
        .get_value()
        .link_account(&body, token.as_deref())
        .await
        .map_err(|e| format!("{}: {}", s.account_failed, reason(&e, locale)))?;
    Ok(AccountLink {
        account: linked.account,
        name: linked.name,
        proof: Some(linked.proof),
    })
}

/// "Sign in to <service>" (or "Use another account"): a failure keeps what was linked.
async fn sign_in(page: Page) {
    page.account_error.set(None);
    page.signing_in.set(true);
    let outcome = link(page).await;
    page.signing_in.set(false);
    match outcome {
        Ok(linked) => page.account.set(Some(linked)),
        Err(why) => page.account_error.set(Some(why)),
    }
}

/// The account step above the form; nothing without `[account]`.
#[component]
pub(crate) fn AccountStep(
    /// The page's state.
    page: Page,
) -> impl IntoView {
    let spec: Option<&'static AccountSpec> = CONNECTOR.account.as_ref();
    spec.map(|spec| {
        let s = page.strings();
        let service = spec.service.get(page.locale());
        let busy = move || page.signing_in.get() || page.saving.get();
        let linked = move || {
            page.account.get().map(|a| {
                view! {
                    <p class="account-linked" id="account-linked">
                        {format!("{} {} ({})", s.connected_as, a.name, a.account)}
                    </p>
                }
            })
        };
        let button_text = move || {
            if page.signing_in.get() {
                s.signing_in.to_string()
            } else if page.account.with(Option::is_some) {
                s.use_another.to_string()
            } else {
                format!("{} {service}", s.sign_in_to)
            }
        };
        view! {
            <section class="account" id="account" aria-labelledby="account-title">
                <h2 class="section-title" id="account-title">{format!("{} {service}", s.sign_in_to)}</h2>
                <p class="help">{s.account_intro}</p>
                {linked}
                <div class="actions">
                    <button
                        class=move || if page.account.with(Option::is_some) { "button secondary" } else { "button primary" }
                        type="button"
                        id="account-sign-in"
                        disabled=busy
                        on:click=move |_| spawn_local(sign_in(page))
                    >
                        {button_text}
                    </button>
                </div>
                {move || page.account_error.get().map(|why| view! {
                    <div class="message-bar error" role="alert" id="account-error">{why}</div>
                })}
            </section>
        }
    })
}
