//! "Send a test card", and following it to its outcome.

use connector_settings::api::TryWebhook;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;

use super::call::begin;
use crate::state::{Notice, Page};

/// "Send a test card". To a webhook URL just typed (before the first Save, or replacing):
/// posted at once. To the stored connection: queued through the server's outbox and
/// followed to its outcome.
pub(crate) async fn send_test_card(page: Page) {
    page.testing.set(true);
    let s = page.strings();
    // A Workflows webhook's 202 means only that its flow took the card; the app's bot and a
    // connector post it.
    let kind = page.webhook.stored_kind.get_untracked();
    let success = if page.tab.get_untracked() && kind != "bot" {
        s.test_accepted
    } else {
        s.test_delivered
    };
    // A Workflows URL just typed (never on the bot path, which asks none).
    let typed = (page.tab.get_untracked() && !untrack(|| page.posts_as_bot()))
        .then(|| page.webhook.new_url())
        .flatten();
    let outcome = async {
        let call = begin(page, Some(Notice::Info(s.test_sending.into())), None).await?;
        if let Some(url) = typed {
            let body = TryWebhook {
                webhook_url: url,
                settings: page.form.values.get_untracked(),
            };
            let got = call
                .api
                .try_webhook(&body, call.token.as_deref())
                .await
                .map_err(|e| call.reason(&e))?;
            return match got.error {
                None if got.delivered => Ok(Notice::Success(s.test_accepted.into())),
                why => Err(format!("{}: {}", s.test_failed, why.unwrap_or_default())),
            };
        }
        let creds = call.proof(s.tab_no_key)?;
        let id = &call.entity_id;
        let card = call
            .api
            .test_card(id, creds)
            .await
            .map_err(|e| call.reason(&e))?;
        let mut last = None;
        // Retries back off for minutes; a person waits about half a minute.
        for _ in 0..30 {
            TimeoutFuture::new(1_000).await;
            let status = call
                .api
                .delivery_status(id, creds, Some(&card.event_id))
                .await
                .map_err(|e| call.reason(&e))?;
            if status.delivered > 0 {
                return Ok(Notice::Success(success.into()));
            }
            if status.dead > 0 {
                return Err(format!(
                    "{}: {}",
                    s.test_failed,
                    status.last_error.unwrap_or_default()
                ));
            }
            last = status.last_error;
        }
        Ok(Notice::Info(match last {
            Some(why) => format!("{} ({why})", s.test_pending),
            None => s.test_pending.to_string(),
        }))
    }
    .await;
    page.testing.set(false);
    page.notice.set(Some(outcome.unwrap_or_else(Notice::Error)));
}
