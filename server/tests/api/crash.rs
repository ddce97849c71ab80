//! Crash test: a fan-out of a few thousand deliveries, the server killed with SIGKILL
//! halfway, started again on the same database: every delivery arrives at least once, and
//! repeats carry the same idempotency key. The webhook receiver is part of the test
//! process, so it outlives the server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{create_many, event_types, Receiver, ServerProcess};

const CONNECTIONS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite");
    let db = db.to_str().unwrap();
    // Slow enough that the kill lands in the middle of the fan-out.
    let receiver = Receiver::start(Duration::from_millis(15)).await;
    let mut server = ServerProcess::start(&receiver.origin, &["--db", db]);

    // Connections, each with its own webhook on the receiver.
    create_many(&server, &receiver, 0..CONNECTIONS).await;

    let res = server
        .send(&json!({ "id": "crash-1", "type": event_types()[0], "title": "Fan-out" }))
        .await;
    assert_eq!(res.status(), 202);

    // Kill -9 halfway.
    let started = Instant::now();
    while receiver.distinct() < CONNECTIONS / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "fan-out did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let at_kill = receiver.distinct();
    assert!(
        at_kill < CONNECTIONS,
        "killed before the end ({at_kill} of {CONNECTIONS})"
    );

    let mut server = ServerProcess::start(&receiver.origin, &["--db", db]);
    let started = Instant::now();
    while receiver.distinct() < CONNECTIONS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} of {CONNECTIONS} arrived",
            receiver.distinct()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();

    let cards = receiver.cards();
    let mut keys: HashMap<&str, Vec<&str>> = HashMap::new();
    for card in &cards {
        keys.entry(&card.path)
            .or_default()
            .push(&card.idempotency_key);
    }
    assert_eq!(
        keys.len(),
        CONNECTIONS,
        "every delivery arrived at least once"
    );
    for (path, ks) in &keys {
        assert!(
            ks.iter().all(|k| *k == ks[0] && k.starts_with("crash-1:")),
            "{path}: {ks:?}"
        );
    }
    let repeats = cards.len() - CONNECTIONS;
    println!("crash test: {at_kill} delivered before the kill, {repeats} delivered twice after it, none lost");
}
