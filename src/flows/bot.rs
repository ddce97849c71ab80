//! The bot path's question: is the app's bot in the tab's team? Asked once while the form
//! loads, and again when the person presses "Check again".

use leptos::prelude::*;

use crate::i18n::reason;
use crate::state::{BotPath, Page};
use crate::teams;

/// Asks the server whether the app is in the tab's team, and shows the answer. Only a tab
/// in a team's channel, with a server that posts as the bot (`config.json`), asks at all:
/// anything else stays on the Workflows path without a request.
pub(crate) async fn ask_bot(page: Page) {
    let channel = page.channel.get_value();
    let Some(channel) = channel.filter(|_| page.tab.get_untracked() && page.bot_server.get_value())
    else {
        page.bot.set(BotPath::Off);
        return;
    };
    let s = page.strings();
    page.bot.set(BotPath::Checking);
    let token = if page.sso.get_value() {
        match teams::auth_token().await {
            Ok(t) => Some(t),
            Err(e) => {
                page.bot
                    .set(BotPath::Failed(format!("{}: {e}", s.sign_in_failed)));
                return;
            }
        }
    } else {
        None
    };
    let answer = page
        .api
        .get_value()
        .bot_install(&channel.tenant_id, &channel.team_id, token.as_deref())
        .await;
    page.bot.set(match answer {
        Ok(a) if !a.available => BotPath::Off,
        Ok(a) if a.installed => BotPath::Installed,
        Ok(_) => BotPath::NotInstalled,
        Err(e) => BotPath::Failed(reason(&e, page.locale())),
    });
}
