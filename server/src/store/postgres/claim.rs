//! The claim transaction on PostgreSQL: due rows taken with `FOR UPDATE SKIP LOCKED`, their
//! webhooks' rate-window rows locked the same way (a webhook another claim holds is skipped,
//! not waited on), slots reserved, fencing tokens from a sequence; a few batch statements,
//! whatever the batch size.

use std::collections::HashMap;

use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::domain::rate_windows::{self, Limits, Windows};
use crate::domain::{Keyring, WebhookUrl};
use crate::store::claim::{self, Candidate};
use crate::store::{db, Claimed, Due, Reservation, StoreError};

type Tx = Transaction<'static, Postgres>;

/// `{1,2,3}`: a bigint[] literal, so many rows' arrays travel in one text[] parameter.
fn array_literal(posts: &[i64]) -> String {
    format!("{{{}}}", rate_windows::encode(posts))
}

/// Claims up to `limit` due deliveries for `lease_ms` (see [`crate::store::Outbox::claim`]).
pub(super) async fn claim(
    pool: &PgPool,
    keys: &Keyring,
    now: i64,
    limit: usize,
    lease_ms: i64,
    limits: &Limits,
) -> Result<Claimed, StoreError> {
    let mut tx = pool.begin().await.map_err(db)?;
    let candidates: Vec<Candidate> = sqlx::query(
        "WITH due AS (
             SELECT id, entity_id, next_at FROM deliveries
             WHERE status = 'pending' AND next_at <= $1 AND claimed_until <= $1
             ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         SELECT due.id, c.webhook_hash, c.webhook_kind, c.disabled_reason
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
            kind: r.try_get(2)?,
            disabled: r.try_get(3)?,
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
    let plan = claim::plan(&candidates, &mut windows, limits, now);
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
                       c.webhook_secret, c.webhook_key_id, c.settings, c.tenant_id",
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
            let url = keys.open(&key_id, &sealed, &entity_id).map_err(db)?;
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
                tenant_id: r.try_get(9).map_err(db)?,
            });
        }
    }
    let next_due_ms = next_due(&mut tx, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(Claimed {
        due,
        postponed: plan.postpone.len(),
        postponed_by_window: plan.postponed_by_window,
        busy: plan.busy,
        next_due_ms,
    })
}

/// Reserves a post now in every one of `rows` or in none (see
/// [`crate::store::Outbox::reserve`]): the rows are made if missing and locked in key order,
/// waiting for a claim that holds one.
pub(super) async fn reserve(
    pool: &PgPool,
    rows: Vec<(Vec<u8>, Windows)>,
    now: i64,
) -> Result<Reservation, StoreError> {
    let mut keys: Vec<Vec<u8>> = rows.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "INSERT INTO webhook_windows (hash) SELECT unnest($1::bytea[]) ORDER BY 1
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&keys)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let mut stored: HashMap<Vec<u8>, Vec<i64>> = HashMap::with_capacity(keys.len());
    for row in sqlx::query(
        "SELECT hash, posts FROM webhook_windows WHERE hash = ANY($1) ORDER BY hash FOR UPDATE",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?
    {
        stored.insert(row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?);
    }
    let mut held: Vec<(Vec<i64>, &Windows)> = rows
        .iter()
        .map(|(k, w)| (stored.get(k).cloned().unwrap_or_default(), w))
        .collect();
    let got = claim::reserve(&mut held, now);
    if got == Reservation::Reserved {
        let posts: Vec<String> = held.iter().map(|(p, _)| array_literal(p)).collect();
        let keys: Vec<&Vec<u8>> = rows.iter().map(|(k, _)| k).collect();
        sqlx::query(
            "UPDATE webhook_windows w SET posts = v.posts::bigint[]
             FROM unnest($1::bytea[], $2::text[]) AS v(hash, posts) WHERE w.hash = v.hash",
        )
        .bind(&keys)
        .bind(&posts)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(got)
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
