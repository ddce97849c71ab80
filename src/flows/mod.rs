//! The page's flows against Teams and the server: start-up, pre-fill, save, remove, the test
//! card and the tab's own data, for a connector (Teams hands the page the channel's webhook
//! URL) and for a configurable tab (the person pastes a Workflows webhook URL, and the
//! connection's edit key, kept by Teams in the tab's `contentUrl`, proves the editor later).
//! Each answers Teams exactly once and tells the person what happened.

//!
//! Each flow has its module: `startup` (start-up and what the frame shows), `call` (what
//! every flow against the server starts from), `prefill` (the form's values), `save`,
//! `remove`, `test_card`, `tab` (the tab's data), `bot` (whether the app is in the tab's team), and `browser` (the page's URL and root).

mod bot;
mod browser;
mod call;
mod prefill;
mod remove;
mod save;
mod startup;
mod tab;
mod test_card;

pub(crate) use bot::ask_bot;
pub(crate) use startup::{reload, start, ConfigPage, Entry, TabPage};
pub(crate) use tab::{refresh_tab, tab_data};
pub(crate) use test_card::send_test_card;
