//! The embedded default: one SQLite file in WAL mode, migrated at start.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_settings::EntityId;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Record, Store, StoreError, Upsert};
use crate::domain::{WebhookHash, WebhookUrl};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE connections (
        entity_id TEXT PRIMARY KEY,
        webhook_hash BLOB NOT NULL,
        webhook_url TEXT NOT NULL,
        config_name TEXT NOT NULL,
        settings TEXT NOT NULL,
        app_type TEXT,
        user_object_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX connections_webhook_hash ON connections (webhook_hash);"];

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
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
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
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

fn read(row: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

type Row = (
    String,
    Vec<u8>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

fn record(r: Row) -> Result<Record, StoreError> {
    let (id, hash, url, name, settings, app_type, user, created, updated) = r;
    Ok(Record {
        entity_id: EntityId::parse(&id).map_err(db)?,
        webhook_hash: WebhookHash(
            hash.try_into()
                .map_err(|_| db("stored webhook hash is not 32 bytes"))?,
        ),
        // Stored values were checked when stored; re-parse without the dev allowance would
        // refuse emulator inboxes, so any stored value is taken as it is.
        webhook_url: WebhookUrl::parse(&url, url_port(&url)).map_err(db)?,
        config_name: name,
        settings: serde_json::from_str(&settings).map_err(db)?,
        app_type,
        user_object_id: user,
        created_at: created,
        updated_at: updated,
    })
}

fn url_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    rest.split('/').next()?.rsplit(':').next()?.parse().ok()
}

const SELECT: &str = "SELECT entity_id, webhook_hash, webhook_url, config_name, settings, app_type, user_object_id, created_at, updated_at FROM connections WHERE entity_id = ?1";

#[async_trait]
impl Store for SqliteStore {
    async fn upsert(&self, rec: Record) -> Result<Upsert, StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let existing = tx.query_row(SELECT, [rec.entity_id.as_str()], read).optional().map_err(db)?;
            let settings = serde_json::to_string(&rec.settings).map_err(db)?;
            let outcome = match existing {
                Some(row) => {
                    let old = record(row)?;
                    if !old.webhook_hash.matches(&rec.webhook_hash) {
                        return Ok(Upsert::Forbidden);
                    }
                    tx.execute(
                        "UPDATE connections SET webhook_url = ?2, config_name = ?3, settings = ?4, app_type = ?5,
                         user_object_id = ?6, updated_at = ?7 WHERE entity_id = ?1",
                        params![rec.entity_id.as_str(), rec.webhook_url.as_str(), rec.config_name, settings,
                            rec.app_type, rec.user_object_id, rec.updated_at],
                    )
                    .map_err(db)?;
                    Upsert::Updated(Record { created_at: old.created_at, ..rec })
                }
                None => {
                    tx.execute(
                        "INSERT INTO connections (entity_id, webhook_hash, webhook_url, config_name, settings, app_type,
                         user_object_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![rec.entity_id.as_str(), rec.webhook_hash.0.to_vec(), rec.webhook_url.as_str(),
                            rec.config_name, settings, rec.app_type, rec.user_object_id, rec.created_at, rec.updated_at],
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

    async fn get(&self, id: &EntityId) -> Result<Option<Record>, StoreError> {
        let id = id.clone();
        self.with(move |conn| {
            conn.query_row(SELECT, [id.as_str()], read)
                .optional()
                .map_err(db)?
                .map(record)
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

    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db))
            .await
    }
}
