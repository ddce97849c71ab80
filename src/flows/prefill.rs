//! The configuration form, pre-filled: from the server for a stored connection, with the
//! defaults for a new one.

use connector_settings::default_values;
use futures::future::join;
use leptos::prelude::*;

use super::bot::ask_bot;
use super::browser::new_entity_id;
use super::call::{adopt_identity, begin};
use crate::state::{AccountLink, Notice, Page, Phase};
use crate::teams::{self, InstanceSettings};

/// Finds which connection this page edits and pre-fills the form from the server; a new
/// connection gets a new entityId and the form with its defaults.
pub(super) async fn load_form(page: Page, known: Option<InstanceSettings>) -> Result<(), String> {
    let instance = match known {
        Some(instance) => instance,
        None => teams::get_settings().await.map_err(|e| e.to_string())?,
    };
    adopt_identity(page, &instance);
    // No webhook from Teams: a configurable tab, whose form asks for a Workflows webhook.
    page.tab.set(instance.webhook_url.is_none());
    if page.entity_id.get_untracked().is_empty() {
        page.entity_id.set(new_entity_id());
        // A new tab posts as the app when the app is in the team.
        page.use_bot.set(true);
        ask_bot(page).await;
        ready(page);
        return Ok(());
    }
    let call = begin(page, None, Some(instance)).await?;
    let creds = call.proof(call.s.tab_no_key)?;
    // Both at once: the stored connection, and whether the app is in the tab's team.
    let (loaded, ()) = join(call.api.load(&call.entity_id, creds), ask_bot(page)).await;
    match loaded {
        Ok(conn) => {
            if let Some(why) = &conn.disabled {
                page.notice.set(Some(Notice::Error(
                    call.s.disabled_text(why, &conn.webhook_kind),
                )));
            }
            let mut values = default_values();
            values.extend(conn.settings);
            page.form.values.set(values);
            page.existing.set(true);
            // A connection on the bot path has no Workflows webhook stored: moving it to one
            // needs a URL. It stays on the bot path while the app is in the team.
            let bot = conn.webhook_kind == "bot";
            page.use_bot.set(bot);
            page.webhook.stored.set(!bot);
            page.webhook.stored_kind.set(conn.webhook_kind);
            // Its stored account: no new sign-in needed to change the other settings.
            page.account.set(conn.account.map(|a| AccountLink {
                account: a.account,
                name: a.name,
                proof: None,
            }));
        }
        Err(e) if e.is_not_found() => {
            page.use_bot.set(true);
            page.notice.set(Some(Notice::Info(call.s.not_found.into())));
        }
        Err(e) => return Err(call.reason(&e)),
    }
    ready(page);
    Ok(())
}

/// Shows the form. Its validity is known from its values before it renders, so Teams hears
/// it first and enables Save as early as it can; the page's effect keeps it up to date.
fn ready(page: Page) {
    if let Err(e) = teams::set_validity_state(untrack(|| page.valid())) {
        leptos::logging::warn!("{e}");
    }
    page.phase.set(Phase::Ready);
}
