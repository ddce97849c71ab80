//! Parse-don't-validate types of the server's domain.

mod encryption;
pub mod event;
mod keyed_hash;
pub mod rate_windows;
mod webhook_client;
mod webhook_url;

pub use encryption::Keyring;
pub use keyed_hash::{EditKey, EditKeyHash, HashKey, WebhookHash};
pub use webhook_client::{dev_inbox_client, webhook_client};
pub use webhook_url::{
    is_public, BotTarget, Form, HostList, WebhookIdentity, WebhookKind, WebhookPolicy, WebhookUrl,
    DEFAULT_HOSTS,
};
