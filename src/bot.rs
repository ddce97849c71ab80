//! Where a tab's cards go: as the app's bot to the channel the tab is in (no URL asked),
//! or through the Workflows webhook field. Which one the page offers follows what the
//! server said of the tab's team (`BotPath`).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::flows::ask_bot;
use crate::state::{BotPath, Page};
use crate::webhook::WebhookUrlField;

/// The tab's target: the bot choice, the message why the app cannot post, or (without a
/// bot) the webhook field alone, exactly as before the bot path.
#[component]
pub(crate) fn TabTarget(
    /// The page's state.
    page: Page,
) -> impl IntoView {
    let s = page.strings();
    let channel = page
        .channel
        .with_value(|c| c.as_ref().map(|c| c.name.clone()))
        .unwrap_or_default();
    let disabled = move || page.saving.get();
    let check_again = move || {
        view! {
            <button class="button secondary" type="button" id="bot-check-again"
                disabled=move || page.bot.get() == BotPath::Checking
                on:click=move |_| spawn_local(ask_bot(page))>
                {s.bot_check_again}
            </button>
        }
    };
    let field = move || view! { <WebhookUrlField field=page.webhook /> };
    let posts_to = format!("{} #{channel}. {}", s.bot_posts_to, s.bot_no_url);
    let as_app = format!("{} #{channel}", s.bot_post_as_app);
    move || match page.bot.get() {
        BotPath::Off => field().into_any(),
        BotPath::Checking => view! {
            <div class="message-bar info" role="status" id="bot-checking">
                <span class="spinner" aria-hidden="true"></span>
                <span>{s.bot_checking}</span>
            </div>
            {field()}
        }
        .into_any(),
        BotPath::Installed => {
            let posts_to = posts_to.clone();
            view! {
                <fieldset class="field group" id="bot-choice">
                    <legend class="label">{s.bot_choice_label}</legend>
                    <div class="choices">
                        <label class="choice">
                            <input type="radio" name="post-as" id="post-as-bot" value="bot"
                                disabled=disabled
                                prop:checked=move || page.use_bot.get()
                                on:change=move |_| page.use_bot.set(true) />
                            <span>{as_app.clone()}</span>
                        </label>
                        <label class="choice">
                            <input type="radio" name="post-as" id="post-as-workflows" value="workflows"
                                disabled=disabled
                                prop:checked=move || !page.use_bot.get()
                                on:change=move |_| page.use_bot.set(false) />
                            <span>{s.bot_post_workflows}</span>
                        </label>
                    </div>
                </fieldset>
                {move || if page.use_bot.get() {
                    view! { <p class="help" id="bot-posts-here">{posts_to.clone()}</p> }.into_any()
                } else {
                    field().into_any()
                }}
            }
            .into_any()
        }
        BotPath::NotInstalled => view! {
            <div class="message-bar info" role="status" id="bot-not-installed">
                <span>{s.bot_not_installed}</span>
                {check_again()}
            </div>
            {field()}
        }
        .into_any(),
        BotPath::Failed(why) => view! {
            <div class="message-bar error" role="alert" id="bot-check-failed">
                <span>{format!("{}: {why}. {}", s.bot_check_failed, s.bot_use_workflows)}</span>
                {check_again()}
            </div>
            {field()}
        }
        .into_any(),
    }
}
