//! Crash test: a fan-out of a few thousand deliveries, the server killed with SIGKILL
//! halfway, started again on the same database: every delivery arrives at least once, and
//! repeats carry the same idempotency key. The webhook receiver is a separate process part
//! (this test), so it outlives the server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde_json::json;

const CONNECTIONS: usize = 2_000;
const SECRET: &str = "crash-secret";

type Received = Arc<Mutex<Vec<(String, String)>>>;

async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let app = Router::new()
        .route(
            "/emulator/webhook/{*path}",
            post(|State(got): State<Received>, Path(path): Path<String>, headers: HeaderMap| async move {
                // Slow enough that the kill lands in the middle of the fan-out.
                tokio::time::sleep(Duration::from_millis(15)).await;
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                got.lock().unwrap().push((path, key));
                "1"
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn start_server(db: &std::path::Path, inbox: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-server"))
        .args([
            "--dev",
            "--port",
            "0",
            "--write-rate",
            "0",
            "--tenant-write-rate",
            "0",
            "--events-secret",
            SECRET,
        ])
        .args(["--dev-inbox-origin", inbox, "--dist", "/nonexistent"])
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // Keep draining what the server prints.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

fn distinct(got: &Received) -> usize {
    let g = got.lock().unwrap();
    let mut paths: Vec<&String> = g.iter().map(|(p, _)| p).collect();
    paths.sort();
    paths.dedup();
    paths.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite");
    let (inbox, got) = receiver().await;
    let (mut server, url) = start_server(&db, &inbox);
    let client = reqwest::Client::new();

    // Connections, each with its own webhook on the receiver.
    let settings = json!({ "subscription_name": "Crash test", "events": ["build_failed"], "filter": "",
        "card_style": "compact", "mention_channel": false });
    let mut tasks = Vec::new();
    for chunk in (0..CONNECTIONS).collect::<Vec<_>>().chunks(CONNECTIONS / 8) {
        let (client, url, inbox, settings, chunk) = (
            client.clone(),
            url.clone(),
            inbox.clone(),
            settings.clone(),
            chunk.to_vec(),
        );
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                let hook =
                    format!("{inbox}/emulator/webhook/webhookb2/g{i}@t/IncomingWebhook/abc/u");
                let res = client
                    .put(format!("{url}/api/connections/c{i}"))
                    .json(&json!({ "webhookUrl": hook, "settings": settings }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let body = json!({ "id": "crash-1", "type": "build_failed", "title": "Fan-out" }).to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let res = client
        .post(format!("{url}/api/events"))
        .header("x-connector-timestamp", ts.to_string())
        .header(
            "x-connector-signature",
            connector_server::sign_event(SECRET, ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);

    // Kill -9 halfway.
    let started = Instant::now();
    while distinct(&got) < CONNECTIONS / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "fan-out did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let at_kill = distinct(&got);
    assert!(
        at_kill < CONNECTIONS,
        "killed before the end ({at_kill} of {CONNECTIONS})"
    );

    let (mut server, _) = start_server(&db, &inbox);
    let started = Instant::now();
    while distinct(&got) < CONNECTIONS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} of {CONNECTIONS} arrived",
            distinct(&got)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let g = got.lock().unwrap();
    let mut keys: HashMap<&str, Vec<&str>> = HashMap::new();
    for (path, key) in g.iter() {
        keys.entry(path).or_default().push(key);
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
    let repeats = g.len() - CONNECTIONS;
    println!("crash test: {at_kill} delivered before the kill, {repeats} delivered twice after it, none lost");
}
