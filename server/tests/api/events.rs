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
        .env_remove("CONNECTOR_EVENTS_SECRET_FILE")
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

/// Posts `body` to `/api/events` with `headers` (no others but the content type).
async fn post_with(d: &TestApp, body: &str, headers: &[(&str, String)]) -> reqwest::Response {
    let mut req = d
        .client
        .post(format!("{}/api/events", d.url))
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.body(body.to_string()).send().await.unwrap()
}

/// The Standard Webhooks headers of `body` signed now with `key` (the HMAC key's bytes),
/// by the `standardwebhooks` crate.
fn standard(key: &[u8], id: &str, body: &str) -> Vec<(&'static str, String)> {
    standard_at(key, id, now(), body)
}

fn standard_at(key: &[u8], id: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    let wh = standardwebhooks::Webhook::from_bytes(key.to_vec()).unwrap();
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            wh.sign(id, ts, body.as_bytes()).unwrap(),
        ),
    ]
}

/// A fresh `whsec_` secret and its key.
fn whsec() -> (String, Vec<u8>) {
    use base64::Engine;
    let key: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    (format!("whsec_{b64}"), key)
}

#[tokio::test]
async fn a_standard_webhooks_event_is_accepted_once_by_its_webhook_id() {
    let d = TestApp::dev().await;
    let kind = event_types()[0];
    let hook = d.connect("c", &[kind], "", Compact).await;
    let body = event(kind, "").to_string();
    // A plain secret's bytes are its key.
    let key = crate::helpers::SECRET.as_bytes();
    let res = post_with(
        &d,
        &body,
        &standard(key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", &body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers().get("warning").is_none());
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["eventId"], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["deliveries"], 1);
    // A retry: the same id signed a second later is the same event.
    let again = standard_at(key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now() - 1, &body);
    let second: Value = post_with(&d, &body, &again).await.json().await.unwrap();
    assert_eq!(second["duplicate"], true, "{second}");
    until("the card", 10, async || !d.inbox(&hook).await.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(d.inbox(&hook).await.len(), 1, "posted once");
    // Another id is another event; a body id must be the webhook-id when given.
    let other: Value = post_with(&d, &body, &standard(key, "msg_other", &body))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (other["eventId"].as_str(), other["duplicate"].as_bool()),
        (Some("msg_other"), Some(false))
    );
    let mut with_id = event(kind, "");
    with_id["id"] = "build-42".into();
    let with_id = with_id.to_string();
    let same = post_with(&d, &with_id, &standard(key, "build-42", &with_id)).await;
    assert_eq!(same.status(), StatusCode::ACCEPTED);
    let differs = post_with(&d, &with_id, &standard(key, "msg_3", &with_id)).await;
    assert_eq!(differs.status(), StatusCode::BAD_REQUEST);
    let text = differs.text().await.unwrap();
    assert!(
        text.contains("'build-42' is not its 'webhook-id' 'msg_3'"),
        "{text}"
    );
}

#[tokio::test]
async fn either_of_two_secrets_signs_while_one_is_rotated() {
    let (new, new_key) = whsec();
    let old = "an-old-plain-secret-of-32-bytes-or-more";
    let d = TestApp::dev_with(|c| c.events_secret = Some(format!("new:{new},old:{old}"))).await;
    let kind = event_types()[0];
    d.connect("c", &[kind], "", Compact).await;
    let body = event(kind, "").to_string();
    for (n, key) in [new_key.as_slice(), old.as_bytes()].into_iter().enumerate() {
        let res = post_with(&d, &body, &standard(key, &format!("rot-{n}"), &body)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "secret {n}");
    }
    // A sender mid-rotation may send both signatures, or a stale one beside the good one.
    let (_, stranger) = whsec();
    let mut both = standard(&stranger, "rot-both", &body);
    let good = standard(&new_key, "rot-both", &body);
    both[2].1 = format!("{} {}", both[2].1, good[2].1);
    assert_eq!(
        post_with(&d, &body, &both).await.status(),
        StatusCode::ACCEPTED
    );
    // A third secret signs nothing.
    let res = post_with(&d, &body, &standard(&stranger, "rot-x", &body)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("no signature in the 'webhook-signature' header matches an events secret"),
        "{text}"
    );
    assert!(!text.contains(old) && !text.contains(&new), "{text}");
    // The old headers take the old secret too (its text is their key, as before).
    let ts = now();
    let legacy = [
        ("x-connector-timestamp", ts.to_string()),
        (
            "x-connector-signature",
            connector_server::sign_event(old, ts, body.as_bytes()),
        ),
    ];
    assert_eq!(
        post_with(&d, &body, &legacy).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn each_bad_standard_webhooks_header_is_named_in_a_401() {
    let d = TestApp::dev().await;
    let body = event(event_types()[0], "").to_string();
    let key = crate::helpers::SECRET.as_bytes();
    let good = standard(key, "msg_bad", &body);
    let (_, stranger) = whsec();
    let without = |name: &str| -> Vec<(&'static str, String)> {
        good.iter().filter(|(n, _)| *n != name).cloned().collect()
    };
    let with = |name: &str, value: &str| -> Vec<(&'static str, String)> {
        good.iter()
            .map(|(n, v)| {
                (
                    *n,
                    if *n == name {
                        value.to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    };
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (
            without("webhook-id"),
            "the 'webhook-id' header (the event's unique id) is required",
        ),
        (
            without("webhook-timestamp"),
            "the 'webhook-timestamp' header (unix seconds) is required",
        ),
        (
            with("webhook-timestamp", "soon"),
            "the 'webhook-timestamp' header (unix seconds) is required",
        ),
        (
            with("webhook-timestamp", &(now() - 301).to_string()),
            "is more than 300 s away from now",
        ),
        (
            with("webhook-timestamp", &i64::MIN.to_string()),
            "is more than 300 s away from now",
        ),
        (
            without("webhook-signature"),
            "the 'webhook-signature' header (v1,<base64>) is required",
        ),
        (
            with("webhook-signature", "deadbeef"),
            "must be space-separated v1,<base64> signatures",
        ),
        (
            with("webhook-signature", " "),
            "must be space-separated v1,<base64> signatures",
        ),
        (
            with("webhook-signature", "v1,not*base64"),
            "must be the base64 of 32 bytes",
        ),
        (
            with("webhook-signature", "v1,aGVsbG8="),
            "must be the base64 of 32 bytes",
        ),
        (
            with("webhook-signature", "v1a,aGVsbG8= v2,aGVsbG8="),
            "signature version 'v1a', 'v2' is not supported: only v1",
        ),
        (
            standard(&stranger, "msg_bad", &body),
            "matches an events secret",
        ),
        // Signed for another id or another body.
        (with("webhook-id", "msg_other"), "matches an events secret"),
    ];
    for (headers, named) in cases {
        let res = post_with(&d, &body, &headers).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{headers:?}");
        let text = res.text().await.unwrap();
        assert!(text.contains(named), "{headers:?}: {text}");
        assert!(text.contains("invalid_signature"), "{text}");
        assert!(!text.contains(crate::helpers::SECRET), "{text}");
    }
    let tampered = body.replace("Build 42", "Build 43");
    let res = post_with(&d, &tampered, &good).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // No signature at all names the headers to send.
    let res = post_with(&d, &body, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("'webhook-id', 'webhook-timestamp' and 'webhook-signature'"),
        "{text}"
    );
}

#[tokio::test]
async fn the_old_headers_still_work_and_are_answered_deprecated() {
    let d = TestApp::dev().await;
    let kind = event_types()[0];
    let hook = d.connect("c", &[kind], "", Compact).await;
    let res = d.send(&event(kind, "")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let warning = res.headers()["warning"].to_str().unwrap().to_string();
    assert!(
        warning.starts_with("299 - ") && warning.contains("deprecated"),
        "{warning}"
    );
    assert!(warning.contains("Standard Webhooks"), "{warning}");
    until("the card", 10, async || d.inbox(&hook).await.len() == 1).await;
    // Refusals say so too, for whoever reads the answer to a mistake.
    let refused = d.post_event("{}", &now().to_string(), None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("warning"));
}

/// The headers `program script secret id` prints for `body` on its standard input.
fn sender_headers(
    program: &str,
    script: &str,
    secret: &str,
    id: &str,
    body: &str,
) -> Vec<(&'static str, String)> {
    use std::io::Write;
    let path = format!("{}/tests/api/senders/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(program)
        .args([&path, secret, id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} (for {script}): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {script} failed; its standardwebhooks package is installed by `cargo xtask setup` (npm ci; pip, pinned in xtask/src/setup.rs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .map(|h| (h, v[h].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn events_signed_by_the_official_javascript_and_python_libraries_are_accepted() {
    let (new, _) = whsec();
    let plain = crate::helpers::SECRET;
    let d = TestApp::dev_with(|c| c.events_secret = Some(format!("a:{new},b:{plain}"))).await;
    let kind = event_types()[0];
    let hook = d.connect("c", &[kind], "", Compact).await;
    let body = event(kind, "").to_string();
    let mut n = 0;
    for (program, script) in [("node", "sign.mjs"), ("python3", "sign.py")] {
        // Both forms of secret: whsec_ as the library takes it, a plain one as its bytes.
        for secret in [new.as_str(), plain] {
            n += 1;
            let id = format!("msg_{script}_{n}").replace('.', "_");
            let headers = sender_headers(program, script, secret, &id, &body);
            let res = post_with(&d, &body, &headers).await;
            let status = res.status();
            let answer: Value = res.json().await.unwrap();
            assert_eq!(status, StatusCode::ACCEPTED, "{script} {answer}");
            assert_eq!(answer["eventId"], id.as_str());
        }
    }
    until("the cards", 15, async || d.inbox(&hook).await.len() == 4).await;
}

#[tokio::test]
async fn send_event_signs_with_standard_webhooks_and_the_old_scheme_on_request() {
    let d = TestApp::dev().await;
    let kind = event_types()[0];
    let hook = d.connect("c", &[kind], "", Compact).await;
    let run = |extra: &'static [&'static str]| {
        let url = d.url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_connector-server"))
                .args([
                    "send-event",
                    "--server",
                    &url,
                    "--secret",
                    crate::helpers::SECRET,
                ])
                .args(["--type", kind, "--title", "Sent by hand"])
                .args(extra)
                .args(
                    crate::helpers::CONNECTOR_HAS_ACCOUNTS
                        .then_some(["--account", crate::helpers::HARNESS_ACCOUNT])
                        .into_iter()
                        .flatten(),
                )
                .env_remove("CONNECTOR_EVENTS_SECRET")
                .output()
                .unwrap()
        })
    };
    let out = run(&["--id", "by-hand-1"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["eventId"], "by-hand-1");
    // Without --id a fresh webhook-id each time: two events.
    let ids: Vec<Value> = [run(&[]).await.unwrap(), run(&[]).await.unwrap()]
        .iter()
        .map(|o| serde_json::from_slice::<Value>(&o.stdout).unwrap()["eventId"].clone())
        .collect();
    assert!(
        ids[0].as_str().unwrap().starts_with("evt_") && ids[0] != ids[1],
        "{ids:?}"
    );
    let legacy = run(&["--legacy-signature"]).await.unwrap();
    assert!(
        legacy.status.success(),
        "{}",
        String::from_utf8_lossy(&legacy.stderr)
    );
    let answer: Value = serde_json::from_slice(&legacy.stdout).unwrap();
    assert!(
        answer["eventId"].as_str().unwrap().starts_with("sig-"),
        "{answer}"
    );
    until("the cards", 15, async || d.inbox(&hook).await.len() == 4).await;
}
