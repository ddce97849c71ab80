//! Where connections and the delivery outbox are kept: two traits, [`ConnectionStore`] and
//! [`Outbox`], each implemented by SQLite (the default, one process) and PostgreSQL (many).

mod claim;
mod postgres;
mod sqlite;
mod subscribers;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use connector_settings::{EntityId, Topic, Values};
use tokio::sync::Notify;

use crate::domain::rate_windows::{Limits, Windows};
use crate::domain::{EditKeyHash, HashKey, Keyring, WebhookHash, WebhookIdentity, WebhookUrl};

pub use claim::Reservation;

pub use connector_settings::api::{ConnectionAccount, DeliveryStatus};
/// The PostgreSQL advisory lock held while one instance prunes.
pub use postgres::PRUNE_LOCK;

/// Which database, from the configuration.
#[derive(Debug, Clone)]
pub enum Database {
    /// One SQLite file, owned by one process.
    Sqlite(PathBuf),
    /// A PostgreSQL server shared by any number of instances; `pool` connections each.
    Postgres { url: String, pool: u32 },
}

/// Both halves of one database.
#[derive(Clone)]
pub struct Stores {
    pub connections: Arc<dyn ConnectionStore>,
    pub outbox: Arc<dyn Outbox>,
}

/// Opens (creating and migrating if needed) the database, with `keys` for webhook URLs.
pub async fn open(db: &Database, keys: Keyring) -> anyhow::Result<Stores> {
    open_stalling(db, keys, None).await
}

/// The same; with `stall` (tests only) every connection save waits that long inside its
/// transaction, as a stalled database would.
pub async fn open_stalling(
    db: &Database,
    keys: Keyring,
    stall: Option<std::time::Duration>,
) -> anyhow::Result<Stores> {
    match db {
        Database::Sqlite(path) => sqlite::open(path, keys, true, stall),
        Database::Postgres { url, pool } => postgres::open(url, *pool, keys, stall).await,
    }
}

/// The same for a command run beside a server (list or replay dead deliveries): an SQLite
/// file's claims stay with the server that owns it.
pub async fn open_beside_server(db: &Database, keys: Keyring) -> anyhow::Result<Stores> {
    match db {
        Database::Sqlite(path) => sqlite::open(path, keys, false, None),
        Database::Postgres { url, pool } => postgres::open(url, *pool, keys, None).await,
    }
}

/// Stops the start when an instance's keys are not the ones the database was made with:
/// with many instances, one with another key would make connections unreachable or seal
/// them so the others cannot open them.
pub async fn check_keys(
    connections: &dyn ConnectionStore,
    key: &HashKey,
    ring: &Keyring,
) -> anyhow::Result<()> {
    let check = key.check();
    if connections.key_check("hash-key", &check).await? != check {
        anyhow::bail!(
            "the hash key (CONNECTOR_HASH_KEY or --hash-key-file) is not the key this database was made with; every instance must use the same keys"
        );
    }
    for (id, check) in ring.checks() {
        if connections
            .key_check(&format!("encryption-key:{id}"), &check)
            .await?
            != check
        {
            anyhow::bail!(
                "encryption key '{id}' is not the key '{id}' this database was sealed with; every instance must use the same keys"
            );
        }
    }
    Ok(())
}

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
    /// Set when the webhook answered 404 or 410 (cleared by saving), or by an operator
    /// (starting with `admin::REASON_PREFIX`; a save keeps it, only an enable clears it).
    pub disabled_reason: Option<String>,
    /// The team it was added in: the tenant and group of the first connector webhook URL it
    /// had. Kept when it moves to a Workflows URL (which names no team), so no sequence of
    /// moves takes it to another team's webhook. A row stored before this was kept has it
    /// from its current URL when read, and keeps that from its next save on.
    pub team: Option<Team>,
    /// The keyed hash of the connection's edit key; `None` for a connection stored before
    /// edit keys existed (it gets one at its next save).
    pub edit_key_hash: Option<EditKeyHash>,
    pub user_object_id: Option<String>,
    /// The sending service's account it gets events for (builds with `[account]`), and who
    /// linked it.
    pub account: Option<ConnectionAccount>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// A Teams team: its tenant and its group (both lower case, as in [`WebhookIdentity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub tenant: String,
    pub group: String,
}

impl Team {
    /// The team a connector webhook URL posts to.
    pub fn of(id: &WebhookIdentity) -> Team {
        Team {
            tenant: id.tenant.clone(),
            group: id.group.clone(),
        }
    }

    /// The stored columns (`team_tenant`, `team_group`), or else the team of `url`.
    pub(crate) fn stored_or_of(
        tenant: Option<String>,
        group: Option<String>,
        url: &WebhookUrl,
    ) -> Option<Team> {
        match (tenant, group) {
            (Some(tenant), Some(group)) => Some(Team { tenant, group }),
            _ => url.identity().map(Team::of),
        }
    }
}

/// Which connections an operator looks for (the admin API): every filter is optional, and
/// the answer is ordered by entity id, from after `after` on, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub struct ConnectionQuery {
    /// The tenant of its sign-in or of its team (lower case).
    pub tenant: Option<String>,
    /// The group id of its team (lower case).
    pub team: Option<String>,
    pub account: Option<String>,
    /// Part of its name (`config_name`), in any case.
    pub name: Option<String>,
    /// Its webhook's kind, as `WebhookKind::name` writes it.
    pub kind: Option<String>,
    /// Disabled (`Some(true)`) or enabled (`Some(false)`) only.
    pub disabled: Option<bool>,
    /// The entity id the previous page ended with.
    pub after: Option<String>,
    pub limit: usize,
}

pub use connector_settings::admin::{
    Attempt, AuditEntry, DeliveryDetail, DeliveryRow, DeliveryStats, MinuteCounts,
};

/// The attempt log's counts per minute and outcome (`$1`: from when), read from its index
/// on `(at_ms, outcome)` alone.
pub(crate) const MINUTES: &str = "SELECT at_ms / 60000 * 60000 AS minute, outcome, count(*)
    FROM delivery_attempts WHERE at_ms >= $1 GROUP BY minute, outcome ORDER BY minute";

/// Deliveries due now and the oldest due time (`$1`: now), from the index of due rows.
pub(crate) const DUE: &str = "SELECT count(*), min(next_at) FROM deliveries
    WHERE status = 'pending' AND next_at <= $1 AND claimed_until <= $1";

/// Per-minute rows `(minute, outcome, count)`, in minute order, as [`MinuteCounts`].
pub(crate) fn minutes_of(rows: Vec<(i64, String, i64)>) -> Vec<MinuteCounts> {
    let mut out: Vec<MinuteCounts> = Vec::new();
    for (minute, outcome, n) in rows {
        if out.last().is_none_or(|m| m.minute != minute) {
            out.push(MinuteCounts {
                minute,
                delivered: 0,
                retried: 0,
                dead: 0,
            });
        }
        let m = out.last_mut().expect("pushed above");
        let n = n as u64;
        match outcome.as_str() {
            "delivered" => m.delivered += n,
            "retried" => m.retried += n,
            _ => m.dead += n,
        }
    }
    out
}

/// Where the app's bot is, as Teams told it on install: a team (or group chat) and how to
/// reach it (its conversation reference), kept until the bot is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotInstall {
    /// Lower case.
    pub tenant_id: String,
    /// `channelData.team.id` (`19:…@thread.tacv2`, the General channel's id), or a group
    /// chat's conversation id.
    pub team_id: String,
    /// `team` or `groupChat`.
    pub scope: String,
    /// The team's Microsoft 365 group (lower case), when Teams sent it.
    pub aad_group_id: Option<String>,
    /// Where posts to it go (checked against the allowed Bot Framework hosts).
    pub service_url: String,
    /// The conversation the install event came from.
    pub conversation_id: String,
    /// The bot's id in Teams (`28:<app id>`).
    pub bot_id: String,
    /// Channel conversation ids it may post to, ordered; saving adds to them.
    pub channels: Vec<String>,
    /// RFC 3339; saving again keeps the first `installed_at`.
    pub installed_at: String,
    pub updated_at: String,
}

/// What an upsert did.
#[derive(Debug)]
pub enum Upsert {
    Created(Record),
    Updated(Record),
    /// The id exists with another webhook URL: nothing changed.
    OtherWebhook,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(String),
}

/// The gauges in one statement (`$1`: now in unix milliseconds). Due means pending, its
/// time come and no claim on it.
pub(crate) const GAUGES: &str = "SELECT
    (SELECT count(*) FROM deliveries WHERE status = 'pending'),
    (SELECT count(*) FROM deliveries WHERE status = 'pending' AND next_at <= $1 AND claimed_until <= $1),
    (SELECT min(next_at) FROM deliveries WHERE status = 'pending' AND next_at <= $1 AND claimed_until <= $1),
    (SELECT count(*) FROM deliveries WHERE status = 'dead'),
    (SELECT count(*) FROM connections WHERE disabled_reason IS NOT NULL)";

/// The search of `query` as SQL after `select` (which ends with `FROM connections`), with its
/// string parameters in order; `placeholder(n)` writes the n-th (from 1). Only the filters
/// given are in the WHERE clause, so each can use its index. `find` is how the database
/// finds a part of the name: `instr` (SQLite: `instr(haystack, needle) > 0`) or `like`
/// (PostgreSQL: `LIKE '%needle%'`, which its trigram index answers when `pg_trgm` is there).
///
/// The page's entity ids are found first, from the indexes alone (each filter's column with
/// `entity_id`, in its order: no sort and no row read for what does not match; a name is
/// matched on the `(entity_id, config_name)` index), and only the page's rows are read.
pub(crate) fn search_sql(
    select: &str,
    find: &str,
    query: &ConnectionQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let next = |value: &str, params: &mut Vec<String>| {
        params.push(value.to_string());
        placeholder(params.len())
    };
    if let Some(tenant) = &query.tenant {
        let p = next(tenant, &mut params);
        clauses.push(format!("(tenant_id = {p} OR team_tenant = {p})"));
    }
    if let Some(team) = &query.team {
        clauses.push(format!("team_group = {}", next(team, &mut params)));
    }
    if let Some(account) = &query.account {
        clauses.push(format!("account = {}", next(account, &mut params)));
    }
    if let Some(name) = &query.name {
        let needle = name.to_lowercase();
        if find == "like" {
            let escaped = needle
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = next(&format!("%{escaped}%"), &mut params);
            clauses.push(format!("lower(config_name) LIKE {p} ESCAPE '\\'"));
        } else {
            let p = next(&needle, &mut params);
            clauses.push(format!("{find}(lower(config_name), {p}) > 0"));
        }
    }
    if let Some(kind) = &query.kind {
        clauses.push(format!("webhook_kind = {}", next(kind, &mut params)));
    }
    match query.disabled {
        Some(true) => clauses.push("disabled_reason IS NOT NULL".into()),
        Some(false) => clauses.push("disabled_reason IS NULL".into()),
        None => {}
    }
    if let Some(after) = &query.after {
        clauses.push(format!("entity_id > {}", next(after, &mut params)));
    }
    let mut page = "SELECT entity_id FROM connections".to_string();
    if !clauses.is_empty() {
        page.push_str(" WHERE ");
        page.push_str(&clauses.join(" AND "));
    }
    page.push_str(&format!(" ORDER BY entity_id LIMIT {}", query.limit));
    let sql = format!("{select} WHERE entity_id IN ({page}) ORDER BY entity_id");
    (sql, params)
}

pub(crate) fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The stored account columns as the record's account (none without an account id).
pub(crate) fn account_of(
    account: Option<String>,
    name: Option<String>,
    linked_by: Option<String>,
) -> Option<ConnectionAccount> {
    account.map(|account| ConnectionAccount {
        name: name.unwrap_or_else(|| account.clone()),
        account,
        linked_by,
    })
}

/// A stored keyed hash, which must be 32 bytes.
pub(crate) fn hash32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| db("stored hash is not 32 bytes"))
}

/// What connections need: create or update, read, delete, and the start-up key check.
#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
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
    /// The check value kept under `name`; `check` is kept first when there is none yet, so
    /// the first instance to start decides and every later one is compared with it.
    async fn key_check(&self, name: &str, check: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Seals every webhook URL sealed with an older key again with the current one (after a
    /// key rotation); a value whose key is missing is an error, not a loss. Returns how many.
    async fn reseal(&self) -> Result<usize, StoreError>;
    /// Stores the webhook kind (in the clear, for claims) of connections saved before it was
    /// kept, from their opened URLs. Returns how many.
    async fn fill_webhook_kinds(&self) -> Result<usize, StoreError>;
    /// Connections matching `query` (the admin API's search), by entity id.
    async fn search(&self, query: ConnectionQuery) -> Result<Vec<Record>, StoreError>;
    /// Disables the connection with `reason`, or enables it (`None`), writing `audit` to the
    /// audit log in the same transaction; `false` (and nothing written) when there is none.
    async fn set_disabled(
        &self,
        id: &EntityId,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError>;
    /// The audit log, newest first: entries with ids below `before` (all without), at most
    /// `limit`.
    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Keeps where the app's bot is: a new team's reference, or the stored one refreshed
    /// (service URL, conversation, bot id, group id when given), with `install.channels` added
    /// to its channels, in one transaction.
    async fn save_bot_install(&self, install: BotInstall) -> Result<(), StoreError>;
    /// Forgets the team's reference and its channels; whether there was one.
    async fn remove_bot_install(&self, tenant: &str, team: &str) -> Result<bool, StoreError>;
    /// Adds a channel to a team the bot is in; `false` (nothing stored) when it is not.
    async fn add_bot_channel(
        &self,
        tenant: &str,
        team: &str,
        channel: &str,
    ) -> Result<bool, StoreError>;
    /// Removes a channel of a team; whether it was kept.
    async fn remove_bot_channel(
        &self,
        tenant: &str,
        team: &str,
        channel: &str,
    ) -> Result<bool, StoreError>;
    /// The team's reference with its channels, if the bot is in it.
    async fn bot_install(&self, tenant: &str, team: &str)
        -> Result<Option<BotInstall>, StoreError>;
    /// Deletes the connection with its deliveries (as [`ConnectionStore::delete`]), writing
    /// `audit` in the same transaction: how many of them were pending, `None` (and nothing
    /// written) when there is no such connection.
    async fn delete_audited(
        &self,
        id: &EntityId,
        audit: AuditEntry,
    ) -> Result<Option<u64>, StoreError>;
    /// Writes `audit` to the audit log (an action that changes nothing stored, such as a test
    /// card).
    async fn write_audit(&self, audit: AuditEntry) -> Result<(), StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Whether the schema is the one this binary knows: `Some(why not)` when it is behind
    /// (not migrated) or ahead (migrated by a newer version).
    async fn schema_problem(&self) -> Result<Option<String>, StoreError>;
}

/// What an operator watches, read from the store (the metrics' gauges).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub pending: u64,
    /// Pending and due now (not waiting for a retry or a rate window).
    pub due: u64,
    /// When the oldest due delivery fell due (unix milliseconds).
    pub oldest_due_ms: Option<i64>,
    pub dead: u64,
    pub disabled_connections: u64,
    /// Database connections busy at the time of reading (SQLite: its one connection).
    pub pool_in_use: u64,
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

/// A delivery claimed by a worker, with the fencing token of this claim.
#[derive(Debug, Clone)]
pub struct Due {
    pub delivery_id: i64,
    /// Finishing counts only with this token: a later claim of the same row gets another.
    pub token: i64,
    pub event_id: String,
    pub entity_id: String,
    pub webhook_url: WebhookUrl,
    pub settings: Values,
    pub event: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The connection's tenant (known from single sign-on): a flow that takes only
    /// signed-in callers gets a token of it.
    pub tenant_id: Option<String>,
}

/// What one claim did.
#[derive(Debug, Default)]
pub struct Claimed {
    /// Claimed, each with its webhook's rate-window slot reserved for now: post at once.
    pub due: Vec<Due>,
    /// Over a rate window: moved to when the window allows.
    pub postponed: usize,
    /// The same by the window that held them, in `rate_windows::NAMES` order.
    pub postponed_by_window: [usize; crate::domain::rate_windows::NAMES.len()],
    /// Their webhook was being reserved by another claim: left for the next one.
    pub busy: usize,
    /// The earliest time a pending delivery falls due after now, if any.
    pub next_due_ms: Option<i64>,
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
    Dead {
        error: String,
    },
    /// The webhook is gone: the delivery is dead and the connection disabled.
    Disable {
        error: String,
    },
}

/// One attempt's outcome, for the claim that made it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub delivery_id: i64,
    pub token: i64,
    pub outcome: Outcome,
    /// The HTTP status the webhook answered with; none when no answer came.
    pub code: Option<u16>,
}

impl Outcome {
    /// The outcome as the attempt log keeps it: `delivered`, `retried` or `dead`.
    pub fn attempt_name(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retried",
            Outcome::Dead { .. } | Outcome::Disable { .. } => "dead",
        }
    }

    /// The error an attempt ended with, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Delivered => None,
            Outcome::Retry { error, .. } | Outcome::Dead { error } | Outcome::Disable { error } => {
                Some(error)
            }
        }
    }
}

/// A dead delivery, for people deciding whether to replay it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadDelivery {
    pub delivery_id: i64,
    pub event_id: String,
    pub entity_id: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub dead_at: i64,
}

/// Which deliveries an operator looks at (the admin API): every filter optional, newest
/// first, from below `before` on, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub entity_id: Option<String>,
    pub event_id: Option<String>,
    /// `pending`, `delivered` or `dead`.
    pub status: Option<String>,
    /// Made (its event accepted) at or after this time (unix milliseconds).
    pub since: Option<i64>,
    /// Made before this time.
    pub until: Option<i64>,
    /// The delivery id the previous page ended with.
    pub before: Option<i64>,
    pub limit: usize,
}

/// The SQL of `query` after `select` (which ends with `FROM deliveries`), with its string
/// parameters; as [`search_sql`].
pub(crate) fn deliveries_sql(
    select: &str,
    query: &DeliveryQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    for (column, value) in [
        ("entity_id", &query.entity_id),
        ("event_id", &query.event_id),
        ("status", &query.status),
    ] {
        if let Some(v) = value {
            params.push(v.clone());
            clauses.push(format!("{column} = {}", placeholder(params.len())));
        }
    }
    if let Some(before) = query.before {
        // A number, written as one.
        clauses.push(format!("id < {before}"));
    }
    // A delivery is made with its event, in one transaction: its time is the event's
    // (found by the index on `events.received_ms`, then each event's deliveries by theirs).
    let made = match (query.since, query.until) {
        (None, None) => None,
        (Some(since), None) => Some(format!("received_ms >= {since}")),
        (None, Some(until)) => Some(format!("received_ms < {until}")),
        (Some(since), Some(until)) => {
            Some(format!("received_ms >= {since} AND received_ms < {until}"))
        }
    };
    if let Some(made) = made {
        clauses.push(format!("event_id IN (SELECT id FROM events WHERE {made})"));
    }
    let mut sql = select.to_string();
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", query.limit));
    (sql, params)
}

/// The columns of a [`DeliveryRow`], in its order.
pub(crate) const DELIVERY_COLUMNS: &str = "SELECT id, event_id, entity_id, status, attempts,
    next_at, last_error, delivered_at, dead_at,
    (SELECT e.received_ms FROM events e WHERE e.id = deliveries.event_id) FROM deliveries";

/// Which dead deliveries to replay: those matching every filter given (every dead one
/// without any).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Died at or after this time (unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_since: Option<i64>,
    /// Died before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_until: Option<i64>,
}

impl Replay {
    pub fn one(delivery_id: i64) -> Replay {
        Replay {
            delivery_id: Some(delivery_id),
            ..Replay::default()
        }
    }

    /// `status = 'dead' AND` the filters, as SQL with its string parameters (numbers are
    /// written as numbers); as [`search_sql`].
    pub(crate) fn sql(&self, placeholder: impl Fn(usize) -> String) -> (String, Vec<String>) {
        let mut clauses = vec!["status = 'dead'".to_string()];
        let mut params = Vec::new();
        for (column, value) in [("entity_id", &self.entity_id), ("event_id", &self.event_id)] {
            if let Some(v) = value {
                params.push(v.clone());
                clauses.push(format!("{column} = {}", placeholder(params.len())));
            }
        }
        if let Some(id) = self.delivery_id {
            clauses.push(format!("id = {id}"));
        }
        // Rows an older version killed have no time: as if they died at 0.
        if let Some(since) = self.dead_since {
            clauses.push(format!("coalesce(dead_at, 0) >= {since}"));
        }
        if let Some(until) = self.dead_until {
            clauses.push(format!("coalesce(dead_at, 0) < {until}"));
        }
        (clauses.join(" AND "), params)
    }
}

/// Which deliveries of a replay's may go again: those of enabled connections.
pub(crate) const REPLAYABLE: &str =
    "entity_id IN (SELECT entity_id FROM connections WHERE disabled_reason IS NULL)";

/// What a replay did (or, on a dry run, found).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Dead deliveries matching the filter.
    pub matched: u64,
    /// Of those, the ones whose connection is disabled or deleted: they stay dead.
    pub held: u64,
    /// Made pending again (none on a dry run).
    pub replayed: u64,
}

impl Replayed {
    /// The audit entry's detail: the filter and the counts, as JSON.
    pub(crate) fn detail(&self, which: &Replay) -> String {
        serde_json::json!({
            "filter": which,
            "matched": self.matched,
            "held": self.held,
            "replayed": self.replayed,
        })
        .to_string()
    }
}

/// What pruning removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub events: u64,
}

/// Wakes an instance's delivery workers: new deliveries were stored.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Waits for the next wake-up (one that came while nobody waited counts too).
    pub async fn woken(&self) {
        self.0.notified().await
    }
}

/// What the outbox needs: events and their deliveries, claimed by workers of any instance.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Stores the event and one delivery per enabled connection that receives `topic`; a known event id
    /// stores nothing and says so. Wakes every instance's workers. With `account` (builds
    /// with `[account]`) only connections linked to that account receive it.
    async fn accept_event(
        &self,
        event: NewEvent,
        topic: Topic,
        account: Option<String>,
        now_ms: i64,
    ) -> Result<Accepted, StoreError>;
    /// Stores `event` with one delivery, to `entity_id` only (the test card).
    async fn enqueue_one(
        &self,
        event: NewEvent,
        entity_id: &EntityId,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` due deliveries for `lease_ms`, each with a new fencing token,
    /// reserving each one's rate-window slot in the same transaction. Deliveries over a
    /// window are postponed; those of a webhook another claim is reserving are skipped.
    /// Each webhook's windows are `limits`' for its stored kind.
    async fn claim(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        limits: &Limits,
    ) -> Result<Claimed, StoreError>;
    /// Reserves a post now in every one of `rows` (a window row's key, e.g. a webhook hash,
    /// and the windows it keeps), in one transaction: in all of them or in none. Waits for a
    /// row a claim is reserving (claims are short).
    async fn reserve(
        &self,
        rows: Vec<(Vec<u8>, Windows)>,
        now_ms: i64,
    ) -> Result<Reservation, StoreError>;
    /// Records outcomes, each with its attempt in the attempt log (at `now_ms`), in one
    /// transaction. An outcome whose token is no longer current (its lease ran out and
    /// the row was claimed again) changes nothing; their delivery ids are returned.
    async fn finish(&self, batch: Vec<Finish>, now_ms: i64) -> Result<Vec<i64>, StoreError>;
    /// Returns claims `(delivery id, token)` not started, due at once for any instance.
    async fn hand_back(&self, claims: Vec<(i64, i64)>) -> Result<usize, StoreError>;
    /// Counts for the connection, or for one event to it.
    async fn delivery_status(
        &self,
        id: &EntityId,
        event_id: Option<String>,
    ) -> Result<DeliveryStatus, StoreError>;
    /// Dead deliveries that died at or after `since_ms`, oldest first.
    async fn dead(&self, since_ms: i64, limit: usize) -> Result<Vec<DeadDelivery>, StoreError>;
    /// Deliveries matching `query` (the admin API), newest first.
    async fn deliveries(&self, query: DeliveryQuery) -> Result<Vec<DeliveryRow>, StoreError>;
    /// One delivery with every attempt made at it, oldest first; `None` when there is none.
    async fn delivery(&self, id: i64) -> Result<Option<DeliveryDetail>, StoreError>;
    /// Makes the dead deliveries `which` matches pending again (due at `now_ms`), with their
    /// attempt counts reset (their attempt log is kept); those of disabled or deleted
    /// connections stay dead. With `dry_run` only counts. Otherwise writes `audit` (when
    /// given) in the same transaction, its detail set to the filter and the counts.
    async fn replay(
        &self,
        which: Replay,
        now_ms: i64,
        dry_run: bool,
        audit: Option<AuditEntry>,
    ) -> Result<Replayed, StoreError>;
    /// Deletes delivered deliveries delivered before `before_ms`, events nothing refers to
    /// any more, and rate-window rows with no post a window still counts at `now_ms` (those
    /// of deleted connections and of test cards included: Teams counts their posts for a
    /// day all the same). `None` when another instance is pruning right now.
    async fn prune(&self, before_ms: i64, now_ms: i64) -> Result<Option<Pruned>, StoreError>;
    /// Calls `wake` whenever another instance stored deliveries (until the process ends).
    async fn listen(&self, wake: Wake) -> Result<(), StoreError>;
    /// Counts for the gauges, as of `now_ms`.
    async fn gauges(&self, now_ms: i64) -> Result<Gauges, StoreError>;
    /// Attempts per minute by outcome from `since_ms` on (only minutes with one, oldest
    /// first), and the deliveries due at `now_ms` with the oldest one's due time.
    async fn stats(&self, since_ms: i64, now_ms: i64) -> Result<DeliveryStats, StoreError>;
}
