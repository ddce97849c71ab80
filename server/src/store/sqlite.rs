//! The embedded default: one SQLite file in WAL mode, migrated at start.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_settings::EntityId;
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    Accepted, DeliveryStatus, Due, Matcher, NewEvent, Outcome, Record, Store, StoreError, Upsert,
};
use crate::domain::{EditKeyHash, Keyring, WebhookHash, WebhookUrl};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE connections (
        entity_id TEXT PRIMARY KEY,
        webhook_hash BLOB NOT NULL,
        -- nonce and AES-256-GCM ciphertext of the webhook URL, and the id of the key that sealed it
        webhook_secret BLOB NOT NULL,
        webhook_key_id TEXT NOT NULL,
        config_name TEXT NOT NULL,
        settings TEXT NOT NULL,
        app_type TEXT,
        user_object_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX connections_webhook_hash ON connections (webhook_hash);",
    "ALTER TABLE connections ADD COLUMN tenant_id TEXT;
    ALTER TABLE connections ADD COLUMN owner_oid TEXT;",
    "CREATE TABLE events (id TEXT PRIMARY KEY, body TEXT NOT NULL, received_at TEXT NOT NULL);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events (id),
        entity_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        claimed_until INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        delivered_at INTEGER,
        UNIQUE (event_id, entity_id)
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_at);
    CREATE INDEX deliveries_entity ON deliveries (entity_id, status);
    ALTER TABLE connections ADD COLUMN disabled_reason TEXT;",
    // The keyed hash of the connection's edit key (NULL until its next save for older rows).
    "ALTER TABLE connections ADD COLUMN edit_key_hash BLOB;",
];

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    keys: Keyring,
}

pub(super) fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    pub(super) fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path, keys: Keyring) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        // One process owns an SQLite file: claims left by a previous run (a crash) are void.
        conn.execute(
            "UPDATE deliveries SET claimed_until = 0 WHERE status = 'pending'",
            [],
        )?;
        let resealed = reseal(&mut conn, &keys)?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                key = keys.current_id(),
                "re-encrypted webhook urls with the current key"
            );
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            keys,
        })
    }

    pub(super) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Database("connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(db)?
    }
}

/// A row of `connections` in SELECT order.
struct Row {
    entity_id: String,
    hash: Vec<u8>,
    sealed: Vec<u8>,
    key_id: String,
    config_name: String,
    settings: String,
    app_type: Option<String>,
    user_object_id: Option<String>,
    created_at: String,
    updated_at: String,
    tenant_id: Option<String>,
    owner_oid: Option<String>,
    disabled_reason: Option<String>,
    edit_key_hash: Option<Vec<u8>>,
}

const SELECT: &str = "SELECT entity_id, webhook_hash, webhook_secret, webhook_key_id, config_name, settings, app_type,
    user_object_id, created_at, updated_at, tenant_id, owner_oid, disabled_reason, edit_key_hash
    FROM connections WHERE entity_id = ?1";

fn read(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok(Row {
        entity_id: r.get(0)?,
        hash: r.get(1)?,
        sealed: r.get(2)?,
        key_id: r.get(3)?,
        config_name: r.get(4)?,
        settings: r.get(5)?,
        app_type: r.get(6)?,
        user_object_id: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        tenant_id: r.get(10)?,
        owner_oid: r.get(11)?,
        disabled_reason: r.get(12)?,
        edit_key_hash: r.get(13)?,
    })
}

fn hash32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| db("stored hash is not 32 bytes"))
}

fn record(r: Row, keys: &Keyring) -> Result<Record, StoreError> {
    let url = keys.open(&r.key_id, &r.sealed, &r.entity_id).map_err(db)?;
    Ok(Record {
        entity_id: EntityId::parse(&r.entity_id).map_err(db)?,
        webhook_hash: WebhookHash(hash32(r.hash)?),
        // Checked when stored (the dev inbox included), so taken as it is.
        webhook_url: WebhookUrl::trusted(url),
        config_name: r.config_name,
        settings: serde_json::from_str(&r.settings).map_err(db)?,
        app_type: r.app_type,
        user_object_id: r.user_object_id,
        created_at: r.created_at,
        updated_at: r.updated_at,
        tenant_id: r.tenant_id,
        owner_oid: r.owner_oid,
        disabled_reason: r.disabled_reason,
        edit_key_hash: r.edit_key_hash.map(hash32).transpose()?.map(EditKeyHash),
    })
}

/// Updates the row `old` with `rec` (its sealed webhook URL included); the creation time,
/// tenant binding and an existing edit key hash stay.
fn update(
    tx: &rusqlite::Transaction,
    old: Row,
    rec: Record,
    sealed: &[u8],
    key_id: &str,
    settings: &str,
) -> Result<Upsert, StoreError> {
    tx.execute(
        "UPDATE connections SET webhook_secret = ?2, webhook_key_id = ?3, config_name = ?4, settings = ?5,
         app_type = ?6, user_object_id = ?7, updated_at = ?8, disabled_reason = NULL,
         edit_key_hash = COALESCE(edit_key_hash, ?9) WHERE entity_id = ?1",
        params![rec.entity_id.as_str(), sealed, key_id, rec.config_name, settings,
            rec.app_type, rec.user_object_id, rec.updated_at,
            rec.edit_key_hash.as_ref().map(|h| h.0.to_vec())],
    )
    .map_err(db)?;
    let edit_key_hash = match old.edit_key_hash {
        Some(h) => Some(EditKeyHash(hash32(h)?)),
        None => rec.edit_key_hash,
    };
    Ok(Upsert::Updated(Record {
        created_at: old.created_at,
        tenant_id: old.tenant_id,
        owner_oid: old.owner_oid,
        edit_key_hash,
        ..rec
    }))
}

/// Re-encrypts every value sealed with a key other than the current one (key rotation).
fn reseal(conn: &mut Connection, keys: &Keyring) -> anyhow::Result<usize> {
    let tx = conn.transaction()?;
    let stale: Vec<(String, Vec<u8>, String)> = {
        let mut q = tx.prepare("SELECT entity_id, webhook_secret, webhook_key_id FROM connections WHERE webhook_key_id != ?1")?;
        let rows = q.query_map([keys.current_id()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, sealed, key_id) in &stale {
        let plain = keys.open(key_id, sealed, id)?;
        let (new_id, resealed) = keys.seal(&plain, id);
        tx.execute(
            "UPDATE connections SET webhook_secret = ?2, webhook_key_id = ?3 WHERE entity_id = ?1",
            params![id, resealed, new_id],
        )?;
    }
    tx.commit()?;
    Ok(stale.len())
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert(&self, rec: Record) -> Result<Upsert, StoreError> {
        let keys = self.keys.clone();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let existing = tx.query_row(SELECT, [rec.entity_id.as_str()], read).optional().map_err(db)?;
            let settings = serde_json::to_string(&rec.settings).map_err(db)?;
            let (key_id, sealed) = keys.seal(rec.webhook_url.as_str(), rec.entity_id.as_str());
            let outcome = match existing {
                Some(old) => {
                    let old_hash = WebhookHash(hash32(old.hash.clone())?);
                    if !old_hash.matches(&rec.webhook_hash) {
                        return Ok(Upsert::Forbidden);
                    }
                    update(&tx, old, rec, &sealed, &key_id, &settings)?
                }
                None => {
                    tx.execute(
                        "INSERT INTO connections (entity_id, webhook_hash, webhook_secret, webhook_key_id, config_name,
                         settings, app_type, user_object_id, created_at, updated_at, tenant_id, owner_oid, edit_key_hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                        params![rec.entity_id.as_str(), rec.webhook_hash.0.to_vec(), sealed, key_id,
                            rec.config_name, settings, rec.app_type, rec.user_object_id, rec.created_at, rec.updated_at,
                            rec.tenant_id, rec.owner_oid, rec.edit_key_hash.as_ref().map(|h| h.0.to_vec())],
                    )
                    .map_err(db)?;
                    Upsert::Created(rec)
                }
            };
            tx.commit().map_err(db)?;
            Ok(outcome)
        })
        .await
    }

    async fn rebind(&self, rec: Record, previous: &WebhookHash) -> Result<Upsert, StoreError> {
        let keys = self.keys.clone();
        let previous = previous.clone();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let Some(old) = tx
                .query_row(SELECT, [rec.entity_id.as_str()], read)
                .optional()
                .map_err(db)?
            else {
                return Ok(Upsert::Forbidden);
            };
            if !WebhookHash(hash32(old.hash.clone())?).matches(&previous) {
                return Ok(Upsert::Forbidden);
            }
            let settings = serde_json::to_string(&rec.settings).map_err(db)?;
            let (key_id, sealed) = keys.seal(rec.webhook_url.as_str(), rec.entity_id.as_str());
            tx.execute(
                "UPDATE connections SET webhook_hash = ?2 WHERE entity_id = ?1",
                params![rec.entity_id.as_str(), rec.webhook_hash.0.to_vec()],
            )
            .map_err(db)?;
            let outcome = update(&tx, old, rec, &sealed, &key_id, &settings)?;
            tx.commit().map_err(db)?;
            Ok(outcome)
        })
        .await
    }

    async fn get(&self, id: &EntityId) -> Result<Option<Record>, StoreError> {
        let id = id.clone();
        let keys = self.keys.clone();
        self.with(move |conn| {
            conn.query_row(SELECT, [id.as_str()], read)
                .optional()
                .map_err(db)?
                .map(|r| record(r, &keys))
                .transpose()
        })
        .await
    }

    async fn delete(&self, id: &EntityId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.with(move |conn| {
            Ok(conn
                .execute(
                    "DELETE FROM connections WHERE entity_id = ?1",
                    [id.as_str()],
                )
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn accept_event(
        &self,
        event: NewEvent,
        matches: Matcher,
        now_ms: i64,
    ) -> Result<Accepted, StoreError> {
        self.outbox_accept(event, matches, now_ms).await
    }

    async fn claim_due(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Due>, StoreError> {
        self.outbox_claim(now_ms, limit, lease_ms).await
    }

    async fn finish(
        &self,
        delivery_id: i64,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_finish(delivery_id, outcome, now_ms).await
    }

    async fn delivery_status(
        &self,
        id: &EntityId,
        event_id: Option<String>,
    ) -> Result<DeliveryStatus, StoreError> {
        self.outbox_status(id.as_str().to_string(), event_id).await
    }

    async fn enqueue_one(
        &self,
        event: NewEvent,
        entity_id: &EntityId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_enqueue_one(event, entity_id.as_str().to_string(), now_ms)
            .await
    }

    async fn recent_deliveries(&self, since_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.outbox_recent(since_ms).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db))
            .await
    }
}
