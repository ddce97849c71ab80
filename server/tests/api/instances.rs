//! Many instances on one real PostgreSQL: server processes sharing a database, posting to
//! webhooks in this test process, killed, stopped and started together.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

use connector_settings::CardStyle;

use crate::helpers::{
    create_many, event, event_types, on_postgres, postgres_args, settings, until, violations,
    Answer, Receiver, ServerProcess, TestApp,
};

/// Event number `n` (events without an id are known by their signature: identical ones sent
/// within a second would be one).
fn numbered(n: usize) -> Value {
    let mut e = event(event_types()[0], "");
    e["id"] = json!(format!("ev-{n}"));
    e
}

/// A server process on `db` with `extra` flags.
fn instance(
    receiver: &Receiver,
    db: &crate::helpers::TestDatabase,
    extra: &[&str],
) -> ServerProcess {
    let mut args = postgres_args(db);
    args.extend(extra.iter().map(|a| a.to_string()));
    ServerProcess::start(&receiver.origin, args)
}

async fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    until(what, secs, async || f()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_lose_no_card_when_one_is_killed_in_the_middle_of_a_fan_out() {
    const CONNECTIONS: usize = 2_000;
    const CONCURRENCY: usize = 16;
    let db = crate::postgres_or_skip!();
    // Slow enough that the kill lands in the middle of the fan-out.
    let receiver = Receiver::start(Duration::from_millis(40)).await;
    // A short lease (at least 2 × the 2 s time-out + 10 s), so the killed instance's claims
    // come back within the test.
    let flags = [
        "--webhook-timeout",
        "2",
        "--claim-lease",
        "15",
        "--delivery-concurrency",
        "16",
    ];
    let mut a = instance(&receiver, &db, &flags);
    let b = instance(&receiver, &db, &flags);
    create_many(&b, &receiver, 0..CONNECTIONS).await;
    let res = a
        .send(&json!({ "id": "fan-1", "type": event_types()[0], "title": "Fan-out" }))
        .await;
    assert_eq!(res.status(), 202);

    wait_for("the fan-out to start", 60, || {
        receiver.distinct() >= CONNECTIONS / 3
    })
    .await;
    a.kill();
    let at_kill = receiver.distinct();
    assert!(
        at_kill < CONNECTIONS,
        "killed before the end ({at_kill} of {CONNECTIONS})"
    );

    wait_for("every card", 120, || receiver.distinct() == CONNECTIONS).await;
    // A moment for repeats still under way to land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cards = receiver.cards();
    let mut keys: HashMap<&str, Vec<&str>> = HashMap::new();
    for card in &cards {
        keys.entry(&card.path)
            .or_default()
            .push(&card.idempotency_key);
    }
    assert_eq!(keys.len(), CONNECTIONS, "every card arrived");
    for (path, ks) in &keys {
        assert!(
            ks.iter().all(|k| *k == ks[0] && k.starts_with("fan-1:")),
            "{path}: every repeat carries the same idempotency key: {ks:?}"
        );
    }
    let repeats = cards.len() - CONNECTIONS;
    assert!(
        repeats <= CONCURRENCY,
        "{repeats} repeats: more than the {CONCURRENCY} the killed instance can have had in flight"
    );
    println!(
        "two instances, one killed: {at_kill} cards before the kill, {repeats} repeated, none lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_events_to_one_webhook_through_two_instances_keep_every_rate_window() {
    let db = crate::postgres_or_skip!();
    let receiver = Receiver::start(Duration::ZERO).await;
    let a = instance(&receiver, &db, &[]);
    let b = instance(&receiver, &db, &[]);
    a.create("c1", &receiver.hook("one"), &settings()).await;
    for i in 0..20 {
        let via = if i % 2 == 0 { &a } else { &b };
        assert_eq!(via.send(&numbered(i)).await.status(), StatusCode::ACCEPTED);
    }
    wait_for("twenty cards", 60, || receiver.cards().len() >= 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cards = receiver.cards();
    assert_eq!(cards.len(), 20, "each once");
    let times: Vec<Instant> = cards.iter().map(|c| c.at).collect();
    assert_eq!(
        violations(&times),
        0,
        "no window exceeded, by the receiver's clock"
    );
    let span = times
        .iter()
        .max()
        .unwrap()
        .duration_since(*times.iter().min().unwrap());
    assert!(
        span >= Duration::from_secs(4),
        "20 cards at 4 per second take 4 s at least: {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_started_together_on_an_empty_database_end_with_one_schema() {
    let db = crate::postgres_or_skip!();
    let receiver = Receiver::start(Duration::ZERO).await;
    let all: Vec<ServerProcess> = std::thread::scope(|s| {
        let started: Vec<_> = (0..3)
            .map(|_| s.spawn(|| instance(&receiver, &db, &[])))
            .collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for server in &all {
        assert_eq!(
            server.get_path("/api/health").await.status(),
            StatusCode::OK
        );
    }
    let mut conn = db.connect().await;
    let migrations = sqlx::query("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(migrations.len(), files, "each migration recorded once");
    assert!(migrations.iter().all(|m| m.get::<bool, _>(1)));
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
         AND table_name IN ('connections', 'events', 'deliveries', 'webhook_windows', 'key_checks')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 5);
    // And they work as one: saved on one, read on another.
    all[0].create("c1", &receiver.hook("x"), &settings()).await;
    assert_eq!(
        all[2].get("c1", Some(&receiver.hook("x"))).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_keys_differ_from_the_database_does_not_start() {
    let db = crate::postgres_or_skip!();
    let mut first = crate::helpers::config(std::path::Path::new("/nonexistent"), false);
    on_postgres(&mut first, &db);
    crate::helpers::start(first.clone()).await;
    let mut other = first.clone();
    other.hash_key = Some("cd".repeat(32));
    let err = connector_server::startup::Application::build(other)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("the hash key (CONNECTOR_HASH_KEY or --hash-key-file) is not the key this database was made with"),
        "{err:#}"
    );
    let mut other = first;
    other.encryption_keys = Some(format!("k1:{}", "99".repeat(32)));
    let err = connector_server::startup::Application::build(other)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("encryption key 'k1' is not the key"),
        "{err:#}"
    );
}

/// `url` with TLS `sslmode` (and `extra` query parameters) added.
fn with_tls(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_reaches_postgres_over_tls_and_checks_its_certificate() {
    let db = crate::postgres_or_skip!();
    let Ok(ca) = std::env::var("CONNECTOR_TEST_DATABASE_CA") else {
        eprintln!("skipped: CONNECTOR_TEST_DATABASE_CA is not set (cargo xtask test sets it)");
        return;
    };
    let receiver = Receiver::start(Duration::ZERO).await;
    // Checked against the cluster's own CA, as with a provider's CA bundle.
    let mut args = postgres_args(&db);
    args[1] = with_tls(&db.url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let server = ServerProcess::start(&receiver.origin, args);
    server
        .create("c1", &receiver.hook("one"), &settings())
        .await;
    assert_eq!(
        server.send(&numbered(0)).await.status(),
        StatusCode::ACCEPTED
    );
    wait_for("the card", 30, || receiver.cards().len() == 1).await;
    let mut conn = db.connect().await;
    let encrypted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND s.ssl",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(encrypted >= 1, "the server's connections are encrypted");
    // The public roots built in do not know the cluster's CA: verify-full refuses it.
    let mut refused = crate::helpers::config(std::path::Path::new("/nonexistent"), false);
    on_postgres(&mut refused, &db);
    refused.database_url = Some(with_tls(&db.url, "sslmode=verify-full"));
    let err = connector_server::startup::Application::build(refused)
        .await
        .err()
        .expect("an unknown certificate is refused");
    assert!(
        format!("{err:#}").to_lowercase().contains("certificate"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_accepted_on_one_instance_is_delivered_promptly_by_another() {
    let db = crate::postgres_or_skip!();
    let receiver = Receiver::start(Duration::ZERO).await;
    let api = instance(&receiver, &db, &["--role", "api"]);
    // Polls only every 10 minutes: a prompt delivery can only come from the wake-up.
    let worker = instance(
        &receiver,
        &db,
        &["--role", "delivery", "--poll-interval-ms", "600000"],
    );
    api.create("c1", &receiver.hook("one"), &settings()).await;
    // The delivery-only instance serves health and nothing else.
    assert_eq!(
        worker.get_path("/api/health").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        worker.get("c1", Some(&receiver.hook("one"))).await.status(),
        StatusCode::NOT_FOUND
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..3 {
        let sent = Instant::now();
        assert_eq!(api.send(&numbered(i)).await.status(), StatusCode::ACCEPTED);
        wait_for("the card", 10, || receiver.cards().len() > i).await;
        let took = sent.elapsed();
        assert!(took < Duration::from_secs(2), "card {i} took {took:?}");
        // Past the per-second window, so each card can go at once.
        tokio::time::sleep(Duration::from_millis(1_300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_webhook_seen_by_one_instance_is_never_posted_to_by_another() {
    let db = crate::postgres_or_skip!();
    let receiver = Receiver::start(Duration::ZERO).await;
    let a = instance(&receiver, &db, &[]);
    let b = instance(&receiver, &db, &[]);
    let hook = receiver.hook("gone");
    a.create("c1", &hook, &settings()).await;
    receiver.answer("gone", Answer::Status(410));
    a.send(&numbered(0)).await;
    until(
        "the connection disabled, as another instance sees it",
        10,
        async || b.status("c1", &hook).await["disabled"].is_string(),
    )
    .await;
    assert_eq!(receiver.requests("gone").len(), 1);
    // Whoever posted saw the 410; now neither posts there, whatever comes in where.
    for (n, via) in [&a, &b, &a, &b].into_iter().enumerate() {
        let res: Value = via.send(&numbered(n + 1)).await.json().await.unwrap();
        assert_eq!(res["duplicate"], false);
        assert_eq!(
            res["deliveries"], 0,
            "a disabled connection gets no deliveries"
        );
    }
    let test_card = b
        .client
        .post(format!("{}/api/connections/c1/test-card", b.url))
        .header("x-teams-webhook-url", &hook)
        .send()
        .await
        .unwrap();
    assert_eq!(test_card.status(), StatusCode::ACCEPTED);
    until("the test card to die", 10, async || {
        b.status("c1", &hook).await["dead"] == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.requests("gone").len(),
        1,
        "nothing more was posted to the gone webhook"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_fails_for_ten_minutes_still_gets_its_card() {
    let db = crate::postgres_or_skip!();
    // The retry schedule divided by 200: 10 minutes of outage pass in 3 s.
    const DIVISOR: u32 = 200;
    let app = TestApp::dev_with(|c| {
        on_postgres(c, &db);
        c.test_retry_divisor = DIVISOR;
    })
    .await;
    let hook = app
        .connect("c1", &[event_types()[0]], "", CardStyle::Compact)
        .await;
    app.mode(&hook, "error").await;
    let started = Instant::now();
    app.send(&numbered(0)).await;
    let outage = Duration::from_secs(600) / DIVISOR;
    tokio::time::sleep(outage).await;
    let during = app.status("c1", &hook).await;
    assert_eq!(
        during["pending"], 1,
        "still pending after the outage: {during}"
    );
    assert!(
        during["lastError"].as_str().unwrap().contains("500"),
        "{during}"
    );
    app.mode(&hook, "ok").await;
    until("the card after the outage", 30, async || {
        app.status("c1", &hook).await["delivered"] == 1
    })
    .await;
    let inbox = app.inbox(&hook).await;
    assert!(
        inbox.len() >= 4,
        "the 500s were recorded too: {}",
        inbox.len()
    );
    println!(
        "delivered {:?} after the first try ({} requests)",
        started.elapsed(),
        inbox.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instance_hands_back_what_it_could_not_finish() {
    let db = crate::postgres_or_skip!();
    // Answers after 6 s: the post is still in flight when the instance is stopped.
    let receiver = Receiver::start(Duration::from_secs(6)).await;
    // The lease is 90 s: without the hand-back, nobody could post again for that long.
    let flags = ["--webhook-timeout", "30", "--shutdown-grace", "1"];
    let mut a = instance(&receiver, &db, &flags);
    a.create("c1", &receiver.hook("slow"), &settings()).await;
    a.send(&json!({ "id": "slow-1", "type": event_types()[0], "title": "Slow" }))
        .await;
    wait_for("the first post", 10, || {
        !receiver.requests("slow").is_empty()
    })
    .await;
    let b = instance(&receiver, &db, &flags);
    let stopped = Instant::now();
    a.terminate();
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "stopped within the grace"
    );
    wait_for("another instance's post", 10, || {
        receiver.requests("slow").len() >= 2
    })
    .await;
    let requests = receiver.requests("slow");
    assert!(requests[1].at.duration_since(stopped) < Duration::from_secs(5));
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key);
    until("delivered", 15, async || {
        b.status("c1", &receiver.hook("slow")).await["delivered"] == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_is_done_by_one_instance_at_a_time() {
    use connector_server::store::{self, Database};
    let db = crate::postgres_or_skip!();
    let ring =
        connector_server::domain::Keyring::parse(&format!("k1:{}", "11".repeat(32))).unwrap();
    let database = Database::Postgres {
        url: db.url.clone(),
        pool: 4,
    };
    let stores = store::open(&database, ring).await.unwrap();
    // Another instance pruning right now holds the lock.
    let mut other = db.connect().await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(store::PRUNE_LOCK)
        .execute(&mut other)
        .await
        .unwrap();
    assert_eq!(
        stores.outbox.prune(0, 0).await.unwrap(),
        None,
        "left to the other instance"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(store::PRUNE_LOCK)
        .execute(&mut other)
        .await
        .unwrap();
    assert!(stores.outbox.prune(0, 0).await.unwrap().is_some());
}
