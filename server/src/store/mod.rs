//! Where connections are kept. The trait lets a PostgreSQL store join the SQLite one.

mod outbox;
mod sqlite;

use async_trait::async_trait;
use connector_settings::{EntityId, Values};

pub use sqlite::SqliteStore;

use crate::domain::{EditKeyHash, WebhookHash, WebhookUrl};

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
    /// Set when the webhook answered 404 or 410; cleared by saving.
    pub disabled_reason: Option<String>,
    /// The keyed hash of the connection's edit key; `None` for a connection stored before
    /// edit keys existed (it gets one at its next save).
    pub edit_key_hash: Option<EditKeyHash>,
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

/// An accepted event, stored with its deliveries in one transaction.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    /// The event as received (JSON), for building cards.
    pub body: String,
    pub received_at: String,
}

/// What accepting an event did.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub deliveries: usize,
    /// The event id was accepted before: nothing new was stored.
    pub duplicate: bool,
}

/// A delivery claimed by a worker.
#[derive(Debug, Clone)]
pub struct Due {
    pub delivery_id: i64,
    pub event_id: String,
    pub entity_id: String,
    pub webhook_url: WebhookUrl,
    pub settings: Values,
    pub event: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again at `at_ms` (unix milliseconds).
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Over a rate window: wait until `at_ms`; not an attempt.
    Postpone {
        at_ms: i64,
    },
    Dead {
        error: String,
    },
    /// The webhook is gone: the delivery is dead and the connection disabled.
    Disable {
        error: String,
    },
}

pub use connector_settings::api::DeliveryStatus;

/// Which stored settings an event goes to.
pub type Matcher = Box<dyn Fn(&Values) -> bool + Send>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores the event and one delivery per matching, enabled connection; a known event id
    /// stores nothing and says so.
    async fn accept_event(
        &self,
        event: NewEvent,
        matches: Matcher,
        now_ms: i64,
    ) -> Result<Accepted, StoreError>;
    /// Claims up to `limit` due deliveries for `lease_ms` (a crashed worker's claims expire).
    async fn claim_due(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Due>, StoreError>;
    async fn finish(
        &self,
        delivery_id: i64,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Counts for the connection, or for one event to it.
    async fn delivery_status(
        &self,
        id: &EntityId,
        event_id: Option<String>,
    ) -> Result<DeliveryStatus, StoreError>;
    /// Stores `event` with one delivery, to `entity_id` only (the test card).
    async fn enqueue_one(
        &self,
        event: NewEvent,
        entity_id: &EntityId,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// `(entity id, delivered at ms)` since `since_ms`, to restore rate windows after a restart.
    async fn recent_deliveries(&self, since_ms: i64) -> Result<Vec<(String, i64)>, StoreError>;

    /// Creates or updates by entity id, in one transaction; refuses another webhook's id.
    /// An update keeps a stored edit key hash and sets `record`'s only where none is stored.
    async fn upsert(&self, record: Record) -> Result<Upsert, StoreError>;
    /// Updates the connection and moves it to `record`'s webhook URL (a new form of the same
    /// webhook, or a new webhook), in one transaction, if its webhook hash is still
    /// `previous`; `Forbidden` when it changed meanwhile or the connection is gone.
    async fn rebind(&self, record: Record, previous: &WebhookHash) -> Result<Upsert, StoreError>;
    async fn get(&self, id: &EntityId) -> Result<Option<Record>, StoreError>;
    /// Whether something was deleted.
    async fn delete(&self, id: &EntityId) -> Result<bool, StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
