//! The page's state, below both its views and its flows: where the page is in its life
//! (`Phase`), what the message bar says (`Notice`), and `Page`, which both read and write.

use connector_settings::api::{Connection, DeliveryStatus};
use connector_settings::{default_values, Locale, CONNECTOR};
use leptos::prelude::*;

use crate::api::{Api, RuntimeConfig};
use crate::form::FormState;
use crate::i18n::{strings, Strings};
use crate::webhook::WebhookField;

/// Where the page is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Starting,
    /// No Teams host answered.
    OutsideTeams,
    /// The stored settings could not be loaded; the person may retry.
    LoadFailed(String),
    /// The form is shown (new or edit).
    Ready,
    /// Frame context `remove`: waiting for Teams' remove event, then removing.
    Remove,
    /// Frame context `content`: the tab itself.
    Tab,
}

/// A message bar's kind and text.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Info(String),
    Success(String),
    Error(String),
}

/// Whether a tab's configuration can post as the app's bot: what `/api/bot/install` said
/// for the tab's team.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BotPath {
    /// The server has no bot, or the tab is not in a team's channel: the Workflows path only.
    Off,
    /// Asking the server.
    Checking,
    /// The app is in the team: the form asks no webhook URL.
    Installed,
    /// The server posts as the bot, but the app is not in this team.
    NotInstalled,
    /// The server could not say, in the person's words.
    Failed(String),
}

/// The channel the tab is in, from Teams' context: where the app's bot posts.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TabChannel {
    pub(crate) tenant_id: String,
    pub(crate) team_id: String,
    pub(crate) channel_id: String,
    pub(crate) name: String,
}

/// What the tab shows, once loaded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TabData {
    pub(crate) connection: Connection,
    pub(crate) status: DeliveryStatus,
}

/// The account of the sending service this connection is for (`[account]` builds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AccountLink {
    pub(crate) account: String,
    pub(crate) name: String,
    /// From a sign-in in this page, for the save; `None` for the stored account, which a
    /// save without a proof keeps.
    pub(crate) proof: Option<String>,
}

/// The page's state; `Copy`, so handlers and tasks capture it freely.
#[derive(Clone, Copy)]
pub(crate) struct Page {
    pub(crate) phase: RwSignal<Phase>,
    pub(crate) form: FormState,
    pub(crate) notice: RwSignal<Option<Notice>>,
    /// A save or remove is running (the form's inputs are disabled meanwhile).
    pub(crate) saving: RwSignal<bool>,
    /// The entityId this page saves to: the stored one when editing, a new one otherwise.
    pub(crate) entity_id: RwSignal<String>,
    /// Whether the connection is stored (before this page opened, or saved since).
    pub(crate) existing: RwSignal<bool>,
    /// A test card is on its way.
    pub(crate) testing: RwSignal<bool>,
    pub(crate) api: StoredValue<Api>,
    /// Whether API calls carry a Teams sign-on token.
    pub(crate) sso: StoredValue<bool>,
    /// A configurable tab's configuration: Teams hands no webhook URL, the person pastes one.
    pub(crate) tab: RwSignal<bool>,
    /// The tab's webhook URL field.
    pub(crate) webhook: WebhookField,
    /// The connection's edit key: from what Teams kept, or from the save that made it.
    pub(crate) edit_key: StoredValue<Option<String>>,
    /// What the tab shows.
    pub(crate) tab_data: RwSignal<Option<TabData>>,
    /// The linked account, stored or just signed in (`[account]` builds).
    pub(crate) account: RwSignal<Option<AccountLink>>,
    /// The sign-in popup is open.
    pub(crate) signing_in: RwSignal<bool>,
    /// Why the last sign-in did not link an account.
    pub(crate) account_error: RwSignal<Option<String>>,
    /// `getContext().user`: (object id, tenant id), to which the server binds the proof.
    pub(crate) user: StoredValue<(Option<String>, Option<String>)>,
    /// `config.json` says the server posts as the app's bot.
    pub(crate) bot_server: StoredValue<bool>,
    /// The channel the tab is in, when the context names its team and channel.
    pub(crate) channel: StoredValue<Option<TabChannel>>,
    /// Whether the app is in the tab's team.
    pub(crate) bot: RwSignal<BotPath>,
    /// The person chose to post as the app (only while `bot` is `Installed`).
    pub(crate) use_bot: RwSignal<bool>,
}

impl Page {
    /// A page that is starting, talking to the page's own origin until `config.json` says
    /// otherwise.
    pub(crate) fn new(api_timeout_ms: u32) -> Page {
        let saving = RwSignal::new(false);
        Page {
            phase: RwSignal::new(Phase::Starting),
            form: FormState::new(default_values(), saving),
            notice: RwSignal::new(None),
            saving,
            entity_id: RwSignal::new(String::new()),
            existing: RwSignal::new(false),
            testing: RwSignal::new(false),
            api: StoredValue::new(Api::new(&RuntimeConfig::default(), api_timeout_ms)),
            sso: StoredValue::new(false),
            tab: RwSignal::new(false),
            webhook: WebhookField::new(),
            edit_key: StoredValue::new(None),
            tab_data: RwSignal::new(None),
            account: RwSignal::new(None),
            signing_in: RwSignal::new(false),
            account_error: RwSignal::new(None),
            user: StoredValue::new((None, None)),
            bot_server: StoredValue::new(false),
            channel: StoredValue::new(None),
            bot: RwSignal::new(BotPath::Off),
            use_bot: RwSignal::new(false),
        }
    }

    /// The person's language (from Teams' context; English until it is known).
    pub(crate) fn locale(&self) -> Locale {
        self.form.locale.get_value()
    }

    /// The page's words in the person's language.
    pub(crate) fn strings(&self) -> &'static Strings {
        strings(self.locale())
    }

    /// Whether a tab's Save posts as the app's bot (the app is in the team, and the person
    /// did not choose a Workflows webhook instead).
    pub(crate) fn posts_as_bot(&self) -> bool {
        self.tab.get() && self.use_bot.get() && self.bot.with(|b| *b == BotPath::Installed)
    }

    /// Whether Teams' Save may be pressed: the declared fields, a tab's webhook URL (none on
    /// the bot path), and with `[account]` a linked account.
    pub(crate) fn valid(&self) -> bool {
        self.form.is_valid()
            && (!self.tab.get() || self.posts_as_bot() || self.webhook.problem().is_none())
            && (CONNECTOR.account.is_none() || self.account.with(Option::is_some))
    }
}
