//! `cargo xtask bench delivery`: N connections, each with its own local webhook, one event
//! to all. Prints cards per second, p50/p99 from event accepted to card received, rate
//! window violations and the server's peak memory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::Router;
use connector_settings::{CardStyle, Value, CONNECTOR};
use serde_json::json;

type Received = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut n: usize = 10_000;
    let mut server_bin = String::from("target/release/connector-server");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--connections" => n = args.next().unwrap_or_default().parse()?,
            "--server" => server_bin = args.next().unwrap_or_default(),
            other => anyhow::bail!("unknown option '{other}' (--connections N, --server PATH)"),
        }
    }
    let got: Received = Arc::default();
    let app = Router::new()
        .route(
            "/emulator/webhook/{*path}",
            post(
                |State(got): State<Received>, Path(path): Path<String>| async move {
                    got.lock()
                        .unwrap()
                        .entry(path)
                        .or_default()
                        .push(Instant::now());
                    "1"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let inbox = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir()?;
    let secret = "bench-events-secret-of-32-bytes-or-more";
    let mut child = Command::new(&server_bin)
        .args([
            "--dev",
            "--port",
            "0",
            "--write-rate",
            "0",
            "--tenant-write-rate",
            "0",
            "--events-secret",
            secret,
        ])
        .args(["--dev-inbox-origin", &inbox, "--dist", "/nonexistent"])
        .arg("--db")
        .arg(dir.path().join("bench.sqlite"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line)?;
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();

    let client = reqwest::Client::new();
    // Every connection wants the first event type, in full cards: found by the fields'
    // roles, so the benchmark runs with any connector.toml.
    let kind = CONNECTOR.event_types()[0].value;
    let mut settings = connector_settings::default_values();
    settings.insert(
        CONNECTOR.name_field().id.into(),
        Value::Text("Bench".into()),
    );
    settings.insert(
        CONNECTOR.events_field().id.into(),
        Value::List(vec![kind.into()]),
    );
    if let (Some(field), Some(value)) = (
        CONNECTOR.card_style_field(),
        CONNECTOR.card_style_value(CardStyle::Detailed),
    ) {
        settings.insert(field.id.into(), Value::Text(value.into()));
    }
    let setup = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (client, url, inbox, settings) =
            (client.clone(), url.clone(), inbox.clone(), settings.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(16) {
                let hook =
                    format!("{inbox}/emulator/webhook/webhookb2/g{i}@t/IncomingWebhook/abc/u");
                let res = client
                    .put(format!("{url}/api/connections/c{i}"))
                    .json(&json!({ "webhookUrl": hook, "settings": settings }))
                    .send()
                    .await?;
                anyhow::ensure!(
                    res.status() == 201,
                    "creating connection {i}: {}",
                    res.status()
                );
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "{n} connections created in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let body = json!({ "type": kind, "title": "Benchmark", "text": "One event to every connection",
        "facts": [{ "name": "Run", "value": "1" }] })
    .to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let res = client
        .post(format!("{url}/api/events"))
        .header("x-connector-timestamp", ts.to_string())
        .header(
            "x-connector-signature",
            connector_server::sign_event(secret, ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await?;
    let accepted = Instant::now();
    anyhow::ensure!(res.status() == 202, "event: {}", res.status());
    loop {
        let have = got.lock().unwrap().len();
        if have >= n {
            break;
        }
        anyhow::ensure!(
            accepted.elapsed() < Duration::from_secs(600),
            "only {have} of {n} cards arrived in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peak_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();

    let got = got.lock().unwrap();
    let mut latencies: Vec<f64> = got
        .values()
        .map(|t| (t[0] - accepted).as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    let last = latencies.last().copied().unwrap_or(0.0);
    // Per webhook: more posts inside a window than Teams allows.
    let windows = [
        (1.0, 4),
        (30.0, 60),
        (3600.0, 100),
        (7200.0, 150),
        (86400.0, 1800),
    ];
    let violations: usize = got
        .values()
        .map(|times| {
            windows
                .iter()
                .filter(|(secs, limit)| {
                    times.iter().any(|t| {
                        times
                            .iter()
                            .filter(|u| **u >= *t && (**u - *t).as_secs_f64() < *secs)
                            .count()
                            > *limit
                    })
                })
                .count()
        })
        .sum();
    let duplicates: usize = got.values().map(|t| t.len() - 1).sum();
    println!("cards delivered:        {}", got.len());
    println!(
        "cards per second:       {:.0}",
        got.len() as f64 / (last / 1000.0)
    );
    println!(
        "accepted -> received:   p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms",
        pct(0.50),
        pct(0.99),
        last
    );
    println!("rate-window violations: {violations}");
    println!("duplicate posts:        {duplicates}");
    println!(
        "server peak memory:     {:.1} MiB (VmHWM)",
        peak_kib as f64 / 1024.0
    );
    Ok(())
}
