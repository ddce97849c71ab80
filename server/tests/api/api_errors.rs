//! Every error of the API is its JSON error with a message and the right status: routing's
//! 404 and 405, bad path and query encoding, body limits; and misses are never cached.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, SECRET};

/// Asserts `res` is the API's JSON error with `status`; its code.
async fn json_error(res: reqwest::Response, status: StatusCode, what: &str) -> String {
    assert_eq!(res.status(), status, "{what}");
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(kind.starts_with("application/json"), "{what}: {kind}");
    let body: Value = res.json().await.unwrap();
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{what}: {body}");
    body["error"].as_str().expect("an error code").to_string()
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

#[tokio::test]
async fn every_route_answers_every_method_in_json() {
    let app = TestApp::spawn().await;
    // (path, the methods it has)
    let routes: [(&str, &[Method]); 12] = [
        (
            "/api/connections/c1",
            &[Method::GET, Method::PUT, Method::DELETE],
        ),
        ("/api/connections/c1/deliveries", &[Method::GET]),
        ("/api/connections/c1/test-card", &[Method::POST]),
        ("/api/test-card", &[Method::POST]),
        ("/api/events", &[Method::POST]),
        ("/api/messages", &[Method::POST]),
        ("/api/bot/install?tenantId=t&teamId=x", &[Method::GET]),
        ("/api/health", &[Method::GET]),
        ("/api/openapi.json", &[Method::GET]),
        ("/api/account", &[Method::GET]),
        ("/api/account/link", &[Method::POST]),
        ("/api/no-such-route", &[]),
    ];
    for (path, methods) in routes {
        for method in METHODS {
            let what = format!("{method} {path}");
            let res = app
                .client
                .request(method.clone(), format!("{}{path}", app.url))
                .send()
                .await
                .unwrap();
            let status = res.status();
            if path == "/api/no-such-route" {
                assert_eq!(
                    json_error(res, StatusCode::NOT_FOUND, &what).await,
                    "not_found"
                );
            } else if !methods.contains(&method) {
                let allow = res.headers()["allow"].to_str().unwrap().to_string();
                for m in methods {
                    assert!(allow.contains(m.as_str()), "{what}: allow {allow}");
                }
                let code = json_error(res, StatusCode::METHOD_NOT_ALLOWED, &what).await;
                assert_eq!(code, "method_not_allowed", "{what}");
            } else if status.is_success() {
                assert!(
                    res.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("application/json"),
                    "{what}"
                );
            } else {
                assert!(status.is_client_error(), "{what}: {status}");
                json_error(res, status, &what).await;
            }
        }
    }
}

#[tokio::test]
async fn malformed_paths_and_queries_are_400_naming_what_was_wrong() {
    let app = TestApp::spawn().await;
    let cases = [
        ("/api/connections/%ff", "invalid_path", "%ff"),
        ("/api/connections/%ff/deliveries", "invalid_path", "%ff"),
        (
            "/api/connections/c1/deliveries?event=a&event=b",
            "invalid_query",
            "event",
        ),
        (
            "/api/connections/c1/deliveries?evnt=a",
            "invalid_query",
            "evnt",
        ),
        ("/api/connections/a%20b", "invalid_entity_id", ""),
    ];
    for (path, code, named) in cases {
        let res = app
            .client
            .get(format!("{}{path}", app.url))
            .header("x-teams-webhook-url", "https://x.webhook.office.com/")
            .send()
            .await
            .unwrap();
        let body_status = res.status();
        let url = format!("{}{path}", app.url);
        assert_eq!(body_status, StatusCode::BAD_REQUEST, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], code, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{url}: {body}"
        );
    }
}

#[tokio::test]
async fn bodies_over_their_limit_are_413_in_json() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(70 * 1024);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let res = app
        .client
        .post(format!("{}/api/events", app.url))
        .header("content-type", "application/json")
        .header("x-connector-timestamp", now.to_string())
        .header(
            "x-connector-signature",
            connector_server::sign_event(SECRET, now, big.as_bytes()),
        )
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::PAYLOAD_TOO_LARGE, "events").await,
        "body_too_large"
    );
    let res = app.put_raw("c1", &big).await;
    assert_eq!(
        json_error(res, StatusCode::PAYLOAD_TOO_LARGE, "save").await,
        "body_too_large"
    );
    let res = app.put_raw("c1", "{not json").await;
    assert_eq!(
        json_error(res, StatusCode::BAD_REQUEST, "bad json").await,
        "invalid_json"
    );
}

#[tokio::test]
async fn hashed_assets_are_immutable_but_a_missing_one_is_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(dist.join("teams-connector-2fcbe94a16a2bb27.js"), "1").unwrap();
    let app = TestApp::spawn_in(dir, false, |_| {}).await;
    let res = app.get_path("/teams-connector-2fcbe94a16a2bb27.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    for missing in [
        "/teams-connector-0000000000000000.js",
        "/teams-connector-0000000000000000.css",
        "/teams-connector-0000000000000000_bg.wasm",
    ] {
        let res = app.get_path(missing).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{missing}");
    }
}
