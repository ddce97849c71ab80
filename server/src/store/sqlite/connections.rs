//! Connections in SQLite: one row per channel, the webhook URL sealed and keyed-hashed.

use async_trait::async_trait;
use connector_settings::EntityId;
use rusqlite::{params, Connection, OptionalExtension};

use super::Db;
use crate::domain::{EditKeyHash, Keyring, WebhookHash, WebhookUrl};
use crate::store::{
    account_of, db, hash32, search_sql, AuditEntry, BotInstall, ConnectionQuery, ConnectionStore,
    Record, StoreError, Team, Upsert,
};

pub(in crate::store) struct SqliteConnections {
    db: Db,
    keys: Keyring,
}

impl SqliteConnections {
    pub(super) fn new(db: Db, keys: Keyring) -> Self {
        SqliteConnections { db, keys }
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
    team_tenant: Option<String>,
    team_group: Option<String>,
    account: Option<String>,
    account_name: Option<String>,
    linked_by: Option<String>,
}

const SELECT: &str = "SELECT entity_id, webhook_hash, webhook_secret, webhook_key_id, config_name, settings, app_type,
    user_object_id, created_at, updated_at, tenant_id, owner_oid, disabled_reason, edit_key_hash,
    team_tenant, team_group, account, account_name, linked_by FROM connections WHERE entity_id = ?1";

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
        team_tenant: r.get(14)?,
        team_group: r.get(15)?,
        account: r.get(16)?,
        account_name: r.get(17)?,
        linked_by: r.get(18)?,
    })
}

fn hash_of(bytes: Vec<u8>) -> Result<WebhookHash, StoreError> {
    Ok(WebhookHash(hash32(bytes)?))
}

fn record(r: Row, keys: &Keyring) -> Result<Record, StoreError> {
    let url = keys.open(&r.key_id, &r.sealed, &r.entity_id).map_err(db)?;
    // Checked when stored (the dev inbox included), so taken as it is.
    let url = WebhookUrl::trusted(url);
    Ok(Record {
        team: Team::stored_or_of(r.team_tenant, r.team_group, &url),
        entity_id: EntityId::parse(&r.entity_id).map_err(db)?,
        webhook_hash: hash_of(r.hash)?,
        webhook_url: url,
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
        account: account_of(r.account, r.account_name, r.linked_by),
    })
}

/// Updates the row `old` with `rec` (its sealed webhook URL included); the creation time,
/// tenant binding, team and an existing edit key hash stay (`rec`'s team is stored where
/// the row has none yet).
fn update(
    tx: &rusqlite::Transaction,
    old: Row,
    rec: Record,
    sealed: &[u8],
    key_id: &str,
    settings: &str,
) -> Result<Upsert, StoreError> {
    tx.prepare_cached(
        "UPDATE connections SET webhook_secret = ?2, webhook_key_id = ?3, config_name = ?4, settings = ?5,
         app_type = ?6, user_object_id = ?7, updated_at = ?8,
         disabled_reason = CASE WHEN substr(disabled_reason, 1, length(?16)) = ?16 THEN disabled_reason END,
         edit_key_hash = COALESCE(edit_key_hash, ?9), team_tenant = COALESCE(team_tenant, ?10),
         team_group = CASE WHEN team_tenant IS NULL THEN ?11 ELSE team_group END, webhook_kind = ?12,
         account = ?13, account_name = ?14, linked_by = ?15
         WHERE entity_id = ?1",
    )
    .and_then(|mut update| update.execute(params![rec.entity_id.as_str(), sealed, key_id, rec.config_name, settings,
            rec.app_type, rec.user_object_id, rec.updated_at,
            rec.edit_key_hash.as_ref().map(|h| h.0.to_vec()),
            rec.team.as_ref().map(|t| &t.tenant), rec.team.as_ref().map(|t| &t.group),
            rec.webhook_url.kind().name(),
            rec.account.as_ref().map(|a| &a.account), rec.account.as_ref().map(|a| &a.name),
            rec.account.as_ref().and_then(|a| a.linked_by.as_ref()),
            connector_settings::admin::REASON_PREFIX]))
    .map_err(db)?;
    // As stored now, and as `record` reads it.
    let team = match (old.team_tenant, old.team_group) {
        (Some(tenant), Some(group)) => Some(Team { tenant, group }),
        _ => rec.team.clone(),
    }
    .or_else(|| rec.webhook_url.identity().map(Team::of));
    let edit_key_hash = match old.edit_key_hash {
        Some(h) => Some(EditKeyHash(hash32(h)?)),
        None => rec.edit_key_hash,
    };
    // An operator's disable stays; the reasons a save fixes (the webhook is gone) go.
    let disabled_reason = old
        .disabled_reason
        .filter(|why| connector_settings::admin::operator_reason(why).is_some());
    Ok(Upsert::Updated(Record {
        disabled_reason,
        created_at: old.created_at,
        tenant_id: old.tenant_id,
        owner_oid: old.owner_oid,
        edit_key_hash,
        team,
        ..rec
    }))
}

/// Appends `audit` to the audit log.
fn insert_audit(conn: &Connection, audit: &AuditEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO admin_audit (at_ms, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![audit.at_ms, audit.actor, audit.action, audit.target, audit.detail],
    )
    .map(|_| ())
    .map_err(db)
}

/// Stores the webhook kind of rows saved before it was kept, from their opened URLs.
/// Returns how many.
fn fill_webhook_kinds(conn: &mut Connection, keys: &Keyring) -> anyhow::Result<usize> {
    let tx = conn.transaction()?;
    let unknown: Vec<(String, Vec<u8>, String)> = {
        let mut q = tx.prepare(
            "SELECT entity_id, webhook_secret, webhook_key_id FROM connections WHERE webhook_kind IS NULL",
        )?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, sealed, key_id) in &unknown {
        let url = WebhookUrl::trusted(keys.open(key_id, sealed, id)?);
        tx.execute(
            "UPDATE connections SET webhook_kind = ?2 WHERE entity_id = ?1",
            params![id, url.kind().name()],
        )?;
    }
    tx.commit()?;
    Ok(unknown.len())
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
impl ConnectionStore for SqliteConnections {
    async fn upsert(&self, rec: Record) -> Result<Upsert, StoreError> {
        let keys = self.keys.clone();
        let stall = self.db.stall;
        self.db.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let existing = tx.prepare_cached(SELECT).map_err(db)?.query_row([rec.entity_id.as_str()], read).optional().map_err(db)?;
            let settings = serde_json::to_string(&rec.settings).map_err(db)?;
            let (key_id, sealed) = keys.seal(rec.webhook_url.as_str(), rec.entity_id.as_str());
            let outcome = match existing {
                Some(old) => {
                    if !hash_of(old.hash.clone())?.matches(&rec.webhook_hash) {
                        return Ok(Upsert::OtherWebhook);
                    }
                    update(&tx, old, rec, &sealed, &key_id, &settings)?
                }
                None => {
                    tx.prepare_cached(
                        "INSERT INTO connections (entity_id, webhook_hash, webhook_secret, webhook_key_id, config_name,
                         settings, app_type, user_object_id, created_at, updated_at, tenant_id, owner_oid, edit_key_hash,
                         team_tenant, team_group, webhook_kind, account, account_name, linked_by)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                    )
                    .and_then(|mut insert| insert.execute(params![rec.entity_id.as_str(), rec.webhook_hash.0.to_vec(), sealed, key_id,
                            rec.config_name, settings, rec.app_type, rec.user_object_id, rec.created_at, rec.updated_at,
                            rec.tenant_id, rec.owner_oid, rec.edit_key_hash.as_ref().map(|h| h.0.to_vec()),
                            rec.team.as_ref().map(|t| &t.tenant), rec.team.as_ref().map(|t| &t.group),
                            rec.webhook_url.kind().name(),
                            rec.account.as_ref().map(|a| &a.account), rec.account.as_ref().map(|a| &a.name),
                            rec.account.as_ref().and_then(|a| a.linked_by.as_ref())]))
                    .map_err(db)?;
                    Upsert::Created(rec)
                }
            };
            if let Some(stall) = stall {
                std::thread::sleep(stall);
            }
            tx.commit().map_err(db)?;
            Ok(outcome)
        })
        .await
    }

    async fn rebind(&self, rec: Record, previous: &WebhookHash) -> Result<Upsert, StoreError> {
        let keys = self.keys.clone();
        let previous = previous.clone();
        self.db
            .with(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db)?;
                let Some(old) = tx
                    .prepare_cached(SELECT)
                    .map_err(db)?
                    .query_row([rec.entity_id.as_str()], read)
                    .optional()
                    .map_err(db)?
                else {
                    return Ok(Upsert::OtherWebhook);
                };
                if !hash_of(old.hash.clone())?.matches(&previous) {
                    return Ok(Upsert::OtherWebhook);
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
        self.db
            .with(move |conn| {
                conn.prepare_cached(SELECT)
                    .map_err(db)?
                    .query_row([id.as_str()], read)
                    .optional()
                    .map_err(db)?
                    .map(|r| record(r, &keys))
                    .transpose()
            })
            .await
    }

    async fn delete(&self, id: &EntityId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.db
            .with(move |conn| {
                // Its deliveries go with it, pending and past: a connection created later
                // under the same id is someone else's and must never post or see them.
                let tx = conn.transaction().map_err(db)?;
                tx.execute("DELETE FROM deliveries WHERE entity_id = ?1", [id.as_str()])
                    .map_err(db)?;
                let deleted = tx
                    .execute(
                        "DELETE FROM connections WHERE entity_id = ?1",
                        [id.as_str()],
                    )
                    .map_err(db)?;
                tx.commit().map_err(db)?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn key_check(&self, name: &str, check: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, check) = (name.to_string(), check.to_vec());
        self.db
            .with(move |conn| {
                conn.execute(
                    "INSERT INTO key_checks (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                    params![name, check],
                )
                .map_err(db)?;
                conn.query_row(
                    "SELECT value FROM key_checks WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .map_err(db)
            })
            .await
    }

    async fn reseal(&self) -> Result<usize, StoreError> {
        let keys = self.keys.clone();
        self.db
            .with(move |conn| reseal(conn, &keys).map_err(|e| db(format!("{e:#}"))))
            .await
    }

    async fn fill_webhook_kinds(&self) -> Result<usize, StoreError> {
        let keys = self.keys.clone();
        self.db
            .with(move |conn| fill_webhook_kinds(conn, &keys).map_err(|e| db(format!("{e:#}"))))
            .await
    }

    async fn search(&self, query: ConnectionQuery) -> Result<Vec<Record>, StoreError> {
        let keys = self.keys.clone();
        let select = SELECT
            .strip_suffix(" WHERE entity_id = ?1")
            .expect("SELECT ends with its WHERE");
        let (sql, params) = search_sql(select, "instr", &query, |n| format!("?{n}"));
        self.db
            .with(move |conn| {
                let mut q = conn.prepare_cached(&sql).map_err(db)?;
                let rows = q
                    .query_map(rusqlite::params_from_iter(params.iter()), read)
                    .map_err(db)?;
                rows.map(|r| record(r.map_err(db)?, &keys)).collect()
            })
            .await
    }

    async fn set_disabled(
        &self,
        id: &EntityId,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let id = id.clone();
        self.db
            .with(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db)?;
                let changed = tx
                    .execute(
                        "UPDATE connections SET disabled_reason = ?2 WHERE entity_id = ?1",
                        params![id.as_str(), reason],
                    )
                    .map_err(db)?;
                if changed == 0 {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO admin_audit (at_ms, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![audit.at_ms, audit.actor, audit.action, audit.target, audit.detail],
                )
                .map_err(db)?;
                tx.commit().map_err(db)?;
                Ok(true)
            })
            .await
    }

    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.db
            .with(move |conn| {
                let mut q = conn
                    .prepare_cached(
                        "SELECT id, at_ms, actor, action, target, detail FROM admin_audit
                         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = q
                    .query_map(params![before.unwrap_or(i64::MAX), limit as i64], |r| {
                        Ok(AuditEntry {
                            id: r.get(0)?,
                            at_ms: r.get(1)?,
                            actor: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            detail: r.get(5)?,
                        })
                    })
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)
            })
            .await
    }

    async fn save_bot_install(&self, i: BotInstall) -> Result<(), StoreError> {
        self.db
            .with(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db)?;
                tx.execute(
                    "INSERT INTO bot_installs (tenant_id, team_id, scope, aad_group_id, service_url,
                        conversation_id, bot_id, installed_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (tenant_id, team_id) DO UPDATE SET scope = excluded.scope,
                        aad_group_id = coalesce(excluded.aad_group_id, bot_installs.aad_group_id),
                        service_url = excluded.service_url, conversation_id = excluded.conversation_id,
                        bot_id = excluded.bot_id, updated_at = excluded.updated_at",
                    params![
                        i.tenant_id, i.team_id, i.scope, i.aad_group_id, i.service_url,
                        i.conversation_id, i.bot_id, i.installed_at, i.updated_at
                    ],
                )
                .map_err(db)?;
                for channel in &i.channels {
                    tx.execute(
                        "INSERT INTO bot_channels (tenant_id, team_id, channel_id) VALUES (?1, ?2, ?3)
                         ON CONFLICT DO NOTHING",
                        params![i.tenant_id, i.team_id, channel],
                    )
                    .map_err(db)?;
                }
                tx.commit().map_err(db)
            })
            .await
    }

    async fn remove_bot_install(&self, tenant: &str, team: &str) -> Result<bool, StoreError> {
        let (tenant, team) = (tenant.to_string(), team.to_string());
        self.db
            .with(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db)?;
                tx.execute(
                    "DELETE FROM bot_channels WHERE tenant_id = ?1 AND team_id = ?2",
                    params![tenant, team],
                )
                .map_err(db)?;
                let gone = tx
                    .execute(
                        "DELETE FROM bot_installs WHERE tenant_id = ?1 AND team_id = ?2",
                        params![tenant, team],
                    )
                    .map_err(db)?;
                tx.commit().map_err(db)?;
                Ok(gone > 0)
            })
            .await
    }

    async fn add_bot_channel(
        &self,
        tenant: &str,
        team: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, team, channel) = (tenant.to_string(), team.to_string(), channel.to_string());
        self.db
            .with(move |conn| {
                // One connection, one writer: nothing removes the install in between.
                let added = conn
                    .execute(
                        "INSERT INTO bot_channels (tenant_id, team_id, channel_id)
                         SELECT tenant_id, team_id, ?3 FROM bot_installs
                         WHERE tenant_id = ?1 AND team_id = ?2
                         ON CONFLICT DO NOTHING",
                        params![tenant, team, channel],
                    )
                    .map_err(db)?;
                if added > 0 {
                    return Ok(true);
                }
                conn.query_row(
                    "SELECT count(*) FROM bot_installs WHERE tenant_id = ?1 AND team_id = ?2",
                    params![tenant, team],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
                .map_err(db)
            })
            .await
    }

    async fn remove_bot_channel(
        &self,
        tenant: &str,
        team: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, team, channel) = (tenant.to_string(), team.to_string(), channel.to_string());
        self.db
            .with(move |conn| {
                conn.execute(
                    "DELETE FROM bot_channels WHERE tenant_id = ?1 AND team_id = ?2 AND channel_id = ?3",
                    params![tenant, team, channel],
                )
                .map(|n| n > 0)
                .map_err(db)
            })
            .await
    }

    async fn bot_install(
        &self,
        tenant: &str,
        team: &str,
    ) -> Result<Option<BotInstall>, StoreError> {
        let (tenant, team) = (tenant.to_string(), team.to_string());
        self.db
            .with(move |conn| {
                let found = conn
                    .prepare_cached(
                        "SELECT tenant_id, team_id, scope, aad_group_id, service_url, conversation_id,
                            bot_id, installed_at, updated_at
                         FROM bot_installs WHERE tenant_id = ?1 AND team_id = ?2",
                    )
                    .map_err(db)?
                    .query_row(params![tenant, team], |r| {
                        Ok(BotInstall {
                            tenant_id: r.get(0)?,
                            team_id: r.get(1)?,
                            scope: r.get(2)?,
                            aad_group_id: r.get(3)?,
                            service_url: r.get(4)?,
                            conversation_id: r.get(5)?,
                            bot_id: r.get(6)?,
                            channels: Vec::new(),
                            installed_at: r.get(7)?,
                            updated_at: r.get(8)?,
                        })
                    })
                    .optional()
                    .map_err(db)?;
                let Some(mut install) = found else {
                    return Ok(None);
                };
                let mut q = conn
                    .prepare_cached(
                        "SELECT channel_id FROM bot_channels WHERE tenant_id = ?1 AND team_id = ?2
                         ORDER BY channel_id",
                    )
                    .map_err(db)?;
                install.channels = q
                    .query_map(params![tenant, team], |r| r.get(0))
                    .map_err(db)?
                    .collect::<Result<_, _>>()
                    .map_err(db)?;
                Ok(Some(install))
            })
            .await
    }

    async fn delete_audited(
        &self,
        id: &EntityId,
        audit: AuditEntry,
    ) -> Result<Option<u64>, StoreError> {
        let id = id.clone();
        self.db
            .with(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(db)?;
                let pending: u64 = tx
                    .query_row(
                        "SELECT count(*) FROM deliveries WHERE entity_id = ?1 AND status = 'pending'",
                        [id.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                tx.execute("DELETE FROM deliveries WHERE entity_id = ?1", [id.as_str()])
                    .map_err(db)?;
                let deleted = tx
                    .execute(
                        "DELETE FROM connections WHERE entity_id = ?1",
                        [id.as_str()],
                    )
                    .map_err(db)?;
                if deleted == 0 {
                    return Ok(None);
                }
                insert_audit(&tx, &audit)?;
                tx.commit().map_err(db)?;
                Ok(Some(pending))
            })
            .await
    }

    async fn write_audit(&self, audit: AuditEntry) -> Result<(), StoreError> {
        self.db.with(move |conn| insert_audit(conn, &audit)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db))
            .await
    }

    async fn schema_problem(&self) -> Result<Option<String>, StoreError> {
        self.db
            .with(|conn| {
                let version: usize = conn
                    .pragma_query_value(None, "user_version", |r| r.get(0))
                    .map_err(db)?;
                Ok(super::schema_problem(version))
            })
            .await
    }
}
