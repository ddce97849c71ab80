//! The outbox in PostgreSQL, for many instances: events and their deliveries (every instance
//! woken by NOTIFY), outcomes recorded in one statement per batch and only under the current
//! fencing token, dead letters, pruning under an advisory lock. Claims are in `claim.rs`.

use std::time::Duration;

use async_trait::async_trait;
use connector_settings::{EntityId, Topic};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::{claim, CHANNEL, PRUNE_LOCK};
use crate::domain::rate_windows::{self, Limits, Windows};
use crate::domain::Keyring;
use crate::store::subscribers::{Snapshot, Subscribers};
use crate::store::{
    db, Accepted, Attempt, Claimed, DeadDelivery, DeliveryDetail, DeliveryRow, DeliveryStatus,
    Finish, Gauges, NewEvent, Outbox, Outcome, Pruned, Replay, Reservation, StoreError, Wake,
    GAUGES,
};
use crate::store::{minutes_of, AuditEntry, DeliveryStats, Replayed, DUE, MINUTES, REPLAYABLE};

pub(in crate::store) struct PgOutbox {
    pool: PgPool,
    keys: Keyring,
    /// The enabled connections' settings, for matching events.
    subscribers: Subscribers,
}

impl PgOutbox {
    pub(super) fn new(pool: PgPool, keys: Keyring) -> Self {
        PgOutbox {
            pool,
            keys,
            subscribers: Subscribers::default(),
        }
    }
}

type Tx = Transaction<'static, Postgres>;

/// Deliveries from one event above which the table's statistics are refreshed.
const FAN_OUT: usize = 500;

/// Stores the event; false when its id is known.
async fn insert_event(tx: &mut Tx, event: &NewEvent, now_ms: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO events (id, body, received_at, received_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.body)
    .bind(&event.received_at)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(db)?
    .rows_affected()
        == 1)
}

/// Wakes every instance once the transaction commits.
async fn notify(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

/// A row of [`crate::store::DELIVERY_COLUMNS`].
fn delivery_row(r: &sqlx::postgres::PgRow) -> Result<DeliveryRow, sqlx::Error> {
    let status: String = r.try_get(3)?;
    let next_at: i64 = r.try_get(5)?;
    let attempts: i32 = r.try_get(4)?;
    Ok(DeliveryRow {
        delivery_id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        entity_id: r.try_get(2)?,
        next_at: (status == "pending").then_some(next_at),
        status,
        attempts: attempts as u32,
        last_error: r.try_get(6)?,
        delivered_at: r.try_get(7)?,
        dead_at: r.try_get(8)?,
        created_at: r.try_get(9)?,
    })
}

#[async_trait]
impl Outbox for PgOutbox {
    async fn accept_event(
        &self,
        event: NewEvent,
        topic: Topic,
        account: Option<String>,
        now_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        if !insert_event(&mut tx, &event, now_ms).await? {
            return Ok(Accepted {
                deliveries: 0,
                duplicate: true,
            });
        }
        // The sum of the version's shards: every committed change of a connection raised one.
        let version: i64 = sqlx::query_scalar("SELECT sum(v)::bigint FROM connections_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let snapshot = match self.subscribers.at(version) {
            Some(kept) => kept,
            None => {
                // Events arriving together after a change read the connections once, not
                // each (64 at once took 64 copies of them into memory).
                let _reading = self.subscribers.reading().await;
                match self.subscribers.at(version) {
                    Some(kept) => kept,
                    None => {
                        let rows = sqlx::query(
                            "SELECT entity_id, settings, account FROM connections WHERE disabled_reason IS NULL",
                        )
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db)?;
                        let rows = rows
                            .iter()
                            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                            .collect::<Result<Vec<crate::store::subscribers::Row>, sqlx::Error>>()
                            .map_err(db)?;
                        self.subscribers.keep(Snapshot::read(version, rows))
                    }
                }
            }
        };
        let targets = snapshot.matching(&topic, account.as_deref());
        sqlx::query(
            "INSERT INTO deliveries (event_id, entity_id, status, next_at)
             SELECT $1, unnest($2::text[]), 'pending', $3",
        )
        .bind(&event.id)
        .bind(&targets)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if !targets.is_empty() {
            notify(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        if targets.len() >= FAN_OUT {
            // The planner's idea of how many deliveries are due must keep up with a large
            // fan-out, or claims sort every due row instead of reading the first few in index
            // order. Off the request's path.
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("ANALYZE deliveries").execute(&pool).await {
                    tracing::warn!(error = %e, "cannot analyze deliveries");
                }
            });
        }
        Ok(Accepted {
            deliveries: targets.len(),
            duplicate: false,
        })
    }

    async fn enqueue_one(
        &self,
        event: NewEvent,
        entity_id: &EntityId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        insert_event(&mut tx, &event, now_ms).await?;
        sqlx::query(
            "INSERT INTO deliveries (event_id, entity_id, status, next_at) VALUES ($1, $2, 'pending', $3)",
        )
        .bind(&event.id)
        .bind(entity_id.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        notify(&mut tx).await?;
        tx.commit().await.map_err(db)
    }

    async fn claim(
        &self,
        now: i64,
        limit: usize,
        lease_ms: i64,
        limits: &Limits,
    ) -> Result<Claimed, StoreError> {
        claim::claim(&self.pool, &self.keys, now, limit, lease_ms, limits).await
    }

    async fn reserve(
        &self,
        rows: Vec<(Vec<u8>, Windows)>,
        now_ms: i64,
    ) -> Result<Reservation, StoreError> {
        claim::reserve(&self.pool, rows, now_ms).await
    }

    async fn finish(&self, batch: Vec<Finish>, now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let n = batch.len();
        let (mut ids, mut tokens, mut statuses, mut next, mut errors) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut codes, mut outcomes) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for f in &batch {
            ids.push(f.delivery_id);
            tokens.push(f.token);
            codes.push(f.code.map(i32::from));
            outcomes.push(f.outcome.attempt_name());
            let (status, at, error) = match &f.outcome {
                Outcome::Delivered => ("delivered", None, None),
                Outcome::Retry { at_ms, error } => ("pending", Some(*at_ms), Some(error.clone())),
                Outcome::Dead { error } | Outcome::Disable { error } => {
                    ("dead", None, Some(error.clone()))
                }
            };
            statuses.push(status);
            next.push(at);
            errors.push(error);
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        // One statement: the outcomes, and the attempt of each one that counted.
        let done: Vec<i64> = sqlx::query_scalar(
            "WITH v AS (
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[],
                                      $7::int[], $8::text[])
                 AS v(id, token, status, next_at, error, code, outcome)
             ), done AS (
                 UPDATE deliveries d SET status = v.status, attempts = d.attempts + 1,
                     next_at = coalesce(v.next_at, d.next_at), last_error = v.error,
                     delivered_at = CASE WHEN v.status = 'delivered' THEN $6 ELSE d.delivered_at END,
                     dead_at = CASE WHEN v.status = 'dead' THEN $6 ELSE d.dead_at END,
                     claimed_until = 0, claim_token = NULL
                 FROM v
                 WHERE d.id = v.id AND d.claim_token = v.token
                 RETURNING d.id
             ), logged AS (
                 INSERT INTO delivery_attempts (delivery_id, at_ms, code, outcome, error)
                 SELECT v.id, $6, v.code, v.outcome, v.error FROM v JOIN done ON done.id = v.id
             )
             SELECT id FROM done",
        )
        .bind(&ids)
        .bind(&tokens)
        .bind(&statuses)
        .bind(&next)
        .bind(&errors)
        .bind(now_ms)
        .bind(&codes)
        .bind(&outcomes)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for f in &batch {
            if let (Outcome::Disable { error }, true) = (&f.outcome, done.contains(&f.delivery_id))
            {
                // Every instance reads this before claiming: nothing more goes to the webhook.
                sqlx::query(
                    "WITH c AS (UPDATE connections SET disabled_reason = $2
                                WHERE entity_id = (SELECT entity_id FROM deliveries WHERE id = $1)
                                RETURNING entity_id)
                     UPDATE deliveries SET status = 'dead', last_error = $2, dead_at = $3
                     WHERE entity_id IN (SELECT entity_id FROM c) AND status = 'pending'",
                )
                .bind(f.delivery_id)
                .bind(error)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)?;
        let mut stale: Vec<i64> = ids;
        stale.retain(|id| !done.contains(id));
        Ok(stale)
    }

    async fn hand_back(&self, claims: Vec<(i64, i64)>) -> Result<usize, StoreError> {
        let (ids, tokens): (Vec<i64>, Vec<i64>) = claims.into_iter().unzip();
        let n = sqlx::query(
            "UPDATE deliveries d SET claimed_until = 0, claim_token = NULL
             FROM unnest($1::bigint[], $2::bigint[]) AS v(id, token)
             WHERE d.id = v.id AND d.claim_token = v.token AND d.status = 'pending'",
        )
        .bind(&ids)
        .bind(&tokens)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        if n > 0 {
            let _ = sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&self.pool)
                .await;
        }
        Ok(n as usize)
    }

    async fn delivery_status(
        &self,
        id: &EntityId,
        event_id: Option<String>,
    ) -> Result<DeliveryStatus, StoreError> {
        let mut status = DeliveryStatus::default();
        let rows = sqlx::query(
            "SELECT status, count(*) FROM deliveries WHERE entity_id = $1 AND ($2::text IS NULL OR event_id = $2)
             GROUP BY status",
        )
        .bind(id.as_str())
        .bind(&event_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        for row in rows {
            let (s, n): (String, i64) = (row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
            match s.as_str() {
                "pending" => status.pending = n as u64,
                "delivered" => status.delivered = n as u64,
                _ => status.dead = n as u64,
            }
        }
        status.last_error = sqlx::query_scalar(
            "SELECT last_error FROM deliveries WHERE entity_id = $1 AND ($2::text IS NULL OR event_id = $2)
             AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(id.as_str())
        .bind(&event_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        status.disabled = sqlx::query_scalar::<_, Option<String>>(
            "SELECT disabled_reason FROM connections WHERE entity_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .flatten();
        Ok(status)
    }

    async fn deliveries(
        &self,
        query: crate::store::DeliveryQuery,
    ) -> Result<Vec<crate::store::DeliveryRow>, StoreError> {
        let (sql, params) =
            crate::store::deliveries_sql(crate::store::DELIVERY_COLUMNS, &query, |n| {
                format!("${n}")
            });
        let mut q = sqlx::query(&sql);
        for p in params {
            q = q.bind(p);
        }
        q.fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(delivery_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db)
    }

    async fn delivery(&self, id: i64) -> Result<Option<DeliveryDetail>, StoreError> {
        let sql = format!("{} WHERE id = $1", crate::store::DELIVERY_COLUMNS);
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let delivery = delivery_row(&row).map_err(db)?;
        let attempt_log = sqlx::query(
            "SELECT at_ms, code, outcome, error FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            let code: Option<i32> = r.try_get(1)?;
            Ok(Attempt {
                at_ms: r.try_get(0)?,
                code: code.map(|c| c as u16),
                outcome: r.try_get(2)?,
                error: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)?;
        Ok(Some(DeliveryDetail {
            delivery,
            attempt_log,
        }))
    }

    async fn dead(&self, since_ms: i64, limit: usize) -> Result<Vec<DeadDelivery>, StoreError> {
        sqlx::query(
            "SELECT id, event_id, entity_id, attempts, last_error, dead_at FROM deliveries
             WHERE status = 'dead' AND dead_at >= $1 ORDER BY dead_at, id LIMIT $2",
        )
        .bind(since_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            let attempts: i32 = r.try_get(3)?;
            Ok(DeadDelivery {
                delivery_id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                entity_id: r.try_get(2)?,
                attempts: attempts as u32,
                last_error: r.try_get(4)?,
                dead_at: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)
    }

    async fn replay(
        &self,
        which: Replay,
        now_ms: i64,
        dry_run: bool,
        audit: Option<AuditEntry>,
    ) -> Result<Replayed, StoreError> {
        let (filter, params) = which.sql(|n| format!("${n}"));
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The rows counted are the rows replayed: locked until the transaction ends.
        let sql = format!(
            "WITH m AS (SELECT id, {REPLAYABLE} AS ok FROM deliveries WHERE {filter} FOR UPDATE)
             SELECT count(*), count(*) FILTER (WHERE ok) FROM m"
        );
        let mut q = sqlx::query(&sql);
        for p in &params {
            q = q.bind(p);
        }
        let row = q.fetch_one(&mut *tx).await.map_err(db)?;
        let (matched, replayable): (i64, i64) =
            (row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
        let mut done = Replayed {
            matched: matched as u64,
            held: (matched - replayable) as u64,
            replayed: 0,
        };
        if dry_run {
            tx.rollback().await.map_err(db)?;
            return Ok(done);
        }
        let sql = format!(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ${}, claimed_until = 0,
             claim_token = NULL, dead_at = NULL WHERE {filter} AND {REPLAYABLE}",
            params.len() + 1
        );
        let mut q = sqlx::query(&sql);
        for p in &params {
            q = q.bind(p);
        }
        done.replayed = q
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if let Some(audit) = audit {
            sqlx::query(
                "INSERT INTO admin_audit (at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(audit.at_ms)
            .bind(&audit.actor)
            .bind(&audit.action)
            .bind(&audit.target)
            .bind(done.detail(&which))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if done.replayed > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(done)
    }

    async fn prune(&self, before_ms: i64, now_ms: i64) -> Result<Option<Pruned>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(PRUNE_LOCK)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if !mine {
            return Ok(None);
        }
        let deliveries =
            sqlx::query("DELETE FROM deliveries WHERE status = 'delivered' AND delivered_at < $1")
                .bind(before_ms)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        let events = sqlx::query(
            "DELETE FROM events e WHERE e.received_ms < $1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        // The newest post is the last of the ascending array (none in an empty one).
        sqlx::query(
            "DELETE FROM webhook_windows WHERE coalesce(posts[cardinality(posts)], 0) <= $1",
        )
        .bind(now_ms - rate_windows::KEEP_MS)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(Pruned { deliveries, events }))
    }

    async fn listen(&self, wake: Wake) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db)?;
        listener.listen(CHANNEL).await.map_err(db)?;
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.wake(),
                    Err(e) => {
                        // Polling covers what was missed while the listener reconnects.
                        tracing::warn!(error = %e, "lost the database's wake-ups; reconnecting");
                        wake.wake();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    async fn stats(&self, since_ms: i64, now_ms: i64) -> Result<DeliveryStats, StoreError> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(MINUTES)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let (due, oldest_due_at): (i64, Option<i64>) = sqlx::query_as(DUE)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(DeliveryStats {
            minutes: minutes_of(rows),
            due: due as u64,
            oldest_due_at,
        })
    }

    async fn gauges(&self, now_ms: i64) -> Result<Gauges, StoreError> {
        let in_use = self.pool.size() as u64 - self.pool.num_idle() as u64;
        let r = sqlx::query(GAUGES)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let count = |i: usize| r.try_get::<i64, _>(i).map(|n| n as u64).map_err(db);
        Ok(Gauges {
            pending: count(0)?,
            due: count(1)?,
            oldest_due_ms: r.try_get(2).map_err(db)?,
            dead: count(3)?,
            disabled_connections: count(4)?,
            pool_in_use: in_use,
        })
    }
}
