//! The embedded default: one SQLite file in WAL mode, migrated at start, owned by one
//! process. Connections and the outbox share its single connection, on its own thread.

mod connections;
mod outbox;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{db, StoreError, Stores};
use crate::domain::Keyring;

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
    // Fencing tokens, dead-letter times, rate windows kept in the database (by webhook hash),
    // and the key checks.
    "ALTER TABLE deliveries ADD COLUMN claim_token INTEGER;
    ALTER TABLE deliveries ADD COLUMN dead_at INTEGER;
    ALTER TABLE events ADD COLUMN received_ms INTEGER;
    CREATE INDEX deliveries_dead ON deliveries (status, dead_at);
    CREATE INDEX deliveries_delivered ON deliveries (status, delivered_at);
    CREATE TABLE webhook_windows (hash BLOB PRIMARY KEY, posts TEXT NOT NULL DEFAULT '');
    CREATE TABLE key_checks (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
    // A version raised by every change of which connections an event can match, so each
    // process can keep the enabled connections' settings (store/subscribers.rs).
    "CREATE TABLE connections_version (v INTEGER NOT NULL);
    INSERT INTO connections_version VALUES (0);
    CREATE TRIGGER connections_version_insert AFTER INSERT ON connections
        BEGIN UPDATE connections_version SET v = v + 1; END;
    CREATE TRIGGER connections_version_delete AFTER DELETE ON connections
        BEGIN UPDATE connections_version SET v = v + 1; END;
    CREATE TRIGGER connections_version_update
        AFTER UPDATE OF entity_id, settings, disabled_reason ON connections
        BEGIN UPDATE connections_version SET v = v + 1; END;",
    // The team (tenant and group) a connection was added in, kept across moves to Workflows
    // URLs; NULL for older rows until their next save (read from the URL meanwhile).
    "ALTER TABLE connections ADD COLUMN team_tenant TEXT;
    ALTER TABLE connections ADD COLUMN team_group TEXT;",
    // The webhook's kind (`WebhookKind::name`), in the clear so a claim knows its rate
    // windows without opening the sealed URL. NULL for older rows until start-up fills it in.
    "ALTER TABLE connections ADD COLUMN webhook_kind TEXT;",
    // The sending service's account a connection gets events for (builds with `[account]`),
    // its name as shown, and the Teams user who linked it. A change of account changes which
    // events a connection matches, so it raises the version too.
    "ALTER TABLE connections ADD COLUMN account TEXT;
    ALTER TABLE connections ADD COLUMN account_name TEXT;
    ALTER TABLE connections ADD COLUMN linked_by TEXT;
    CREATE INDEX connections_account ON connections (account);
    DROP TRIGGER connections_version_update;
    CREATE TRIGGER connections_version_update
        AFTER UPDATE OF entity_id, settings, disabled_reason, account ON connections
        BEGIN UPDATE connections_version SET v = v + 1; END;",
    // The admin API: its searches by tenant, team and kind, and its audit log.
    "CREATE INDEX connections_tenant ON connections (tenant_id);
    CREATE INDEX connections_team_tenant ON connections (team_tenant);
    CREATE INDEX connections_team_group ON connections (team_group);
    CREATE INDEX connections_kind ON connections (webhook_kind);
    CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT
    );",
    // Every attempt at a delivery (the admin API's history and its per-minute chart), gone
    // with its delivery (pruned, or its connection deleted).
    "CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        code INTEGER,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retried', 'dead')),
        error TEXT
    );
    CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
    CREATE INDEX delivery_attempts_at ON delivery_attempts (at_ms, outcome);
    CREATE TRIGGER delivery_attempts_gone AFTER DELETE ON deliveries
        BEGIN DELETE FROM delivery_attempts WHERE delivery_id = old.id; END;",
    // The admin API's deliveries by the time they were made (their event's).
    "CREATE INDEX events_received ON events (received_ms);",
    // The admin API's search over many connections: each filter's column with entity_id,
    // so a page is read in entity id order from the index alone (no sort of every match);
    // the names beside the ids, so a name is matched without reading rows; the disabled
    // ones by themselves.
    "CREATE INDEX connections_tenant_id ON connections (tenant_id, entity_id);
    CREATE INDEX connections_team_tenant_id ON connections (team_tenant, entity_id);
    CREATE INDEX connections_team_group_id ON connections (team_group, entity_id);
    CREATE INDEX connections_kind_id ON connections (webhook_kind, entity_id);
    CREATE INDEX connections_account_id ON connections (account, entity_id);
    CREATE INDEX connections_name ON connections (entity_id, config_name);
    CREATE INDEX connections_disabled ON connections (entity_id) WHERE disabled_reason IS NOT NULL;
    DROP INDEX connections_tenant;
    DROP INDEX connections_team_tenant;
    DROP INDEX connections_team_group;
    DROP INDEX connections_kind;
    DROP INDEX connections_account;",
    // Where the app's bot is: each team's (or group chat's) conversation reference from its
    // install event, and the channels it may post to.
    "CREATE TABLE bot_installs (
        tenant_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        aad_group_id TEXT,
        service_url TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        bot_id TEXT NOT NULL,
        installed_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, team_id)
    );
    CREATE INDEX bot_installs_group ON bot_installs (aad_group_id);
    CREATE TABLE bot_channels (
        tenant_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, team_id, channel_id)
    );",
];

/// What runs on the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The one connection, owned by its own thread and shared by both halves: work is sent to
/// it and its answer awaited, so no request thread blocks on SQLite or waits for a lock.
#[derive(Clone)]
pub(super) struct Db {
    jobs: mpsc::Sender<Job>,
    /// Whether the thread is running a job now.
    busy: Arc<AtomicBool>,
    /// Tests only: how long a connection save waits inside its transaction.
    pub(super) stall: Option<Duration>,
}

/// Set when the caller stops waiting (a request past its deadline drops its future).
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Db {
    /// Starts the connection's thread; it ends when the last `Db` is dropped.
    fn start(mut conn: Connection, stall: Option<Duration>) -> std::io::Result<Db> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let busy = Arc::new(AtomicBool::new(false));
        let working = busy.clone();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                for job in queue {
                    working.store(true, Ordering::Relaxed);
                    job(&mut conn);
                    working.store(false, Ordering::Relaxed);
                }
            })?;
        Ok(Db { jobs, busy, stall })
    }

    /// Runs `f` on the connection's thread. Work cannot be stopped once begun, so a caller
    /// who gave up (a request past its deadline) has its commit turned into a rollback by
    /// SQLite's commit hook: an abandoned write leaves nothing. A panic in `f` is an error
    /// of this call only.
    pub(super) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let abandoned = Arc::new(AtomicBool::new(false));
        let _guard = AbandonOnDrop(abandoned.clone());
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            if abandoned.load(Ordering::SeqCst) {
                let _ = reply.send(Err(db("abandoned before it began")));
                return;
            }
            conn.commit_hook(Some(move || abandoned.load(Ordering::SeqCst)));
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(db("the database work panicked")));
            conn.commit_hook(None::<fn() -> bool>);
            let _ = reply.send(result);
        });
        let stopped = || db("the database thread has stopped");
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Whether the one connection is busy now (the gauge of pool connections in use).
    pub(super) fn in_use(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

/// Why the schema at `version` is not this binary's, if it is not.
pub(super) fn schema_problem(version: usize) -> Option<String> {
    let known = MIGRATIONS.len();
    if version > known {
        return Some(format!(
            "the database schema is at version {version}, ahead of this server's version {known}: a newer version migrated it; run that version here too"
        ));
    }
    (version != known).then(|| {
        format!("the database schema is at version {version}; this server needs version {known}")
    })
}

/// Opens (creating if needed) and migrates the database at `path`; as its `owner` (the
/// server), claims a previous run left are void.
pub(super) fn open(
    path: &Path,
    keys: Keyring,
    owner: bool,
    stall: Option<Duration>,
) -> anyhow::Result<Stores> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Every statement the server runs stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(64);
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        // Migrated by a newer version: this one would misread it.
        anyhow::bail!(schema_problem(version).unwrap_or_default());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    if owner {
        // One process owns an SQLite file: claims left by a previous run (a crash) are void.
        conn.execute(
            "UPDATE deliveries SET claimed_until = 0, claim_token = NULL WHERE status = 'pending'",
            [],
        )?;
    }
    let last_token: i64 = conn.query_row(
        "SELECT coalesce(max(claim_token), 0) FROM deliveries",
        [],
        |r| r.get(0),
    )?;
    let db = Db::start(conn, stall)?;
    Ok(Stores {
        connections: Arc::new(connections::SqliteConnections::new(
            db.clone(),
            keys.clone(),
        )),
        outbox: Arc::new(outbox::SqliteOutbox::new(db, keys, last_token)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_one_call_fails_that_call_only() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
        let store = Db::start(conn, None).unwrap();
        let failed = store
            .with(|_| -> Result<(), StoreError> { panic!("on purpose") })
            .await;
        assert!(failed.unwrap_err().to_string().contains("panicked"));
        let next = store
            .with(|c| {
                c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))
                    .map_err(db)
            })
            .await;
        assert_eq!(next.unwrap(), 42, "the connection's thread goes on");
    }

    #[tokio::test]
    async fn work_given_up_before_its_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
        let store = Db::start(conn, None).unwrap();
        store
            .with(|c| c.execute_batch("CREATE TABLE t (x INTEGER)").map_err(db))
            .await
            .unwrap();
        let (started, inside) = std::sync::mpsc::channel();
        let (go_on, wait) = std::sync::mpsc::channel::<()>();
        let call = store.with(move |c| {
            let tx = c.transaction().map_err(db)?;
            tx.execute("INSERT INTO t VALUES (1)", []).map_err(db)?;
            started.send(()).unwrap();
            wait.recv().unwrap();
            tx.commit().map_err(db)
        });
        // The caller gives up while the work is inside its transaction.
        let mut call = Box::pin(call);
        assert!(futures_util::poll!(&mut call).is_pending());
        inside.recv().unwrap();
        drop(call);
        go_on.send(()).unwrap();
        let rows = store
            .with(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                    .map_err(db)
            })
            .await
            .unwrap();
        assert_eq!(rows, 0, "the abandoned commit was rolled back");
    }
}
