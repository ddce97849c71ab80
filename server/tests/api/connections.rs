//! The connection API over real HTTP: a server on a random 127.0.0.1 port with a fresh
//! SQLite file per test.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{config, error_of, settings, start, start_stoppable, TestApp};

const HOOK: &str =
    "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a9d/e3c1";
const OTHER_HOOK: &str =
    "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/ffff00/e3c1";

#[tokio::test]
async fn health_is_ok() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/api/health", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "status": "ok", "form": connector_settings::FORM })
    );
}

#[tokio::test]
async fn put_creates_a_connection_and_returns_201() {
    let app = TestApp::spawn().await;
    let res = app
        .put(
            "conn-1",
            &json!({ "webhookUrl": HOOK, "settings": settings(), "appType": "Connector" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["entityId"], "conn-1");
    assert_eq!(body["configName"], "Nightly builds");
    assert_eq!(body["settings"]["events"], json!(["build_failed"]));
}

#[tokio::test]
async fn put_again_updates_the_same_connection() {
    let app = TestApp::spawn().await;
    app.create("conn-1", HOOK, &settings()).await;
    let mut s = settings();
    s["subscription_name"] = json!("Renamed");
    let res = app
        .put("conn-1", &json!({ "webhookUrl": HOOK, "settings": s }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let got: Value = app.get("conn-1", Some(HOOK)).await.json().await.unwrap();
    assert_eq!(got["configName"], "Renamed");
    let rows: i64 = rusqlite_count(&app.db);
    assert_eq!(rows, 1);
}

fn rusqlite_count(db: &std::path::Path) -> i64 {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from connections').fetchone()[0])"])
        .arg(db)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn concurrent_puts_for_one_entity_make_one_connection() {
    let app = TestApp::spawn().await;
    let body = json!({ "webhookUrl": HOOK, "settings": settings() });
    let all = futures_join(&app, &body).await;
    assert!(
        all.iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::OK),
        "{all:?}"
    );
    assert_eq!(all.iter().filter(|s| **s == StatusCode::CREATED).count(), 1);
    assert_eq!(rusqlite_count(&app.db), 1);
}

async fn futures_join(app: &TestApp, body: &Value) -> Vec<StatusCode> {
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (client, url, body) = (
            app.client.clone(),
            format!("{}/api/connections/same", app.url),
            body.clone(),
        );
        handles.push(tokio::spawn(async move {
            client.put(url).json(&body).send().await.unwrap().status()
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn put_with_another_webhook_url_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create("conn-1", HOOK, &settings()).await;
    let mut s = settings();
    s["subscription_name"] = json!("Hijacked");
    let res = app
        .put(
            "conn-1",
            &json!({ "webhookUrl": OTHER_HOOK, "settings": s }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(res).await["error"], "forbidden");
    let got: Value = app.get("conn-1", Some(HOOK)).await.json().await.unwrap();
    assert_eq!(got["configName"], "Nightly builds");
}

#[tokio::test]
async fn get_returns_the_stored_settings_without_the_webhook_url() {
    let app = TestApp::spawn().await;
    app.create("conn-1", HOOK, &settings()).await;
    let res = app.get("conn-1", Some(HOOK)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    // Only the URL's kind, never the URL (nor any part of it).
    assert!(
        !text.contains("webhookUrl") && !text.contains("office.com"),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "configName",
            "createdAt",
            "entityId",
            "settings",
            "updatedAt",
            "webhookKind"
        ]
    );
    assert_eq!(body["webhookKind"], "connector");
    assert_eq!(
        body["settings"],
        json!({ "subscription_name": "Nightly builds", "events": ["build_failed"],
        "filter": "", "card_style": "compact", "mention_channel": false })
    );
}

#[tokio::test]
async fn get_without_webhook_header_is_401() {
    let app = TestApp::spawn().await;
    app.create("conn-1", HOOK, &settings()).await;
    let res = app.get("conn-1", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(res).await["error"], "webhook_url_required");
}

#[tokio::test]
async fn get_with_another_webhook_url_answers_like_an_unknown_entity() {
    let app = TestApp::spawn().await;
    app.create("conn-1", HOOK, &settings()).await;
    let res = app.get("conn-1", Some(OTHER_HOOK)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete("conn-1", OTHER_HOOK).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("conn-1", Some(HOOK)).await.status(),
        StatusCode::OK,
        "still there"
    );
}

#[tokio::test]
async fn delete_removes_the_connection() {
    let app = TestApp::spawn().await;
    app.create("conn-1", HOOK, &settings()).await;
    assert_eq!(
        app.delete("conn-1", HOOK).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("conn-1", Some(HOOK)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("conn-1", HOOK).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn unknown_entity_is_404() {
    let app = TestApp::spawn().await;
    let res = app.get("nope", Some(HOOK)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(res).await["error"], "not_found");
}

#[tokio::test]
async fn invalid_entity_id_is_400() {
    let app = TestApp::spawn().await;
    let res = app
        .put(
            "bad%20id",
            &json!({ "webhookUrl": HOOK, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(res).await["error"], "invalid_entity_id");
}

#[tokio::test]
async fn invalid_json_is_400() {
    let app = TestApp::spawn().await;
    let res = app.put_raw("conn-1", "{\"webhookUrl\": ").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(res).await["error"], "invalid_json");
}

#[tokio::test]
async fn a_body_with_data_after_its_json_value_is_400_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let one = json!({ "webhookUrl": HOOK, "settings": settings() }).to_string();
    for body in [
        format!("{one}xyz"),
        format!("{one}{one}"),
        format!("{one} ,"),
    ] {
        let res = app.put_raw("conn-1", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let err = error_of(res).await;
        assert_eq!(err["error"], "invalid_json");
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("more after its JSON value"),
            "{err}"
        );
    }
    assert_eq!(rusqlite_count(&app.db), 0, "nothing stored");
    let ok = app.put_raw("conn-1", &format!(" {one}\n")).await;
    assert_eq!(
        ok.status(),
        StatusCode::CREATED,
        "white space around is fine"
    );
    let test_card = app
        .client
        .post(format!("{}/api/test-card", app.url))
        .header("content-type", "application/json")
        .body(format!("{one}xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(test_card.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(test_card).await["error"], "invalid_json");
}

#[tokio::test]
async fn missing_body_field_is_400_naming_it() {
    let app = TestApp::spawn().await;
    let res = app.put("conn-1", &json!({ "settings": settings() })).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = error_of(res).await;
    assert_eq!(body["fields"][0]["field"], "webhookUrl");
    assert_eq!(body["fields"][0]["rule"], "required");
}

#[tokio::test]
async fn missing_settings_field_is_422_naming_field_and_rule() {
    let app = TestApp::spawn().await;
    let mut s = settings();
    s.as_object_mut().unwrap().remove("subscription_name");
    let res = app
        .put("conn-1", &json!({ "webhookUrl": HOOK, "settings": s }))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_of(res).await;
    assert_eq!(body["error"], "validation_failed");
    assert_eq!(body["fields"][0]["field"], "subscription_name");
    assert_eq!(body["fields"][0]["rule"], "required");
    assert_eq!(rusqlite_count(&app.db), 0, "nothing half-saved");
}

#[tokio::test]
async fn broken_rule_is_422_naming_field_and_rule() {
    let app = TestApp::spawn().await;
    let mut s = settings();
    s["events"] = json!([]);
    s["subscription_name"] = json!("ab");
    let res = app
        .put("conn-1", &json!({ "webhookUrl": HOOK, "settings": s }))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_of(res).await["fields"].clone();
    assert_eq!(fields[0]["field"], "subscription_name");
    assert_eq!(fields[0]["rule"], "min_length");
    assert_eq!(fields[1]["field"], "events");
    assert_eq!(fields[1]["rule"], "min_selected");
}

#[tokio::test]
async fn non_https_webhook_url_is_422() {
    let app = TestApp::spawn().await;
    let res = app
        .put(
            "conn-1",
            &json!({ "webhookUrl": "http://contoso.webhook.office.com/x", "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_of(res).await;
    assert_eq!(body["fields"][0]["field"], "webhookUrl");
}

#[tokio::test]
async fn oversize_body_is_413() {
    let app = TestApp::spawn().await;
    let mut s = settings();
    s["filter"] = json!("x".repeat(20_000));
    let res = app
        .put("conn-1", &json!({ "webhookUrl": HOOK, "settings": s }))
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(res).await["error"], "body_too_large");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .put(format!("{}/api/connections/c", app.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn webhook_url_never_appears_in_any_response() {
    let app = TestApp::spawn().await;
    let put = app
        .put(
            "conn-1",
            &json!({ "webhookUrl": HOOK, "settings": settings() }),
        )
        .await
        .text()
        .await
        .unwrap();
    let get = app.get("conn-1", Some(HOOK)).await.text().await.unwrap();
    let forbidden = app
        .put(
            "conn-1",
            &json!({ "webhookUrl": OTHER_HOOK, "settings": settings() }),
        )
        .await
        .text()
        .await
        .unwrap();
    let bad = app.put("c2", &json!({ "webhookUrl": "http://contoso.webhook.office.com/webhookb2/secret", "settings": settings() })).await.text().await.unwrap();
    for text in [put, get, forbidden, bad] {
        assert!(
            !text.contains("IncomingWebhook") && !text.contains("secret"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first, handle) = start_stoppable(config(dir.path(), false)).await;
    let res = first
        .put(
            "kept",
            &json!({ "webhookUrl": HOOK, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    handle.abort();
    let second = start(config(dir.path(), false)).await;
    let res = second.get("kept", Some(HOOK)).await;
    assert_eq!(res.status(), StatusCode::OK, "same key file, same database");
}

#[tokio::test]
async fn openapi_document_is_served_and_parses() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/health", "/api/connections/{entityId}"] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
}

#[tokio::test]
async fn page_assets_get_long_cache_and_index_no_cache_with_frame_ancestors() {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>page</title>",
    )
    .unwrap();
    std::fs::write(
        dist.join("teams-connector-2fcbe94a16a2bb27_bg.wasm"),
        b"\0asm",
    )
    .unwrap();
    std::fs::write(dist.join("config.json"), "{}").unwrap();
    let app = TestApp::spawn_in(dir, false, |_| {}).await;
    assert!(app.dist.exists());
    let index = app
        .client
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors teams.microsoft.com *.teams.microsoft.com *.cloud.microsoft"),
        "{csp}"
    );
    assert!(
        !csp.contains("'self'"),
        "production mode lets only Teams frame the page: {csp}"
    );
    let wasm = app
        .client
        .get(format!(
            "{}/teams-connector-2fcbe94a16a2bb27_bg.wasm",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wasm.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let config = app
        .client
        .get(format!("{}/config.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(config.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn emulator_is_served_only_in_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("dist/index.html"), "<!doctype html>").unwrap();
    let prod = TestApp::spawn_in(dir, false, |_| {}).await;
    for path in [
        "/emulator/",
        "/emulator/api/connector",
        "/emulator/emulator.js",
    ] {
        let res = prod
            .client
            .get(format!("{}{path}", prod.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let dev = TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |_| {}).await;
    let res = dev
        .client
        .get(format!("{}/emulator/api/connector", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["name"],
        "Build Notifications"
    );
    let page = dev
        .client
        .get(format!("{}/emulator/", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn inbox_records_cards_and_answers_per_mode() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |_| {}).await;
    let hook = format!(
        "{}/emulator/webhook/webhookb2/g@t/IncomingWebhook/abc/u",
        app.url
    );
    let post = |body: Value| {
        app.client
            .post(&hook)
            .header("idempotency-key", "k1")
            .json(&body)
            .send()
    };
    let res = post(json!({ "@type": "MessageCard", "title": "hi" }))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "1");
    let mode = |m: &str| {
        app.client
            .put(format!(
                "{}/emulator/api/inbox-mode/webhookb2/g@t/IncomingWebhook/abc/u",
                app.url
            ))
            .json(&json!({ "mode": m }))
            .send()
    };
    assert_eq!(
        mode("throttled").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let res = post(json!({})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("HTTP error 429"));
    mode("gone").await.unwrap();
    assert_eq!(post(json!({})).await.unwrap().status(), StatusCode::GONE);
    mode("error").await.unwrap();
    assert_eq!(
        post(json!({})).await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        mode("sideways").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let inbox: Value = app
        .client
        .get(format!(
            "{}/emulator/api/inbox/webhookb2/g@t/IncomingWebhook/abc/u",
            app.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["mode"], "error");
    assert_eq!(res_headers_cache(&app, "/emulator/api/inbox/webhookb2/g@t/IncomingWebhook/abc/3f2504e0-4f89-41d3-9a0c-0305e82c3301").await, "no-store", "inboxes are never cached");
    let messages = inbox["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "gone answers store nothing");
    assert_eq!(messages[0]["body"]["title"], "hi");
    assert_eq!(messages[0]["headers"]["idempotency-key"], "k1");
}

#[tokio::test]
async fn dev_mode_accepts_exactly_its_own_inbox_as_webhook() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |_| {}).await;
    let own = format!(
        "{}/emulator/webhook/webhookb2/g@t/IncomingWebhook/abc/u",
        app.url
    );
    let res = app
        .put(
            "dev-1",
            &json!({ "webhookUrl": own, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.put("dev-2", &json!({ "webhookUrl": "http://127.0.0.1:1/emulator/webhook/x", "settings": settings() })).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_page_origins() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), false);
    c.cors_origins = vec!["https://cdn.example.com".into()];
    let api = start(c).await;
    let (url, client) = (api.url.clone(), api.client.clone());
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{url}/api/connections/c1"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header(
                "access-control-request-headers",
                "content-type,x-teams-webhook-url",
            )
            .send()
    };
    let ok = preflight("https://cdn.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://cdn.example.com"
    );
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        methods.contains("PUT") && methods.contains("DELETE"),
        "{methods}"
    );
    let evil = preflight("https://evil.example.com").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let get = client
        .get(format!("{url}/api/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_malformed_cors_origin_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), false);
    c.cors_origins = vec!["cdn.example.com".into()];
    let err = connector_server::startup::Application::build(c)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("cors origin 'cdn.example.com'"),
        "{err}"
    );
}

async fn res_headers_cache(app: &TestApp, path: &str) -> String {
    let res = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    res.headers()["cache-control"].to_str().unwrap().to_string()
}
