//! Where connections are kept. The trait lets a PostgreSQL store join the SQLite one.

mod sqlite;

use async_trait::async_trait;
use connector_settings::{EntityId, Values};

pub use sqlite::SqliteStore;

use crate::domain::{WebhookHash, WebhookUrl};

/// A connection as stored.
#[derive(Debug, Clone)]
pub struct Record {
    pub entity_id: EntityId,
    pub webhook_hash: WebhookHash,
    pub webhook_url: WebhookUrl,
    pub config_name: String,
    pub settings: Values,
    pub app_type: Option<String>,
    /// With single sign-on: the tenant (`tid`) and user (`oid`) that created it.
    pub tenant_id: Option<String>,
    pub owner_oid: Option<String>,
    pub user_object_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

impl std::fmt::Debug for WebhookHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookHash(…)")
    }
}

/// What an upsert did.
#[derive(Debug)]
pub enum Upsert {
    Created(Record),
    Updated(Record),
    /// The id exists with another webhook URL: nothing changed.
    Forbidden,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates by entity id, in one transaction; refuses another webhook's id.
    async fn upsert(&self, record: Record) -> Result<Upsert, StoreError>;
    async fn get(&self, id: &EntityId) -> Result<Option<Record>, StoreError>;
    /// Whether something was deleted.
    async fn delete(&self, id: &EntityId) -> Result<bool, StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
