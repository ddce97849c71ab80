//! What the page and the logs are shown: only a dev-mode config names the emulator inboxes,
//! the CORS preflight allows the edit key and the sign-in token, and neither the edit key
//! nor the webhook URL reaches a log line.

use connector_settings::api::{EDIT_KEY_HEADER, WEBHOOK_HEADER};
use serde_json::{json, Value};

use super::*;
use crate::helpers::settings_named;

#[tokio::test]
async fn only_a_dev_mode_config_names_the_emulator_inboxes() {
    let s = spawn().await;
    let config: Value = reqwest::get(format!("{}/config.json", s.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let port = s.url.rsplit(':').next().unwrap();
    assert_eq!(
        config["devInboxes"][0],
        format!("http://127.0.0.1:{port}/emulator/webhook/")
    );
    assert_eq!(config["sso"], false);

    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(
        dist.join("config.json"),
        r#"{"apiBaseUrl":"","validMessageOrigins":[]}"#,
    )
    .unwrap();
    let production = TestApp::spawn_in(dir, false, |_| {}).await;
    let config: Value = production
        .get_path("/config.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(config.get("devInboxes").is_none(), "{config}");
}

#[tokio::test]
async fn the_cors_preflight_allows_the_edit_key_and_the_sign_in_token() {
    let s = spawn_with(|c| {
        c.dev = false;
        c.cors_origins = vec!["https://cdn.example.com".into()];
    })
    .await;
    for (path, method) in [
        ("/api/connections/c1", "PUT"),
        ("/api/connections/c1/test-card", "POST"),
        ("/api/test-card", "POST"),
    ] {
        let res = s
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", s.url))
            .header("origin", "https://cdn.example.com")
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "content-type,authorization,x-connector-edit-key,x-teams-webhook-url",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://cdn.example.com"
        );
        let allowed = res.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for h in [
            "content-type",
            "authorization",
            EDIT_KEY_HEADER,
            WEBHOOK_HEADER,
        ] {
            assert!(allowed.contains(h), "{h} in {allowed}");
        }
        let methods = res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(methods.contains(method), "{method} in {methods}");
    }
}

#[tokio::test]
async fn the_edit_key_and_webhook_url_never_reach_a_log_line() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_connector-server"))
        .args([
            "--dev",
            "--port",
            "0",
            "--dist",
            "/nonexistent",
            "--write-rate",
            "0",
        ])
        .arg("--db")
        .arg(dir.path().join("t.sqlite"))
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let client = reqwest::Client::new();
    let secret_path =
        "powerautomate/automations/direct/workflows/5ec7e7/triggers/manual/paths/invoke";
    let hook = format!("{url}/emulator/webhook/{secret_path}?api-version=2016-06-01&sig=s1gnature");
    let created: Value = client
        .put(format!("{url}/api/connections/c1"))
        .json(&json!({ "webhookUrl": hook, "settings": settings_named("Logged") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["editKey"].as_str().unwrap().to_string();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        client
            .request(method, format!("{url}/api/connections/c1"))
            .header(EDIT_KEY_HEADER, &key)
            .send()
            .await
            .unwrap();
    }
    client
        .post(format!("{url}/api/test-card"))
        .json(&json!({ "webhookUrl": hook }))
        .send()
        .await
        .unwrap();
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(
        log.contains("connection created"),
        "the log was captured: {log}"
    );
    assert!(!log.contains(&key), "the edit key is never logged");
    assert!(
        !log.contains("5ec7e7") && !log.contains("s1gnature"),
        "nor the webhook URL's secret parts"
    );
}
