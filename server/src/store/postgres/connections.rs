//! Connections in PostgreSQL: the same rows as in SQLite, safe for instances writing at once.

use async_trait::async_trait;
use connector_settings::EntityId;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::domain::{EditKeyHash, Keyring, WebhookHash, WebhookUrl};
use crate::store::{
    db, hash32, search_sql, AuditEntry, BotInstall, ConnectionQuery, ConnectionStore, Record,
    StoreError, Team, Upsert,
};

pub(in crate::store) struct PgConnections {
    pool: PgPool,
    keys: Keyring,
    /// Tests only: how long a save waits inside its transaction.
    stall: Option<std::time::Duration>,
}

impl PgConnections {
    pub(super) fn new(pool: PgPool, keys: Keyring, stall: Option<std::time::Duration>) -> Self {
        PgConnections { pool, keys, stall }
    }
}

impl PgConnections {
    /// Tests only: waits as a stalled database would (inside the caller's transaction).
    async fn stall(&self) {
        if let Some(stall) = self.stall {
            tokio::time::sleep(stall).await;
        }
    }
}

const SELECT: &str = "SELECT entity_id, webhook_hash, webhook_secret, webhook_key_id, config_name, settings, app_type,
    user_object_id, created_at, updated_at, tenant_id, owner_oid, disabled_reason, edit_key_hash,
    team_tenant, team_group, account, account_name, linked_by FROM connections WHERE entity_id = $1";

fn hash_of(bytes: Vec<u8>) -> Result<WebhookHash, StoreError> {
    Ok(WebhookHash(hash32(bytes)?))
}

/// The edit key hash in `column` of `r`, if the row has one.
fn edit_key_of(r: &PgRow, column: usize) -> Result<Option<EditKeyHash>, StoreError> {
    let bytes: Option<Vec<u8>> = r.try_get(column).map_err(db)?;
    Ok(bytes.map(hash32).transpose()?.map(EditKeyHash))
}

fn record(r: &PgRow, keys: &Keyring) -> Result<Record, StoreError> {
    let entity_id: String = r.try_get(0).map_err(db)?;
    let sealed: Vec<u8> = r.try_get(2).map_err(db)?;
    let key_id: String = r.try_get(3).map_err(db)?;
    let url = keys.open(&key_id, &sealed, &entity_id).map_err(db)?;
    let settings: String = r.try_get(5).map_err(db)?;
    // Checked when stored (the dev inbox included), so taken as it is.
    let url = WebhookUrl::trusted(url);
    Ok(Record {
        team: Team::stored_or_of(r.try_get(14).map_err(db)?, r.try_get(15).map_err(db)?, &url),
        entity_id: EntityId::parse(&entity_id).map_err(db)?,
        webhook_hash: hash_of(r.try_get(1).map_err(db)?)?,
        webhook_url: url,
        config_name: r.try_get(4).map_err(db)?,
        settings: serde_json::from_str(&settings).map_err(db)?,
        app_type: r.try_get(6).map_err(db)?,
        user_object_id: r.try_get(7).map_err(db)?,
        created_at: r.try_get(8).map_err(db)?,
        updated_at: r.try_get(9).map_err(db)?,
        tenant_id: r.try_get(10).map_err(db)?,
        owner_oid: r.try_get(11).map_err(db)?,
        disabled_reason: r.try_get(12).map_err(db)?,
        edit_key_hash: edit_key_of(r, 13)?,
        account: crate::store::account_of(
            r.try_get(16).map_err(db)?,
            r.try_get(17).map_err(db)?,
            r.try_get(18).map_err(db)?,
        ),
    })
}

/// Appends `audit` to the audit log, in `tx`.
async fn insert_audit(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    audit: AuditEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO admin_audit (at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(audit.at_ms)
    .bind(audit.actor)
    .bind(audit.action)
    .bind(audit.target)
    .bind(audit.detail)
    .execute(&mut **tx)
    .await
    .map(|_| ())
    .map_err(db)
}

/// A save of an existing row: the creation time, tenant binding, team and an existing edit
/// key hash stay (the record's team is stored where the row has none yet).
const UPDATE: &str =
    "UPDATE connections SET webhook_secret = $2, webhook_key_id = $3, config_name = $4,
    settings = $5, app_type = $6, user_object_id = $7, updated_at = $8,
    disabled_reason = CASE WHEN left(disabled_reason, length($16)) = $16 THEN disabled_reason END,
    edit_key_hash = COALESCE(edit_key_hash, $9), team_tenant = COALESCE(team_tenant, $10),
    team_group = CASE WHEN team_tenant IS NULL THEN $11 ELSE team_group END, webhook_kind = $12,
    account = $13, account_name = $14, linked_by = $15
    WHERE entity_id = $1";

/// [`UPDATE`] of `sql` with `rec`'s values (its sealed webhook URL included).
fn update_query<'q>(
    sql: &'q str,
    rec: &'q Record,
    sealed: &'q [u8],
    key_id: &'q str,
    settings: &'q str,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql)
        .bind(rec.entity_id.as_str())
        .bind(sealed)
        .bind(key_id)
        .bind(&rec.config_name)
        .bind(settings)
        .bind(&rec.app_type)
        .bind(&rec.user_object_id)
        .bind(&rec.updated_at)
        .bind(rec.edit_key_hash.as_ref().map(|h| h.0.to_vec()))
        .bind(rec.team.as_ref().map(|t| t.tenant.as_str()))
        .bind(rec.team.as_ref().map(|t| t.group.as_str()))
        .bind(rec.webhook_url.kind().name())
        .bind(rec.account.as_ref().map(|a| a.account.as_str()))
        .bind(rec.account.as_ref().map(|a| a.name.as_str()))
        .bind(rec.account.as_ref().and_then(|a| a.linked_by.as_deref()))
        .bind(connector_settings::admin::REASON_PREFIX)
}

/// What an update keeps of the row, returned by it for [`updated`].
const KEPT: &str =
    "RETURNING created_at, tenant_id, owner_oid, edit_key_hash, team_tenant, team_group, disabled_reason";

/// `rec` as stored over a row whose kept columns ([`KEPT`]) are `kept`.
fn updated(rec: Record, kept: &PgRow) -> Result<Upsert, StoreError> {
    Ok(Upsert::Updated(Record {
        created_at: kept.try_get(0).map_err(db)?,
        tenant_id: kept.try_get(1).map_err(db)?,
        owner_oid: kept.try_get(2).map_err(db)?,
        edit_key_hash: edit_key_of(kept, 3)?,
        team: Team::stored_or_of(
            kept.try_get(4).map_err(db)?,
            kept.try_get(5).map_err(db)?,
            &rec.webhook_url,
        ),
        // An operator's disable stays; the reasons a save fixes (the webhook is gone) go.
        disabled_reason: kept.try_get(6).map_err(db)?,
        ..rec
    }))
}

/// Updates `rec`'s row, locked by the caller's transaction.
async fn update(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    rec: Record,
    sealed: &[u8],
    key_id: &str,
    settings: &str,
) -> Result<Upsert, StoreError> {
    let kept = update_query(&format!("{UPDATE} {KEPT}"), &rec, sealed, key_id, settings)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    updated(rec, &kept)
}

/// Re-encrypts every value sealed with a key other than the current one (key rotation);
/// instances starting together each take the rows' locks, so each row is resealed once.
async fn reseal(pool: &PgPool, keys: &Keyring) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let stale = sqlx::query(
        "SELECT entity_id, webhook_secret, webhook_key_id FROM connections
         WHERE webhook_key_id <> $1 FOR UPDATE",
    )
    .bind(keys.current_id())
    .fetch_all(&mut *tx)
    .await?;
    for row in &stale {
        let (id, sealed, key_id): (String, Vec<u8>, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let plain = keys.open(&key_id, &sealed, &id)?;
        let (new_id, resealed) = keys.seal(&plain, &id);
        sqlx::query(
            "UPDATE connections SET webhook_secret = $2, webhook_key_id = $3 WHERE entity_id = $1",
        )
        .bind(&id)
        .bind(resealed)
        .bind(new_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(stale.len())
}

/// Stores the webhook kind of rows saved before it was kept, from their opened URLs;
/// instances starting together each take the rows' locks, so each row is written once.
async fn fill_webhook_kinds(pool: &PgPool, keys: &Keyring) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let unknown = sqlx::query(
        "SELECT entity_id, webhook_secret, webhook_key_id FROM connections
         WHERE webhook_kind IS NULL FOR UPDATE",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (mut ids, mut kinds) = (Vec::new(), Vec::new());
    for row in &unknown {
        let (id, sealed, key_id): (String, Vec<u8>, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let url = WebhookUrl::trusted(keys.open(&key_id, &sealed, &id)?);
        kinds.push(url.kind().name());
        ids.push(id);
    }
    sqlx::query(
        "UPDATE connections c SET webhook_kind = v.kind
         FROM unnest($1::text[], $2::text[]) AS v(id, kind) WHERE c.entity_id = v.id",
    )
    .bind(&ids)
    .bind(&kinds)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids.len())
}

#[async_trait]
impl ConnectionStore for PgConnections {
    async fn upsert(&self, rec: Record) -> Result<Upsert, StoreError> {
        let settings = serde_json::to_string(&rec.settings).map_err(db)?;
        let (key_id, sealed) = self
            .keys
            .seal(rec.webhook_url.as_str(), rec.entity_id.as_str());
        if self.stall.is_none() {
            // The common save, of a row that exists with this webhook, in one round trip
            // (the stall of the tests is inside the transaction below).
            let kept = update_query(
                &format!("{UPDATE} AND webhook_hash = $17 {KEPT}"),
                &rec,
                &sealed,
                &key_id,
                &settings,
            )
            .bind(rec.webhook_hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
            if let Some(kept) = kept {
                return updated(rec, &kept);
            }
        }
        // Two instances may create the same id at once: the loser of the insert sees the
        // winner's row on its second pass and updates it.
        loop {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let existing = sqlx::query(&format!("{SELECT} FOR UPDATE"))
                .bind(rec.entity_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if let Some(old) = existing {
                if !hash_of(old.try_get(1).map_err(db)?)?.matches(&rec.webhook_hash) {
                    return Ok(Upsert::OtherWebhook);
                }
                let outcome = update(&mut tx, rec, &sealed, &key_id, &settings).await?;
                self.stall().await;
                tx.commit().await.map_err(db)?;
                return Ok(outcome);
            }
            let inserted = sqlx::query(
                "INSERT INTO connections (entity_id, webhook_hash, webhook_secret, webhook_key_id, config_name,
                 settings, app_type, user_object_id, created_at, updated_at, tenant_id, owner_oid, edit_key_hash,
                 team_tenant, team_group, webhook_kind, account, account_name, linked_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
                 ON CONFLICT (entity_id) DO NOTHING",
            )
            .bind(rec.entity_id.as_str())
            .bind(rec.webhook_hash.0.to_vec())
            .bind(&sealed)
            .bind(&key_id)
            .bind(&rec.config_name)
            .bind(&settings)
            .bind(&rec.app_type)
            .bind(&rec.user_object_id)
            .bind(&rec.created_at)
            .bind(&rec.updated_at)
            .bind(&rec.tenant_id)
            .bind(&rec.owner_oid)
            .bind(rec.edit_key_hash.as_ref().map(|h| h.0.to_vec()))
            .bind(rec.team.as_ref().map(|t| t.tenant.as_str()))
            .bind(rec.team.as_ref().map(|t| t.group.as_str()))
            .bind(rec.webhook_url.kind().name())
            .bind(rec.account.as_ref().map(|a| a.account.as_str()))
            .bind(rec.account.as_ref().map(|a| a.name.as_str()))
            .bind(rec.account.as_ref().and_then(|a| a.linked_by.as_deref()))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if inserted == 1 {
                self.stall().await;
                tx.commit().await.map_err(db)?;
                return Ok(Upsert::Created(rec));
            }
        }
    }

    async fn rebind(&self, rec: Record, previous: &WebhookHash) -> Result<Upsert, StoreError> {
        let settings = serde_json::to_string(&rec.settings).map_err(db)?;
        let (key_id, sealed) = self
            .keys
            .seal(rec.webhook_url.as_str(), rec.entity_id.as_str());
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(old) = sqlx::query(&format!("{SELECT} FOR UPDATE"))
            .bind(rec.entity_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
        else {
            return Ok(Upsert::OtherWebhook);
        };
        if !hash_of(old.try_get(1).map_err(db)?)?.matches(previous) {
            return Ok(Upsert::OtherWebhook);
        }
        sqlx::query("UPDATE connections SET webhook_hash = $2 WHERE entity_id = $1")
            .bind(rec.entity_id.as_str())
            .bind(rec.webhook_hash.0.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let outcome = update(&mut tx, rec, &sealed, &key_id, &settings).await?;
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn get(&self, id: &EntityId) -> Result<Option<Record>, StoreError> {
        sqlx::query(SELECT)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| record(&r, &self.keys))
            .transpose()
    }

    async fn search(&self, query: ConnectionQuery) -> Result<Vec<Record>, StoreError> {
        let select = SELECT
            .strip_suffix(" WHERE entity_id = $1")
            .expect("SELECT ends with its WHERE");
        let (sql, params) = search_sql(select, "like", &query, |n| format!("${n}"));
        let mut q = sqlx::query(&sql);
        for p in params {
            q = q.bind(p);
        }
        q.fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|r| record(r, &self.keys))
            .collect()
    }

    async fn set_disabled(
        &self,
        id: &EntityId,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let changed =
            sqlx::query("UPDATE connections SET disabled_reason = $2 WHERE entity_id = $1")
                .bind(id.as_str())
                .bind(reason)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO admin_audit (at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(audit.at_ms)
        .bind(audit.actor)
        .bind(audit.action)
        .bind(audit.target)
        .bind(audit.detail)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn delete_audited(
        &self,
        id: &EntityId,
        audit: AuditEntry,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Locked first, so no delivery is added to it meanwhile.
        let found = sqlx::query("SELECT 1 FROM connections WHERE entity_id = $1 FOR UPDATE")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if found.is_none() {
            return Ok(None);
        }
        let pending: i64 = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM deliveries WHERE entity_id = $1 RETURNING status)
             SELECT count(*) FROM gone WHERE status = 'pending'",
        )
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM connections WHERE entity_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(pending as u64))
    }

    async fn write_audit(&self, audit: AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query(
            "SELECT id, at_ms, actor, action, target, detail FROM admin_audit
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get(0).map_err(db)?,
                at_ms: r.try_get(1).map_err(db)?,
                actor: r.try_get(2).map_err(db)?,
                action: r.try_get(3).map_err(db)?,
                target: r.try_get(4).map_err(db)?,
                detail: r.try_get(5).map_err(db)?,
            })
        })
        .collect()
    }

    async fn delete(&self, id: &EntityId) -> Result<bool, StoreError> {
        // Its deliveries go with it, pending and past, in the same statement: a connection
        // created later under the same id is someone else's and must never post or see them.
        Ok(sqlx::query(
            "WITH gone AS (DELETE FROM deliveries WHERE entity_id = $1)
             DELETE FROM connections WHERE entity_id = $1",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            > 0)
    }

    async fn key_check(&self, name: &str, check: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO key_checks (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(check)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        sqlx::query_scalar("SELECT value FROM key_checks WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn reseal(&self) -> Result<usize, StoreError> {
        reseal(&self.pool, &self.keys)
            .await
            .map_err(|e| db(format!("{e:#}")))
    }

    async fn fill_webhook_kinds(&self) -> Result<usize, StoreError> {
        fill_webhook_kinds(&self.pool, &self.keys)
            .await
            .map_err(|e| db(format!("{e:#}")))
    }

    async fn save_bot_install(&self, i: BotInstall) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO bot_installs (tenant_id, team_id, scope, aad_group_id, service_url,
                conversation_id, bot_id, installed_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (tenant_id, team_id) DO UPDATE SET scope = excluded.scope,
                aad_group_id = coalesce(excluded.aad_group_id, bot_installs.aad_group_id),
                service_url = excluded.service_url, conversation_id = excluded.conversation_id,
                bot_id = excluded.bot_id, updated_at = excluded.updated_at",
        )
        .bind(&i.tenant_id)
        .bind(&i.team_id)
        .bind(&i.scope)
        .bind(&i.aad_group_id)
        .bind(&i.service_url)
        .bind(&i.conversation_id)
        .bind(&i.bot_id)
        .bind(&i.installed_at)
        .bind(&i.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO bot_channels (tenant_id, team_id, channel_id)
             SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&i.tenant_id)
        .bind(&i.team_id)
        .bind(&i.channels)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn remove_bot_install(&self, tenant: &str, team: &str) -> Result<bool, StoreError> {
        // Its channels go with it (ON DELETE CASCADE).
        Ok(
            sqlx::query("DELETE FROM bot_installs WHERE tenant_id = $1 AND team_id = $2")
                .bind(tenant)
                .bind(team)
                .execute(&self.pool)
                .await
                .map_err(db)?
                .rows_affected()
                > 0,
        )
    }

    async fn add_bot_channel(
        &self,
        tenant: &str,
        team: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Held until the commit: an uninstall at the same time waits, or went first.
        let there: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM bot_installs WHERE tenant_id = $1 AND team_id = $2 FOR UPDATE",
        )
        .bind(tenant)
        .bind(team)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if there.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO bot_channels (tenant_id, team_id, channel_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(team)
        .bind(channel)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn remove_bot_channel(
        &self,
        tenant: &str,
        team: &str,
        channel: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM bot_channels WHERE tenant_id = $1 AND team_id = $2 AND channel_id = $3",
        )
        .bind(tenant)
        .bind(team)
        .bind(channel)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            > 0)
    }

    async fn bot_install(
        &self,
        tenant: &str,
        team: &str,
    ) -> Result<Option<BotInstall>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT tenant_id, team_id, scope, aad_group_id, service_url, conversation_id,
                bot_id, installed_at, updated_at,
                coalesce((SELECT array_agg(channel_id ORDER BY channel_id COLLATE \"C\") FROM bot_channels c
                          WHERE c.tenant_id = i.tenant_id AND c.team_id = i.team_id), '{}')
             FROM bot_installs i WHERE tenant_id = $1 AND team_id = $2",
        )
        .bind(tenant)
        .bind(team)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        else {
            return Ok(None);
        };
        Ok(Some(BotInstall {
            tenant_id: r.try_get(0).map_err(db)?,
            team_id: r.try_get(1).map_err(db)?,
            scope: r.try_get(2).map_err(db)?,
            aad_group_id: r.try_get(3).map_err(db)?,
            service_url: r.try_get(4).map_err(db)?,
            conversation_id: r.try_get(5).map_err(db)?,
            bot_id: r.try_get(6).map_err(db)?,
            installed_at: r.try_get(7).map_err(db)?,
            updated_at: r.try_get(8).map_err(db)?,
            channels: r.try_get(9).map_err(db)?,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db)
    }

    async fn schema_problem(&self) -> Result<Option<String>, StoreError> {
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(super::schema_problem(&applied))
    }
}
