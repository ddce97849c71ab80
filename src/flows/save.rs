//! Teams' Save: the connection stored on the server, then its settings handed to Teams;
//! a connection Teams never learned of is forgotten again.

use connector_settings::api::{BotChannel, SaveConnection};
use connector_settings::{Settings, CONNECTOR};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{content_url, TAB_PAGE};
use super::call::begin;
use crate::api::{Api, ApiError, Credentials};
use crate::state::{Notice, Page};
use crate::teams::{self, NewSettings, SaveEvent};

/// Teams' Save: store on the server, then hand Teams the settings, then answer.
pub(super) async fn save(page: Page, event: SaveEvent) {
    let s = page.strings();
    page.form.show_all.set(true);
    page.notice.set(None);
    let webhook_ok = !page.tab.get_untracked()
        || untrack(|| page.posts_as_bot() || page.webhook.problem().is_none());
    let account_ok = CONNECTOR.account.is_none() || page.account.with_untracked(Option::is_some);
    let outcome = match Settings::parse(page.form.values.get_untracked()) {
        Ok(_) if !account_ok => Err(s.account_required.to_string()),
        Ok(settings) if webhook_ok => {
            page.saving.set(true);
            let outcome = store(page, settings).await;
            page.saving.set(false);
            outcome
        }
        _ => Err(s.invalid_form.to_string()),
    };
    match outcome {
        Ok(disabled) => {
            page.existing.set(true);
            page.webhook.stored_now();
            // On the bot path no Workflows webhook is stored: moving to one needs a URL.
            if page.webhook.stored_kind.get_untracked() == "bot" {
                page.webhook.stored.set(false);
            }
            // Saved, but an operator's disable stays: the owner hears it is still off.
            let by_operator = disabled
                .as_deref()
                .and_then(connector_settings::admin::operator_reason);
            page.notice.set(Some(match by_operator {
                Some(reason) => Notice::Error(format!("{}: {reason}", s.saved_still_disabled)),
                None => Notice::Success(s.saved.into()),
            }));
            if let Err(e) = event.notify_success() {
                leptos::logging::warn!("{e}");
            }
        }
        Err(why) => {
            let text = format!("{}: {why}", s.save_failed);
            page.notice.set(Some(Notice::Error(text.clone())));
            if let Err(e) = event.notify_failure(&text) {
                leptos::logging::warn!("{e}");
            }
        }
    }
}

/// Stores the connection, then hands Teams its settings; answers why the stored connection
/// is disabled, if it still is.
async fn store(page: Page, settings: Settings) -> Result<Option<String>, String> {
    let call = begin(page, None, None).await?;
    let instance = &call.instance;
    let tab = instance.webhook_url.is_none();
    // A connector stores the webhook Teams handed it; a tab on the bot path the channel it
    // is in, else the URL typed (none when the stored one stays).
    let bot = if tab && untrack(|| page.posts_as_bot()) {
        let channel = page.channel.get_value().ok_or(call.s.bot_no_channel)?;
        Some(BotChannel {
            tenant_id: channel.tenant_id,
            team_id: channel.team_id,
            channel_id: channel.channel_id,
        })
    } else {
        None
    };
    let webhook_url = if bot.is_some() {
        None
    } else if tab {
        page.webhook.new_url()
    } else {
        instance.webhook_url.clone()
    };
    let entity_id = call.entity_id.clone();
    let body = SaveConnection {
        webhook_url: webhook_url.clone(),
        settings: settings.into_values(),
        app_type: instance.app_type.clone(),
        user_object_id: instance.user_object_id.clone(),
        account_proof: page
            .account
            .with_untracked(|a| a.as_ref().and_then(|a| a.proof.clone())),
        bot,
    };
    let creds = Credentials {
        webhook_url: None,
        edit_key: call.key.as_deref(),
        token: call.token.as_deref(),
    };
    // What proves this connection if it must be forgotten again: its webhook, or its key.
    let (forget_url, forget_token) = (webhook_url, call.token.clone());
    let forget = move |api: Api, id: String, key: Option<String>| async move {
        let creds = Credentials {
            webhook_url: forget_url.as_deref(),
            edit_key: key.as_deref(),
            token: forget_token.as_deref(),
        };
        let _ = api.delete(&id, creds).await;
    };
    let conn = match call.api.save(&entity_id, &body, creds).await {
        Ok(conn) => conn,
        Err(e) => {
            if e == ApiError::TimedOut && !page.existing.get_untracked() {
                // The server may still store what we gave up on, and Teams will not know of
                // it: ask it to forget the new connection (best effort; a retried Save
                // stores it again under the same entityId).
                spawn_local(forget(call.api.clone(), entity_id, call.key.clone()));
            }
            if let ApiError::Refused { body, .. } = &e {
                // The server took no proof of this sign-in: the person signs in again.
                if body.error.starts_with("account_proof")
                    && page
                        .account
                        .with_untracked(|a| a.as_ref().is_some_and(|a| a.proof.is_some()))
                {
                    page.account.set(None);
                }
            }
            return Err(call.reason(&e));
        }
    };
    if conn.edit_key.is_some() {
        page.edit_key.set_value(conn.edit_key.clone());
    }
    page.webhook.stored_kind.set(conn.webhook_kind.clone());
    let disabled = conn.disabled.clone();
    let key = page.edit_key.get_value();
    // This page (the configuration page) with the connection's entityId and edit key.
    let here = content_url(None, &entity_id, key.as_deref());
    let new = if tab {
        NewSettings {
            entity_id: entity_id.clone(),
            suggested_display_name: Some(conn.config_name),
            website_url: Some(CONNECTOR.website_url.to_string()),
            // Teams loads it when the tab is removed, so the connection goes with the tab.
            remove_url: Some(here),
            // The tab itself: the tab page's own binary, beside this one.
            content_url: content_url(Some(TAB_PAGE), &entity_id, key.as_deref()),
            config_name: None,
        }
    } else {
        // A connector's contentUrl is what Teams loads to edit it: this page.
        NewSettings {
            entity_id: entity_id.clone(),
            config_name: Some(conn.config_name),
            content_url: here,
            ..NewSettings::default()
        }
    };
    if let Err(e) = teams::set_settings(&new).await {
        // Teams did not take it: a connection Teams never learned of must not stay stored.
        if !page.existing.get_untracked() {
            forget(call.api.clone(), entity_id, key).await;
        }
        return Err(e.to_string());
    }
    Ok(disabled)
}
