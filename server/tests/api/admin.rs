//! The admin API: only on the internal (metrics) listener, only with an admin token, and
//! never a webhook URL or edit key in what it answers.

use std::time::Duration;

use connector_settings::CardStyle;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    event, event_types, harness_proof, subscription, until, Receiver, ServerProcess,
    CONNECTOR_HAS_ACCOUNTS, HARNESS_ACCOUNT,
};

const OPS: &str = "ops-secret-0123456789";
const OLD: &str = "old-secret-9876543210";

struct Admin {
    server: ServerProcess,
    /// `http://…` of the internal listener.
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
    _receiver: Receiver,
}

impl Admin {
    async fn start(extra: &[&str]) -> Admin {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.sqlite");
        let receiver = Receiver::start(Duration::ZERO).await;
        let tokens = format!("ops:{OPS},old:{OLD}");
        let mut args = vec![
            "--db",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
            "--admin-token",
            &tokens,
        ];
        args.extend_from_slice(extra);
        let server = ServerProcess::start(&receiver.origin, args);
        let base = server
            .metrics
            .as_ref()
            .expect("started with --metrics-addr")
            .trim_end_matches("/metrics")
            .to_string();
        Admin {
            server,
            base,
            client: reqwest::Client::new(),
            _dir: dir,
            _receiver: receiver,
        }
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A successful GET's JSON body, and the text it came as.
    async fn json(&self, path: &str) -> (Value, String) {
        let res = self.get(path, OPS).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let text = res.text().await.unwrap();
        (serde_json::from_str(&text).unwrap(), text)
    }

    async fn post(&self, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        req.send().await.unwrap()
    }

    /// Creates connection `id` named `name`; returns its webhook URL and edit key.
    async fn create(&self, id: &str, name: &str) -> (String, String) {
        let hook = self.server.hook(id);
        let settings = subscription(name, &[event_types()[0]], "", CardStyle::Compact, false);
        let mut body = json!({ "webhookUrl": hook, "settings": settings });
        if CONNECTOR_HAS_ACCOUNTS {
            body["accountProof"] = harness_proof(HARNESS_ACCOUNT).into();
        }
        let res = self.server.put(id, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating {id}");
        let body: Value = res.json().await.unwrap();
        let key = body["editKey"].as_str().expect("an edit key").to_string();
        (hook, key)
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entityId"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_only_on_the_internal_listener_and_only_with_a_token() {
    let admin = Admin::start(&[]).await;
    // The public listener has no admin API, with or without a token.
    for path in [
        "/admin/connections",
        "/admin/audit",
        "/admin",
        "/admin/openapi.json",
    ] {
        let res = admin
            .client
            .get(format!("{}{path}", admin.server.url))
            .bearer_auth(OPS)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "public {path}");
    }
    // The internal one: 401 without a token, with another scheme and with a wrong one,
    // each saying what was wrong; unknown admin paths too.
    for path in ["/admin/connections", "/admin/nothing-here"] {
        let res = admin
            .client
            .get(format!("{}{path}", admin.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "admin_token_missing", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("Authorization"),
            "{body}"
        );
    }
    let res = admin
        .client
        .get(format!("{}/admin/connections", admin.base))
        .basic_auth("ops", Some(OPS))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "admin_token_malformed", "{body}");
    for wrong in ["wrong-secret-0123456789", "ops", &format!("ops:{OPS}")] {
        let res = admin.get("/admin/connections", wrong).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{wrong}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "admin_token_refused", "{body}");
    }
    // An empty bearer token is no token.
    let res = admin.get("/admin/connections", "").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Either token of the rotation works; unknown admin paths are a JSON 404 then.
    for token in [OPS, OLD] {
        assert_eq!(
            admin.get("/admin/connections", token).await.status(),
            StatusCode::OK
        );
    }
    let res = admin.get("/admin/nothing-here", OPS).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_found");
    // Its OpenAPI document is readable without a token, and is the generated one.
    let res = admin
        .client
        .get(format!("{}/admin/openapi.json", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "Teams connector admin API");
    assert!(
        doc["paths"]["/admin/connections"]["get"].is_object(),
        "{doc}"
    );
    // /metrics is as it was: no token asked.
    assert!(admin
        .server
        .scrape()
        .await
        .contains("connector_deliveries_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_admin_api_is_off_and_the_start_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("off.sqlite");
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = ServerProcess::start_logged(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "info",
    );
    let base = server
        .metrics
        .as_ref()
        .unwrap()
        .trim_end_matches("/metrics");
    let res = reqwest::Client::new()
        .get(format!("{base}/admin/connections"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        server
            .log_lines()
            .iter()
            .any(|l| l.contains("the admin API is off")),
        "{:?}",
        server.log_lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_found_and_shown_without_their_webhook_url_or_edit_key() {
    let admin = Admin::start(&[]).await;
    let (hook_a, key_a) = admin.create("adm-a1", "Alpha builds").await;
    let (hook_b, key_b) = admin.create("adm-b2", "Beta releases").await;
    admin.create("adm-c3", "Gamma builds").await;

    let (page, text) = admin.json("/admin/connections").await;
    assert_eq!(ids(&page), ["adm-a1", "adm-b2", "adm-c3"]);
    assert_eq!(page["nextCursor"], Value::Null);
    let first = &page["connections"][0];
    assert_eq!(first["name"], "Alpha builds");
    assert_eq!(first["kind"], "connector");
    assert_eq!(first["host"], "127.0.0.1");
    assert_eq!(first["state"], "enabled");
    assert_eq!(first["team"]["group"], "adm-a1");
    // Searches.
    let (page, _) = admin.json("/admin/connections?name=BUILDS").await;
    assert_eq!(ids(&page), ["adm-a1", "adm-c3"]);
    let (page, _) = admin.json("/admin/connections?team=adm-b2").await;
    assert_eq!(ids(&page), ["adm-b2"]);
    let (page, _) = admin
        .json("/admin/connections?tenant=tenant-1&kind=connector&state=enabled")
        .await;
    assert_eq!(ids(&page), ["adm-a1", "adm-b2", "adm-c3"]);
    let (page, _) = admin.json("/admin/connections?kind=workflows").await;
    assert!(ids(&page).is_empty());
    // Pages.
    let (page, _) = admin.json("/admin/connections?limit=2").await;
    assert_eq!(ids(&page), ["adm-a1", "adm-b2"]);
    assert_eq!(page["nextCursor"], "adm-b2");
    let (page, _) = admin.json("/admin/connections?limit=2&cursor=adm-b2").await;
    assert_eq!(ids(&page), ["adm-c3"]);
    assert_eq!(page["nextCursor"], Value::Null);
    // One connection's detail.
    let (detail, detail_text) = admin.json("/admin/connections/adm-b2").await;
    assert_eq!(detail["entityId"], "adm-b2");
    assert_eq!(detail["name"], "Beta releases");
    assert!(detail["deliveries"].is_object(), "{detail}");
    // Never a webhook URL, its secret path or an edit key.
    for body in [&text, &detail_text] {
        for secret in [&hook_a, &hook_b, &key_a, &key_b] {
            assert!(!body.contains(secret.as_str()), "{body} shows {secret}");
        }
        assert!(
            !body.contains("IncomingWebhook") && !body.contains("webhookb2"),
            "{body}"
        );
        assert!(
            !body.contains("editKey") && !body.contains("webhookUrl"),
            "{body}"
        );
    }
    // Bad input: a clear error naming what was wrong.
    for (path, says) in [
        ("/admin/connections?state=asleep", "state 'asleep'"),
        ("/admin/connections?kind=fax", "kind 'fax'"),
        ("/admin/connections?limit=0", "limit 0"),
        ("/admin/connections?limit=many", "limit"),
        ("/admin/connections?colour=red", "colour"),
    ] {
        let res = admin.get(path, OPS).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    // The bot path's kind is one (none here are on it).
    let res = admin.get("/admin/connections?kind=bot", OPS).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["connections"], json!([]), "{body}");
    let res = admin.get("/admin/connections/nobody-here", OPS).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("nobody-here"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_and_enabling_is_audited_with_the_token_id_and_the_tab_shows_the_reason() {
    let admin = Admin::start(&[]).await;
    let (hook, _) = admin.create("adm-d1", "Delta").await;
    admin.create("adm-d2", "Echo").await;

    let res = admin
        .post(
            "/admin/connections/adm-d1/disable",
            OLD,
            Some(json!({ "reason": "customer asked us to pause" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "disabled");
    let shown = "disabled by an operator: customer asked us to pause";
    assert_eq!(body["disabledReason"], shown);
    // The tab's own GET shows the reason.
    let tab: Value = admin
        .server
        .get("adm-d1", Some(&hook))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tab["disabled"], shown, "{tab}");
    let (page, _) = admin.json("/admin/connections?state=disabled").await;
    assert_eq!(ids(&page), ["adm-d1"]);

    let res = admin
        .post("/admin/connections/adm-d1/enable", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "enabled");
    let (page, _) = admin.json("/admin/connections?state=disabled").await;
    assert!(ids(&page).is_empty());

    // Refused: no reason, an empty one, an unknown connection; nothing is logged for them.
    for body in [None, Some(json!({})), Some(json!({ "reason": "  " }))] {
        let res = admin
            .post("/admin/connections/adm-d2/disable", OPS, body.clone())
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let err: Value = res.json().await.unwrap();
        assert!(err["message"].as_str().unwrap().contains("reason"), "{err}");
    }
    let res = admin
        .post(
            "/admin/connections/nobody/disable",
            OPS,
            Some(json!({ "reason": "x" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = admin
        .post("/admin/connections/nobody/enable", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A GET of an action is refused with JSON.
    let res = admin.get("/admin/connections/adm-d1/disable", OPS).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);

    let (log, _) = admin.json("/admin/audit").await;
    let entries = log["entries"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("ops", "enable", "adm-d1"), ("old", "disable", "adm-d1")]
    );
    assert_eq!(entries[1]["detail"], "customer asked us to pause");
    assert!(entries[0]["detail"]
        .as_str()
        .unwrap()
        .contains("customer asked"));
    assert!(entries[0]["atMs"].as_i64().unwrap() >= entries[1]["atMs"].as_i64().unwrap());
    let (older, _) = admin.json("/admin/audit?limit=1").await;
    assert_eq!(older["entries"].as_array().unwrap().len(), 1);
    let before = older["nextBefore"].as_i64().expect("a next page");
    let (rest, _) = admin
        .json(&format!("/admin/audit?limit=1&before={before}"))
        .await;
    assert_eq!(rest["entries"][0]["action"], "disable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_come_from_a_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("file.sqlite");
    let file = dir.path().join("admin-tokens");
    std::fs::write(&file, format!("ops:{OPS}\n")).unwrap();
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = ServerProcess::start(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
            "--admin-token-file",
            file.to_str().unwrap(),
        ],
    );
    let base = server
        .metrics
        .as_ref()
        .unwrap()
        .trim_end_matches("/metrics");
    let res = reqwest::Client::new()
        .get(format!("{base}/admin/audit"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_by_connection_event_and_state_with_their_attempts() {
    let admin = Admin::start(&[]).await;
    admin.create("adm-ok", "Okay builds").await;
    let (gone, _) = admin.create("adm-gone", "Gone builds").await;
    admin.server.mode(&gone, "gone").await;
    let res = admin.server.send(&event(event_types()[0], "web")).await;
    assert!(res.status().is_success(), "{}", res.status());
    until("one delivered and one dead", 20, async || {
        let (page, _) = admin.json("/admin/deliveries").await;
        let states: Vec<&str> = page["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["status"].as_str().unwrap())
            .collect();
        states.contains(&"delivered") && states.contains(&"dead")
    })
    .await;
    let (ok, _) = admin.json("/admin/deliveries?connection=adm-ok").await;
    let ok = &ok["deliveries"];
    assert_eq!(ok.as_array().unwrap().len(), 1, "{ok}");
    assert_eq!(ok[0]["status"], "delivered");
    assert_eq!(ok[0]["attempts"], 1);
    assert!(ok[0]["deliveredAt"].is_i64(), "{ok}");
    let (dead, text) = admin.json("/admin/deliveries?state=dead").await;
    let dead = &dead["deliveries"];
    assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(dead[0]["entityId"], "adm-gone");
    assert!(dead[0]["lastError"].is_string(), "{dead}");
    assert!(
        !text.contains(&gone) && !text.contains("webhookb2"),
        "{text}"
    );
    let event_id = dead[0]["eventId"].as_str().unwrap();
    let (by_event, _) = admin
        .json(&format!("/admin/deliveries?event={event_id}&limit=1"))
        .await;
    assert_eq!(by_event["deliveries"].as_array().unwrap().len(), 1);
    let before = by_event["nextBefore"].as_i64().expect("a second page");
    let (rest, _) = admin
        .json(&format!(
            "/admin/deliveries?event={event_id}&before={before}"
        ))
        .await;
    assert_eq!(rest["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(rest["nextBefore"], Value::Null);
    // One delivery with its attempts, each with the webhook's answer code.
    let dead_id = dead[0]["deliveryId"].as_i64().unwrap();
    let (one, text) = admin.json(&format!("/admin/deliveries/{dead_id}")).await;
    assert_eq!(one["status"], "dead", "{one}");
    let log = one["attemptLog"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{one}");
    assert_eq!(log[0]["code"], 410, "{one}");
    assert_eq!(log[0]["outcome"], "dead", "{one}");
    assert!(
        log[0]["atMs"].is_i64() && log[0]["error"].is_string(),
        "{one}"
    );
    assert!(!text.contains(&gone), "{text}");
    let ok_id = ok[0]["deliveryId"].as_i64().unwrap();
    let (one, _) = admin.json(&format!("/admin/deliveries/{ok_id}")).await;
    assert_eq!(one["attemptLog"][0]["code"], 200, "{one}");
    assert_eq!(one["attemptLog"][0]["outcome"], "delivered", "{one}");
    assert_eq!(one["attemptLog"][0]["error"], Value::Null, "{one}");
    let res = admin.get("/admin/deliveries/999999", OPS).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = admin.get("/admin/deliveries/first", OPS).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("'first'"),
        "{body}"
    );
    // By when they were made: at or after since, before until.
    let made = dead[0]["createdAt"].as_i64().expect("when it was made");
    let (found, _) = admin
        .json(&format!(
            "/admin/deliveries?since={made}&until={}",
            made + 1
        ))
        .await;
    assert_eq!(found["deliveries"].as_array().unwrap().len(), 2, "{found}");
    let (none, _) = admin
        .json(&format!("/admin/deliveries?since={}", made + 1))
        .await;
    assert!(none["deliveries"].as_array().unwrap().is_empty(), "{none}");
    for (query, named) in [
        ("since=yesterday", "since 'yesterday'"),
        ("until=-5", "until '-5'"),
        ("since=10&until=10", "since (10) must be before until (10)"),
    ] {
        let res = admin.get(&format!("/admin/deliveries?{query}"), OPS).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{query}: {body}"
        );
    }
    let res = admin.get("/admin/deliveries?state=lost", OPS).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("state 'lost'"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_disable_survives_the_owners_save_and_the_answer_says_so() {
    let admin = Admin::start(&[]).await;
    let (hook, _) = admin.create("adm-s1", "Sierra").await;
    let res = admin
        .post(
            "/admin/connections/adm-s1/disable",
            OPS,
            Some(json!({ "reason": "abuse report 42" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown = "disabled by an operator: abuse report 42";
    // The owner saves (new settings, the same webhook): saved, and still disabled.
    let settings = subscription(
        "Sierra 2",
        &[event_types()[0]],
        "",
        CardStyle::Compact,
        false,
    );
    let res = admin
        .server
        .put(
            "adm-s1",
            &json!({ "webhookUrl": hook, "settings": settings }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["configName"], "Sierra 2", "{saved}");
    assert_eq!(
        saved["disabled"], shown,
        "the answer says it stays disabled"
    );
    let (detail, _) = admin.json("/admin/connections/adm-s1").await;
    assert_eq!(detail["state"], "disabled");
    assert_eq!(detail["disabledReason"], shown);
    let status = admin.server.status("adm-s1", &hook).await;
    assert_eq!(status["disabled"], shown, "{status}");
    // Nothing reaches it while it is.
    let mut first = event(event_types()[0], "web");
    first["id"] = json!("while-disabled");
    let res = admin.server.send(&first).await;
    assert!(res.status().is_success(), "{}", res.status());
    let (none, _) = admin.json("/admin/deliveries?connection=adm-s1").await;
    assert!(none["deliveries"].as_array().unwrap().is_empty(), "{none}");
    // The operator's enable enables it.
    let res = admin
        .post("/admin/connections/adm-s1/enable", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut second = event(event_types()[0], "web");
    second["id"] = json!("once-enabled");
    let res = admin.server.send(&second).await;
    assert!(res.status().is_success(), "{}", res.status());
    until("the card posted", 20, async || {
        admin.server.received(&hook).await == 1
    })
    .await;
}

/// The audit log's (actor, action, target, detail), newest first.
async fn audit_of(admin: &Admin) -> Vec<(String, String, String, String)> {
    let (log, _) = admin.json("/admin/audit").await;
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("actor"), s("action"), s("target"), s("detail"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_card_is_posted_to_the_webhook_and_answered_with_how_it_went() {
    let admin = Admin::start(&[]).await;
    let (ok, _) = admin.create("adm-t1", "Tango").await;
    let (failing, _) = admin.create("adm-t2", "Uniform").await;
    admin.server.mode(&failing, "error").await;

    let res = admin
        .post("/admin/connections/adm-t1/test", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["outcome"], "delivered", "{answer}");
    assert_eq!(answer["error"], Value::Null);
    let event_id = answer["eventId"].as_str().unwrap().to_string();
    assert!(event_id.starts_with("test-"), "{answer}");
    // The card reached the channel's webhook, the page's test card as the page sends it.
    let cards = admin.server.inbox(&ok).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert!(
        cards[0]["body"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Test card from")),
        "{}",
        cards[0]
    );
    assert!(
        cards[0]["headers"]["idempotency-key"]
            .as_str()
            .is_some_and(|k| k.starts_with(&event_id)),
        "{}",
        cards[0]
    );
    let (row, _) = admin
        .json(&format!("/admin/deliveries?event={event_id}"))
        .await;
    assert_eq!(row["deliveries"][0]["status"], "delivered", "{row}");

    // The webhook's error, when it refuses.
    let res = admin
        .post("/admin/connections/adm-t2/test", OLD, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["outcome"], "failed", "{answer}");
    let error = answer["error"].as_str().expect("the webhook's error");
    assert!(error.contains("500"), "{error}");

    // A disabled one, an unknown one, a bad id: refused, and not logged.
    admin
        .post(
            "/admin/connections/adm-t1/disable",
            OPS,
            Some(json!({ "reason": "paused" })),
        )
        .await;
    let res = admin
        .post("/admin/connections/adm-t1/test", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "connection_disabled", "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("enable it first"));
    let res = admin
        .post("/admin/connections/nobody/test", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.server.received(&ok).await, 1, "nothing more posted");

    let log = audit_of(&admin).await;
    let tests: Vec<_> = log.iter().filter(|e| e.1 == "test").collect();
    assert_eq!(tests.len(), 2, "{log:?}");
    assert_eq!(
        (tests[0].0.as_str(), tests[0].2.as_str()),
        ("old", "adm-t2")
    );
    assert!(
        tests[0].3.contains("failed") && tests[0].3.contains("500"),
        "{log:?}"
    );
    assert_eq!(
        (tests[1].0.as_str(), tests[1].2.as_str()),
        ("ops", "adm-t1")
    );
    assert_eq!(tests[1].3, format!("{event_id}: delivered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_connection_drops_its_pending_deliveries_and_is_audited() {
    let admin = Admin::start(&[]).await;
    let (hook, key) = admin.create("adm-x1", "X-ray").await;
    admin.create("adm-x2", "Yankee").await;
    admin.server.mode(&hook, "error").await;
    let res = admin.server.send(&event(event_types()[0], "web")).await;
    assert!(res.status().is_success(), "{}", res.status());
    until("a failed attempt, retried later", 20, async || {
        let (page, _) = admin.json("/admin/deliveries?connection=adm-x1").await;
        let d = &page["deliveries"][0];
        d["status"] == "pending" && d["lastError"].is_string()
    })
    .await;

    let res = admin
        .client
        .delete(format!("{}/admin/connections/adm-x1", admin.base))
        .bearer_auth(OLD)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        answer,
        json!({ "entityId": "adm-x1", "pendingDropped": 1 }),
        "{answer}"
    );
    // Gone: from the admin API, its deliveries with it, and from the owner's page.
    let res = admin.get("/admin/connections/adm-x1", OPS).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (none, _) = admin.json("/admin/deliveries?connection=adm-x1").await;
    assert!(none["deliveries"].as_array().unwrap().is_empty(), "{none}");
    let res = admin
        .server
        .request(
            reqwest::Method::GET,
            "adm-x1",
            crate::helpers::Creds::key(&key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (rest, _) = admin.json("/admin/connections").await;
    assert_eq!(ids(&rest), ["adm-x2"]);
    // Again, or an unknown one: 404, and nothing more logged.
    let res = admin
        .client
        .delete(format!("{}/admin/connections/adm-x1", admin.base))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let log = audit_of(&admin).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let (actor, action, target, detail) = &log[0];
    assert_eq!(
        (actor.as_str(), action.as_str(), target.as_str()),
        ("old", "delete", "adm-x1")
    );
    assert!(
        detail.contains("X-ray") && detail.contains("connector") && !detail.contains(&hook),
        "{detail}"
    );
}

/// Runs `connector-server <args>` as an operator's machine would: no database of its own
/// (`--db` names one that must stay absent), the admin token `token` in the environment.
fn cli(args: &[&str], token: Option<&str>, absent_db: &std::path::Path) -> Result<String, String> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_connector-server"));
    cmd.arg("--db")
        .arg(absent_db)
        .args(args)
        .env("RUST_LOG", "error")
        .env_remove("CONNECTOR_ADMIN_TOKEN")
        .env_remove("CONNECTOR_ADMIN_TOKEN_FILE")
        .env_remove("CONNECTOR_ADMIN_URL");
    if let Some(token) = token {
        cmd.env("CONNECTOR_ADMIN_TOKEN", token);
    }
    let out = cmd.output().unwrap();
    assert!(!absent_db.exists(), "the command opened a database");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_status_ask_the_admin_api_with_admin_url_and_need_no_database() {
    let admin = Admin::start(&[]).await;
    admin.create("adm-c1", "Charlie").await;
    let (gone, _) = admin.create("adm-c2", "Gone builds").await;
    admin.server.mode(&gone, "gone").await;
    let res = admin.server.send(&event(event_types()[0], "web")).await;
    assert!(res.status().is_success(), "{}", res.status());
    until("one dead", 20, async || {
        let (page, _) = admin.json("/admin/deliveries?state=dead").await;
        page["deliveries"].as_array().unwrap().len() == 1
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("never.sqlite");
    let token = format!("ops:{OPS}");
    let token = Some(token.as_str());
    let url = admin.base.as_str();

    let listed = cli(&["dead", "--admin-url", url], token, &absent).unwrap();
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    let cols: Vec<&str> = rows[0].split('\t').collect();
    assert_eq!(cols[3], "adm-c2", "{listed}");
    assert!(
        cols[1].ends_with('Z') && cols[5].contains("410"),
        "{listed}"
    );
    assert!(
        !listed.contains(&gone) && !listed.contains("webhookb2"),
        "{listed}"
    );
    // --since after it died: none.
    let later = cli(
        &[
            "dead",
            "--admin-url",
            url,
            "--since",
            "2999-01-01T00:00:00Z",
        ],
        token,
        &absent,
    )
    .unwrap();
    assert_eq!(later.lines().count(), 1, "the header only: {later}");

    let shown = cli(
        &["status", "--entity-id", "adm-c2", "--admin-url", url],
        token,
        &absent,
    )
    .unwrap();
    let detail: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(detail["entityId"], "adm-c2");
    assert_eq!(detail["state"], "disabled");
    assert_eq!(detail["deliveries"]["dead"], 1, "{detail}");
    assert!(!shown.contains(&gone), "{shown}");

    // Refusals say what was wrong, never the secret.
    let unknown = cli(
        &["status", "--entity-id", "nobody", "--admin-url", url],
        token,
        &absent,
    )
    .unwrap_err();
    assert!(
        unknown.contains("404") && unknown.contains("no connection 'nobody'"),
        "{unknown}"
    );
    let wrong = cli(
        &["dead", "--admin-url", url],
        Some("ops:not-the-secret-at-all"),
        &absent,
    )
    .unwrap_err();
    assert!(
        wrong.contains("401")
            && wrong.contains("admin_token_refused")
            && !wrong.contains("not-the-secret"),
        "{wrong}"
    );
    let none = cli(&["dead", "--admin-url", url], None, &absent).unwrap_err();
    assert!(none.contains("CONNECTOR_ADMIN_TOKEN"), "{none}");
    let bare = cli(&["dead", "--admin-url", url], Some(OPS), &absent).unwrap_err();
    assert!(bare.contains("id:secret") && !bare.contains(OPS), "{bare}");

    // replay: a dry run counts, and holds it while its connection is disabled.
    let since = ["--since", "2020-01-01T00:00:00Z"];
    let dry = cli(
        &[&["replay", "--admin-url", url, "--dry-run"][..], &since[..]].concat(),
        token,
        &absent,
    )
    .unwrap();
    assert!(
        dry.contains("1 dead deliveries match; a replay would make 0 due (1 held"),
        "{dry}"
    );
    // The channel is back: enabled, its webhook answering; the dead card replayed by id.
    let res = admin
        .post("/admin/connections/adm-c2/enable", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    admin.server.mode(&gone, "ok").await;
    let dry = cli(
        &[&["replay", "--admin-url", url, "--dry-run"][..], &since[..]].concat(),
        token,
        &absent,
    )
    .unwrap();
    assert!(dry.contains("a replay would make 1 due (0 held"), "{dry}");
    let id = cols[0];
    let replayed = cli(&["replay", "--admin-url", url, "--id", id], token, &absent).unwrap();
    assert!(replayed.contains("replayed 1 deliveries"), "{replayed}");
    until("the replayed card", 20, async || {
        admin.server.inbox(&gone).await.len() == 1
    })
    .await;
    let again = cli(&["replay", "--admin-url", url, "--id", id], token, &absent).unwrap_err();
    assert!(again.contains("409"), "{again}");
    let none_left = cli(
        &[&["replay", "--admin-url", url][..], &since[..]].concat(),
        token,
        &absent,
    )
    .unwrap_err();
    assert!(none_left.contains("nothing was replayed"), "{none_left}");
    let log = audit_of(&admin).await;
    assert!(
        log.iter()
            .any(|e| e.0 == "ops" && e.1 == "replay" && e.2.contains(id)),
        "{log:?}"
    );
}

/// Posts `path` with `body` as OPS and answers its status and JSON.
async fn post_json(admin: &Admin, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let res = admin.post(path, OPS, body).await;
    let status = res.status();
    (status, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_delivery_shows_its_attempts_is_counted_by_a_dry_run_and_replayed_delivered() {
    // Retries a hundred thousand times faster: a day of retries in about a second.
    let admin = Admin::start(&["--test-retry-divisor", "100000"]).await;
    let (hook, _) = admin.create("adm-flaky", "Flaky builds").await;
    admin.create("adm-fine", "Fine builds").await;
    admin.server.mode(&hook, "error").await;
    let res = admin.server.send(&event(event_types()[0], "web")).await;
    assert!(res.status().is_success(), "{}", res.status());
    until("the failing one dead", 30, async || {
        let (page, _) = admin
            .json("/admin/deliveries?connection=adm-flaky&state=dead")
            .await;
        !page["deliveries"].as_array().unwrap().is_empty()
    })
    .await;
    let (page, _) = admin
        .json("/admin/deliveries?connection=adm-flaky&state=dead")
        .await;
    let dead = &page["deliveries"][0];
    let id = dead["deliveryId"].as_i64().unwrap();
    let (detail, _) = admin.json(&format!("/admin/deliveries/{id}")).await;
    let log = detail["attemptLog"].as_array().unwrap();
    assert_eq!(log.len(), 9, "every attempt: {detail}");
    assert!(log.iter().all(|a| a["code"] == 500), "{detail}");
    assert!(
        log[..8].iter().all(|a| a["outcome"] == "retried"),
        "{detail}"
    );
    assert_eq!(log[8]["outcome"], "dead", "{detail}");
    assert!(
        log.windows(2)
            .all(|w| w[0]["atMs"].as_i64() <= w[1]["atMs"].as_i64()),
        "oldest first: {detail}"
    );

    assert!(dead["createdAt"].is_i64(), "{dead}");

    // Replaying one that is not dead, or none at all.
    let (fine, _) = admin.json("/admin/deliveries?connection=adm-fine").await;
    let fine_id = fine["deliveries"][0]["deliveryId"].as_i64().unwrap();
    let (status, body) =
        post_json(&admin, &format!("/admin/deliveries/{fine_id}/replay"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not dead"),
        "{body}"
    );
    let (status, _) = post_json(&admin, "/admin/deliveries/999999/replay", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = post_json(
        &admin,
        "/admin/deliveries/replay",
        Some(json!({ "connection": "adm-flaky", "dryrun": true })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("dryrun"),
        "{body}"
    );
    let (status, body) = post_json(&admin, "/admin/deliveries/replay", Some(json!({}))).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an unfiltered replay needs a filter: {body}"
    );

    // A dry run counts it and changes nothing; the webhook is fixed; the replay delivers it.
    let filter = json!({ "connection": "adm-flaky", "since": 0, "dryRun": true });
    let (status, dry) = post_json(&admin, "/admin/deliveries/replay", Some(filter)).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(
        dry,
        json!({ "matched": 1, "held": 0, "replayed": 0, "dryRun": true })
    );
    let (still, _) = admin.json(&format!("/admin/deliveries/{id}")).await;
    assert_eq!(still["status"], "dead");
    admin.server.mode(&hook, "ok").await;
    let filter = json!({ "connection": "adm-flaky", "since": 0 });
    let (status, done) = post_json(&admin, "/admin/deliveries/replay", Some(filter)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done,
        json!({ "matched": 1, "held": 0, "replayed": 1, "dryRun": false })
    );
    until("the replayed one delivered", 20, async || {
        let (d, _) = admin.json(&format!("/admin/deliveries/{id}")).await;
        d["status"] == "delivered"
    })
    .await;
    let (detail, _) = admin.json(&format!("/admin/deliveries/{id}")).await;
    let log = detail["attemptLog"].as_array().unwrap();
    assert_eq!(
        log.len(),
        10,
        "the attempts before the replay are kept: {detail}"
    );
    assert_eq!(
        (&log[9]["code"], &log[9]["outcome"]),
        (&json!(200), &json!("delivered"))
    );

    // The audit log says who replayed what, and how many.
    let (audit, _) = admin.json("/admin/audit").await;
    let entry = &audit["entries"][0];
    assert_eq!(
        (&entry["actor"], &entry["action"], &entry["target"]),
        (&json!("ops"), &json!("replay"), &json!("adm-flaky")),
        "{audit}"
    );
    let detail: Value = serde_json::from_str(entry["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["filter"]["entityId"], "adm-flaky", "{detail}");
    assert_eq!(detail["replayed"], 1, "{detail}");
    assert_eq!(
        audit["entries"].as_array().unwrap().len(),
        1,
        "a dry run is not audited: {audit}"
    );

    // A webhook that is gone disables its connection: its dead delivery is held until an
    // operator enables it, then replayed by its id.
    admin.server.mode(&hook, "gone").await;
    let res = admin.server.send(&event(event_types()[0], "web")).await;
    assert!(res.status().is_success(), "{}", res.status());
    until("the second one dead", 20, async || {
        let (page, _) = admin
            .json("/admin/deliveries?connection=adm-flaky&state=dead")
            .await;
        !page["deliveries"].as_array().unwrap().is_empty()
    })
    .await;
    let (page, _) = admin
        .json("/admin/deliveries?connection=adm-flaky&state=dead")
        .await;
    let second = page["deliveries"][0]["deliveryId"].as_i64().unwrap();
    let path = format!("/admin/deliveries/{second}/replay");
    let (status, body) = post_json(&admin, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("enable it first"),
        "{body}"
    );
    let filter = json!({ "connection": "adm-flaky", "since": 0, "dryRun": true });
    let (_, dry) = post_json(&admin, "/admin/deliveries/replay", Some(filter)).await;
    assert_eq!(
        (&dry["matched"], &dry["held"]),
        (&json!(1), &json!(1)),
        "{dry}"
    );
    admin.server.mode(&hook, "ok").await;
    let res = admin
        .post("/admin/connections/adm-flaky/enable", OPS, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, one) = post_json(&admin, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["deliveryId"], second);
    assert!(
        one["status"] == "pending" || one["status"] == "delivered",
        "{one}"
    );
    until("the second one delivered", 20, async || {
        let (d, _) = admin.json(&format!("/admin/deliveries/{second}")).await;
        d["status"] == "delivered"
    })
    .await;
    let (status, _) = post_json(&admin, &path, None).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "only once: it is delivered now"
    );
    let (audit, _) = admin.json("/admin/audit?limit=1").await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["target"], format!("delivery:{second}"), "{audit}");
    assert_eq!(entry["actor"], "ops", "{audit}");

    // The day's attempts per minute by outcome: 4 delivered (2 to the fine one, 2 replayed),
    // 8 retried, 2 dead; nothing is due now.
    let (stats, _) = admin.json("/admin/stats").await;
    let minutes = stats["minutes"].as_array().unwrap();
    let sum = |what: &str| {
        minutes
            .iter()
            .map(|m| m[what].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (sum("delivered"), sum("retried"), sum("dead")),
        (4, 8, 2),
        "{stats}"
    );
    assert!(
        minutes
            .windows(2)
            .all(|w| w[0]["minute"].as_i64() < w[1]["minute"].as_i64()),
        "{stats}"
    );
    assert!(minutes
        .iter()
        .all(|m| m["minute"].as_i64().unwrap() % 60_000 == 0));
    assert_eq!(
        (&stats["due"], &stats["oldestDueAt"]),
        (&json!(0), &Value::Null)
    );
    let res = admin.get("/admin/stats?hours=48", OPS).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
