//! The configuration form, pre-filled: from the server for a stored connection, with the
//! defaults for a new one.

use connector_settings::default_values;
use leptos::prelude::*;

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
        ready(page);
        return Ok(());
    }
    let call = begin(page, None, Some(instance)).await?;
    let creds = call.proof(call.s.tab_no_key)?;
    match call.api.load(&call.entity_id, creds).await {
        Ok(conn) => {
            if let Some(why) = &conn.disabled {
                page.notice
                    .set(Some(Notice::Error(call.s.disabled_text(why))));
            }
            let mut values = default_values();
            values.extend(conn.settings);
            page.form.values.set(values);
            page.existing.set(true);
            page.webhook.stored.set(true);
            page.webhook.stored_kind.set(conn.webhook_kind);
            // Its stored account: no new sign-in needed to change the other settings.
            page.account.set(conn.account.map(|a| AccountLink {
                account: a.account,
                name: a.name,
                proof: None,
            }));
        }
        Err(e) if e.is_not_found() => {
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
