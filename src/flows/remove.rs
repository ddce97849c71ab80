//! Teams' remove: the connection deleted on the server, answered within a deadline.

use std::rc::Rc;

use futures::future::{select, Either};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;

use super::call::begin;
use crate::api;
use crate::state::{Notice, Page};
use crate::teams::RemoveEvent;

/// Teams' remove: delete the connection on the server, then answer, within
/// [`api::REMOVE_ANSWER_MS`] whatever the server does. Teams removes a tab on failure too,
/// so a failure says that the connection still posts and how to stop it.
pub(super) async fn remove(page: Page, event: RemoveEvent) {
    let s = page.strings();
    page.saving.set(true);
    // Whether Teams handed a webhook (a connector, whose webhook goes with it) or none (a
    // tab, whose workflow lives on); a tab until the settings say.
    let tab = Rc::new(std::cell::Cell::new(true));
    let seen = tab.clone();
    let outcome = Box::pin(async move {
        let call = begin(page, Some(Notice::Info(s.removing.into())), None).await?;
        seen.set(call.instance.webhook_url.is_none());
        let creds = call.proof(s.no_webhook)?;
        let api = call.api.within(api::REMOVE_TIMEOUT_MS);
        match api.delete(&call.entity_id, creds).await {
            // Already gone is what removing wants.
            Err(e) if !e.is_not_found() => Err(call.reason(&e)),
            _ => Ok(()),
        }
    });
    // The DELETE has its own deadline; this one also bounds the settings and sign-in calls.
    let outcome = match select(outcome, TimeoutFuture::new(api::REMOVE_ANSWER_MS)).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => Err(s.timed_out.to_string()),
    };
    page.saving.set(false);
    match outcome {
        Ok(()) => {
            page.notice.set(Some(Notice::Success(s.removed.into())));
            let _ = event.notify_success();
        }
        Err(why) => {
            let mut text = format!("{}: {why}.", s.remove_failed);
            if tab.get() {
                text = text + " " + s.remove_still_posts;
                // In a team, with a server that posts as the app's bot: the connection may be
                // on the bot path, which no workflow stops.
                if page.bot_server.get_value() && page.channel.with_value(Option::is_some) {
                    text = text + " " + s.remove_still_posts_bot;
                }
            }
            page.notice.set(Some(Notice::Error(text.clone())));
            let _ = event.notify_failure(&text);
        }
    }
}
