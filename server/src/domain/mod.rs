//! Parse-don't-validate types of the server's domain.

mod key;
mod keyring;
mod webhook_client;
mod webhook_url;

pub use key::{EditKey, EditKeyHash, HashKey, WebhookHash};
pub use keyring::Keyring;
pub use webhook_client::{dev_inbox_client, webhook_client};
pub use webhook_url::{Form, WebhookIdentity, WebhookPolicy, WebhookUrl, DEFAULT_HOSTS};
