//! The durable outbox in SQLite: events, one delivery per (event, connection), claimed by
//! workers with a lease and a fencing token so a crashed worker's deliveries come back and
//! a late finish changes nothing; rate windows reserved in the claiming transaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use connector_settings::{EntityId, Topic};
use rusqlite::{params, OptionalExtension, Transaction};

use super::Db;
use crate::domain::rate_windows::{self, Limits, Windows};
use crate::domain::{Keyring, WebhookUrl};
use crate::store::claim::{self, Candidate};
use crate::store::subscribers::{Snapshot, Subscribers};
use crate::store::{
    db, deliveries_sql, Accepted, Attempt, Claimed, DeadDelivery, DeliveryDetail, DeliveryQuery,
    DeliveryRow, DeliveryStatus, Due, Finish, Gauges, NewEvent, Outbox, Outcome, Pruned, Replay,
    Reservation, StoreError, Wake, DELIVERY_COLUMNS, GAUGES,
};
use crate::store::{minutes_of, AuditEntry, DeliveryStats, Replayed, DUE, MINUTES, REPLAYABLE};

pub(in crate::store) struct SqliteOutbox {
    db: Db,
    keys: Keyring,
    /// The last fencing token handed out (this process owns the file).
    tokens: Arc<AtomicI64>,
    /// The enabled connections' settings, for matching events.
    subscribers: Subscribers,
}

impl SqliteOutbox {
    pub(super) fn new(db: Db, keys: Keyring, last_token: i64) -> Self {
        SqliteOutbox {
            db,
            keys,
            tokens: Arc::new(AtomicI64::new(last_token)),
            subscribers: Subscribers::default(),
        }
    }
}

fn immediate(conn: &mut rusqlite::Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)
}

fn insert_event(tx: &Transaction, event: &NewEvent, now_ms: i64) -> Result<usize, StoreError> {
    tx.prepare_cached(
        "INSERT INTO events (id, body, received_at, received_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
    )
    .and_then(|mut insert| insert.execute(params![event.id, event.body, event.received_at, now_ms]))
    .map_err(db)
}

/// Claims `ids` with fresh tokens and reads what posting each needs.
fn take(
    tx: &Transaction,
    ids: &[i64],
    until: i64,
    tokens: &AtomicI64,
    keys: &Keyring,
) -> Result<Vec<Due>, StoreError> {
    let mut mark = tx
        .prepare_cached("UPDATE deliveries SET claimed_until = ?2, claim_token = ?3 WHERE id = ?1")
        .map_err(db)?;
    let mut read = tx
        .prepare_cached(
            "SELECT d.event_id, d.entity_id, d.attempts, e.body, c.webhook_secret, c.webhook_key_id, c.settings,
                    c.tenant_id
             FROM deliveries d JOIN events e ON e.id = d.event_id JOIN connections c ON c.entity_id = d.entity_id
             WHERE d.id = ?1",
        )
        .map_err(db)?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let token = tokens.fetch_add(1, Ordering::Relaxed) + 1;
        mark.execute(params![id, until, token]).map_err(db)?;
        let (event_id, entity_id, attempts, event, sealed, key_id, settings, tenant_id): (
            String,
            String,
            u32,
            String,
            Vec<u8>,
            String,
            String,
            Option<String>,
        ) = read
            .query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .map_err(db)?;
        let url = keys.open(&key_id, &sealed, &entity_id).map_err(db)?;
        out.push(Due {
            delivery_id: id,
            token,
            event_id,
            entity_id,
            webhook_url: WebhookUrl::trusted(url),
            settings: serde_json::from_str(&settings).map_err(db)?,
            event,
            attempts,
            tenant_id,
        });
    }
    Ok(out)
}

/// A row of [`DELIVERY_COLUMNS`].
fn delivery_row(r: &rusqlite::Row) -> rusqlite::Result<DeliveryRow> {
    let status: String = r.get(3)?;
    let next_at: i64 = r.get(5)?;
    Ok(DeliveryRow {
        delivery_id: r.get(0)?,
        event_id: r.get(1)?,
        entity_id: r.get(2)?,
        next_at: (status == "pending").then_some(next_at),
        status,
        attempts: r.get(4)?,
        last_error: r.get(6)?,
        delivered_at: r.get(7)?,
        dead_at: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// Disables the connection of `delivery_id` and kills what else it had pending.
fn disable(tx: &Transaction, delivery_id: i64, error: &str, now_ms: i64) -> Result<(), StoreError> {
    let entity: Option<String> = tx
        .query_row(
            "SELECT entity_id FROM deliveries WHERE id = ?1",
            [delivery_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if let Some(entity) = entity {
        tx.execute(
            "UPDATE connections SET disabled_reason = ?2 WHERE entity_id = ?1",
            params![entity, error],
        )
        .map_err(db)?;
        // Nothing more can reach a removed webhook.
        tx.execute(
            "UPDATE deliveries SET status = 'dead', last_error = ?2, dead_at = ?3
             WHERE entity_id = ?1 AND status = 'pending'",
            params![entity, error, now_ms],
        )
        .map_err(db)?;
    }
    Ok(())
}

#[async_trait]
impl Outbox for SqliteOutbox {
    async fn accept_event(
        &self,
        event: NewEvent,
        topic: Topic,
        account: Option<String>,
        now_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let subscribers = self.subscribers.clone();
        self.db.with(move |conn| {
            let tx = immediate(conn)?;
            if insert_event(&tx, &event, now_ms)? == 0 {
                return Ok(Accepted { deliveries: 0, duplicate: true });
            }
            let version: i64 = tx
                .prepare_cached("SELECT v FROM connections_version")
                .and_then(|mut q| q.query_row([], |r| r.get(0)))
                .map_err(db)?;
            let snapshot = match subscribers.at(version) {
                Some(kept) => kept,
                None => {
                    let mut q = tx
                        .prepare("SELECT entity_id, settings, account FROM connections WHERE disabled_reason IS NULL")
                        .map_err(db)?;
                    let rows = q
                        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?)))
                        .map_err(db)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(db)?;
                    subscribers.keep(Snapshot::read(version, rows))
                }
            };
            let targets = snapshot.matching(&topic, account.as_deref());
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO deliveries (event_id, entity_id, status, next_at) VALUES (?1, ?2, 'pending', ?3)")
                    .map_err(db)?;
                for id in &targets {
                    insert.execute(params![event.id, id, now_ms]).map_err(db)?;
                }
            }
            tx.commit().map_err(db)?;
            Ok(Accepted { deliveries: targets.len(), duplicate: false })
        })
        .await
    }

    async fn enqueue_one(
        &self,
        event: NewEvent,
        entity_id: &EntityId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let entity_id = entity_id.as_str().to_string();
        self.db
            .with(move |conn| {
                let tx = immediate(conn)?;
                insert_event(&tx, &event, now_ms)?;
                tx.execute(
                    "INSERT INTO deliveries (event_id, entity_id, status, next_at) VALUES (?1, ?2, 'pending', ?3)",
                    params![event.id, entity_id, now_ms],
                )
                .map_err(db)?;
                tx.commit().map_err(db)
            })
            .await
    }

    async fn claim(
        &self,
        now: i64,
        limit: usize,
        lease_ms: i64,
        limits: &Limits,
    ) -> Result<Claimed, StoreError> {
        let (keys, tokens, limits) = (self.keys.clone(), self.tokens.clone(), limits.clone());
        self.db.with(move |conn| {
            let tx = immediate(conn)?;
            let candidates: Vec<Candidate> = {
                let mut q = tx
                    .prepare_cached(
                        "SELECT d.id, c.webhook_hash, c.webhook_kind, c.disabled_reason FROM deliveries d LEFT JOIN connections c ON c.entity_id = d.entity_id
                         WHERE d.status = 'pending' AND d.next_at <= ?1 AND d.claimed_until <= ?1
                         ORDER BY d.next_at, d.id LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = q
                    .query_map(params![now, limit as i64], |r| Ok(Candidate { id: r.get(0)?, hash: r.get(1)?, kind: r.get(2)?, disabled: r.get(3)? }))
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            // One process, one writer: every webhook is this claim's to reserve.
            let mut windows: HashMap<Vec<u8>, Vec<i64>> = HashMap::new();
            {
                let mut q = tx.prepare_cached("SELECT posts FROM webhook_windows WHERE hash = ?1").map_err(db)?;
                for hash in candidates.iter().filter_map(|c| c.hash.as_ref()) {
                    if !windows.contains_key(hash) {
                        let posts: Option<String> = q.query_row([hash], |r| r.get(0)).optional().map_err(db)?;
                        windows.insert(hash.clone(), posts.map(|p| rate_windows::decode(&p)).unwrap_or_default());
                    }
                }
            }
            let plan = claim::plan(&candidates, &mut windows, &limits, now);
            {
                let mut write = tx
                    .prepare_cached(
                        "INSERT INTO webhook_windows (hash, posts) VALUES (?1, ?2)
                         ON CONFLICT (hash) DO UPDATE SET posts = excluded.posts",
                    )
                    .map_err(db)?;
                for hash in &plan.changed {
                    write.execute(params![hash, rate_windows::encode(&windows[hash])]).map_err(db)?;
                }
                let mut later = tx.prepare_cached("UPDATE deliveries SET next_at = ?2 WHERE id = ?1").map_err(db)?;
                for (id, at) in &plan.postpone {
                    later.execute(params![id, at]).map_err(db)?;
                }
                let mut orphan = tx
                    .prepare_cached("UPDATE deliveries SET status = 'dead', last_error = ?2, dead_at = ?3 WHERE id = ?1")
                    .map_err(db)?;
                for (id, why) in &plan.dead {
                    orphan.execute(params![id, why, now]).map_err(db)?;
                }
            }
            let due = take(&tx, &plan.claim, now + lease_ms, &tokens, &keys)?;
            let next_due_ms: Option<i64> = tx
                .query_row(
                    "SELECT min(next_at) FROM deliveries WHERE status = 'pending' AND next_at > ?1",
                    [now],
                    |r| r.get(0),
                )
                .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(Claimed {
                due,
                postponed: plan.postpone.len(),
                postponed_by_window: plan.postponed_by_window,
                busy: plan.busy,
                next_due_ms,
            })
        })
        .await
    }

    async fn reserve(
        &self,
        rows: Vec<(Vec<u8>, Windows)>,
        now_ms: i64,
    ) -> Result<Reservation, StoreError> {
        self.db
            .with(move |conn| {
                let tx = immediate(conn)?;
                let mut held = Vec::with_capacity(rows.len());
                {
                    let mut q = tx
                        .prepare_cached("SELECT posts FROM webhook_windows WHERE hash = ?1")
                        .map_err(db)?;
                    for (key, windows) in &rows {
                        let posts: Option<String> =
                            q.query_row([key], |r| r.get(0)).optional().map_err(db)?;
                        held.push((
                            posts.map(|p| rate_windows::decode(&p)).unwrap_or_default(),
                            windows,
                        ));
                    }
                }
                let got = claim::reserve(&mut held, now_ms);
                if got == Reservation::Reserved {
                    let mut write = tx
                        .prepare_cached(
                            "INSERT INTO webhook_windows (hash, posts) VALUES (?1, ?2)
                             ON CONFLICT (hash) DO UPDATE SET posts = excluded.posts",
                        )
                        .map_err(db)?;
                    for ((key, _), (posts, _)) in rows.iter().zip(&held) {
                        write
                            .execute(params![key, rate_windows::encode(posts)])
                            .map_err(db)?;
                    }
                }
                drop(held);
                tx.commit().map_err(db)?;
                Ok(got)
            })
            .await
    }

    async fn finish(&self, batch: Vec<Finish>, now_ms: i64) -> Result<Vec<i64>, StoreError> {
        self.db.with(move |conn| {
            let tx = immediate(conn)?;
            let mut stale = Vec::new();
            for f in &batch {
                let (id, token) = (f.delivery_id, f.token);
                let changed = match &f.outcome {
                    Outcome::Delivered => tx.prepare_cached(
                        "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?3, claimed_until = 0,
                         claim_token = NULL, last_error = NULL WHERE id = ?1 AND claim_token = ?2",
                    ).and_then(|mut s| s.execute(params![id, token, now_ms])),
                    Outcome::Retry { at_ms, error } => tx.prepare_cached(
                        "UPDATE deliveries SET attempts = attempts + 1, next_at = ?3, last_error = ?4, claimed_until = 0,
                         claim_token = NULL WHERE id = ?1 AND claim_token = ?2",
                    ).and_then(|mut s| s.execute(params![id, token, at_ms, error])),
                    Outcome::Dead { error } | Outcome::Disable { error } => tx.prepare_cached(
                        "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?3, dead_at = ?4,
                         claimed_until = 0, claim_token = NULL WHERE id = ?1 AND claim_token = ?2",
                    ).and_then(|mut s| s.execute(params![id, token, error, now_ms])),
                }
                .map_err(db)?;
                if changed == 0 {
                    stale.push(id);
                    continue;
                }
                tx.prepare_cached(
                    "INSERT INTO delivery_attempts (delivery_id, at_ms, code, outcome, error) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| s.execute(params![id, now_ms, f.code, f.outcome.attempt_name(), f.outcome.error()]))
                .map_err(db)?;
                if let Outcome::Disable { error } = &f.outcome {
                    disable(&tx, id, error, now_ms)?;
                }
            }
            tx.commit().map_err(db)?;
            Ok(stale)
        })
        .await
    }

    async fn hand_back(&self, claims: Vec<(i64, i64)>) -> Result<usize, StoreError> {
        self.db
            .with(move |conn| {
                let tx = immediate(conn)?;
                let mut n = 0;
                for (id, token) in &claims {
                    n += tx
                        .execute(
                            "UPDATE deliveries SET claimed_until = 0, claim_token = NULL
                             WHERE id = ?1 AND claim_token = ?2 AND status = 'pending'",
                            params![id, token],
                        )
                        .map_err(db)?;
                }
                tx.commit().map_err(db)?;
                Ok(n)
            })
            .await
    }

    async fn delivery_status(
        &self,
        id: &EntityId,
        event_id: Option<String>,
    ) -> Result<DeliveryStatus, StoreError> {
        let entity_id = id.as_str().to_string();
        self.db.with(move |conn| {
            let mut status = DeliveryStatus::default();
            let mut q = conn
                .prepare(
                    "SELECT status, count(*) FROM deliveries WHERE entity_id = ?1 AND (?2 IS NULL OR event_id = ?2)
                     GROUP BY status",
                )
                .map_err(db)?;
            let rows = q
                .query_map(params![&entity_id, &event_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                .map_err(db)?;
            for row in rows {
                match row.map_err(db)? {
                    (s, n) if s == "pending" => status.pending = n,
                    (s, n) if s == "delivered" => status.delivered = n,
                    (_, n) => status.dead = n,
                }
            }
            status.last_error = conn
                .query_row(
                    "SELECT last_error FROM deliveries WHERE entity_id = ?1 AND (?2 IS NULL OR event_id = ?2)
                     AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
                    params![&entity_id, &event_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            status.disabled = conn
                .query_row("SELECT disabled_reason FROM connections WHERE entity_id = ?1", [&entity_id], |r| r.get(0))
                .optional()
                .map_err(db)?
                .flatten();
            Ok(status)
        })
        .await
    }

    async fn deliveries(&self, query: DeliveryQuery) -> Result<Vec<DeliveryRow>, StoreError> {
        let (sql, params) = deliveries_sql(DELIVERY_COLUMNS, &query, |n| format!("?{n}"));
        self.db
            .with(move |conn| {
                let mut q = conn.prepare_cached(&sql).map_err(db)?;
                let rows = q
                    .query_map(rusqlite::params_from_iter(params.iter()), delivery_row)
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)
            })
            .await
    }

    async fn delivery(&self, id: i64) -> Result<Option<DeliveryDetail>, StoreError> {
        self.db
            .with(move |conn| {
                let sql = format!("{DELIVERY_COLUMNS} WHERE id = ?1");
                let Some(delivery) = conn
                    .prepare_cached(&sql)
                    .and_then(|mut q| q.query_row([id], delivery_row).optional())
                    .map_err(db)?
                else {
                    return Ok(None);
                };
                let mut q = conn
                    .prepare_cached(
                        "SELECT at_ms, code, outcome, error FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY id",
                    )
                    .map_err(db)?;
                let attempt_log = q
                    .query_map([id], |r| {
                        Ok(Attempt {
                            at_ms: r.get(0)?,
                            code: r.get(1)?,
                            outcome: r.get(2)?,
                            error: r.get(3)?,
                        })
                    })
                    .map_err(db)?
                    .collect::<Result<_, _>>()
                    .map_err(db)?;
                Ok(Some(DeliveryDetail {
                    delivery,
                    attempt_log,
                }))
            })
            .await
    }

    async fn dead(&self, since_ms: i64, limit: usize) -> Result<Vec<DeadDelivery>, StoreError> {
        self.db
            .with(move |conn| {
                let mut q = conn
                    .prepare(
                        "SELECT id, event_id, entity_id, attempts, last_error, coalesce(dead_at, 0) FROM deliveries
                         WHERE status = 'dead' AND coalesce(dead_at, 0) >= ?1 ORDER BY dead_at, id LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = q
                    .query_map(params![since_ms, limit as i64], |r| {
                        Ok(DeadDelivery {
                            delivery_id: r.get(0)?,
                            event_id: r.get(1)?,
                            entity_id: r.get(2)?,
                            attempts: r.get(3)?,
                            last_error: r.get(4)?,
                            dead_at: r.get(5)?,
                        })
                    })
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)
            })
            .await
    }

    async fn replay(
        &self,
        which: Replay,
        now_ms: i64,
        dry_run: bool,
        audit: Option<AuditEntry>,
    ) -> Result<Replayed, StoreError> {
        let (filter, params) = which.sql(|n| format!("?{n}"));
        self.db
            .with(move |conn| {
                let tx = immediate(conn)?;
                let (matched, replayable): (i64, i64) = tx
                    .query_row(
                        &format!(
                            "SELECT count(*), coalesce(sum(CASE WHEN {REPLAYABLE} THEN 1 ELSE 0 END), 0)
                             FROM deliveries WHERE {filter}"
                        ),
                        rusqlite::params_from_iter(params.iter()),
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db)?;
                let mut done = Replayed {
                    matched: matched as u64,
                    held: (matched - replayable) as u64,
                    replayed: 0,
                };
                if !dry_run {
                    let n = params.len();
                    let mut all: Vec<rusqlite::types::Value> =
                        params.iter().cloned().map(Into::into).collect();
                    all.push(now_ms.into());
                    done.replayed = tx
                        .execute(
                            &format!(
                                "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ?{}, claimed_until = 0,
                                 claim_token = NULL, dead_at = NULL WHERE {filter} AND {REPLAYABLE}",
                                n + 1
                            ),
                            rusqlite::params_from_iter(all.iter()),
                        )
                        .map_err(db)? as u64;
                    if let Some(audit) = audit {
                        tx.execute(
                            "INSERT INTO admin_audit (at_ms, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![audit.at_ms, audit.actor, audit.action, audit.target, done.detail(&which)],
                        )
                        .map_err(db)?;
                    }
                }
                tx.commit().map_err(db)?;
                Ok(done)
            })
            .await
    }

    async fn prune(&self, before_ms: i64, now_ms: i64) -> Result<Option<Pruned>, StoreError> {
        self.db
            .with(move |conn| {
                let tx = immediate(conn)?;
                let deliveries = tx
                    .execute(
                        "DELETE FROM deliveries WHERE status = 'delivered' AND delivered_at < ?1",
                        [before_ms],
                    )
                    .map_err(db)? as u64;
                let events = tx
                    .execute(
                        "DELETE FROM events WHERE coalesce(received_ms, 0) < ?1
                         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                        [before_ms],
                    )
                    .map_err(db)? as u64;
                // The newest post is the last of the ascending list.
                tx.execute(
                    "DELETE FROM webhook_windows
                     WHERE CAST(substr(posts, length(rtrim(posts, '0123456789')) + 1) AS INTEGER) <= ?1",
                    [now_ms - rate_windows::KEEP_MS],
                )
                .map_err(db)?;
                tx.commit().map_err(db)?;
                Ok(Some(Pruned { deliveries, events }))
            })
            .await
    }

    async fn listen(&self, _wake: Wake) -> Result<(), StoreError> {
        // One process owns the file: its own accepts wake its workers directly.
        Ok(())
    }

    async fn stats(&self, since_ms: i64, now_ms: i64) -> Result<DeliveryStats, StoreError> {
        self.db
            .with(move |conn| {
                let rows = conn
                    .prepare_cached(MINUTES)
                    .and_then(|mut q| {
                        q.query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(db)?;
                let (due, oldest_due_at): (i64, Option<i64>) = conn
                    .prepare_cached(DUE)
                    .and_then(|mut q| q.query_row([now_ms], |r| Ok((r.get(0)?, r.get(1)?))))
                    .map_err(db)?;
                Ok(DeliveryStats {
                    minutes: minutes_of(rows),
                    due: due as u64,
                    oldest_due_at,
                })
            })
            .await
    }

    async fn gauges(&self, now_ms: i64) -> Result<Gauges, StoreError> {
        let in_use = u64::from(self.db.in_use());
        self.db
            .with(move |conn| {
                conn.query_row(GAUGES, [now_ms], |r| {
                    Ok(Gauges {
                        pending: r.get::<_, i64>(0)? as u64,
                        due: r.get::<_, i64>(1)? as u64,
                        oldest_due_ms: r.get(2)?,
                        dead: r.get::<_, i64>(3)? as u64,
                        disabled_connections: r.get::<_, i64>(4)? as u64,
                        pool_in_use: in_use,
                    })
                })
                .map_err(db)
            })
            .await
    }
}
