//! Parse-don't-validate types of the server's domain.

mod key;
mod webhook_url;

pub use key::{HashKey, WebhookHash};
pub use webhook_url::WebhookUrl;
