//! The events endpoint's guards: a secret too short to start with, signatures checked in
//! constant time and named when malformed, replays of events without an id, and timestamps
//! at the ends of i64. Like the delivery tests, these run against both example connectors.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use connector_server::startup::Application;
use connector_settings::CardStyle::Compact;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{config, event, event_types, until, TestApp};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn an_events_secret_shorter_than_32_bytes_stops_the_start() {
    for short in ["", "x", &"s".repeat(31)] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), false);
        c.events_secret = Some(short.to_string());
        let err = Application::build(c)
            .await
            .err()
            .unwrap_or_else(|| panic!("a {}-byte secret was taken", short.len()))
            .to_string();
        assert!(
            err.contains("--events-secret") && err.contains("CONNECTOR_EVENTS_SECRET"),
            "{err}"
        );
        assert!(err.contains("at least 32 bytes"), "{err}");
    }
    // 32 bytes are enough: events are on (an unsigned one is refused, not unknown).
    let on = TestApp::spawn_in(tempfile::tempdir().unwrap(), false, |c| {
        c.events_secret = Some("s".repeat(32))
    })
    .await;
    let body = event(event_types()[0], "").to_string();
    let res = on.post_event(&body, &now().to_string(), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Unset keeps events off.
    let off = TestApp::spawn_in(tempfile::tempdir().unwrap(), false, |c| {
        c.events_secret = None
    })
    .await;
    let res = off.post_event(&body, &now().to_string(), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("not enabled"));
}

/// Runs the server binary with `args` and `env`; its exit status and standard error, or
/// a panic when it does not stop by itself.
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-server"))
        .args(["--port", "0", "--dist", "/nonexistent", "--db"])
        .arg(dir.path().join("t.sqlite"))
        .args(args)
        .env_remove("CONNECTOR_EVENTS_SECRET")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the server started with {args:?} {env:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[test]
fn the_binary_refuses_an_empty_or_short_secret_from_the_flag_or_the_environment() {
    // (the flag's value, the environment's value)
    for (flag, var) in [(None, Some("")), (None, Some("hunter2")), (Some(""), None)] {
        let args: Vec<&str> = flag.map_or(vec![], |f| vec!["--events-secret", f]);
        let env: Vec<(&str, &str)> = var.map_or(vec![], |v| vec![("CONNECTOR_EVENTS_SECRET", v)]);
        let (status, err) = run_to_exit(&args, &env);
        assert!(!status.success(), "{args:?} {env:?}");
        assert!(
            err.contains("--events-secret") && err.contains("CONNECTOR_EVENTS_SECRET"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2"),
            "the secret is never printed: {err}"
        );
    }
}

#[tokio::test]
async fn a_replayed_event_without_an_id_is_a_duplicate_and_posts_once() {
    let d = TestApp::dev().await;
    let kind = event_types()[0];
    let hook = d.connect("c", &[kind], "", Compact).await;
    let body = event(kind, "").to_string();
    let ts = now();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let res = d.send_at(&body, ts).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        answers.push(res.json::<Value>().await.unwrap());
    }
    let duplicates: Vec<&Value> = answers.iter().map(|a| &a["duplicate"]).collect();
    assert_eq!(duplicates, [false, true, true]);
    let id = answers[0]["eventId"].as_str().unwrap();
    assert!(id.starts_with("sig-"), "{id}");
    assert!(answers.iter().all(|a| a["eventId"] == id));
    until("the card", 10, async || !d.inbox(&hook).await.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(d.inbox(&hook).await.len(), 1, "posted once");
    // Signed again at another second, the same body is another event.
    let resent: Value = d.send_at(&body, ts - 1).await.json().await.unwrap();
    assert_eq!(resent["duplicate"], false);
    assert_ne!(resent["eventId"], id);
}

#[tokio::test]
async fn correctly_signed_events_at_the_ends_of_time_are_refused() {
    let d = TestApp::dev().await;
    let body = event(event_types()[0], "").to_string();
    for ts in [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + 300,
        i64::MAX - 300,
        i64::MAX,
    ] {
        let res = d.send_at(&body, ts).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{ts}");
        let text = res.text().await.unwrap();
        assert!(
            text.contains(&format!("timestamp {ts} is more than 300 s away from now")),
            "{ts}: {text}"
        );
    }
    // Still five minutes either way.
    let hook = d.connect("c", &[event_types()[0]], "", Compact).await;
    for ts in [now() - 290, now() + 290] {
        assert_eq!(d.send_at(&body, ts).await.status(), StatusCode::ACCEPTED);
    }
    until("the cards", 10, async || d.inbox(&hook).await.len() == 2).await;
}

#[tokio::test]
async fn missing_and_malformed_signatures_are_named() {
    let d = TestApp::dev().await;
    let body = event(event_types()[0], "").to_string();
    let ts = now().to_string();
    let missing = d.post_event(&body, &ts, None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("'x-connector-signature' header (sha256=<hex>) is required"));
    let good = connector_server::sign_event(crate::helpers::SECRET, now(), body.as_bytes());
    for bad in [
        "",
        "sha256=",
        "sha256=zz",
        "md5=0123",
        &good[..good.len() - 2],
        &good.replace("sha256=", "sha1="),
    ] {
        let res = d.post_event(&body, &ts, Some(bad)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let text = res.text().await.unwrap();
        assert!(
            text.contains("must be sha256=<64 hex digits>"),
            "{bad}: {text}"
        );
    }
}
