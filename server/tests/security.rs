//! The adversarial suite: one test per attack, over real HTTP, each asserting the refusal
//! and that stored data is unchanged.

use std::path::Path;

use connector_server::config::Config;
use connector_server::startup::Application;
use reqwest::StatusCode;
use serde_json::{json, Value};

const HOOK: &str = "https://contoso.webhook.office.com/webhookb2/0b4f@72f9bf00-0000-4000-8000-000000000001/IncomingWebhook/8c2a9d/e3c1";

fn settings() -> Value {
    json!({ "subscription_name": "Nightly builds", "events": ["build_failed"], "filter": "",
            "card_style": "compact", "mention_channel": false })
}

async fn start(config: Config) -> String {
    let app = Application::build(config).await.expect("server starts");
    let url = app.url();
    tokio::spawn(app.run_until_stopped());
    url
}

fn config(dir: &Path) -> Config {
    Config::for_tests(dir.join("t.sqlite"), dir.join("dist"), false)
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    // WAL mode: committed rows may still be in the -wal file.
    let mut all = std::fs::read(dir.join("t.sqlite")).unwrap_or_default();
    all.extend(std::fs::read(dir.join("t.sqlite-wal")).unwrap_or_default());
    all
}

async fn put(url: &str, id: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new().put(format!("{url}/api/connections/{id}")).json(body).send().await.unwrap()
}

async fn get(url: &str, id: &str, hook: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{url}/api/connections/{id}"))
        .header("x-teams-webhook-url", hook)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn webhook_urls_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(config(dir.path())).await;
    assert_eq!(put(&url, "c1", &json!({ "webhookUrl": HOOK, "settings": settings() })).await.status(), StatusCode::CREATED);
    let bytes = db_bytes(dir.path());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("Nightly builds"), "the row is there");
    assert!(!text.contains("IncomingWebhook") && !text.contains("webhook.office.com"), "but not the webhook url");
}

#[tokio::test]
async fn keys_rotate_without_losing_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let old = format!("k1:{}", "11".repeat(32));
    let mut first = config(dir.path());
    first.encryption_keys = Some(old.clone());
    first.secret_key = Some("ab".repeat(32));
    let url = start(first).await;
    put(&url, "c1", &json!({ "webhookUrl": HOOK, "settings": settings() })).await;

    let mut rotated = config(dir.path());
    rotated.encryption_keys = Some(format!("k2:{},{old}", "22".repeat(32)));
    rotated.secret_key = Some("ab".repeat(32));
    let url = start(rotated).await;
    assert_eq!(get(&url, "c1", HOOK).await.status(), StatusCode::OK);

    // Re-sealed with k2 at start: k1 can now be dropped.
    let mut only_new = config(dir.path());
    only_new.encryption_keys = Some(format!("k2:{}", "22".repeat(32)));
    only_new.secret_key = Some("ab".repeat(32));
    let url = start(only_new).await;
    assert_eq!(get(&url, "c1", HOOK).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_key_stops_the_start_instead_of_losing_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(dir.path());
    first.encryption_keys = Some(format!("k1:{}", "11".repeat(32)));
    let url = start(first).await;
    put(&url, "c1", &json!({ "webhookUrl": HOOK, "settings": settings() })).await;
    let mut wrong = config(dir.path());
    wrong.encryption_keys = Some(format!("k2:{}", "22".repeat(32)));
    let err = Application::build(wrong).await.err().expect("refused");
    assert!(format!("{err:#}").contains("'k1' is not in the key ring"), "{err:#}");
}
