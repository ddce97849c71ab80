//! The tab's own data: its connection and how deliveries to it go.

use leptos::prelude::*;

use super::call::begin;
use crate::state::{Notice, Page, Phase, TabData};
use crate::teams::InstanceSettings;

/// The tab itself: its connection and delivery status, with the edit key Teams kept for it.
pub(super) async fn load_tab(page: Page, known: Option<InstanceSettings>) -> Result<(), String> {
    page.tab_data.set(Some(tab_data(page, known).await?));
    page.phase.set(Phase::Tab);
    Ok(())
}

/// Fetches what the tab shows again; a failure shows in the message bar.
pub(crate) async fn refresh_tab(page: Page) {
    match tab_data(page, None).await {
        Ok(data) => page.tab_data.set(Some(data)),
        Err(why) => page.notice.set(Some(Notice::Error(why))),
    }
}

/// The tab's connection and its delivery status, from the server.
pub(crate) async fn tab_data(
    page: Page,
    known: Option<InstanceSettings>,
) -> Result<TabData, String> {
    let call = begin(page, None, known).await?;
    let creds = call.proof(call.s.tab_no_key)?;
    let id = &call.entity_id;
    let connection = call
        .api
        .load(id, creds)
        .await
        .map_err(|e| call.reason(&e))?;
    let status = call
        .api
        .delivery_status(id, creds, None)
        .await
        .map_err(|e| call.reason(&e))?;
    Ok(TabData { connection, status })
}
