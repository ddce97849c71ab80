//! The adversarial suite: one test per attack, over real HTTP, each asserting the refusal
//! and that stored data is unchanged.

use std::path::Path;

use connector_server::startup::Application;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{config as test_config, config_with, settings, start, Api, Creds};

const HOOK: &str = "https://contoso.webhook.office.com/webhookb2/0b4f@72f9bf00-0000-4000-8000-000000000001/IncomingWebhook/8c2a9d/e3c1";

fn config(dir: &Path) -> connector_server::config::Config {
    test_config(dir, false)
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    // WAL mode: committed rows may still be in the -wal file.
    let mut all = std::fs::read(dir.join("t.sqlite")).unwrap_or_default();
    all.extend(std::fs::read(dir.join("t.sqlite-wal")).unwrap_or_default());
    all
}

#[tokio::test]
async fn webhook_urls_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(config(dir.path())).await;
    assert_eq!(
        api.put("c1", &json!({ "webhookUrl": HOOK, "settings": settings() }))
            .await
            .status(),
        StatusCode::CREATED
    );
    let bytes = db_bytes(dir.path());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("Nightly builds"), "the row is there");
    assert!(
        !text.contains("IncomingWebhook") && !text.contains("webhook.office.com"),
        "but not the webhook url"
    );
}

#[tokio::test]
async fn keys_rotate_without_losing_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let old = format!("k1:{}", "11".repeat(32));
    let mut first = config(dir.path());
    first.encryption_keys = Some(old.clone());
    first.hash_key = Some("ab".repeat(32));
    let api = start(first).await;
    api.put("c1", &json!({ "webhookUrl": HOOK, "settings": settings() }))
        .await;

    let mut rotated = config(dir.path());
    rotated.encryption_keys = Some(format!("k2:{},{old}", "22".repeat(32)));
    rotated.hash_key = Some("ab".repeat(32));
    let api = start(rotated).await;
    assert_eq!(api.get("c1", Some(HOOK)).await.status(), StatusCode::OK);

    // Re-sealed with k2 at start: k1 can now be dropped.
    let mut only_new = config(dir.path());
    only_new.encryption_keys = Some(format!("k2:{}", "22".repeat(32)));
    only_new.hash_key = Some("ab".repeat(32));
    let api = start(only_new).await;
    assert_eq!(api.get("c1", Some(HOOK)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_key_stops_the_start_instead_of_losing_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(dir.path());
    first.encryption_keys = Some(format!("k1:{}", "11".repeat(32)));
    let api = start(first).await;
    api.put("c1", &json!({ "webhookUrl": HOOK, "settings": settings() }))
        .await;
    let mut wrong = config(dir.path());
    wrong.encryption_keys = Some(format!("k2:{}", "22".repeat(32)));
    let err = Application::build(wrong).await.err().expect("refused");
    assert!(
        format!("{err:#}").contains("'k1' is not in the key ring"),
        "{err:#}"
    );
}

async fn count(api: &Api, id: &str, hook: &str) -> StatusCode {
    api.get(id, Some(hook)).await.status()
}

#[tokio::test]
async fn every_refused_webhook_url_shape_is_422_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.webhook_hosts.push("localhost".into());
    c.write_rate = 0;
    let api = start(c).await;
    let shapes = [
        (
            "http",
            "http://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d",
            "https://",
        ),
        ("ip literal", "https://52.96.0.1/webhookb2/x", "ip address"),
        ("loopback", "https://127.0.0.1/x", "ip address"),
        ("private 10.x", "https://10.0.0.5/x", "ip address"),
        (
            "link-local metadata",
            "https://169.254.169.254/latest/meta-data",
            "ip address",
        ),
        ("ipv6 loopback", "https://[::1]/x", "ip address"),
        ("decimal ip", "https://2130706433/x", "ip address"),
        ("resolves to loopback", "https://localhost/x", "non-public"),
        (
            "userinfo",
            "https://attacker@contoso.webhook.office.com/x",
            "user info",
        ),
        (
            "odd port",
            "https://contoso.webhook.office.com:8443/x",
            "port 8443",
        ),
        (
            "not allowed host",
            "https://hooks.evil.example/x",
            "not on an allowed host",
        ),
        (
            "suffix trick",
            "https://contoso.webhook.office.com.evil.example/x",
            "not on an allowed host",
        ),
    ];
    for (i, (name, hook, want)) in shapes.iter().enumerate() {
        let id = format!("shape-{i}");
        let res = api
            .put(&id, &json!({ "webhookUrl": hook, "settings": settings() }))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["fields"][0]["field"], "webhookUrl", "{name}");
        let message = body["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains(want), "{name}: {message}");
        assert!(
            !message.contains("/x") && !message.contains("meta-data"),
            "{name}: the url is masked: {message}"
        );
        assert_eq!(
            count(&api, &id, HOOK).await,
            StatusCode::NOT_FOUND,
            "{name}: nothing stored"
        );
    }
}

#[tokio::test]
async fn an_entity_id_alone_grants_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(config(dir.path())).await;
    api.put("c1", &json!({ "webhookUrl": HOOK, "settings": settings() }))
        .await;
    let client = reqwest::Client::new();
    let read = client
        .get(format!("{}/api/connections/c1", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    let delete = client
        .delete(format!("{}/api/connections/c1", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        count(&api, "c1", HOOK).await,
        StatusCode::OK,
        "still stored"
    );
}

#[tokio::test]
async fn a_wrong_webhook_url_can_neither_read_change_nor_delete() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(config(dir.path())).await;
    api.put("c1", &json!({ "webhookUrl": HOOK, "settings": settings() }))
        .await;
    let wrong = HOOK.replace("8c2a9d", "000000");
    assert_eq!(
        api.get("c1", Some(&wrong)).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut s = settings();
    s["subscription_name"] = json!("Taken over");
    assert_eq!(
        api.put("c1", &json!({ "webhookUrl": wrong, "settings": s }))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let del = reqwest::Client::new()
        .delete(format!("{}/api/connections/c1", api.url))
        .header("x-teams-webhook-url", &wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NOT_FOUND);
    let stored: Value = api.get("c1", Some(HOOK)).await.json().await.unwrap();
    assert_eq!(stored["configName"], "Nightly builds", "unchanged");
}

#[tokio::test]
async fn an_oversize_body_is_413_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(config(dir.path())).await;
    let mut s = settings();
    s["filter"] = json!("x".repeat(17 * 1024));
    let res = api
        .put("big", &json!({ "webhookUrl": HOOK, "settings": s }))
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count(&api, "big", HOOK).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_write_flood_from_one_address_reaches_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.write_rate = 5;
    let api = start(c).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..10 {
        let res = api
            .put(
                &format!("flood-{i}"),
                &json!({ "webhookUrl": HOOK, "settings": settings() }),
            )
            .await;
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "rate_limited");
        }
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&secs), "{secs}");
    assert_eq!(
        count(&api, "flood-9", HOOK).await,
        StatusCode::NOT_FOUND,
        "refused writes store nothing"
    );
}

#[tokio::test]
async fn one_webhook_cannot_be_flooded_with_new_connections_from_many_addresses() {
    // Without single sign-on nothing proves a new connection's tenant, so creates are
    // bounded by their target webhook (and their address), not by the tenant they name.
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.target_write_rate = 3;
    c.trust_forwarded_for = true;
    let api = start(c).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = client
            .put(format!("{}/api/connections/t-{i}", api.url))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({ "webhookUrl": HOOK, "settings": settings() }))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert_eq!(statuses[..3], [StatusCode::CREATED; 3]);
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 2]);
}

#[tokio::test]
async fn script_and_markdown_payloads_are_refused_or_kept_as_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(config(dir.path())).await;
    let payloads = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "**bold** _it_",
    ];
    for (i, p) in payloads.iter().enumerate() {
        // The name's pattern refuses markup outright.
        let mut s = settings();
        s["subscription_name"] = json!(p);
        let res = api
            .put(
                &format!("n-{i}"),
                &json!({ "webhookUrl": HOOK, "settings": s }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        // The free-text filter keeps it verbatim, as JSON text, never as markup.
        let mut s = settings();
        s["filter"] = json!(p);
        let res = api
            .put(
                &format!("f-{i}"),
                &json!({ "webhookUrl": HOOK, "settings": s }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{p}");
        let got = api.get(&format!("f-{i}"), Some(HOOK)).await;
        assert!(got.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(got.headers()["x-content-type-options"], "nosniff");
        let body: Value = got.json().await.unwrap();
        assert_eq!(body["settings"]["filter"], *p);
    }
}

// ---- single sign-on, against the emulator's identity provider (the same validation code
// as production, with the dev key set) ----

const TENANT: &str = "72f9bf00-0000-4000-8000-000000000001";
const USER: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

#[test]
#[should_panic(expected = "--dev")]
fn the_test_config_keeps_the_servers_rules_dev_sso_needs_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    config_with(dir.path(), false, &["--dev-sso"]);
}

async fn sso_server(dir: &Path) -> String {
    start(config_with(dir, true, &["--dev-sso"])).await.url
}

async fn token(url: &str, variant: &str) -> String {
    Api::new(url.into()).dev_token(TENANT, USER, variant).await
}

async fn put_as(url: &str, id: &str, bearer: Option<&str>, name: &str) -> reqwest::Response {
    let c = Creds {
        token: bearer,
        ..Creds::default()
    };
    Api::new(url.into()).put_as(id, Some(HOOK), name, c).await
}

async fn get_as(url: &str, id: &str, bearer: Option<&str>) -> reqwest::Response {
    let c = Creds {
        hook: Some(HOOK),
        token: bearer,
        ..Creds::default()
    };
    Api::new(url.into()).get_as(id, c).await
}

async fn stored_name(url: &str, id: &str) -> String {
    let valid = token(url, "valid").await;
    let body: Value = get_as(url, id, Some(&valid)).await.json().await.unwrap();
    body["configName"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_valid_token_saves_reads_and_binds_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let url = sso_server(dir.path()).await;
    let valid = token(&url, "valid").await;
    assert_eq!(
        put_as(&url, "c1", Some(&valid), "Nightly builds")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        get_as(&url, "c1", Some(&valid)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        put_as(&url, "c1", Some(&valid), "Renamed").await.status(),
        StatusCode::OK
    );
    assert_eq!(stored_name(&url, "c1").await, "Renamed");
}

async fn refused_token(variant: Option<&str>, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let url = sso_server(dir.path()).await;
    let valid = token(&url, "valid").await;
    put_as(&url, "c1", Some(&valid), "Nightly builds").await;
    let bad = match variant {
        Some(v) => Some(token(&url, v).await),
        None => None,
    };
    for res in [
        put_as(&url, "c1", bad.as_deref(), "Changed").await,
        get_as(&url, "c1", bad.as_deref()).await,
    ] {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{variant:?}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert!(
            body["message"].as_str().unwrap().contains(want),
            "{variant:?}: {body}"
        );
    }
    assert_eq!(stored_name(&url, "c1").await, "Nightly builds", "unchanged");
}

#[tokio::test]
async fn a_missing_token_is_refused() {
    refused_token(None, "sign-in token is required").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    refused_token(Some("expired"), "has expired").await;
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    refused_token(Some("not-yet-valid"), "not valid yet").await;
}

#[tokio::test]
async fn a_wrong_audience_token_is_refused() {
    refused_token(Some("wrong-audience"), "another application").await;
}

#[tokio::test]
async fn a_wrong_issuer_token_is_refused() {
    refused_token(Some("wrong-issuer"), "issuer").await;
}

#[tokio::test]
async fn a_badly_signed_token_is_refused() {
    refused_token(Some("bad-signature"), "signature is invalid").await;
}

#[tokio::test]
async fn a_token_from_another_tenant_never_reaches_this_tenants_connection() {
    let dir = tempfile::tempdir().unwrap();
    let url = sso_server(dir.path()).await;
    let valid = token(&url, "valid").await;
    put_as(&url, "c1", Some(&valid), "Nightly builds").await;
    let other = token(&url, "other-tenant").await;
    for res in [
        put_as(&url, "c1", Some(&other), "Taken").await,
        get_as(&url, "c1", Some(&other)).await,
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "other_tenant");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("another organisation"));
    }
    let del = reqwest::Client::new()
        .delete(format!("{url}/api/connections/c1"))
        .header("x-teams-webhook-url", HOOK)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored_name(&url, "c1").await, "Nightly builds", "unchanged");
}

#[tokio::test]
async fn a_forged_unsigned_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = sso_server(dir.path()).await;
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let forged = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&json!({ "tid": TENANT, "oid": USER }))
    );
    let res = put_as(&url, "c1", Some(&forged), "Forged").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_hash_key_that_does_not_match_the_database_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(dir.path());
    first.hash_key = Some("ab".repeat(32));
    start(first).await;
    let mut other = config(dir.path());
    other.hash_key = Some("cd".repeat(32));
    let err = Application::build(other).await.err().expect("refused");
    assert!(
        format!("{err:#}").contains("the hash key (CONNECTOR_HASH_KEY or --hash-key-file) is not the key this database was made with"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_encryption_key_that_does_not_match_the_database_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = config(dir.path());
    first.encryption_keys = Some(format!("k1:{}", "11".repeat(32)));
    start(first).await;
    // Same id, other bytes: it would seal values the other instances cannot open.
    let mut other = config(dir.path());
    other.encryption_keys = Some(format!("k1:{}", "99".repeat(32)));
    let err = Application::build(other).await.err().expect("refused");
    assert!(
        format!("{err:#}")
            .contains("encryption key 'k1' is not the key 'k1' this database was sealed with"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_keys_old_flag_still_starts_the_server_with_a_warning_naming_the_new_one() {
    use crate::helpers::{until, Receiver, ServerProcess};
    let receiver = Receiver::start(std::time::Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("old.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let db = dir.path().join("old.sqlite");
    let server = ServerProcess::start_logged(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
        "warn",
    );
    let res = server
        .client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    until("the deprecation warning", 10, async || {
        server.log_lines().iter().any(|l| {
            l.contains("--key-file (CONNECTOR_KEY_FILE) is deprecated")
                && l.contains("use --hash-key-file (CONNECTOR_HASH_KEY_FILE)")
        })
    })
    .await;
}

#[test]
fn the_hash_keys_old_and_new_names_together_stop_the_start_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_connector-server"))
        .args(["--db", dir.path().join("b.sqlite").to_str().unwrap()])
        .args([
            "--secret-key",
            &"ab".repeat(32),
            "--hash-key",
            &"ab".repeat(32),
        ])
        .env_remove("CONNECTOR_HASH_KEY")
        .env_remove("CONNECTOR_SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--hash-key (CONNECTOR_HASH_KEY)")
            && err.contains("--secret-key (CONNECTOR_SECRET_KEY)")
            && !err.contains(&"ab".repeat(32)),
        "{err}"
    );
}
