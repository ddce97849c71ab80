//! What operators lean on: metrics counted exactly and free of secrets, readiness that
//! follows the database, log lines with request ids and without secrets, the deadline that
//! rolls back a stalled save, and load shedding that answers at once.

use std::time::{Duration, Instant};

use connector_settings::CardStyle;
use serde_json::{json, Value};

use crate::helpers::{
    event_types, postgres_args, settings, until, Answer, Receiver, ServerProcess,
};
use crate::postgres_or_skip;

/// Settings wanting events of `kind`.
fn wanting(kind: &str) -> Value {
    crate::helpers::subscription("Ops", &[kind], "", CardStyle::Compact, false)
}

/// The value of the series `name` (with its labels, as printed), 0 when absent.
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const PUT_CREATED: &str = r#"connector_http_requests_total{route="/api/connections/{entity_id}",method="PUT",status="2xx"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_save_and_a_delivery_run_exactly_and_show_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = ServerProcess::start(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    let before = server.scrape().await;
    assert_eq!(value(&before, PUT_CREATED), 0.0);

    // Three connections; one whose webhook is gone, one that throttles then takes cards.
    let kind = event_types()[0];
    let subscribed = wanting(kind);
    let hooks: Vec<String> = ["ops-secret-a1", "ops-secret-b2", "ops-secret-c3"]
        .iter()
        .map(|n| receiver.hook(n))
        .collect();
    for (i, hook) in hooks.iter().enumerate() {
        server.create(&format!("ops-{i}"), hook, &subscribed).await;
    }
    receiver.answer("ops-secret-b2", Answer::Status(410));
    receiver.answer("ops-secret-c3", Answer::Status(429));

    let res = server
        .send(&json!({ "id": "ops-event-1", "type": kind, "title": "Counted" }))
        .await;
    assert_eq!(res.status(), 202);
    // The throttled one takes cards after its first refusal (retried 5 s later).
    until(
        "the first attempt at the throttled webhook",
        30,
        async || !receiver.requests("ops-secret-c3").is_empty(),
    )
    .await;
    receiver.answer("ops-secret-c3", Answer::Ok);
    until(
        "every outcome counted and the gauges read",
        60,
        async || {
            let m = server.scrape().await;
            value(&m, r#"connector_deliveries_total{outcome="delivered"}"#) == 2.0
                && value(&m, "connector_deliveries_pending") == 0.0
                && value(&m, "connector_deliveries_dead") == 1.0
        },
    )
    .await;

    let m = server.scrape().await;
    assert_eq!(value(&m, PUT_CREATED), 3.0, "{m}");
    assert_eq!(value(&m, "connector_events_accepted_total"), 1.0);
    assert_eq!(value(&m, "connector_event_deliveries_stored_total"), 3.0);
    assert_eq!(
        value(&m, r#"connector_deliveries_total{outcome="disabled"}"#),
        1.0
    );
    assert_eq!(
        value(&m, r#"connector_deliveries_total{outcome="throttled"}"#),
        1.0
    );
    assert_eq!(
        value(&m, r#"connector_deliveries_total{outcome="retried"}"#),
        0.0
    );
    assert_eq!(
        value(&m, r#"connector_deliveries_total{outcome="dead"}"#),
        0.0
    );
    assert_eq!(value(&m, "connector_connections_disabled"), 1.0);
    assert_eq!(value(&m, "connector_deliveries_due"), 0.0);
    assert_eq!(value(&m, "connector_database_up"), 1.0);
    assert_eq!(value(&m, "connector_delivery_leases_lost_total"), 0.0);
    assert!(m.contains("connector_http_request_duration_seconds_bucket{route=\"/api/events\""));
    assert!(m.contains("connector_database_connections_in_use"));
    for hook in &hooks {
        let secret = hook.split("/emulator/webhook/").nth(1).unwrap();
        assert!(!m.contains(secret), "a webhook secret in the metrics");
    }
    assert!(
        !m.contains("ops-secret") && !m.contains("ops-0"),
        "per-connection labels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postponements_are_counted_by_the_window_that_held_them() {
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.sqlite");
    let server = ServerProcess::start(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    let kind = event_types()[0];
    let hook = receiver.hook("windowed");
    let subscribed = wanting(kind);
    server.create("w", &hook, &subscribed).await;
    // Six events to one webhook at once: four fit the 1 s window, two wait for it.
    for i in 0..6 {
        let res = server
            .send(&json!({ "id": format!("w-{i}"), "type": kind, "title": "W" }))
            .await;
        assert_eq!(res.status(), 202);
    }
    until("six cards", 30, async || receiver.cards().len() == 6).await;
    let m = server.scrape().await;
    assert!(
        value(&m, r#"connector_delivery_postponements_total{window="1s"}"#) >= 2.0,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"connector_delivery_postponements_total{window="1d"}"#),
        0.0
    );
}

/// An old SQLite instance whose database a newer version migrated (a restore of a newer
/// backup, or two versions on one file): not ready, naming both versions, alive still.
#[tokio::test]
async fn readiness_names_the_versions_when_the_sqlite_schema_is_ahead() {
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.sqlite");
    let server = ServerProcess::start(&receiver.origin, ["--db", db.to_str().unwrap()]);
    assert_eq!(server.get_path("/readyz").await.status(), 200);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let known: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", known + 1))
        .unwrap();
    let res = server.get_path("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_ready");
    assert_eq!(
        body["message"],
        format!("the database schema is at version {}, ahead of this server's version {known}: a newer version migrated it; run that version here too", known + 1)
    );
    assert_eq!(server.get_path("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readiness_follows_the_postgres_database_away_and_back_and_its_schema() {
    let db = postgres_or_skip!();
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = ServerProcess::start(&receiver.origin, postgres_args(&db));
    let ready = async || server.get_path("/readyz").await.status().as_u16();
    assert_eq!(ready().await, 200);
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    use sqlx::Executor;
    // Through the server's maintenance database: a database cannot refuse its own session.
    let admin_url = std::env::var("CONNECTOR_TEST_DATABASE_URL").unwrap();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    // The database goes away: no new connections, the open ones ended.
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str())
        .await
        .unwrap();
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            .as_str(),
        )
        .await
        .unwrap();
    until("readiness false", 30, async || ready().await == 503).await;
    let body: Value = server.get_path("/readyz").await.json().await.unwrap();
    assert_eq!(body["error"], "not_ready");
    // Alive all along: only readiness follows the database.
    assert_eq!(server.get_path("/healthz").await.status(), 200);

    // It comes back.
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str())
        .await
        .unwrap();
    until("readiness true again", 30, async || ready().await == 200).await;

    // A schema migrated by a newer version is not this server's.
    let mut conn = db.connect().await;
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .await
    .unwrap();
    until("readiness false for the schema", 10, async || {
        ready().await == 503
    })
    .await;
    let body: Value = server.get_path("/readyz").await.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("at migration 99990101000000, ahead of this server's migration"),
        "{body}"
    );
    conn.execute("DELETE FROM _sqlx_migrations WHERE version = 99990101000000")
        .await
        .unwrap();
    assert_eq!(ready().await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_request_ids_and_never_a_webhook_secret_or_key() {
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.sqlite");
    for filter in ["info", "debug"] {
        let _ = std::fs::remove_file(&db);
        let server = ServerProcess::start_logged(
            &receiver.origin,
            ["--db", db.to_str().unwrap(), "--log-format", "json"],
            filter,
        );
        let kind = event_types()[0];
        let hook = receiver.hook(&format!("logsecret-{filter}-7c1f"));
        let subscribed = wanting(kind);
        // Save, with a request id of the caller's.
        let res = server
            .client
            .put(format!("{}/api/connections/l1", server.url))
            .header("x-request-id", "caller-id-42")
            .json(&json!({ "webhookUrl": hook, "settings": subscribed }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["x-request-id"], "caller-id-42");
        let key = res.json::<Value>().await.unwrap()["editKey"]
            .as_str()
            .unwrap()
            .to_string();
        // Edit with the edit key.
        let res = server
            .client
            .put(format!("{}/api/connections/l1", server.url))
            .header("x-connector-edit-key", &key)
            .json(&json!({ "settings": settings() }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let made = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(made.len(), 16, "an id is made when none is given");
        // A delivery, then the removal.
        server
            .create(
                "l2",
                &receiver.hook(&format!("logsecret2-{filter}-9d")),
                &wanting(kind),
            )
            .await;
        let res = server
            .send(&json!({ "id": format!("log-{filter}"), "type": kind, "title": "Logged" }))
            .await;
        assert_eq!(res.status(), 202);
        until("the card", 30, async || {
            receiver
                .cards()
                .iter()
                .any(|c| c.path.contains(&format!("logsecret2-{filter}")))
        })
        .await;
        assert_eq!(server.delete("l1", &hook).await.status(), 204);
        tokio::time::sleep(Duration::from_millis(300)).await;

        let lines = server.log_lines();
        assert!(lines.len() >= 5, "{lines:?}");
        for line in &lines {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(
                v["timestamp"].is_string() && v["level"].is_string(),
                "{line}"
            );
            for secret in ["logsecret", &key, "IncomingWebhook"] {
                assert!(
                    !line.contains(secret),
                    "a secret ({secret}) in a log line at {filter}: {line}"
                );
            }
        }
        let with = |id: &str| {
            lines
                .iter()
                .filter(|l| l.contains(&format!("\"request_id\":\"{id}\"")))
                .count()
        };
        assert!(with("caller-id-42") >= 1, "{lines:?}");
        assert!(with(&made) >= 1, "{lines:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answer_cannot_forge_or_hide_text_in_a_text_log_line() {
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("forge.sqlite");
    let server = ServerProcess::start_logged(
        &receiver.origin,
        ["--db", db.to_str().unwrap(), "--log-format", "text"],
        "info",
    );
    let kind = event_types()[0];
    let hook = receiver.hook("forger");
    server.create("f1", &hook, &wanting(kind)).await;
    receiver.answer(
        "forger",
        Answer::Body(
            400,
            "no\n2026-01-01T00:00:00Z  INFO forged: all good\r\u{1b}[2K\u{1b}[31mred\u{202e}txet\u{2066}",
        ),
    );
    let res = server
        .send(&json!({ "id": "forge-1", "type": kind, "title": "Forge" }))
        .await;
    assert_eq!(res.status(), 202);
    until("the failed delivery's line", 30, async || {
        server.log_lines().iter().any(|l| l.contains("forged"))
    })
    .await;
    let lines = server.log_lines();
    let line = lines.iter().find(|l| l.contains("forged")).unwrap();
    assert!(
        line.contains("no\\n2026-01-01") && line.contains("\\u{1b}[31m"),
        "the newline and escapes are written as escapes: {line}"
    );
    for (bad, what) in [
        ('\u{1b}', "ESC"),
        ('\r', "CR"),
        ('\u{202e}', "RLO"),
        ('\u{2066}', "LRI"),
    ] {
        assert!(
            lines.iter().all(|l| !l.contains(bad)),
            "a raw {what} in the log: {lines:?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("2026-01-01T00:00:00Z  INFO forged")),
        "no forged line: {lines:?}"
    );
}

/// Starts a server whose saves stall `stall_ms` inside their transaction.
fn stalling(receiver: &Receiver, extra: Vec<String>, stall_ms: u64) -> ServerProcess {
    let mut args = extra;
    args.extend([
        "--test-stall-writes-ms".into(),
        stall_ms.to_string(),
        "--request-deadline".into(),
        "1".into(),
    ]);
    ServerProcess::start(&receiver.origin, args)
}

async fn a_stalled_save_is_abandoned_with_503_and_leaves_nothing(
    server: &ServerProcess,
    hook: &str,
) {
    let started = Instant::now();
    let res = server
        .put(
            "stalled",
            &json!({ "webhookUrl": hook, "settings": settings() }),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "deadline_exceeded", "{body}");
    assert!(
        took < Duration::from_millis(2_500),
        "answered after {took:?}"
    );
    // Past the stall, the transaction would have committed had it not been abandoned.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(server.get("stalled", Some(hook)).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sqlite_save_gets_503_within_the_deadline_and_nothing_is_saved() {
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.sqlite");
    let server = stalling(
        &receiver,
        vec!["--db".into(), db.display().to_string()],
        3_000,
    );
    a_stalled_save_is_abandoned_with_503_and_leaves_nothing(&server, &receiver.hook("stall-s"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_postgres_save_gets_503_within_the_deadline_and_nothing_is_saved() {
    let db = postgres_or_skip!();
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = stalling(&receiver, postgres_args(&db), 3_000);
    a_stalled_save_is_abandoned_with_503_and_leaves_nothing(&server, &receiver.hook("stall-p"))
        .await;
    let mut conn = db.connect().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM connections")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_limit_gets_503s_at_once_and_health_checks_still_answer() {
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.sqlite");
    let server = ServerProcess::start(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--test-stall-writes-ms",
            "2000",
            "--max-concurrent-requests",
            "2",
        ],
    );
    let started = Instant::now();
    let burst: Vec<_> = (0..12)
        .map(|i| {
            let api = server.api.clone();
            let hook = receiver.hook(&format!("burst-{i}"));
            tokio::spawn(async move {
                let res = api
                    .put(
                        &format!("b{i}"),
                        &json!({ "webhookUrl": hook, "settings": settings() }),
                    )
                    .await;
                let retry = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                (status, retry, body, started.elapsed())
            })
        })
        .collect();
    // Health checks answer while the saves hold every slot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let probe = Instant::now();
    assert_eq!(server.get_path("/healthz").await.status(), 200);
    assert!(
        probe.elapsed() < Duration::from_secs(1),
        "{:?}",
        probe.elapsed()
    );

    let mut shed = 0;
    for t in burst {
        let (status, retry, body, at) = t.await.unwrap();
        match status {
            201 => {}
            503 => {
                shed += 1;
                assert_eq!(body["error"], "overloaded", "{body}");
                assert_eq!(retry.as_deref(), Some("1"));
                assert!(at < Duration::from_secs(1), "shed after {at:?}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(shed >= 8, "only {shed} of 12 shed with a limit of 2");
}
