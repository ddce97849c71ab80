//! The outbox in PostgreSQL, for many instances. Claims take due rows with `FOR UPDATE SKIP
//! LOCKED`, lock their webhooks' rate-window rows the same way (a webhook another claim
//! holds is skipped, not waited on), reserve slots, and hand out fencing tokens from a
//! sequence, all in one transaction of a few batch statements, whatever the batch size.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use connector_settings::EntityId;
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::{CHANNEL, PRUNE_LOCK};
use crate::domain::{rate_windows, Keyring, WebhookUrl};
use crate::store::claim::{self, Candidate};
use crate::store::{
    db, Accepted, Claimed, DeadDelivery, DeliveryStatus, Due, Finish, Matcher, NewEvent, Outbox,
    Outcome, Pruned, Replay, StoreError, Wake,
};

pub(in crate::store) struct PgOutbox {
    pool: PgPool,
    keys: Keyring,
}

impl PgOutbox {
    pub(super) fn new(pool: PgPool, keys: Keyring) -> Self {
        PgOutbox { pool, keys }
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

/// `{1,2,3}`: a bigint[] literal, so many rows' arrays travel in one text[] parameter.
fn array_literal(posts: &[i64]) -> String {
    format!("{{{}}}", rate_windows::encode(posts))
}

#[async_trait]
impl Outbox for PgOutbox {
    async fn accept_event(
        &self,
        event: NewEvent,
        matches: Matcher,
        now_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        if !insert_event(&mut tx, &event, now_ms).await? {
            return Ok(Accepted {
                deliveries: 0,
                duplicate: true,
            });
        }
        let rows = sqlx::query(
            "SELECT entity_id, settings FROM connections WHERE disabled_reason IS NULL",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut targets: Vec<String> = Vec::new();
        for row in &rows {
            let settings: &str = row.try_get(1).map_err(db)?;
            if serde_json::from_str(settings).is_ok_and(|v| matches(&v)) {
                targets.push(row.try_get(0).map_err(db)?);
            }
        }
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

    async fn claim(&self, now: i64, limit: usize, lease_ms: i64) -> Result<Claimed, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let candidates: Vec<Candidate> = sqlx::query(
            "WITH due AS (
                 SELECT id, entity_id, next_at FROM deliveries
                 WHERE status = 'pending' AND next_at <= $1 AND claimed_until <= $1
                 ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
             SELECT due.id, c.webhook_hash, c.disabled_reason
             FROM due LEFT JOIN connections c ON c.entity_id = due.entity_id
             ORDER BY due.next_at, due.id",
        )
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(Candidate {
                id: r.try_get(0)?,
                hash: r.try_get(1)?,
                disabled: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)?;
        if candidates.is_empty() {
            let next_due_ms = next_due(&mut tx, now).await?;
            tx.commit().await.map_err(db)?;
            return Ok(Claimed {
                next_due_ms,
                ..Claimed::default()
            });
        }
        let mut hashes: Vec<Vec<u8>> = candidates.iter().filter_map(|c| c.hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        // The webhooks this claim holds; one held by another claim is not waited for.
        let mut windows: HashMap<Vec<u8>, Vec<i64>> = HashMap::with_capacity(hashes.len());
        for row in sqlx::query(
            "SELECT hash, posts FROM webhook_windows WHERE hash = ANY($1) FOR UPDATE SKIP LOCKED",
        )
        .bind(&hashes)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        {
            windows.insert(row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
        }
        let missing: Vec<Vec<u8>> = hashes
            .iter()
            .filter(|h| !windows.contains_key(*h))
            .cloned()
            .collect();
        if !missing.is_empty() {
            // First post to these webhooks (or held elsewhere: then the insert does nothing).
            let created: Vec<Vec<u8>> = sqlx::query_scalar(
                "INSERT INTO webhook_windows (hash) SELECT unnest($1::bytea[])
                 ON CONFLICT (hash) DO NOTHING RETURNING hash",
            )
            .bind(&missing)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            windows.extend(created.into_iter().map(|h| (h, Vec::new())));
        }
        let plan = claim::plan(&candidates, &mut windows, now);
        if !plan.changed.is_empty() {
            let posts: Vec<String> = plan
                .changed
                .iter()
                .map(|h| array_literal(&windows[h]))
                .collect();
            sqlx::query(
                "UPDATE webhook_windows w SET posts = v.posts::bigint[]
                 FROM unnest($1::bytea[], $2::text[]) AS v(hash, posts) WHERE w.hash = v.hash",
            )
            .bind(&plan.changed)
            .bind(&posts)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if !plan.postpone.is_empty() {
            let (ids, ats): (Vec<i64>, Vec<i64>) = plan.postpone.iter().copied().unzip();
            sqlx::query(
                "UPDATE deliveries d SET next_at = v.at
                 FROM unnest($1::bigint[], $2::bigint[]) AS v(id, at) WHERE d.id = v.id",
            )
            .bind(&ids)
            .bind(&ats)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if !plan.dead.is_empty() {
            let (ids, whys): (Vec<i64>, Vec<String>) = plan.dead.iter().cloned().unzip();
            sqlx::query(
                "UPDATE deliveries d SET status = 'dead', last_error = v.why, dead_at = $3
                 FROM unnest($1::bigint[], $2::text[]) AS v(id, why) WHERE d.id = v.id",
            )
            .bind(&ids)
            .bind(&whys)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let mut due = Vec::with_capacity(plan.claim.len());
        if !plan.claim.is_empty() {
            let rows = sqlx::query(
                "UPDATE deliveries d SET claimed_until = $2, claim_token = nextval('claim_tokens')
                 FROM events e, connections c
                 WHERE d.id = ANY($1) AND e.id = d.event_id AND c.entity_id = d.entity_id
                 RETURNING d.id, d.claim_token, d.event_id, d.entity_id, d.attempts, e.body,
                           c.webhook_secret, c.webhook_key_id, c.settings",
            )
            .bind(&plan.claim)
            .bind(now + lease_ms)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for r in rows {
                let entity_id: String = r.try_get(3).map_err(db)?;
                let sealed: Vec<u8> = r.try_get(6).map_err(db)?;
                let key_id: String = r.try_get(7).map_err(db)?;
                let settings: String = r.try_get(8).map_err(db)?;
                let url = self.keys.open(&key_id, &sealed, &entity_id).map_err(db)?;
                let attempts: i32 = r.try_get(4).map_err(db)?;
                due.push(Due {
                    delivery_id: r.try_get(0).map_err(db)?,
                    token: r.try_get(1).map_err(db)?,
                    event_id: r.try_get(2).map_err(db)?,
                    entity_id,
                    webhook_url: WebhookUrl::trusted(url),
                    settings: serde_json::from_str(&settings).map_err(db)?,
                    event: r.try_get(5).map_err(db)?,
                    attempts: attempts as u32,
                });
            }
        }
        let next_due_ms = next_due(&mut tx, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(Claimed {
            due,
            postponed: plan.postpone.len(),
            busy: plan.busy,
            next_due_ms,
        })
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
        for f in &batch {
            ids.push(f.delivery_id);
            tokens.push(f.token);
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
        let done: Vec<i64> = sqlx::query_scalar(
            "UPDATE deliveries d SET status = v.status, attempts = d.attempts + 1,
                 next_at = coalesce(v.next_at, d.next_at), last_error = v.error,
                 delivered_at = CASE WHEN v.status = 'delivered' THEN $6 ELSE d.delivered_at END,
                 dead_at = CASE WHEN v.status = 'dead' THEN $6 ELSE d.dead_at END,
                 claimed_until = 0, claim_token = NULL
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])
                  AS v(id, token, status, next_at, error)
             WHERE d.id = v.id AND d.claim_token = v.token
             RETURNING d.id",
        )
        .bind(&ids)
        .bind(&tokens)
        .bind(&statuses)
        .bind(&next)
        .bind(&errors)
        .bind(now_ms)
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

    async fn replay(&self, which: Replay, now_ms: i64) -> Result<usize, StoreError> {
        let (one, since) = match which {
            Replay::One(id) => (Some(id), None),
            Replay::DeadSince(t) => (None, Some(t)),
        };
        let mut tx = self.pool.begin().await.map_err(db)?;
        let n = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = $3, claimed_until = 0,
             claim_token = NULL, dead_at = NULL
             WHERE status = 'dead' AND ($1::bigint IS NULL OR id = $1) AND ($2::bigint IS NULL OR dead_at >= $2)
             AND entity_id IN (SELECT entity_id FROM connections WHERE disabled_reason IS NULL)",
        )
        .bind(one)
        .bind(since)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(n as usize)
    }

    async fn prune(&self, before_ms: i64) -> Result<Option<Pruned>, StoreError> {
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
        sqlx::query(
            "DELETE FROM webhook_windows w
             WHERE NOT EXISTS (SELECT 1 FROM connections c WHERE c.webhook_hash = w.hash)",
        )
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
}

async fn next_due(tx: &mut Tx, now: i64) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "SELECT min(next_at) FROM deliveries WHERE status = 'pending' AND next_at > $1",
    )
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)
}
