//! The durable outbox in SQLite: events, one delivery per (event, connection), claimed by
//! workers with a lease so a crashed worker's deliveries come back; at-least-once.

use rusqlite::{params, OptionalExtension};

use super::sqlite::{db, SqliteStore};
use super::{Accepted, DeliveryStatus, Due, Matcher, NewEvent, Outcome, StoreError};
use crate::domain::WebhookUrl;

/// delivery id, event id, entity id, attempts, event body, sealed webhook, key id, settings.
type ClaimRow = (i64, String, String, u32, String, Vec<u8>, String, String);

impl SqliteStore {
    pub(super) async fn outbox_accept(
        &self,
        event: NewEvent,
        matches: Matcher,
        now_ms: i64,
    ) -> Result<Accepted, StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let inserted = tx
                .execute(
                    "INSERT INTO events (id, body, received_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
                    params![event.id, event.body, event.received_at],
                )
                .map_err(db)?;
            if inserted == 0 {
                return Ok(Accepted { deliveries: 0, duplicate: true });
            }
            let targets: Vec<String> = {
                let mut q = tx
                    .prepare("SELECT entity_id, settings FROM connections WHERE disabled_reason IS NULL")
                    .map_err(db)?;
                let rows = q
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(db)?;
                let mut out = Vec::new();
                for row in rows {
                    let (id, settings) = row.map_err(db)?;
                    if serde_json::from_str(&settings).is_ok_and(|v| matches(&v)) {
                        out.push(id);
                    }
                }
                out
            };
            {
                let mut insert = tx
                    .prepare("INSERT INTO deliveries (event_id, entity_id, status, next_at) VALUES (?1, ?2, 'pending', ?3)")
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

    pub(super) async fn outbox_claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Due>, StoreError> {
        let keys = self.keys().clone();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let rows: Vec<ClaimRow> = {
                let mut q = tx
                    .prepare(
                        "SELECT d.id, d.event_id, d.entity_id, d.attempts, e.body, c.webhook_secret, c.webhook_key_id, c.settings
                         FROM deliveries d JOIN events e ON e.id = d.event_id JOIN connections c ON c.entity_id = d.entity_id
                         WHERE d.status = 'pending' AND d.next_at <= ?1 AND d.claimed_until <= ?1
                         ORDER BY d.next_at, d.id LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = q
                    .query_map(params![now_ms, limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                    })
                    .map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            let mut out = Vec::with_capacity(rows.len());
            for (id, event_id, entity_id, attempts, event, sealed, key_id, settings) in rows {
                tx.execute("UPDATE deliveries SET claimed_until = ?2 WHERE id = ?1", params![id, now_ms + lease_ms])
                    .map_err(db)?;
                let url = keys.open(&key_id, &sealed, &entity_id).map_err(db)?;
                out.push(Due {
                    delivery_id: id,
                    event_id,
                    entity_id,
                    webhook_url: WebhookUrl::trusted(url),
                    settings: serde_json::from_str(&settings).map_err(db)?,
                    event,
                    attempts,
                });
            }
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
    }

    pub(super) async fn outbox_finish(
        &self,
        delivery_id: i64,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            match &outcome {
                Outcome::Delivered => tx.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?2, claimed_until = 0,
                     last_error = NULL WHERE id = ?1",
                    params![delivery_id, now_ms],
                ),
                Outcome::Retry { at_ms, error } => tx.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, next_at = ?2, last_error = ?3, claimed_until = 0 WHERE id = ?1",
                    params![delivery_id, at_ms, error],
                ),
                Outcome::Postpone { at_ms } => tx.execute(
                    "UPDATE deliveries SET next_at = ?2, claimed_until = 0 WHERE id = ?1",
                    params![delivery_id, at_ms],
                ),
                Outcome::Dead { error } | Outcome::Disable { error } => tx.execute(
                    "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?2, claimed_until = 0 WHERE id = ?1",
                    params![delivery_id, error],
                ),
            }
            .map_err(db)?;
            if let Outcome::Disable { error } = &outcome {
                let entity: Option<String> = tx
                    .query_row("SELECT entity_id FROM deliveries WHERE id = ?1", [delivery_id], |r| r.get(0))
                    .optional()
                    .map_err(db)?;
                if let Some(entity) = entity {
                    tx.execute("UPDATE connections SET disabled_reason = ?2 WHERE entity_id = ?1", params![entity, error])
                        .map_err(db)?;
                    // Nothing more can reach a removed webhook.
                    tx.execute(
                        "UPDATE deliveries SET status = 'dead', last_error = ?2 WHERE entity_id = ?1 AND status = 'pending'",
                        params![entity, error],
                    )
                    .map_err(db)?;
                }
            }
            tx.commit().map_err(db)
        })
        .await
    }

    pub(super) async fn outbox_enqueue_one(
        &self,
        event: NewEvent,
        entity_id: String,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            tx.execute("INSERT INTO events (id, body, received_at) VALUES (?1, ?2, ?3)", params![event.id, event.body, event.received_at])
                .map_err(db)?;
            tx.execute(
                "INSERT INTO deliveries (event_id, entity_id, status, next_at) VALUES (?1, ?2, 'pending', ?3)",
                params![event.id, entity_id, now_ms],
            )
            .map_err(db)?;
            tx.commit().map_err(db)
        })
        .await
    }

    pub(super) async fn outbox_status(
        &self,
        entity_id: String,
        event_id: Option<String>,
    ) -> Result<DeliveryStatus, StoreError> {
        self.with(move |conn| {
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

    pub(super) async fn outbox_recent(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.with(move |conn| {
            let mut q = conn
                .prepare("SELECT entity_id, delivered_at FROM deliveries WHERE status = 'delivered' AND delivered_at >= ?1")
                .map_err(db)?;
            let rows = q.query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }
}
