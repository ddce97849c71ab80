//! What every flow against the server starts from: [`begin`] makes a [`Call`] (the
//! person's language, Teams' settings, which connection and what proves its editor).

use futures::future::LocalBoxFuture;
use leptos::prelude::*;

use super::browser::KEY_FRAGMENT;
use crate::api::{Api, ApiError, Credentials};
use crate::i18n::{reason, strings, Strings};
use crate::state::{Notice, Page};
use crate::teams::{self, InstanceSettings};
use connector_settings::Locale;

/// What every flow against the server starts from, made by [`begin`].
pub(crate) struct Call {
    pub(crate) locale: Locale,
    pub(crate) s: &'static Strings,
    pub(crate) api: Api,
    /// Which connection.
    pub(crate) entity_id: String,
    /// Teams' settings for this frame: a connector's webhook URL, `appType`, `userObjectId`.
    pub(crate) instance: InstanceSettings,
    /// The connection's edit key, when Teams kept one or a save made one.
    pub(crate) key: Option<String>,
    /// A Teams sign-on token, with single sign-on.
    pub(crate) token: Option<String>,
}

impl Call {
    /// What proves the editor of the connection: Teams' webhook URL or the edit key (and the
    /// token); `why` when neither is there.
    pub(crate) fn proof(&self, why: &str) -> Result<Credentials<'_>, String> {
        let webhook_url = self.instance.webhook_url.as_deref();
        if self.entity_id.is_empty() || (webhook_url.is_none() && self.key.is_none()) {
            return Err(why.to_string());
        }
        Ok(Credentials {
            webhook_url,
            edit_key: self.key.as_deref(),
            token: self.token.as_deref(),
        })
    }

    /// Why an API call failed, in the person's words.
    pub(crate) fn reason(&self, e: &ApiError) -> String {
        reason(e, self.locale)
    }
}

/// The preamble of every flow: the person's language, the message bar (`shown` replaces
/// it), Teams' settings for this frame (asked unless `known`), which connection and the key
/// that proves its editor, a sign-in token with single sign-on, and the API client. Boxed,
/// like `show`: one copy for all the flows.
pub(crate) fn begin(
    page: Page,
    shown: Option<Notice>,
    known: Option<InstanceSettings>,
) -> LocalBoxFuture<'static, Result<Call, String>> {
    Box::pin(begin_inner(page, shown, known))
}

async fn begin_inner(
    page: Page,
    shown: Option<Notice>,
    known: Option<InstanceSettings>,
) -> Result<Call, String> {
    let locale = page.locale();
    let s = strings(locale);
    if shown.is_some() {
        page.notice.set(shown);
    }
    let instance = match known {
        Some(instance) => instance,
        None => teams::get_settings().await.map_err(|e| e.to_string())?,
    };
    adopt_identity(page, &instance);
    let token = if page.sso.get_value() {
        let token = teams::auth_token()
            .await
            .map_err(|e| format!("{}: {e}", s.sign_in_failed))?;
        Some(token)
    } else {
        None
    };
    Ok(Call {
        locale,
        s,
        api: page.api.get_value(),
        entity_id: page.entity_id.get_untracked(),
        instance,
        key: page.edit_key.get_value(),
        token,
    })
}

/// Which connection this page is about and its edit key, where the page does not know them
/// yet. Teams may load the configurationUrl instead of the saved contentUrl
/// (microsoft-teams-library-js#2370): its settings still carry both the entityId and the
/// contentUrl with the key.
pub(super) fn adopt_identity(page: Page, instance: &InstanceSettings) {
    if page.entity_id.get_untracked().is_empty() {
        if let Some(id) = &instance.entity_id {
            page.entity_id.set(id.clone());
        }
    }
    if page.edit_key.with_value(Option::is_none) {
        // By characters, not `split_once(KEY_FRAGMENT)`: a substring search costs KBs.
        let from_url = |url: &str| {
            let (_, fragment) = url.split_once('#')?;
            let key = fragment.strip_prefix(&KEY_FRAGMENT[1..])?;
            Some(key.split('&').next().unwrap_or("").to_string()).filter(|k| !k.is_empty())
        };
        let key = instance
            .content_url
            .as_deref()
            .and_then(from_url)
            .or_else(|| from_url(&window().location().hash().unwrap_or_default()));
        page.edit_key.set_value(key);
    }
}
