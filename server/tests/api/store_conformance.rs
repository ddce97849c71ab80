//! The store conformance suite: every behaviour the application relies on, written once
//! against the `ConnectionStore` and `Outbox` traits and run unchanged on SQLite and on a
//! real PostgreSQL.

use std::collections::HashSet;

use connector_server::domain::rate_windows::{Limits, Windows};
use connector_server::domain::{EditKeyHash, HashKey, Keyring, WebhookPolicy, WebhookUrl};
use connector_server::store::{
    self, AuditEntry, BotInstall, ConnectionQuery, Database, DeliveryQuery, Finish, NewEvent,
    Outcome, Record, Replay, Stores, Team, Upsert,
};
use connector_settings::{EntityId, Topic, Value, Values};

use crate::helpers::TestDatabase;

/// A store under test: how to open it again (with other keys), and what keeps it alive.
pub struct Subject {
    db: Database,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<TestDatabase>,
}

const K1: &str = "k1:1111111111111111111111111111111111111111111111111111111111111111";
const K2: &str = "k2:2222222222222222222222222222222222222222222222222222222222222222";

impl Subject {
    fn sqlite() -> Subject {
        let dir = tempfile::tempdir().unwrap();
        Subject {
            db: Database::Sqlite(dir.path().join("t.sqlite")),
            _dir: Some(dir),
            _pg: None,
        }
    }

    fn postgres(pg: TestDatabase) -> Subject {
        Subject {
            db: Database::Postgres {
                url: pg.url.clone(),
                pool: 8,
            },
            _dir: None,
            _pg: Some(pg),
        }
    }

    async fn open_with(&self, ring: &str) -> Stores {
        store::open(&self.db, Keyring::parse(ring).unwrap())
            .await
            .unwrap()
    }

    async fn open(&self) -> Stores {
        self.open_with(K1).await
    }

    /// Runs `sql` on the database beside the stores (to make what only an older version
    /// leaves) and returns how many rows it changed.
    async fn execute(&self, sql: &str) -> u64 {
        match &self.db {
            Database::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .execute(sql, [])
                .unwrap() as u64,
            Database::Postgres { url, .. } => {
                use sqlx::{Connection, Executor};
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                conn.execute(sql).await.unwrap().rows_affected()
            }
        }
    }

    /// The number `sql` (a count) answers.
    async fn count(&self, sql: &str) -> i64 {
        match &self.db {
            Database::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Database::Postgres { url, .. } => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// The webhook kinds stored, by entity id.
    async fn kinds(&self) -> Vec<(String, Option<String>)> {
        let sql = "SELECT entity_id, webhook_kind FROM connections ORDER BY entity_id";
        match &self.db {
            Database::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut q = conn.prepare(sql).unwrap();
                q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Database::Postgres { url, .. } => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Subject::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let pg = crate::postgres_or_skip!();
                    super::$name(&super::Subject::postgres(pg)).await;
                }
            )*
        }
    };
}

conformance!(
    a_connection_is_created_updated_read_and_deleted,
    another_webhook_cannot_take_an_entity_id,
    an_edit_key_hash_is_set_where_none_is_stored_and_then_kept,
    a_connection_moves_to_another_webhook_only_from_the_one_it_had,
    the_team_a_connection_was_added_in_is_kept_across_moves,
    concurrent_upserts_of_one_id_create_one_connection,
    key_checks_keep_the_first_value,
    values_sealed_with_an_old_key_are_sealed_again_with_the_current_one,
    an_event_is_accepted_once_with_one_delivery_per_matching_enabled_connection,
    concurrent_claims_are_disjoint_and_each_has_its_own_token,
    an_expired_lease_returns_the_row_and_a_stale_token_changes_nothing,
    a_handed_back_claim_is_due_at_once,
    rate_windows_count_per_webhook_not_per_connection,
    each_webhook_kind_is_stored_and_claimed_with_its_own_windows,
    kinds_of_rows_an_older_version_saved_are_filled_in_from_their_urls,
    a_reservation_takes_a_slot_in_the_webhooks_windows_and_in_every_row_or_none,
    each_outcome_is_recorded,
    a_gone_webhook_disables_its_connection_and_kills_what_it_had_pending,
    a_deleted_connections_deliveries_go_with_it_and_never_reach_a_new_owner,
    dead_deliveries_are_listed_and_replayed,
    pruning_removes_delivered_rows_past_the_retention_only,
    gauges_count_pending_due_oldest_dead_and_disabled,
    the_schema_is_current_after_opening,
    a_schema_a_newer_version_migrated_is_named_and_not_opened,
    each_event_matches_the_connections_as_they_are_now_whoever_changed_them,
    the_account_is_stored_and_an_addressed_event_reaches_only_its_connections,
    connections_are_searched_by_tenant_team_account_name_kind_and_state_in_pages,
    disabling_and_enabling_is_audited_and_the_log_is_read_newest_first,
    deliveries_are_listed_by_connection_event_and_state_newest_first_in_pages,
    a_save_keeps_an_operators_disable_and_clears_every_other_reason,
    an_audited_delete_drops_the_deliveries_and_logs_it_in_one_go,
    every_attempt_is_logged_with_its_code_and_goes_with_its_delivery,
    deliveries_are_found_by_when_they_were_made,
    a_filtered_replay_counts_first_then_replays_and_is_audited,
    stats_count_attempts_per_minute_by_outcome_and_what_is_due,
    where_the_bot_is_is_kept_refreshed_and_forgotten_with_its_channels,
    the_bots_limits_per_thread_hold_across_instances,
);

const NOW: i64 = 1_750_000_000_000;
const LEASE: i64 = 90_000;

/// The default windows per webhook kind.
fn limits() -> Limits {
    Limits::default()
}

fn hash_key() -> HashKey {
    HashKey::from_hex(&"ab".repeat(32)).unwrap()
}

fn webhook(n: &str) -> WebhookUrl {
    let policy = WebhookPolicy::new(&["*.webhook.office.com".to_string()], None).unwrap();
    WebhookUrl::parse(
        &format!("https://contoso.webhook.office.com/webhookb2/{n}@t/IncomingWebhook/x/u"),
        &policy,
    )
    .unwrap()
}

/// A Workflows webhook URL (today's shape, signed).
fn flow(n: &str) -> WebhookUrl {
    let policy = WebhookPolicy::new(&["*.api.powerplatform.com".to_string()], None).unwrap();
    WebhookUrl::parse(
        &format!("https://default0a.1b.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/{n}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s{n}"),
        &policy,
    )
    .unwrap()
}

/// [`record`] to the Workflows webhook `hook`.
fn flow_record(id: &str, hook: &str) -> Record {
    let url = flow(hook);
    Record {
        webhook_hash: hash_key().hash(&url),
        webhook_url: url,
        ..record(id, hook, "")
    }
}

fn settings(project: &str) -> Values {
    Values::from([
        (
            "subscription_name".into(),
            Value::Text("Nightly builds".into()),
        ),
        ("events".into(), Value::List(vec!["build_failed".into()])),
        ("filter".into(), Value::Text(project.into())),
    ])
}

fn record(id: &str, hook: &str, project: &str) -> Record {
    let url = webhook(hook);
    Record {
        entity_id: EntityId::parse(id).unwrap(),
        team: url.identity().map(Team::of),
        webhook_hash: hash_key().hash(&url),
        webhook_url: url,
        config_name: "Nightly builds".into(),
        settings: settings(project),
        app_type: Some("Connector".into()),
        tenant_id: Some("t1".into()),
        owner_oid: None,
        disabled_reason: None,
        edit_key_hash: None,
        user_object_id: None,
        account: None,
        created_at: "2025-01-01T00:00:00Z".into(),
        updated_at: "2025-01-01T00:00:00Z".into(),
    }
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

/// Connections `c0..cn`, each with its own webhook, all wanting project `p`.
async fn connections(s: &Stores, n: usize) {
    for i in 0..n {
        s.connections
            .upsert(record(&format!("c{i}"), &format!("h{i}"), ""))
            .await
            .unwrap();
    }
}

fn event(id: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        body: r#"{"type":"build_failed","title":"t"}"#.into(),
        received_at: "2025-01-01T00:00:00Z".into(),
    }
}

/// Accepts a build_failed event `id` about `project`: every connection whose filter is in
/// `project`, or empty, gets it.
async fn accept(s: &Stores, event_id: &str, project: &str, at: i64) -> usize {
    s.outbox
        .accept_event(
            event(event_id),
            Topic::new("build_failed", project),
            None,
            at,
        )
        .await
        .unwrap()
        .deliveries
}

fn finish(d: &store::Due, outcome: Outcome) -> Finish {
    let code = match &outcome {
        Outcome::Delivered => Some(200),
        Outcome::Retry { .. } => Some(503),
        Outcome::Dead { .. } => Some(400),
        Outcome::Disable { .. } => Some(410),
    };
    Finish {
        delivery_id: d.delivery_id,
        token: d.token,
        outcome,
        code,
    }
}

async fn a_connection_is_created_updated_read_and_deleted(subject: &Subject) {
    let s = subject.open().await;
    let Upsert::Created(created) = s.connections.upsert(record("c1", "h1", "")).await.unwrap()
    else {
        panic!("created")
    };
    let got = s.connections.get(&id("c1")).await.unwrap().unwrap();
    assert_eq!(got.webhook_url.as_str(), created.webhook_url.as_str());
    assert_eq!(got.settings, settings(""));
    assert_eq!(got.tenant_id.as_deref(), Some("t1"));
    let mut changed = record("c1", "h1", "api");
    changed.tenant_id = None;
    changed.created_at = "2026-01-01T00:00:00Z".into();
    let Upsert::Updated(updated) = s.connections.upsert(changed).await.unwrap() else {
        panic!("updated")
    };
    assert_eq!(
        updated.created_at, "2025-01-01T00:00:00Z",
        "created_at kept"
    );
    assert_eq!(updated.tenant_id.as_deref(), Some("t1"), "tenant kept");
    assert_eq!(
        s.connections
            .get(&id("c1"))
            .await
            .unwrap()
            .unwrap()
            .settings,
        settings("api")
    );
    assert!(s.connections.delete(&id("c1")).await.unwrap());
    assert!(s.connections.get(&id("c1")).await.unwrap().is_none());
    assert!(!s.connections.delete(&id("c1")).await.unwrap());
    s.connections.ping().await.unwrap();
}

fn linked(id: &str, hook: &str, project: &str, account: &str) -> Record {
    Record {
        account: Some(store::ConnectionAccount {
            account: account.into(),
            name: format!("{account} Ltd"),
            linked_by: Some(format!("user-of-{account}")),
        }),
        ..record(id, hook, project)
    }
}

async fn accept_for(s: &Stores, event_id: &str, project: &str, account: Option<&str>) -> usize {
    s.outbox
        .accept_event(
            event(event_id),
            Topic::new("build_failed", project),
            account.map(str::to_string),
            NOW,
        )
        .await
        .unwrap()
        .deliveries
}

async fn the_account_is_stored_and_an_addressed_event_reaches_only_its_connections(
    subject: &Subject,
) {
    let s = subject.open().await;
    for r in [
        linked("a1", "h1", "", "acme"),
        linked("a2", "h2", "api", "acme"),
        linked("g1", "h3", "", "globex"),
        record("none", "h4", ""),
    ] {
        s.connections.upsert(r).await.unwrap();
    }
    let got = s.connections.get(&id("a1")).await.unwrap().unwrap();
    let account = got.account.expect("stored with its account");
    assert_eq!(
        (account.account.as_str(), account.name.as_str()),
        ("acme", "acme Ltd")
    );
    assert_eq!(account.linked_by.as_deref(), Some("user-of-acme"));
    assert!(s
        .connections
        .get(&id("none"))
        .await
        .unwrap()
        .unwrap()
        .account
        .is_none());
    assert_eq!(
        accept_for(&s, "e1", "web", Some("acme")).await,
        1,
        "a1 only: a2 filters api"
    );
    assert_eq!(accept_for(&s, "e2", "api", Some("acme")).await, 2);
    assert_eq!(accept_for(&s, "e3", "api", Some("globex")).await, 1);
    assert_eq!(accept_for(&s, "e4", "api", Some("initech")).await, 0);
    assert_eq!(
        accept_for(&s, "e5", "api", None).await,
        4,
        "unaddressed: every connection"
    );
    // Moving a connection to another account changes what it matches from the next event.
    let Upsert::Updated(moved) = s
        .connections
        .upsert(linked("g1", "h3", "", "acme"))
        .await
        .unwrap()
    else {
        panic!("updated")
    };
    assert_eq!(moved.account.unwrap().account, "acme");
    assert_eq!(accept_for(&s, "e6", "api", Some("acme")).await, 3);
    assert_eq!(accept_for(&s, "e7", "api", Some("globex")).await, 0);
}

async fn another_webhook_cannot_take_an_entity_id(subject: &Subject) {
    let s = subject.open().await;
    s.connections.upsert(record("c1", "h1", "")).await.unwrap();
    assert!(matches!(
        s.connections
            .upsert(record("c1", "other", "x"))
            .await
            .unwrap(),
        Upsert::OtherWebhook
    ));
    assert_eq!(
        s.connections
            .get(&id("c1"))
            .await
            .unwrap()
            .unwrap()
            .settings,
        settings(""),
        "unchanged"
    );
}

async fn an_edit_key_hash_is_set_where_none_is_stored_and_then_kept(subject: &Subject) {
    let s = subject.open().await;
    s.connections.upsert(record("c1", "h1", "")).await.unwrap();
    assert!(s
        .connections
        .get(&id("c1"))
        .await
        .unwrap()
        .unwrap()
        .edit_key_hash
        .is_none());
    let mut first = record("c1", "h1", "");
    first.edit_key_hash = Some(EditKeyHash([1; 32]));
    let Upsert::Updated(r) = s.connections.upsert(first).await.unwrap() else {
        panic!("updated")
    };
    assert_eq!(
        r.edit_key_hash,
        Some(EditKeyHash([1; 32])),
        "set where none was"
    );
    let mut second = record("c1", "h1", "");
    second.edit_key_hash = Some(EditKeyHash([2; 32]));
    let Upsert::Updated(r) = s.connections.upsert(second).await.unwrap() else {
        panic!("updated")
    };
    assert_eq!(
        r.edit_key_hash,
        Some(EditKeyHash([1; 32])),
        "the stored one stays"
    );
    let stored = s.connections.get(&id("c1")).await.unwrap().unwrap();
    assert_eq!(stored.edit_key_hash, Some(EditKeyHash([1; 32])));
    let mut created = record("c2", "h2", "");
    created.edit_key_hash = Some(EditKeyHash([3; 32]));
    s.connections.upsert(created).await.unwrap();
    let stored = s.connections.get(&id("c2")).await.unwrap().unwrap();
    assert_eq!(stored.edit_key_hash, Some(EditKeyHash([3; 32])));
}

async fn a_connection_moves_to_another_webhook_only_from_the_one_it_had(subject: &Subject) {
    let s = subject.open().await;
    s.connections.upsert(record("c1", "old", "")).await.unwrap();
    let old_hash = record("c1", "old", "").webhook_hash;
    // Moved meanwhile (the hash given is not the stored one): refused.
    let stale = record("c1", "elsewhere", "").webhook_hash;
    assert!(matches!(
        s.connections
            .rebind(record("c1", "new", "api"), &stale)
            .await
            .unwrap(),
        Upsert::OtherWebhook
    ));
    let Upsert::Updated(moved) = s
        .connections
        .rebind(record("c1", "new", "api"), &old_hash)
        .await
        .unwrap()
    else {
        panic!("moved")
    };
    assert_eq!(moved.created_at, "2025-01-01T00:00:00Z");
    let stored = s.connections.get(&id("c1")).await.unwrap().unwrap();
    assert_eq!(stored.webhook_url.as_str(), webhook("new").as_str());
    assert!(stored
        .webhook_hash
        .matches(&record("c1", "new", "").webhook_hash));
    assert_eq!(stored.settings, settings("api"));
    assert!(matches!(
        s.connections
            .rebind(record("ghost", "new", ""), &old_hash)
            .await
            .unwrap(),
        Upsert::OtherWebhook
    ));
    // Its deliveries follow it: the next card goes to the new webhook.
    accept(&s, "e1", "api", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    assert_eq!(due[0].webhook_url.as_str(), webhook("new").as_str());
}

fn team(group: &str) -> Option<Team> {
    Some(Team {
        tenant: "t".into(),
        group: group.into(),
    })
}

/// `record` on a Workflows URL (which names no team).
fn on_workflows(id: &str, flow: &str) -> Record {
    let policy = WebhookPolicy::new(&["*.logic.azure.com".to_string()], None).unwrap();
    let url = WebhookUrl::parse(
        &format!("https://x.westeurope.logic.azure.com/workflows/{flow}/triggers/manual/paths/invoke?sig=s"),
        &policy,
    )
    .unwrap();
    Record {
        webhook_hash: hash_key().hash(&url),
        webhook_url: url,
        team: None,
        ..record(id, "unused", "")
    }
}

async fn the_team_a_connection_was_added_in_is_kept_across_moves(subject: &Subject) {
    let s = subject.open().await;
    s.connections
        .upsert(record("c1", "home", ""))
        .await
        .unwrap();
    let home_hash = record("c1", "home", "").webhook_hash;
    // Onto a Workflows URL, the caller naming another team: the stored one stays.
    let away = Record {
        team: team("elsewhere"),
        ..on_workflows("c1", "f1")
    };
    let away_hash = away.webhook_hash.clone();
    let Upsert::Updated(moved) = s.connections.rebind(away, &home_hash).await.unwrap() else {
        panic!("moved")
    };
    assert_eq!(moved.team, team("home"));
    let stored = s.connections.get(&id("c1")).await.unwrap().unwrap();
    assert_eq!(stored.team, team("home"), "kept on a Workflows URL");
    let Upsert::Updated(saved) = s
        .connections
        .upsert(Record {
            team: None,
            ..on_workflows("c1", "f1")
        })
        .await
        .unwrap()
    else {
        panic!("saved")
    };
    assert_eq!(saved.team, team("home"));
    assert!(stored.webhook_hash.matches(&away_hash));

    // Added on a Workflows URL: no team until a save names one, then that one stays.
    s.connections
        .upsert(on_workflows("c2", "f2"))
        .await
        .unwrap();
    assert_eq!(
        s.connections.get(&id("c2")).await.unwrap().unwrap().team,
        None
    );
    let first = record("c2", "first", "");
    s.connections
        .rebind(first, &on_workflows("c2", "f2").webhook_hash)
        .await
        .unwrap();
    assert_eq!(
        s.connections.get(&id("c2")).await.unwrap().unwrap().team,
        team("first")
    );

    // A row an older server stored (no team kept) has the team of its current URL.
    s.connections
        .upsert(Record {
            team: None,
            ..record("c3", "older", "")
        })
        .await
        .unwrap();
    assert_eq!(
        s.connections.get(&id("c3")).await.unwrap().unwrap().team,
        team("older")
    );
}

async fn concurrent_upserts_of_one_id_create_one_connection(subject: &Subject) {
    let s = subject.open().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = s.connections.clone();
        tasks.push(tokio::spawn(async move {
            c.upsert(record("same", "h", "")).await.unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Upsert::Created(_)) {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

async fn key_checks_keep_the_first_value(subject: &Subject) {
    let s = subject.open().await;
    assert_eq!(
        s.connections.key_check("k", b"first").await.unwrap(),
        b"first"
    );
    assert_eq!(
        s.connections.key_check("k", b"second").await.unwrap(),
        b"first"
    );
    assert_eq!(
        s.connections.key_check("j", b"other").await.unwrap(),
        b"other"
    );
}

async fn values_sealed_with_an_old_key_are_sealed_again_with_the_current_one(subject: &Subject) {
    let old = subject.open_with(K1).await;
    old.connections
        .upsert(record("c1", "h1", ""))
        .await
        .unwrap();
    let rotated = subject.open_with(&format!("{K2},{K1}")).await;
    assert_eq!(rotated.connections.reseal().await.unwrap(), 1);
    assert_eq!(rotated.connections.reseal().await.unwrap(), 0, "once");
    let only_new = subject.open_with(K2).await;
    let got = only_new.connections.get(&id("c1")).await.unwrap().unwrap();
    assert_eq!(got.webhook_url.as_str(), webhook("h1").as_str());
    let lost = subject.open_with(K1).await;
    assert!(
        lost.connections.get(&id("c1")).await.is_err(),
        "k1 no longer opens it"
    );
}

async fn an_event_is_accepted_once_with_one_delivery_per_matching_enabled_connection(
    subject: &Subject,
) {
    let s = subject.open().await;
    s.connections.upsert(record("all", "h1", "")).await.unwrap();
    s.connections
        .upsert(record("api", "h2", "api"))
        .await
        .unwrap();
    s.connections
        .upsert(record("web", "h3", "web"))
        .await
        .unwrap();
    assert_eq!(accept(&s, "e1", "api", NOW).await, 2);
    let again = s
        .outbox
        .accept_event(event("e1"), Topic::new("build_failed", "api"), None, NOW)
        .await
        .unwrap();
    assert!(again.duplicate && again.deliveries == 0);
    assert_eq!(
        s.outbox
            .delivery_status(&id("api"), None)
            .await
            .unwrap()
            .pending,
        1
    );
    assert_eq!(
        s.outbox
            .delivery_status(&id("web"), None)
            .await
            .unwrap()
            .pending,
        0
    );
    s.outbox
        .enqueue_one(event("test-1"), &id("web"), NOW)
        .await
        .unwrap();
    let status = s
        .outbox
        .delivery_status(&id("web"), Some("test-1".into()))
        .await
        .unwrap();
    assert_eq!(status.pending, 1);
}

async fn concurrent_claims_are_disjoint_and_each_has_its_own_token(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 60).await;
    assert_eq!(accept(&s, "e1", "", NOW).await, 60);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let o = s.outbox.clone();
        tasks.push(tokio::spawn(async move {
            o.claim(NOW, 20, LEASE, &limits()).await.unwrap().due
        }));
    }
    let mut ids = HashSet::new();
    let mut tokens = HashSet::new();
    let mut all = 0;
    for t in tasks {
        for d in t.await.unwrap() {
            all += 1;
            ids.insert(d.delivery_id);
            tokens.insert(d.token);
        }
    }
    assert_eq!(all, 60, "every due delivery claimed");
    assert_eq!(ids.len(), 60, "no delivery claimed twice");
    assert_eq!(tokens.len(), 60, "a token per claim");
    assert!(s
        .outbox
        .claim(NOW, 20, LEASE, &limits())
        .await
        .unwrap()
        .due
        .is_empty());
}

async fn an_expired_lease_returns_the_row_and_a_stale_token_changes_nothing(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 1).await;
    accept(&s, "e1", "", NOW).await;
    let first = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    assert_eq!(first.len(), 1);
    assert!(
        s.outbox
            .claim(NOW + LEASE - 1, 10, LEASE, &limits())
            .await
            .unwrap()
            .due
            .is_empty(),
        "held while the lease lasts"
    );
    // The worker is gone (or slow): after the lease the row is due again, with a new token.
    let later = NOW + LEASE + 2_000;
    let second = s
        .outbox
        .claim(later, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery_id, first[0].delivery_id);
    assert_ne!(second[0].token, first[0].token);
    let stale = s
        .outbox
        .finish(
            vec![finish(
                &first[0],
                Outcome::Dead {
                    error: "late".into(),
                },
            )],
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        stale,
        vec![first[0].delivery_id],
        "the late finish is stale"
    );
    let status = s.outbox.delivery_status(&id("c0"), None).await.unwrap();
    assert_eq!((status.pending, status.dead), (1, 0), "and changed nothing");
    let stale = s
        .outbox
        .finish(vec![finish(&second[0], Outcome::Delivered)], later)
        .await
        .unwrap();
    assert!(stale.is_empty());
    assert_eq!(
        s.outbox
            .delivery_status(&id("c0"), None)
            .await
            .unwrap()
            .delivered,
        1
    );
}

async fn a_handed_back_claim_is_due_at_once(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    let held = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    assert_eq!(held.len(), 2);
    let back = held.iter().map(|d| (d.delivery_id, d.token)).collect();
    assert_eq!(s.outbox.hand_back(back).await.unwrap(), 2);
    let again = s
        .outbox
        .claim(NOW + 1, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert_eq!(again.len(), 2, "due at once, not after the lease");
    let stale = s
        .outbox
        .finish(vec![finish(&held[0], Outcome::Delivered)], NOW + 2)
        .await
        .unwrap();
    assert_eq!(stale.len(), 1, "the handed-back claim's token is void");
}

async fn rate_windows_count_per_webhook_not_per_connection(subject: &Subject) {
    let s = subject.open().await;
    // Two connections share one webhook; a third has its own.
    s.connections
        .upsert(record("a", "shared", ""))
        .await
        .unwrap();
    s.connections
        .upsert(record("b", "shared", ""))
        .await
        .unwrap();
    s.connections.upsert(record("c", "own", "")).await.unwrap();
    for e in ["e1", "e2", "e3"] {
        accept(&s, e, "", NOW).await;
    }
    let claimed = s.outbox.claim(NOW, 50, LEASE, &limits()).await.unwrap();
    let to_shared = claimed.due.iter().filter(|d| d.entity_id != "c").count();
    assert_eq!(to_shared, 4, "4 per second to the shared webhook");
    assert_eq!(
        claimed.due.len() - to_shared,
        3,
        "the other webhook is apart"
    );
    assert_eq!(claimed.postponed, 2);
    let next = claimed
        .next_due_ms
        .expect("the postponed ones fall due later");
    assert!(next >= NOW + 1_000, "{}", next - NOW);
    assert!(s
        .outbox
        .claim(NOW + 500, 50, LEASE, &limits())
        .await
        .unwrap()
        .due
        .is_empty());
    let after = s.outbox.claim(next, 50, LEASE, &limits()).await.unwrap();
    assert_eq!(after.due.len(), 2, "the window let them through");
    // A restart (another instance) sees the same windows: they live in the database.
    let other = subject.open().await;
    accept(&other, "e4", "", next).await;
    accept(&other, "e5", "", next).await;
    let blocked = other
        .outbox
        .claim(next + 10, 50, LEASE, &limits())
        .await
        .unwrap();
    assert_eq!(
        blocked.due.iter().filter(|d| d.entity_id != "c").count(),
        2,
        "the shared webhook had 2 posts in this second already: 2 more, not 4"
    );
}

/// How many of `due` went to connection `id`.
fn to(due: &[store::Due], id: &str) -> usize {
    due.iter().filter(|d| d.entity_id == id).count()
}

async fn each_webhook_kind_is_stored_and_claimed_with_its_own_windows(subject: &Subject) {
    let s = subject.open().await;
    s.connections
        .upsert(flow_record("flow", "f1"))
        .await
        .unwrap();
    s.connections
        .upsert(record("conn", "c1", ""))
        .await
        .unwrap();
    assert_eq!(
        subject.kinds().await,
        [
            ("conn".to_string(), Some("connector".to_string())),
            ("flow".to_string(), Some("workflows".to_string()))
        ]
    );
    for i in 0..10 {
        accept(&s, &format!("e{i}"), "", NOW).await;
    }
    let claimed = s.outbox.claim(NOW, 50, LEASE, &limits()).await.unwrap();
    assert_eq!(to(&claimed.due, "flow"), 7, "the Flow bot's 7 a second");
    assert_eq!(to(&claimed.due, "conn"), 4, "a connector's 4 a second");
    assert_eq!(claimed.postponed, 3 + 6);
    assert_eq!(claimed.postponed_by_window, [9, 0, 0, 0, 0, 0], "all by 1s");
    // The flow moves to a connector webhook: its kind (and windows) follow.
    let moved = record("flow", "c2", "");
    s.connections
        .rebind(moved, &flow_record("flow", "f1").webhook_hash)
        .await
        .unwrap();
    assert_eq!(subject.kinds().await[1].1.as_deref(), Some("connector"));
    for i in 10..20 {
        accept(&s, &format!("e{i}"), "", NOW + 5_000).await;
    }
    let claimed = s
        .outbox
        .claim(NOW + 5_000, 50, LEASE, &limits())
        .await
        .unwrap();
    assert_eq!(to(&claimed.due, "flow"), 4, "now a connector's windows");
    // And back, with an update of the same row keeping it.
    let mut again = flow_record("flow", "f1");
    again.config_name = "Renamed".into();
    s.connections
        .rebind(again.clone(), &record("flow", "c2", "").webhook_hash)
        .await
        .unwrap();
    s.connections.upsert(again).await.unwrap();
    assert_eq!(subject.kinds().await[1].1.as_deref(), Some("workflows"));
}

async fn kinds_of_rows_an_older_version_saved_are_filled_in_from_their_urls(subject: &Subject) {
    let s = subject.open().await;
    s.connections
        .upsert(flow_record("flow", "f1"))
        .await
        .unwrap();
    s.connections
        .upsert(record("conn", "c1", ""))
        .await
        .unwrap();
    assert_eq!(
        subject
            .execute("UPDATE connections SET webhook_kind = NULL")
            .await,
        2
    );
    for i in 0..10 {
        accept(&s, &format!("e{i}"), "", NOW).await;
    }
    let claimed = s.outbox.claim(NOW, 50, LEASE, &limits()).await.unwrap();
    assert_eq!(
        to(&claimed.due, "flow"),
        4,
        "an unknown kind keeps every window of both kinds"
    );
    assert_eq!(s.connections.fill_webhook_kinds().await.unwrap(), 2);
    assert_eq!(s.connections.fill_webhook_kinds().await.unwrap(), 0, "once");
    assert_eq!(
        subject.kinds().await,
        [
            ("conn".to_string(), Some("connector".to_string())),
            ("flow".to_string(), Some("workflows".to_string()))
        ]
    );
    let claimed = s
        .outbox
        .claim(NOW + 1_300, 50, LEASE, &limits())
        .await
        .unwrap();
    assert_eq!(
        to(&claimed.due, "flow"),
        4,
        "the Flow bot's 2 s window: 8, of which 4 went a second ago"
    );
}

async fn a_reservation_takes_a_slot_in_the_webhooks_windows_and_in_every_row_or_none(
    subject: &Subject,
) {
    use connector_server::domain::rate_windows::{Window, MARGIN_MS};
    use connector_server::store::Reservation;
    let s = subject.open().await;
    let conn = record("conn", "c1", "");
    s.connections.upsert(conn.clone()).await.unwrap();
    let hash = conn.webhook_hash.0.to_vec();
    let per_target = Windows::new(&[Window {
        name: "1m",
        ms: 60_000,
        limit: 3,
    }]);
    let rows = || {
        vec![
            (b"cards".to_vec(), per_target.clone()),
            (hash.clone(), Windows::connector()),
        ]
    };
    for t in 0..3 {
        let got = s.outbox.reserve(rows(), NOW + t).await.unwrap();
        assert_eq!(got, Reservation::Reserved, "card {t}");
    }
    let got = s.outbox.reserve(rows(), NOW + 10).await.unwrap();
    assert_eq!(
        got,
        Reservation::Wait {
            until_ms: NOW + 60_000 + MARGIN_MS,
            row: 0,
            window: "1m"
        }
    );
    // The webhook's windows kept the three cards and nothing of the refused one: one
    // delivery goes in this second, not four.
    for i in 0..3 {
        accept(&s, &format!("e{i}"), "", NOW).await;
    }
    let claimed = s
        .outbox
        .claim(NOW + 20, 50, LEASE, &limits())
        .await
        .unwrap();
    assert_eq!(claimed.due.len(), 1);
    // And a webhook over its windows refuses the card without counting it per target.
    let got = s
        .outbox
        .reserve(
            vec![
                (b"other cards".to_vec(), per_target.clone()),
                (hash.clone(), Windows::connector()),
            ],
            NOW + 30,
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        Reservation::Wait {
            until_ms: NOW + 1_000 + MARGIN_MS,
            row: 1,
            window: "1s"
        }
    );
    let got = s
        .outbox
        .reserve(vec![(b"other cards".to_vec(), per_target)], NOW + 40)
        .await
        .unwrap();
    assert_eq!(got, Reservation::Reserved);
}

async fn each_outcome_is_recorded(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 3).await;
    accept(&s, "e1", "", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    let by = |entity: &str| due.iter().find(|d| d.entity_id == entity).unwrap();
    let retry_at = NOW + 5_000;
    let stale = s
        .outbox
        .finish(
            vec![
                finish(by("c0"), Outcome::Delivered),
                finish(
                    by("c1"),
                    Outcome::Retry {
                        at_ms: retry_at,
                        error: "webhook answered 500".into(),
                    },
                ),
                finish(
                    by("c2"),
                    Outcome::Dead {
                        error: "webhook refused the card with 400".into(),
                    },
                ),
            ],
            NOW + 10,
        )
        .await
        .unwrap();
    assert!(stale.is_empty());
    let status = |e: &'static str| {
        let o = s.outbox.clone();
        async move { o.delivery_status(&id(e), None).await.unwrap() }
    };
    assert_eq!(status("c0").await.delivered, 1);
    let retried = status("c1").await;
    assert_eq!(retried.pending, 1);
    assert_eq!(retried.last_error.as_deref(), Some("webhook answered 500"));
    assert_eq!(status("c2").await.dead, 1);
    assert!(s
        .outbox
        .claim(retry_at - 1, 10, LEASE, &limits())
        .await
        .unwrap()
        .due
        .is_empty());
    let again = s
        .outbox
        .claim(retry_at + 1_200, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].entity_id.as_str(), again[0].attempts), ("c1", 1));
}

async fn a_gone_webhook_disables_its_connection_and_kills_what_it_had_pending(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 1).await;
    accept(&s, "e1", "", NOW).await;
    accept(&s, "e2", "", NOW).await;
    let due = s.outbox.claim(NOW, 1, LEASE, &limits()).await.unwrap().due;
    let error = "webhook answered 410: the connector was removed from the channel";
    s.outbox
        .finish(
            vec![finish(
                &due[0],
                Outcome::Disable {
                    error: error.into(),
                },
            )],
            NOW,
        )
        .await
        .unwrap();
    let status = s.outbox.delivery_status(&id("c0"), None).await.unwrap();
    assert_eq!((status.dead, status.pending), (2, 0));
    assert_eq!(status.disabled.as_deref(), Some(error));
    assert_eq!(
        accept(&s, "e3", "", NOW).await,
        0,
        "a disabled connection gets nothing"
    );
    // Saving it again enables it.
    s.connections.upsert(record("c0", "h0", "")).await.unwrap();
    assert_eq!(accept(&s, "e4", "", NOW).await, 1);
}

async fn a_deleted_connections_deliveries_go_with_it_and_never_reach_a_new_owner(
    subject: &Subject,
) {
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    accept(&s, "e2", "", NOW).await;
    // c0's webhook fails: e1 waits for a retry; e2 is being posted when c0 is deleted.
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    let mine: Vec<_> = due.iter().filter(|d| d.entity_id == "c0").collect();
    assert_eq!(mine.len(), 2);
    s.outbox
        .finish(
            vec![finish(
                mine[0],
                Outcome::Retry {
                    at_ms: NOW + 1,
                    error: "webhook answered 500".into(),
                },
            )],
            NOW,
        )
        .await
        .unwrap();
    assert!(s.connections.delete(&id("c0")).await.unwrap());
    // Another owner saves the same id with their own webhook.
    let Upsert::Created(_) = s.connections.upsert(record("c0", "h9", "")).await.unwrap() else {
        panic!("the id is free again")
    };
    // The post that was under way when c0 was deleted finishes: nothing comes back.
    s.outbox
        .finish(
            vec![finish(
                mine[1],
                Outcome::Retry {
                    at_ms: NOW + 1,
                    error: "webhook answered 500".into(),
                },
            )],
            NOW,
        )
        .await
        .unwrap();
    let later = s
        .outbox
        .claim(NOW + 60_000, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert!(
        later.iter().all(|d| d.entity_id != "c0"),
        "none of the deleted connection's cards reach the new one: {later:?}"
    );
    assert!(
        s.outbox
            .dead(0, 10)
            .await
            .unwrap()
            .iter()
            .all(|d| d.entity_id != "c0"),
        "nor its history"
    );
    assert_eq!(
        s.outbox.delivery_status(&id("c0"), None).await.unwrap(),
        Default::default(),
        "the new connection starts with no deliveries"
    );
    // The new connection gets the events that come after it.
    assert_eq!(accept(&s, "e3", "", NOW + 60_000).await, 2);
}

async fn dead_deliveries_are_listed_and_replayed(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 3).await;
    accept(&s, "e1", "", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    for (i, d) in due.iter().enumerate() {
        let at = NOW + 1_000 * i as i64;
        s.outbox
            .finish(
                vec![finish(
                    d,
                    Outcome::Dead {
                        error: format!("gave up {i}"),
                    },
                )],
                at,
            )
            .await
            .unwrap();
    }
    let dead = s.outbox.dead(0, 10).await.unwrap();
    assert_eq!(dead.len(), 3);
    assert!(
        dead.windows(2).all(|w| w[0].dead_at <= w[1].dead_at),
        "oldest first"
    );
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up 0"));
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(s.outbox.dead(NOW + 1_000, 10).await.unwrap().len(), 2);
    assert_eq!(
        s.outbox
            .replay(Replay::one(dead[0].delivery_id), NOW + 5_000, false, None)
            .await
            .unwrap()
            .replayed,
        1
    );
    assert_eq!(
        s.outbox
            .replay(Replay::one(dead[0].delivery_id), NOW + 5_000, false, None)
            .await
            .unwrap()
            .replayed,
        0,
        "only dead ones"
    );
    assert_eq!(
        s.outbox
            .replay(
                Replay {
                    dead_since: Some(NOW + 2_000),
                    ..Replay::default()
                },
                NOW + 5_000,
                false,
                None
            )
            .await
            .unwrap()
            .replayed,
        1
    );
    assert_eq!(s.outbox.dead(0, 10).await.unwrap().len(), 1);
    let again = s
        .outbox
        .claim(NOW + 5_000, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|d| d.attempts == 0), "attempts start over");
}

async fn pruning_removes_delivered_rows_past_the_retention_only(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    const DAY: i64 = 86_400_000;
    let old = NOW - 40 * DAY;
    accept(&s, "old", "", old).await;
    let due = s.outbox.claim(old, 10, LEASE, &limits()).await.unwrap().due;
    let delivered = due.iter().find(|d| d.entity_id == "c0").unwrap();
    let dead = due.iter().find(|d| d.entity_id == "c1").unwrap();
    s.outbox
        .finish(
            vec![
                finish(delivered, Outcome::Delivered),
                finish(dead, Outcome::Dead { error: "x".into() }),
            ],
            old,
        )
        .await
        .unwrap();
    accept(&s, "new", "", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    s.outbox
        .finish(
            due.iter().map(|d| finish(d, Outcome::Delivered)).collect(),
            NOW,
        )
        .await
        .unwrap();
    s.outbox
        .accept_event(
            event("matched-nobody"),
            Topic::new("never_declared", ""),
            None,
            old,
        )
        .await
        .unwrap();
    // Rate-window rows: one with a post a day still counts, one without.
    let once = || {
        Windows::new(&[connector_server::domain::rate_windows::Window {
            name: "1d",
            ms: DAY,
            limit: 1,
        }])
    };
    let reserve = async |key: &[u8], at: i64| {
        s.outbox
            .reserve(vec![(key.to_vec(), once())], at)
            .await
            .unwrap()
    };
    use connector_server::store::Reservation::Reserved;
    assert_eq!(reserve(b"recent", NOW - DAY + 1_000).await, Reserved);
    assert_eq!(reserve(b"stale", NOW - DAY - 1_000).await, Reserved);
    let rows = "SELECT count(*) FROM webhook_windows";
    let before = subject.count(rows).await;
    let pruned = s
        .outbox
        .prune(NOW - 30 * DAY, NOW)
        .await
        .unwrap()
        .expect("pruned");
    assert_eq!(
        subject.count(rows).await,
        before - 1,
        "the row without a post of the last day"
    );
    assert_ne!(
        reserve(b"recent", NOW).await,
        Reserved,
        "its post still counts"
    );
    assert_eq!(pruned.deliveries, 1, "the old delivered one");
    assert_eq!(pruned.events, 1, "the old event nothing refers to");
    let c0 = s.outbox.delivery_status(&id("c0"), None).await.unwrap();
    assert_eq!(c0.delivered, 1, "the recent one stays");
    assert_eq!(
        s.outbox.dead(0, 10).await.unwrap().len(),
        1,
        "dead ones stay"
    );
    // The event id of the pruned event with a dead delivery is still known.
    let again = s
        .outbox
        .accept_event(event("old"), Topic::new("build_failed", ""), None, NOW)
        .await
        .unwrap();
    assert!(again.duplicate);
}

async fn gauges_count_pending_due_oldest_dead_and_disabled(subject: &Subject) {
    let s = subject.open().await;
    let empty = s.outbox.gauges(NOW).await.unwrap();
    assert_eq!(
        store::Gauges {
            pool_in_use: 0,
            ..empty
        },
        store::Gauges::default()
    );
    connections(&s, 4).await;
    accept(&s, "e1", "", NOW).await;
    accept(&s, "e2", "", NOW + 1_000).await;
    let g = s.outbox.gauges(NOW + 2_000).await.unwrap();
    assert_eq!((g.pending, g.due, g.dead), (8, 8, 0));
    assert_eq!(g.oldest_due_ms, Some(NOW));
    // Claimed rows are not due; a retry later is pending, not due; a gone webhook is dead
    // and its connection disabled (with what it had pending).
    let due = s
        .outbox
        .claim(NOW + 2_000, 3, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert_eq!(due.len(), 3);
    let g = s.outbox.gauges(NOW + 2_000).await.unwrap();
    assert_eq!((g.pending, g.due), (8, 5));
    let finishes = due
        .iter()
        .map(|d| {
            let outcome = if d.entity_id == due[0].entity_id {
                Outcome::Disable {
                    error: "webhook answered 410".into(),
                }
            } else {
                Outcome::Retry {
                    at_ms: NOW + 60_000,
                    error: "webhook answered 500".into(),
                }
            };
            finish(d, outcome)
        })
        .collect();
    s.outbox.finish(finishes, NOW + 2_100).await.unwrap();
    let g = s.outbox.gauges(NOW + 2_200).await.unwrap();
    assert_eq!(g.disabled_connections, 1);
    assert!(g.dead >= 1, "{g:?}");
    assert_eq!(g.pending + g.dead, 8, "{g:?}");
    assert_eq!(g.due, g.pending - 2, "the two retries wait: {g:?}");
    assert!(g.oldest_due_ms.is_some_and(|t| t <= NOW + 1_000));
    // Connections go back to the pool a moment after their query: at most the pool's 8.
    assert!(g.pool_in_use <= 8, "{g:?}");
}

async fn the_schema_is_current_after_opening(subject: &Subject) {
    let s = subject.open().await;
    assert_eq!(s.connections.schema_problem().await.unwrap(), None);
}

/// What an old instance sees in an upgrade once the first new one has migrated: readiness
/// (`schema_problem`) names both versions, and a restart of the old version refuses the
/// database rather than run on a schema it does not know.
async fn a_schema_a_newer_version_migrated_is_named_and_not_opened(subject: &Subject) {
    let s = subject.open().await;
    let future = match &subject.db {
        Database::Sqlite(_) => {
            let now = subject.count("PRAGMA user_version").await;
            subject
                .execute(&format!("PRAGMA user_version = {}", now + 1))
                .await;
            (now + 1).to_string()
        }
        Database::Postgres { .. } => {
            subject
                .execute(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                     VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
                )
                .await;
            "99990101000000".to_string()
        }
    };
    let problem = s
        .connections
        .schema_problem()
        .await
        .unwrap()
        .expect("a problem");
    assert!(
        problem.contains(&future) && problem.contains("ahead of this server's"),
        "{problem}"
    );
    let refused = store::open(&subject.db, Keyring::parse(K1).unwrap())
        .await
        .err()
        .expect("an old version refuses a newer schema");
    assert!(format!("{refused:#}").contains(&future), "{refused:#}");
}

/// PostgreSQL only: SQLite has one writer, so no claim can hold a webhook while another claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_another_instance_is_reserving_is_skipped_not_waited_on() {
    use sqlx::Connection;
    let pg = crate::postgres_or_skip!();
    let mut other = pg.connect().await;
    let subject = Subject::postgres(pg);
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    // The first posts make both webhooks' window rows.
    let first = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    assert_eq!(first.len(), 2);
    let done = first
        .iter()
        .map(|d| finish(d, Outcome::Delivered))
        .collect();
    assert!(s.outbox.finish(done, NOW).await.unwrap().is_empty());
    let later = NOW + 5_000;
    assert_eq!(accept(&s, "e2", "", later).await, 2);
    // Another instance's claim is reserving c0's webhook right now.
    let mut held = other.begin().await.unwrap();
    sqlx::query(
        "SELECT w.hash FROM webhook_windows w JOIN connections c ON c.webhook_hash = w.hash
         WHERE c.entity_id = 'c0' FOR UPDATE OF w",
    )
    .fetch_one(&mut *held)
    .await
    .unwrap();
    let claimed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.outbox.claim(later, 10, LEASE, &limits()),
    )
    .await
    .expect("the claim did not wait for the held webhook")
    .unwrap();
    let claimed_for: Vec<&str> = claimed.due.iter().map(|d| d.entity_id.as_str()).collect();
    assert_eq!(claimed_for, ["c1"], "the free webhook is claimed");
    assert_eq!(claimed.busy, 1, "the held one is skipped");
    assert_eq!(claimed.postponed, 0, "and not moved to later");
    held.rollback().await.unwrap();
    let after = s
        .outbox
        .claim(later + 1, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    let claimed_for: Vec<&str> = after.iter().map(|d| d.entity_id.as_str()).collect();
    assert_eq!(claimed_for, ["c0"], "claimed as soon as it is free");
}

/// Events are matched against each instance's copy of the connections' settings: every
/// change (a new connection, a new filter, a delete, a disable), made by this instance or by
/// another one on the same database, is seen by the next event.
async fn each_event_matches_the_connections_as_they_are_now_whoever_changed_them(
    subject: &Subject,
) {
    let a = subject.open().await;
    let b = subject.open().await;
    connections(&a, 2).await;
    assert_eq!(accept(&b, "e1", "", NOW).await, 2);
    assert_eq!(accept(&a, "e2", "", NOW).await, 2);
    a.connections.upsert(record("c2", "h2", "")).await.unwrap();
    assert_eq!(accept(&b, "e3", "", NOW).await, 3, "a new connection");
    a.connections
        .upsert(record("c0", "h0", "other"))
        .await
        .unwrap();
    assert_eq!(accept(&b, "e4", "", NOW).await, 2, "a changed filter");
    assert_eq!(
        accept(&b, "e5", "other", NOW).await,
        3,
        "an empty filter takes all"
    );
    assert!(a.connections.delete(&id("c1")).await.unwrap());
    assert_eq!(accept(&b, "e6", "", NOW).await, 1, "a deleted connection");
    // c2's webhook is gone: its connection is disabled by the outcome.
    let due = a
        .outbox
        .claim(NOW, 100, LEASE, &limits())
        .await
        .unwrap()
        .due;
    let gone = due.iter().find(|d| d.entity_id == "c2").unwrap();
    let disable = finish(
        gone,
        Outcome::Disable {
            error: "webhook answered 410".into(),
        },
    );
    a.outbox.finish(vec![disable], NOW).await.unwrap();
    assert_eq!(accept(&b, "e7", "", NOW).await, 0, "a disabled connection");
    assert_eq!(accept(&a, "e8", "other", NOW).await, 1);
}

/// The entity ids `query` finds, in order.
async fn found(s: &Stores, query: ConnectionQuery) -> Vec<String> {
    s.connections
        .search(ConnectionQuery {
            limit: if query.limit == 0 { 100 } else { query.limit },
            ..query
        })
        .await
        .unwrap()
        .iter()
        .map(|r| r.entity_id.as_str().to_string())
        .collect()
}

fn audit(action: &str, target: &str, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: 0,
        at_ms,
        actor: "ops".into(),
        action: action.into(),
        target: target.into(),
        detail: Some(format!("{action} {target}")),
    }
}

async fn connections_are_searched_by_tenant_team_account_name_kind_and_state_in_pages(
    subject: &Subject,
) {
    let s = subject.open().await;
    let flow = Record {
        tenant_id: Some("t2".into()),
        config_name: "Release ALERTS".into(),
        ..flow_record("c3", "f3")
    };
    for r in [
        record("c1", "g1", ""),
        record("c2", "g2", ""),
        flow,
        linked("c4", "g4", "", "acme"),
        record("c5", "g5", ""),
    ] {
        s.connections.upsert(r).await.unwrap();
    }
    assert!(s
        .connections
        .set_disabled(&id("c5"), Some("gone".into()), audit("disable", "c5", NOW))
        .await
        .unwrap());
    let all = ["c1", "c2", "c3", "c4", "c5"];
    assert_eq!(found(&s, ConnectionQuery::default()).await, all);
    let q = |f: fn(&mut ConnectionQuery)| {
        let mut q = ConnectionQuery::default();
        f(&mut q);
        q
    };
    // By the tenant of the sign-in or of the team.
    assert_eq!(found(&s, q(|q| q.tenant = Some("t2".into()))).await, ["c3"]);
    assert_eq!(found(&s, q(|q| q.tenant = Some("t".into()))).await, all);
    assert_eq!(found(&s, q(|q| q.team = Some("g2".into()))).await, ["c2"]);
    assert_eq!(
        found(&s, q(|q| q.account = Some("acme".into()))).await,
        ["c4"]
    );
    // Part of the name, in any case.
    assert_eq!(
        found(&s, q(|q| q.name = Some("alerts".into()))).await,
        ["c3"]
    );
    assert_eq!(
        found(&s, q(|q| q.name = Some("NIGHTLY".into()))).await,
        ["c1", "c2", "c4", "c5"]
    );
    // A wildcard of LIKE is a character like any other.
    for literal in ["_", "%", "\\"] {
        assert!(
            found(
                &s,
                ConnectionQuery {
                    name: Some(literal.into()),
                    ..ConnectionQuery::default()
                }
            )
            .await
            .is_empty(),
            "{literal}"
        );
    }
    assert_eq!(
        found(&s, q(|q| q.kind = Some("workflows".into()))).await,
        ["c3"]
    );
    assert_eq!(
        found(&s, q(|q| q.kind = Some("connector".into()))).await,
        ["c1", "c2", "c4", "c5"]
    );
    assert_eq!(found(&s, q(|q| q.disabled = Some(true))).await, ["c5"]);
    assert_eq!(
        found(&s, q(|q| q.disabled = Some(false))).await,
        ["c1", "c2", "c3", "c4"]
    );
    // Filters together, and nothing found.
    let both = q(|q| {
        q.name = Some("nightly".into());
        q.disabled = Some(false);
        q.tenant = Some("t1".into());
    });
    assert_eq!(found(&s, both).await, ["c1", "c2", "c4"]);
    assert!(found(&s, q(|q| q.team = Some("none".into())))
        .await
        .is_empty());
    // In pages, each from after the last of the one before.
    let page = |after: Option<&str>| ConnectionQuery {
        after: after.map(str::to_string),
        limit: 2,
        ..ConnectionQuery::default()
    };
    assert_eq!(found(&s, page(None)).await, ["c1", "c2"]);
    assert_eq!(found(&s, page(Some("c2"))).await, ["c3", "c4"]);
    assert_eq!(found(&s, page(Some("c4"))).await, ["c5"]);
    assert!(found(&s, page(Some("c5"))).await.is_empty());
    // What a search finds is the whole connection, webhook URL opened.
    let got = s
        .connections
        .search(q(|q| {
            q.team = Some("g1".into());
            q.limit = 10;
        }))
        .await
        .unwrap();
    assert_eq!(got[0].webhook_url.as_str(), webhook("g1").as_str());
}

async fn disabling_and_enabling_is_audited_and_the_log_is_read_newest_first(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    assert!(s
        .connections
        .set_disabled(&id("c0"), Some("noisy".into()), audit("disable", "c0", NOW))
        .await
        .unwrap());
    let got = s.connections.get(&id("c0")).await.unwrap().unwrap();
    assert_eq!(got.disabled_reason.as_deref(), Some("noisy"));
    // A disabled connection gets no event; enabled again, it does.
    assert_eq!(accept(&s, "e1", "", NOW).await, 1, "c1 only");
    assert!(s
        .connections
        .set_disabled(&id("c0"), None, audit("enable", "c0", NOW + 1))
        .await
        .unwrap());
    assert_eq!(
        s.connections
            .get(&id("c0"))
            .await
            .unwrap()
            .unwrap()
            .disabled_reason,
        None
    );
    assert_eq!(accept(&s, "e2", "", NOW).await, 2);
    // No such connection: nothing changed and nothing logged.
    assert!(!s
        .connections
        .set_disabled(
            &id("nobody"),
            Some("x".into()),
            audit("disable", "nobody", NOW + 2)
        )
        .await
        .unwrap());
    s.connections
        .set_disabled(&id("c1"), Some("y".into()), audit("disable", "c1", NOW + 3))
        .await
        .unwrap();
    let log = s.connections.audit_log(None, 10).await.unwrap();
    let seen: Vec<(&str, &str, i64)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str(), e.at_ms))
        .collect();
    assert_eq!(
        seen,
        [
            ("disable", "c1", NOW + 3),
            ("enable", "c0", NOW + 1),
            ("disable", "c0", NOW)
        ]
    );
    assert_eq!(log[0].actor, "ops");
    assert_eq!(log[0].detail.as_deref(), Some("disable c1"));
    assert!(log[0].id > log[1].id && log[1].id > log[2].id);
    // Paged by id.
    let older = s.connections.audit_log(Some(log[0].id), 1).await.unwrap();
    assert_eq!(older, vec![log[1].clone()]);
}

async fn deliveries_are_listed_by_connection_event_and_state_newest_first_in_pages(
    subject: &Subject,
) {
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    assert_eq!(due.len(), 2);
    let batch = due
        .iter()
        .map(|d| {
            let outcome = if d.entity_id == "c0" {
                Outcome::Delivered
            } else {
                Outcome::Dead {
                    error: "webhook answered 500".into(),
                }
            };
            finish(d, outcome)
        })
        .collect();
    s.outbox.finish(batch, NOW + 10).await.unwrap();
    accept(&s, "e2", "", NOW + 20).await;
    let list = |f: fn(&mut DeliveryQuery)| {
        let mut q = DeliveryQuery {
            limit: 10,
            ..DeliveryQuery::default()
        };
        f(&mut q);
        let outbox = s.outbox.clone();
        async move { outbox.deliveries(q).await.unwrap() }
    };
    let all = list(|_| {}).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2).all(|w| w[0].delivery_id > w[1].delivery_id),
        "newest first"
    );
    assert!(all[..2]
        .iter()
        .all(|d| d.event_id == "e2" && d.status == "pending"));
    assert!(all[0].next_at.is_some() && all[0].attempts == 0);
    let c0 = list(|q| q.entity_id = Some("c0".into())).await;
    let seen: Vec<(&str, &str)> = c0
        .iter()
        .map(|d| (d.event_id.as_str(), d.status.as_str()))
        .collect();
    assert_eq!(seen, [("e2", "pending"), ("e1", "delivered")]);
    assert_eq!(c0[1].attempts, 1);
    assert!(c0[1].delivered_at.is_some() && c0[1].next_at.is_none());
    assert_eq!(list(|q| q.event_id = Some("e1".into())).await.len(), 2);
    let dead = list(|q| q.status = Some("dead".into())).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].entity_id.as_str(),
            dead[0].last_error.as_deref(),
            dead[0].attempts
        ),
        ("c1", Some("webhook answered 500"), 1)
    );
    assert!(dead[0].dead_at.is_some());
    let both = list(|q| {
        q.entity_id = Some("c1".into());
        q.event_id = Some("e2".into());
    })
    .await;
    assert_eq!(both.len(), 1);
    // Pages, each below the last id of the one before.
    let first = s
        .outbox
        .deliveries(DeliveryQuery {
            limit: 3,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    let rest = s
        .outbox
        .deliveries(DeliveryQuery {
            limit: 3,
            before: Some(first[2].delivery_id),
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest, vec![all[3].clone()]);
}

fn bot_install(tenant: &str, team: &str, channels: &[&str], at: &str) -> BotInstall {
    BotInstall {
        tenant_id: tenant.into(),
        team_id: team.into(),
        scope: "team".into(),
        aad_group_id: Some("0b4f2a1e-6c3d-4e5f-8a9b-1c2d3e4f5a6b".into()),
        service_url: "https://smba.trafficmanager.net/amer/".into(),
        conversation_id: channels.first().copied().unwrap_or(team).into(),
        bot_id: "28:5a1c0b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".into(),
        channels: channels.iter().map(|c| c.to_string()).collect(),
        installed_at: at.into(),
        updated_at: at.into(),
    }
}

async fn where_the_bot_is_is_kept_refreshed_and_forgotten_with_its_channels(subject: &Subject) {
    let s = subject.open().await;
    let c = &s.connections;
    let (t1, t2) = ("tenant-1", "tenant-2");
    let team = "19:team@thread.tacv2";
    assert_eq!(c.bot_install(t1, team).await.unwrap(), None);
    // Channel ids sort by byte ('1' < 'a' < 't'), the same in both databases.
    let first = bot_install(
        t1,
        team,
        &[team, "19:a@thread.tacv2"],
        "2026-12-01T00:00:00Z",
    );
    c.save_bot_install(first.clone()).await.unwrap();
    let mut want = first.clone();
    want.channels = vec!["19:a@thread.tacv2".into(), team.into()];
    assert_eq!(c.bot_install(t1, team).await.unwrap(), Some(want.clone()));
    // The same team id in another tenant is another install.
    c.save_bot_install(bot_install(t2, team, &[team], "2026-12-01T00:00:00Z"))
        .await
        .unwrap();

    // Saved again (a reinstall, another region): refreshed, channels added to, the first
    // install time and a known group id kept.
    let mut again = bot_install(t1, team, &["19:1@thread.tacv2"], "2026-12-02T00:00:00Z");
    again.service_url = "https://smba.trafficmanager.net/emea/".into();
    again.aad_group_id = None;
    c.save_bot_install(again).await.unwrap();
    let now = c.bot_install(t1, team).await.unwrap().unwrap();
    assert_eq!(now.service_url, "https://smba.trafficmanager.net/emea/");
    assert_eq!(now.conversation_id, "19:1@thread.tacv2");
    assert_eq!(now.aad_group_id, first.aad_group_id);
    assert_eq!(
        (now.installed_at.as_str(), now.updated_at.as_str()),
        ("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z")
    );
    assert_eq!(
        now.channels,
        ["19:1@thread.tacv2", "19:a@thread.tacv2", team]
    );

    // Channels come and go; a channel of a team the bot is not in is not kept.
    assert!(c
        .add_bot_channel(t1, team, "19:new@thread.tacv2")
        .await
        .unwrap());
    assert!(
        c.add_bot_channel(t1, team, "19:new@thread.tacv2")
            .await
            .unwrap(),
        "again: still there"
    );
    assert!(!c
        .add_bot_channel(t1, "19:other@thread.tacv2", "19:x@thread.tacv2")
        .await
        .unwrap());
    assert_eq!(
        c.bot_install(t1, "19:other@thread.tacv2").await.unwrap(),
        None
    );
    assert!(c
        .remove_bot_channel(t1, team, "19:a@thread.tacv2")
        .await
        .unwrap());
    assert!(!c
        .remove_bot_channel(t1, team, "19:a@thread.tacv2")
        .await
        .unwrap());
    assert_eq!(
        c.bot_install(t1, team).await.unwrap().unwrap().channels,
        ["19:1@thread.tacv2", "19:new@thread.tacv2", team]
    );

    // Removed: the reference and its channels gone, the other tenant's untouched; a new
    // install of the same team starts with only its own channels.
    assert!(c.remove_bot_install(t1, team).await.unwrap());
    assert!(!c.remove_bot_install(t1, team).await.unwrap());
    assert_eq!(c.bot_install(t1, team).await.unwrap(), None);
    assert_eq!(
        c.bot_install(t2, team).await.unwrap().unwrap().channels,
        [team]
    );
    c.save_bot_install(bot_install(t1, team, &[team], "2026-12-03T00:00:00Z"))
        .await
        .unwrap();
    let fresh = c.bot_install(t1, team).await.unwrap().unwrap();
    assert_eq!(fresh.channels, [team]);
    assert_eq!(fresh.installed_at, "2026-12-03T00:00:00Z");
}

/// Two instances on one database (PostgreSQL; SQLite: two handles on one file) posting as
/// the bot to one thread share its windows: 7 in any second, 8 in any 2 seconds.
async fn the_bots_limits_per_thread_hold_across_instances(subject: &Subject) {
    use connector_server::bot::connector::reserve_post;
    use connector_server::domain::rate_windows::MARGIN_MS;
    use connector_server::store::Reservation;
    let (a, b) = (subject.open().await, subject.open().await);
    let thread = "19:channel@thread.tacv2";
    for t in 0..7 {
        let instance = if t % 2 == 0 { &a } else { &b };
        let got = reserve_post(instance.outbox.as_ref(), thread, NOW + t)
            .await
            .unwrap();
        assert_eq!(got, Reservation::Reserved, "post {t}");
    }
    let wait = |until_ms, window| Reservation::Wait {
        until_ms,
        row: 0,
        window,
    };
    assert_eq!(
        reserve_post(b.outbox.as_ref(), thread, NOW + 7)
            .await
            .unwrap(),
        wait(NOW + 1_000 + MARGIN_MS, "1s")
    );
    // Another thread (a reply chain of the channel) has windows of its own.
    let reply = "19:channel@thread.tacv2;messageid=1733";
    assert_eq!(
        reserve_post(a.outbox.as_ref(), reply, NOW + 7)
            .await
            .unwrap(),
        Reservation::Reserved
    );
    // Once the first post leaves the second, an eighth goes; a ninth waits for 2 s.
    let later = NOW + 1_000 + MARGIN_MS;
    assert_eq!(
        reserve_post(a.outbox.as_ref(), thread, later)
            .await
            .unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        reserve_post(b.outbox.as_ref(), thread, later + 1)
            .await
            .unwrap(),
        wait(NOW + 2_000 + MARGIN_MS, "2s")
    );
}

async fn a_save_keeps_an_operators_disable_and_clears_every_other_reason(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    let by_operator = format!("{}abuse report 42", connector_server::admin::REASON_PREFIX);
    s.connections
        .set_disabled(
            &id("c0"),
            Some(by_operator.clone()),
            audit("disable", "c0", NOW),
        )
        .await
        .unwrap();
    s.connections
        .set_disabled(
            &id("c1"),
            Some("webhook answered 410".into()),
            audit("x", "c1", NOW),
        )
        .await
        .unwrap();
    // A save in place: the operator's reason stays, in the answer and stored.
    let Upsert::Updated(saved) = s
        .connections
        .upsert(record("c0", "h0", "api"))
        .await
        .unwrap()
    else {
        panic!("updated")
    };
    assert_eq!(saved.disabled_reason.as_deref(), Some(by_operator.as_str()));
    let stored = s.connections.get(&id("c0")).await.unwrap().unwrap();
    assert_eq!(
        stored.disabled_reason.as_deref(),
        Some(by_operator.as_str())
    );
    assert_eq!(stored.settings, settings("api"), "the rest is saved");
    // So does a move to another webhook.
    let Upsert::Updated(moved) = s
        .connections
        .rebind(
            record("c0", "moved", ""),
            &record("c0", "h0", "").webhook_hash,
        )
        .await
        .unwrap()
    else {
        panic!("moved")
    };
    assert_eq!(moved.disabled_reason.as_deref(), Some(by_operator.as_str()));
    assert_eq!(accept(&s, "e1", "", NOW).await, 0, "both are disabled");
    // The other reason a save clears, answered and stored.
    let Upsert::Updated(saved) = s.connections.upsert(record("c1", "h1", "")).await.unwrap() else {
        panic!("updated")
    };
    assert_eq!(saved.disabled_reason, None);
    assert_eq!(
        s.connections
            .get(&id("c1"))
            .await
            .unwrap()
            .unwrap()
            .disabled_reason,
        None
    );
    assert_eq!(accept(&s, "e2", "", NOW).await, 1, "c1 gets it again");
    // Only the operator's enable enables it.
    s.connections
        .set_disabled(&id("c0"), None, audit("enable", "c0", NOW + 1))
        .await
        .unwrap();
    assert_eq!(accept(&s, "e3", "", NOW).await, 2);
}

async fn an_audited_delete_drops_the_deliveries_and_logs_it_in_one_go(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    accept(&s, "e2", "", NOW).await;
    // c0's first delivered, its second still pending.
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    let first = due
        .iter()
        .find(|d| d.entity_id == "c0" && d.event_id == "e1")
        .unwrap();
    s.outbox
        .finish(vec![finish(first, Outcome::Delivered)], NOW)
        .await
        .unwrap();
    let dropped = s
        .connections
        .delete_audited(&id("c0"), audit("delete", "c0", NOW))
        .await
        .unwrap();
    assert_eq!(dropped, Some(1), "one was pending");
    assert!(s.connections.get(&id("c0")).await.unwrap().is_none());
    let status = s.outbox.delivery_status(&id("c0"), None).await.unwrap();
    assert_eq!((status.pending, status.delivered, status.dead), (0, 0, 0));
    assert_eq!(
        s.outbox
            .delivery_status(&id("c1"), None)
            .await
            .unwrap()
            .pending,
        2,
        "the other's stay"
    );
    // None there: nothing deleted, nothing logged.
    assert_eq!(
        s.connections
            .delete_audited(&id("c0"), audit("delete", "c0", NOW + 1))
            .await
            .unwrap(),
        None
    );
    s.connections
        .write_audit(audit("test", "c1", NOW + 2))
        .await
        .unwrap();
    let log = s.connections.audit_log(None, 10).await.unwrap();
    let seen: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(seen, [("test", "c1"), ("delete", "c0")]);
}

async fn every_attempt_is_logged_with_its_code_and_goes_with_its_delivery(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    let of = |who: &str| due.iter().find(|d| d.entity_id == who).unwrap().clone();
    let (c0, c1) = (of("c0"), of("c1"));
    let retry = Outcome::Retry {
        at_ms: NOW + 100,
        error: "webhook answered 503".into(),
    };
    let mut stale = finish(&c1, Outcome::Delivered);
    stale.token += 1_000;
    let gone = s
        .outbox
        .finish(vec![finish(&c0, retry), stale], NOW + 10)
        .await
        .unwrap();
    assert_eq!(gone, vec![c1.delivery_id]);
    s.outbox
        .finish(
            vec![finish(
                &c1,
                Outcome::Dead {
                    error: "webhook answered 400: bad card".into(),
                },
            )],
            NOW + 20,
        )
        .await
        .unwrap();
    let again = s
        .outbox
        .claim(NOW + 100, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    assert_eq!(again.len(), 1);
    s.outbox
        .finish(vec![finish(&again[0], Outcome::Delivered)], NOW + 110)
        .await
        .unwrap();

    let detail = s.outbox.delivery(c0.delivery_id).await.unwrap().unwrap();
    assert_eq!(detail.delivery.status, "delivered");
    assert_eq!(detail.delivery.attempts, 2);
    let log: Vec<_> = detail
        .attempt_log
        .iter()
        .map(|a| (a.at_ms, a.code, a.outcome.as_str(), a.error.as_deref()))
        .collect();
    assert_eq!(
        log,
        [
            (NOW + 10, Some(503), "retried", Some("webhook answered 503")),
            (NOW + 110, Some(200), "delivered", None),
        ],
        "oldest first, each with its code; the stale finish logged nothing"
    );
    let dead = s.outbox.delivery(c1.delivery_id).await.unwrap().unwrap();
    assert_eq!(dead.delivery.status, "dead");
    assert_eq!(
        dead.attempt_log
            .iter()
            .map(|a| (a.code, a.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(Some(400), "dead")]
    );
    assert!(s
        .outbox
        .delivery(c1.delivery_id + 1_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        subject
            .count("SELECT count(*) FROM delivery_attempts")
            .await,
        3
    );

    // Pruning a delivered delivery takes its attempts; deleting a connection takes its own.
    s.outbox.prune(NOW + 1_000, NOW + 1_000).await.unwrap();
    assert!(s.outbox.delivery(c0.delivery_id).await.unwrap().is_none());
    assert_eq!(
        subject
            .count("SELECT count(*) FROM delivery_attempts")
            .await,
        1
    );
    assert!(s.connections.delete(&id("c1")).await.unwrap());
    assert_eq!(
        subject
            .count("SELECT count(*) FROM delivery_attempts")
            .await,
        0
    );
}

async fn deliveries_are_found_by_when_they_were_made(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 2).await;
    accept(&s, "e1", "", NOW).await;
    accept(&s, "e2", "", NOW + 60_000).await;
    accept(&s, "e3", "", NOW + 120_000).await;
    let found = |since: Option<i64>, until: Option<i64>, entity: Option<&str>| {
        let q = DeliveryQuery {
            since,
            until,
            entity_id: entity.map(str::to_string),
            limit: 10,
            ..DeliveryQuery::default()
        };
        let outbox = s.outbox.clone();
        async move {
            outbox
                .deliveries(q)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.event_id, d.created_at))
                .collect::<Vec<_>>()
        }
    };
    let events =
        |rows: Vec<(String, Option<i64>)>| rows.into_iter().map(|(e, _)| e).collect::<Vec<_>>();
    let all = found(None, None, None).await;
    assert_eq!(all.len(), 6);
    assert!(all.contains(&("e1".to_string(), Some(NOW))), "{all:?}");
    assert!(
        all.contains(&("e3".to_string(), Some(NOW + 120_000))),
        "{all:?}"
    );
    assert_eq!(
        events(found(Some(NOW + 60_000), None, None).await),
        ["e3", "e3", "e2", "e2"],
        "since is inclusive"
    );
    assert_eq!(
        events(found(None, Some(NOW + 60_000), None).await),
        ["e1", "e1"],
        "until is exclusive"
    );
    assert_eq!(
        events(found(Some(NOW + 1), Some(NOW + 120_000), Some("c1")).await),
        ["e2"]
    );
    assert!(found(Some(NOW + 120_001), None, None).await.is_empty());
}

async fn a_filtered_replay_counts_first_then_replays_and_is_audited(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 3).await;
    accept(&s, "e1", "", NOW).await;
    accept(&s, "e2", "", NOW).await;
    let due = s.outbox.claim(NOW, 10, LEASE, &limits()).await.unwrap().due;
    assert_eq!(due.len(), 6);
    // e1 dies at NOW + 1000, e2 at NOW + 2000, to every connection.
    for d in &due {
        let at = if d.event_id == "e1" {
            NOW + 1_000
        } else {
            NOW + 2_000
        };
        let dead = Outcome::Dead {
            error: "webhook answered 400".into(),
        };
        s.outbox.finish(vec![finish(d, dead)], at).await.unwrap();
    }
    // c2 is disabled: its deliveries are counted but held.
    assert!(s
        .connections
        .set_disabled(
            &id("c2"),
            Some("by hand".into()),
            audit("disable", "c2", NOW)
        )
        .await
        .unwrap());
    let e1 = Replay {
        dead_until: Some(NOW + 2_000),
        ..Replay::default()
    };
    let dry = s
        .outbox
        .replay(e1.clone(), NOW + 3_000, true, None)
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.held, dry.replayed), (3, 1, 0));
    assert_eq!(
        s.outbox.dead(0, 10).await.unwrap().len(),
        6,
        "a dry run changes nothing"
    );
    let c0_e2 = Replay {
        entity_id: Some("c0".into()),
        event_id: Some("e2".into()),
        dead_since: Some(NOW + 2_000),
        ..Replay::default()
    };
    let dry = s
        .outbox
        .replay(c0_e2.clone(), NOW + 3_000, true, None)
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.held), (1, 0));
    let before = s.connections.audit_log(None, 10).await.unwrap().len();
    let done = s
        .outbox
        .replay(
            e1,
            NOW + 3_000,
            false,
            Some(audit("replay", "deliveries", NOW + 3_000)),
        )
        .await
        .unwrap();
    assert_eq!((done.matched, done.held, done.replayed), (3, 1, 2));
    let log = s.connections.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), before + 1);
    assert_eq!(
        (log[0].action.as_str(), log[0].target.as_str()),
        ("replay", "deliveries")
    );
    let detail: serde_json::Value =
        serde_json::from_str(log[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["filter"]["deadUntil"], NOW + 2_000, "{detail}");
    assert_eq!(
        (detail["matched"].as_u64(), detail["replayed"].as_u64()),
        (Some(3), Some(2))
    );
    let again = s
        .outbox
        .claim(NOW + 3_000, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    let mut got: Vec<_> = again
        .iter()
        .map(|d| (d.entity_id.as_str(), d.event_id.as_str()))
        .collect();
    got.sort();
    assert_eq!(got, [("c0", "e1"), ("c1", "e1")]);
    // Replayed, a delivery keeps the attempts it had.
    let one = s
        .outbox
        .delivery(again[0].delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.delivery.status.as_str(), one.delivery.attempts),
        ("pending", 0)
    );
    assert_eq!(one.attempt_log.len(), 1);
    assert_eq!(one.attempt_log[0].outcome, "dead");
    let done = s
        .outbox
        .replay(c0_e2, NOW + 3_000, false, None)
        .await
        .unwrap();
    assert_eq!(done.replayed, 1);
    assert_eq!(
        s.outbox.dead(0, 10).await.unwrap().len(),
        3,
        "c1's e2 and both of c2's stay dead"
    );
}

async fn stats_count_attempts_per_minute_by_outcome_and_what_is_due(subject: &Subject) {
    let s = subject.open().await;
    connections(&s, 3).await;
    const MINUTE: i64 = 60_000;
    let start = NOW / MINUTE * MINUTE;
    accept(&s, "e1", "", start).await;
    let due = s
        .outbox
        .claim(start, 10, LEASE, &limits())
        .await
        .unwrap()
        .due;
    let retry = |at_ms| Outcome::Retry {
        at_ms,
        error: "webhook answered 503".into(),
    };
    // Minute 0: c0 delivered, c1 retried; minute 2: c2 dead; c1's retry is due at minute 3.
    let by = |who: &str| due.iter().find(|d| d.entity_id == who).unwrap();
    s.outbox
        .finish(
            vec![
                finish(by("c0"), Outcome::Delivered),
                finish(by("c1"), retry(start + 3 * MINUTE)),
            ],
            start + 10,
        )
        .await
        .unwrap();
    let dead = Outcome::Dead {
        error: "webhook answered 400".into(),
    };
    s.outbox
        .finish(vec![finish(by("c2"), dead)], start + 2 * MINUTE + 59_999)
        .await
        .unwrap();
    let stats = s.outbox.stats(start, start + 4 * MINUTE).await.unwrap();
    let seen: Vec<_> = stats
        .minutes
        .iter()
        .map(|m| (m.minute - start, m.delivered, m.retried, m.dead))
        .collect();
    assert_eq!(seen, [(0, 1, 1, 0), (2 * MINUTE, 0, 0, 1)]);
    assert_eq!(
        (stats.due, stats.oldest_due_at),
        (1, Some(start + 3 * MINUTE))
    );
    let later = s
        .outbox
        .stats(start + MINUTE, start + MINUTE)
        .await
        .unwrap();
    assert_eq!(later.minutes.len(), 1, "only attempts from since on");
    assert_eq!(
        (later.due, later.oldest_due_at),
        (0, None),
        "nothing due yet"
    );
}
