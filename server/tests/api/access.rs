//! Every access rule over real HTTP: the edit key (right, wrong, missing), each form of a
//! connector webhook URL, a new webhook of the same team, another team's and another
//! tenant's webhook, Workflows webhooks, with and without single sign-on; the test card
//! before saving; the CORS preflight of the new headers; and where the edit key never shows.

use std::path::{Path, PathBuf};

use connector_server::config::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const TENANT: &str = "72f9bf00-0000-4000-8000-000000000001";
const GROUP: &str = "0b4f0000-0000-4000-8000-00000000000a";
const USER: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const KEY_HEADER: &str = "x-connector-edit-key";
const HOOK_HEADER: &str = "x-teams-webhook-url";

/// A connector webhook URL on Microsoft's host.
fn hook(tenant: &str, group: &str, id: &str) -> String {
    format!(
        "https://contoso.webhook.office.com/webhookb2/{group}@{tenant}/IncomingWebhook/{id}/{USER}"
    )
}

fn flow(id: &str) -> String {
    format!("https://default72f988bf.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/{id}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sig{id}")
}

fn settings(name: &str) -> Value {
    let mut s = crate::helpers::settings();
    s["subscription_name"] = json!(name);
    s
}

/// The harness's dev-mode server (emulator inboxes, no write rate), with the requests of
/// these tests: every credential in its header.
struct Server(TestApp);

impl std::ops::Deref for Server {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

async fn spawn_with(change: impl FnOnce(&mut Config)) -> Server {
    Server(TestApp::dev_with(change).await)
}

async fn spawn() -> Server {
    spawn_with(|_| {}).await
}

/// What a request presents.
#[derive(Default, Clone, Copy)]
struct Creds<'a> {
    hook: Option<&'a str>,
    key: Option<&'a str>,
    token: Option<&'a str>,
}

fn hook_only(hook: &str) -> Creds<'_> {
    Creds {
        hook: Some(hook),
        ..Creds::default()
    }
}

fn key_only(key: &str) -> Creds<'_> {
    Creds {
        key: Some(key),
        ..Creds::default()
    }
}

impl Server {
    fn req(&self, method: reqwest::Method, path: &str, c: Creds) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .request(method, format!("{}/api/connections/{path}", self.url));
        if let Some(h) = c.hook {
            r = r.header(HOOK_HEADER, h);
        }
        if let Some(k) = c.key {
            r = r.header(KEY_HEADER, k);
        }
        if let Some(t) = c.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// PUT with `webhook` in the body (when given) and `c`'s headers.
    async fn put(
        &self,
        id: &str,
        webhook: Option<&str>,
        name: &str,
        c: Creds<'_>,
    ) -> reqwest::Response {
        let mut body = json!({ "settings": settings(name) });
        if let Some(w) = webhook {
            body["webhookUrl"] = json!(w);
        }
        self.req(reqwest::Method::PUT, id, c)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, id: &str, c: Creds<'_>) -> reqwest::Response {
        self.req(reqwest::Method::GET, id, c).send().await.unwrap()
    }

    async fn delete(&self, id: &str, c: Creds<'_>) -> reqwest::Response {
        self.req(reqwest::Method::DELETE, id, c)
            .send()
            .await
            .unwrap()
    }

    /// Creates `id` with `webhook` and returns its edit key.
    async fn create(&self, id: &str, webhook: &str, c: Creds<'_>) -> String {
        let res = self.put(id, Some(webhook), "Nightly builds", c).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        let key = body["editKey"]
            .as_str()
            .expect("an edit key on creation")
            .to_string();
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        key
    }

    /// The stored name, read with `c`.
    async fn name(&self, id: &str, c: Creds<'_>) -> String {
        let res = self.get(id, c).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["configName"].as_str().unwrap().to_string()
    }

    /// A URL of this server's emulator inbox, with `path` after `/emulator/webhook/`.
    fn inbox(&self, path: &str) -> String {
        format!("{}/emulator/webhook/{path}", self.url)
    }

    async fn inbox_messages(&self, inbox: &str) -> Vec<Value> {
        let got: Value = self
            .client
            .get(format!("{}/emulator/api/inbox/{inbox}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        got["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Queues a test card, waits until `inbox` received it and its delivery is recorded;
    /// returns the path (the URL's form) it was posted to.
    async fn card_path(&self, id: &str, c: Creds<'_>, inbox: &str) -> String {
        let before = self.inbox_messages(inbox).await.len();
        let res = self
            .req(reqwest::Method::POST, &format!("{id}/test-card"), c)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let event: Value = res.json().await.unwrap();
        let event = event["eventId"].as_str().unwrap().to_string();
        for _ in 0..200 {
            let status: Value = self
                .req(
                    reqwest::Method::GET,
                    &format!("{id}/deliveries?event={event}"),
                    c,
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let messages = self.inbox_messages(inbox).await;
            if status["delivered"] == 1 && messages.len() > before {
                return messages.last().unwrap()["path"]
                    .as_str()
                    .unwrap()
                    .to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no card reached inbox {inbox}");
    }

    async fn token(&self, variant: &str) -> String {
        let res: Value = reqwest::get(format!(
            "{}/emulator/idp/token?tid={TENANT}&oid={USER}&variant={variant}",
            self.url
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        res["token"].as_str().unwrap().to_string()
    }
}

async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_string()
}

fn db_text(db: &Path) -> String {
    let mut all = std::fs::read(db).unwrap_or_default();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    all.extend(std::fs::read(PathBuf::from(wal)).unwrap_or_default());
    String::from_utf8_lossy(&all).into_owned()
}

// ---- the edit key ----

#[tokio::test]
async fn the_edit_key_alone_reads_changes_tests_and_removes_a_tab_connection() {
    let s = spawn().await;
    let key = s.create("tab-1", &flow("a1"), Creds::default()).await;
    let read = s.get("tab-1", key_only(&key)).await;
    assert_eq!(read.status(), StatusCode::OK);
    let body: Value = read.json().await.unwrap();
    assert!(
        body.get("editKey").is_none(),
        "the key comes back only from the save that made it"
    );

    // Changing the settings needs no webhook URL: the stored one stays.
    let res = s.put("tab-1", None, "Renamed", key_only(&key)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("editKey").is_none());
    assert_eq!(s.name("tab-1", key_only(&key)).await, "Renamed");
    assert_eq!(
        s.name("tab-1", hook_only(&flow("a1"))).await,
        "Renamed",
        "the webhook URL still works as a key"
    );

    let status = s
        .req(reqwest::Method::GET, "tab-1/deliveries", key_only(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let card = s
        .req(reqwest::Method::POST, "tab-1/test-card", key_only(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(card.status(), StatusCode::ACCEPTED);

    assert_eq!(
        s.delete("tab-1", key_only(&key)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get("tab-1", key_only(&key)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_wrong_edit_key_reads_nothing_and_changes_nothing() {
    let s = spawn().await;
    let key = s.create("tab-1", &flow("a1"), Creds::default()).await;
    let wrong = "0".repeat(64);
    for c in [
        key_only(&wrong),
        key_only("not-a-key"),
        Creds {
            hook: Some(&flow("a1")),
            key: Some(&wrong),
            token: None,
        },
    ] {
        assert_eq!(
            s.get("tab-1", c).await.status(),
            StatusCode::NOT_FOUND,
            "a wrong key answers like an unknown id"
        );
        assert_eq!(s.delete("tab-1", c).await.status(), StatusCode::NOT_FOUND);
        let res = s.put("tab-1", None, "Taken over", c).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = s.put("tab-1", Some(&flow("evil")), "Taken over", c).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        s.get("unknown", key_only(&key)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.name("tab-1", key_only(&key)).await,
        "Nightly builds",
        "unchanged"
    );
    assert_eq!(
        s.name("tab-1", hook_only(&flow("a1"))).await,
        "Nightly builds",
        "still on its webhook"
    );
}

#[tokio::test]
async fn without_edit_key_or_webhook_url_nothing_is_granted() {
    let s = spawn().await;
    let key = s.create("tab-1", &flow("a1"), Creds::default()).await;
    let res = s.get("tab-1", Creds::default()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains(KEY_HEADER),
        "{body}"
    );
    assert_eq!(
        s.delete("tab-1", Creds::default()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = s.put("tab-1", None, "Taken over", Creds::default()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "webhookUrl");
    // Another Workflows URL with no key does not move it either.
    let res = s
        .put("tab-1", Some(&flow("b2")), "Taken over", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.name("tab-1", key_only(&key)).await, "Nightly builds");
}

#[tokio::test]
async fn the_edit_key_is_stored_only_as_a_keyed_hash() {
    let s = spawn().await;
    let key = s.create("tab-1", &flow("a1"), Creds::default()).await;
    let text = db_text(&s.db);
    assert!(text.contains("Nightly builds"), "the row is there");
    assert!(!text.to_ascii_lowercase().contains(&key), "but not the key");
    let raw = hex::decode(&key).unwrap();
    assert!(
        !std::fs::read(&s.db)
            .unwrap()
            .windows(32)
            .any(|w| w == raw.as_slice()),
        "nor its bytes"
    );
}

#[tokio::test]
async fn a_connection_stored_before_edit_keys_gets_one_at_its_next_save() {
    let s = spawn().await;
    let h = hook(TENANT, GROUP, "aa01");
    s.create("c1", &h, Creds::default()).await;
    rusqlite::Connection::open(&s.db)
        .unwrap()
        .execute("UPDATE connections SET edit_key_hash = NULL", [])
        .unwrap();
    let res = s.put("c1", Some(&h), "Nightly builds", hook_only(&h)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let key = body["editKey"]
        .as_str()
        .expect("a key for the older connection")
        .to_string();
    let again: Value = s
        .put("c1", Some(&h), "Nightly builds", hook_only(&h))
        .await
        .json()
        .await
        .unwrap();
    assert!(again.get("editKey").is_none(), "made once");
    assert_eq!(s.name("c1", key_only(&key)).await, "Nightly builds");
}

// ---- Workflows webhooks: opaque, so only the edit key moves them ----

#[tokio::test]
async fn the_edit_key_replaces_a_workflows_webhook_keeping_settings_and_history() {
    let s = spawn().await;
    let a = "powerautomate/automations/direct/workflows/aaaa/triggers/manual/paths/invoke";
    let b = "powerautomate/automations/direct/workflows/bbbb/triggers/manual/paths/invoke";
    let url_a = s.inbox(&format!("{a}?api-version=2016-06-01&sig=one"));
    let url_b = s.inbox(&format!("{b}?api-version=2016-06-01&sig=two"));
    let key = s.create("tab-1", &url_a, Creds::default()).await;
    assert_eq!(s.card_path("tab-1", key_only(&key), a).await, a);

    let res = s
        .put("tab-1", Some(&url_b), "Nightly builds", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "not without the key");
    let res = s
        .put("tab-1", Some(&url_b), "Nightly builds", key_only(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.card_path("tab-1", key_only(&key), b).await,
        b,
        "the next card reaches the new webhook"
    );
    let status: Value = s
        .req(reqwest::Method::GET, "tab-1/deliveries", key_only(&key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["delivered"], 2, "the delivery history stays");
    assert_eq!(
        s.get("tab-1", hook_only(&url_a)).await.status(),
        StatusCode::NOT_FOUND,
        "the old URL is no key any more"
    );
    assert_eq!(s.name("tab-1", hook_only(&url_b)).await, "Nightly builds");
}

// ---- connector webhooks: forms, the same team, other teams and tenants ----

#[tokio::test]
async fn every_form_of_the_stored_webhook_is_the_same_connection_and_only_a_proven_editor_stores_a_newer_one(
) {
    let s = spawn().await;
    let ids = format!("{GROUP}@{TENANT}/IncomingWebhook/c0ffee/{USER}");
    let legacy = format!("webhook/{ids}");
    let b2 = format!("webhookb2/{ids}");
    let v2 = format!("webhookb2/{ids}/V2sig");
    let key = s.create("c1", &s.inbox(&legacy), Creds::default()).await;
    assert_eq!(s.card_path("c1", key_only(&key), &b2).await, legacy);

    // Teams now hands out the webhookb2 form: it reads and saves without the key, but the
    // stored URL stays, since nothing proves who sent the new form.
    assert_eq!(
        s.name("c1", hook_only(&s.inbox(&b2))).await,
        "Nightly builds"
    );
    let res = s
        .put("c1", Some(&s.inbox(&b2)), "Moved", hook_only(&s.inbox(&b2)))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.card_path("c1", key_only(&key), &b2).await, legacy);

    // With the edit key the newer form is kept.
    let res = s
        .put("c1", Some(&s.inbox(&b2)), "Moved", key_only(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.card_path("c1", key_only(&key), &b2).await,
        b2,
        "the newer form is kept"
    );

    // An older form is still the same connection, but does not replace the newer one, even
    // with the key.
    let res = s
        .put("c1", Some(&s.inbox(&legacy)), "Moved", key_only(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.card_path("c1", key_only(&key), &b2).await, b2);

    let res = s
        .put("c1", Some(&s.inbox(&v2)), "Moved", key_only(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.card_path("c1", key_only(&key), &b2).await,
        v2,
        "with V2 is newer still"
    );
    for form in [&legacy, &b2, &v2] {
        assert_eq!(
            s.name("c1", hook_only(&s.inbox(form))).await,
            "Moved",
            "{form}"
        );
    }
}

#[tokio::test]
async fn a_made_up_v2_segment_never_replaces_the_stored_webhook_without_the_edit_key() {
    let s = spawn().await;
    let ids = format!("{GROUP}@{TENANT}/IncomingWebhook/c0ffee/{USER}");
    let b2 = format!("webhookb2/{ids}");
    let made_up = format!("webhookb2/{ids}/V2madeup");
    let key = s.create("c1", &s.inbox(&b2), Creds::default()).await;

    // The same (group, tenant, id, user) in a V2 form: the same webhook, so it reads and
    // saves, but the stored URL stays.
    assert_eq!(
        s.name("c1", hook_only(&s.inbox(&made_up))).await,
        "Nightly builds"
    );
    let res = s
        .put(
            "c1",
            Some(&s.inbox(&made_up)),
            "Renamed",
            hook_only(&s.inbox(&made_up)),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.name("c1", key_only(&key)).await, "Renamed");
    assert_eq!(
        s.card_path("c1", key_only(&key), &b2).await,
        b2,
        "the made-up form was not stored"
    );
    assert_eq!(
        s.name("c1", hook_only(&s.inbox(&b2))).await,
        "Renamed",
        "the stored URL still reads"
    );

    // With the edit key the editor is proven and the newer form is stored.
    let res = s
        .put("c1", Some(&s.inbox(&made_up)), "Renamed", key_only(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.card_path("c1", key_only(&key), &b2).await, made_up);
}

#[tokio::test]
async fn another_user_segment_or_appended_text_is_not_the_stored_webhook() {
    let s = spawn().await;
    let ids = format!("{GROUP}@{TENANT}/IncomingWebhook/c0ffee");
    let b2 = format!("webhookb2/{ids}/{USER}");
    let key = s.create("c1", &s.inbox(&b2), Creds::default()).await;
    // Another user segment, or text appended to it: another webhook URL of the same team.
    let other_users = [
        s.inbox(&format!(
            "webhookb2/{ids}/00000000-0000-4000-8000-0000000000ee"
        )),
        s.inbox(&format!("{b2}x")),
    ];
    // More segments than Teams' forms have: no webhook can be read from them.
    let appended = [
        s.inbox(&format!("{b2}/V2x/more")),
        s.inbox(&format!("{b2}/")),
    ];
    for url in other_users.iter().chain(&appended) {
        assert_eq!(
            s.get("c1", hook_only(url)).await.status(),
            StatusCode::NOT_FOUND,
            "{url}"
        );
        assert_eq!(
            s.delete("c1", hook_only(url)).await.status(),
            StatusCode::NOT_FOUND,
            "{url}"
        );
        let res = s.put("c1", Some(url), "Taken over", hook_only(url)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{url}");
    }
    // A connector URL whose ids cannot be read names no team: even the key does not move
    // the connection to it.
    for url in &appended {
        let res = s.put("c1", Some(url), "Taken over", key_only(&key)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{url}");
    }
    assert_eq!(
        s.name("c1", hook_only(&s.inbox(&b2))).await,
        "Nightly builds"
    );
    assert_eq!(s.card_path("c1", key_only(&key), &b2).await, b2);
}

#[tokio::test]
async fn the_forms_on_microsofts_hosts_are_the_same_webhook_too() {
    let s = spawn_with(|c| c.dev = false).await;
    let v2 = format!("{}/V2abc", hook(TENANT, GROUP, "8c2a9d"));
    s.create("c1", &v2, Creds::default()).await;
    let legacy = format!(
        "https://outlook.office.com/webhook/{GROUP}@{TENANT}/IncomingWebhook/8c2a9d/{USER}"
    );
    assert_eq!(s.name("c1", hook_only(&legacy)).await, "Nightly builds");
    assert_eq!(
        s.name("c1", hook_only(&hook(TENANT, GROUP, "8c2a9d")))
            .await,
        "Nightly builds"
    );
    assert_eq!(
        s.delete("c1", hook_only(&legacy)).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_new_webhook_of_the_same_team_rebinds_only_with_the_edit_key() {
    let s = spawn().await;
    let one = hook(TENANT, GROUP, "aa01");
    let two = hook(TENANT, GROUP, "bb02");
    let key = s.create("c1", &one, Creds::default()).await;

    assert_eq!(
        s.get("c1", hook_only(&two)).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = s.put("c1", Some(&two), "Taken over", hook_only(&two)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    assert_eq!(
        s.name("c1", hook_only(&one)).await,
        "Nightly builds",
        "unchanged"
    );

    let both = Creds {
        hook: Some(&two),
        key: Some(&key),
        token: None,
    };
    assert_eq!(
        s.name("c1", both).await,
        "Nightly builds",
        "with the key the new URL reads"
    );
    let res = s.put("c1", Some(&two), "Nightly builds", both).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.name("c1", hook_only(&two)).await,
        "Nightly builds",
        "settings kept"
    );
    assert_eq!(
        s.get("c1", hook_only(&one)).await.status(),
        StatusCode::NOT_FOUND,
        "the old URL no longer is a key"
    );
}

/// Another team's (or tenant's) webhook, with and without the edit key: never in.
async fn never_in(other: &str, code: &str) {
    let s = spawn().await;
    let mine = hook(TENANT, GROUP, "aa01");
    let key = s.create("c1", &mine, Creds::default()).await;
    let with_key = Creds {
        hook: Some(other),
        key: Some(&key),
        token: None,
    };
    let res = s.get("c1", with_key).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code);
    assert!(!body["message"].as_str().unwrap().is_empty());
    let res = s.put("c1", Some(other), "Taken over", with_key).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, code);
    assert_eq!(
        s.delete("c1", with_key).await.status(),
        StatusCode::FORBIDDEN
    );

    // Without the key it is told nothing beyond "not yours".
    assert_eq!(
        s.get("c1", hook_only(other)).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = s
        .put("c1", Some(other), "Taken over", hook_only(other))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    assert_eq!(
        s.name("c1", hook_only(&mine)).await,
        "Nightly builds",
        "unchanged"
    );
}

#[tokio::test]
async fn another_teams_webhook_never_reads_or_takes_over() {
    never_in(
        &hook(TENANT, "99990000-0000-4000-8000-000000000099", "cc03"),
        "webhook_other_team",
    )
    .await;
}

#[tokio::test]
async fn another_tenants_webhook_never_reads_or_takes_over() {
    never_in(
        &hook("00000000-0000-4000-8000-0000000000ff", GROUP, "cc03"),
        "webhook_other_tenant",
    )
    .await;
}

// ---- the team a connection was added in survives any move ----

const OTHER_GROUP: &str = "99990000-0000-4000-8000-000000000099";
const OTHER_TENANT: &str = "00000000-0000-4000-8000-0000000000ff";

/// How a connection got onto a Workflows URL before another team's webhook is presented.
#[derive(Clone, Copy, Debug)]
enum Before {
    /// Created on a connector URL, then moved to a Workflows URL with the key.
    Hop,
    /// A rebind to a new webhook of the same team first, then the hop.
    RebindThenHop,
    /// Created in the legacy form, the newer form stored, then the hop.
    FormThenHop,
    /// Stored before edit keys and before the team was kept (as an older server left it),
    /// saved once (which makes the key), then the hop.
    OlderRowThenHop,
}

/// Sets `c1` up as `before` says (no single sign-on) and returns its edit key.
async fn moved_to_workflows(s: &Server, before: Before) -> String {
    let one = hook(TENANT, GROUP, "aa01");
    let key = match before {
        Before::FormThenHop => {
            let legacy = format!(
                "https://outlook.office.com/webhook/{GROUP}@{TENANT}/IncomingWebhook/aa01/{USER}"
            );
            let key = s.create("c1", &legacy, Creds::default()).await;
            let res = s
                .put("c1", Some(&one), "Nightly builds", key_only(&key))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            key
        }
        Before::OlderRowThenHop => {
            s.create("c1", &one, Creds::default()).await;
            rusqlite::Connection::open(&s.db)
                .unwrap()
                .execute(
                    "UPDATE connections SET edit_key_hash = NULL, team_tenant = NULL, team_group = NULL",
                    [],
                )
                .unwrap();
            let res = s
                .put("c1", Some(&one), "Nightly builds", hook_only(&one))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            body["editKey"].as_str().unwrap().to_string()
        }
        Before::Hop | Before::RebindThenHop => s.create("c1", &one, Creds::default()).await,
    };
    if let Before::RebindThenHop = before {
        let two = hook(TENANT, GROUP, "bb02");
        let res = s
            .put("c1", Some(&two), "Nightly builds", key_only(&key))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = s
        .put("c1", Some(&flow("w1")), "Nightly builds", key_only(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{before:?}: onto Workflows");
    key
}

#[tokio::test]
async fn after_a_move_to_workflows_another_teams_or_tenants_webhook_never_reads_or_takes_over() {
    for before in [
        Before::Hop,
        Before::RebindThenHop,
        Before::FormThenHop,
        Before::OlderRowThenHop,
    ] {
        let s = spawn().await;
        let key = moved_to_workflows(&s, before).await;
        for (other, code) in [
            (hook(TENANT, OTHER_GROUP, "cc03"), "webhook_other_team"),
            (hook(OTHER_TENANT, GROUP, "cc03"), "webhook_other_tenant"),
            (
                hook(OTHER_TENANT, OTHER_GROUP, "cc03"),
                "webhook_other_tenant",
            ),
        ] {
            let with_key = Creds {
                hook: Some(&other),
                key: Some(&key),
                token: None,
            };
            let res = s.get("c1", with_key).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{before:?} GET {code}");
            assert_eq!(error_code(res).await, code, "{before:?}");
            let res = s.put("c1", Some(&other), "Taken over", with_key).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{before:?} PUT {code}");
            assert_eq!(error_code(res).await, code, "{before:?}");
            assert_eq!(
                s.delete("c1", with_key).await.status(),
                StatusCode::FORBIDDEN,
                "{before:?}"
            );
            assert_eq!(
                s.get("c1", hook_only(&other)).await.status(),
                StatusCode::NOT_FOUND,
                "{before:?}"
            );
        }
        assert_eq!(
            s.name("c1", hook_only(&flow("w1"))).await,
            "Nightly builds",
            "{before:?}: still on its Workflows URL"
        );
        // A webhook of the team it was added in takes it back, with the key.
        let home = hook(TENANT, GROUP, "dd04");
        let res = s.put("c1", Some(&home), "Back home", key_only(&key)).await;
        assert_eq!(res.status(), StatusCode::OK, "{before:?}");
        assert_eq!(s.name("c1", hook_only(&home)).await, "Back home");
    }
}

#[tokio::test]
async fn with_sso_a_move_to_workflows_keeps_the_team_too() {
    let s = sso().await;
    let valid = s.token("valid").await;
    let signed = Creds {
        token: Some(&valid),
        ..Creds::default()
    };
    let key = s.create("c1", &hook(TENANT, GROUP, "aa01"), signed).await;
    let with_key = Creds {
        key: Some(&key),
        ..signed
    };
    let res = s
        .put("c1", Some(&flow("w1")), "Nightly builds", with_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let team = hook(TENANT, OTHER_GROUP, "cc03");
    let all = Creds {
        hook: Some(&team),
        ..with_key
    };
    let res = s.get("c1", all).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "webhook_other_team");
    let res = s.put("c1", Some(&team), "Taken over", all).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "webhook_other_team");
    assert_eq!(
        s.name(
            "c1",
            Creds {
                hook: Some(&flow("w1")),
                ..signed
            }
        )
        .await,
        "Nightly builds"
    );
}

// ---- with single sign-on ----

async fn sso() -> Server {
    spawn_with(|c| c.dev_sso = true).await
}

#[tokio::test]
async fn with_sso_the_edit_key_needs_a_token_of_the_connections_tenant() {
    let s = sso().await;
    let valid = s.token("valid").await;
    let key = s
        .create(
            "tab-1",
            &flow("a1"),
            Creds {
                token: Some(&valid),
                ..Creds::default()
            },
        )
        .await;
    let ok = Creds {
        key: Some(&key),
        token: Some(&valid),
        hook: None,
    };
    assert_eq!(s.name("tab-1", ok).await, "Nightly builds");
    assert_eq!(
        s.put("tab-1", None, "Renamed", ok).await.status(),
        StatusCode::OK
    );

    let res = s.get("tab-1", key_only(&key)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the key alone is not enough"
    );
    assert_eq!(error_code(res).await, "invalid_token");
    let other = s.token("other-tenant").await;
    let theirs = Creds {
        key: Some(&key),
        token: Some(&other),
        hook: None,
    };
    let res = s.get("tab-1", theirs).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "other_tenant");
    assert_eq!(
        s.put("tab-1", Some(&flow("b2")), "Taken over", theirs)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.delete("tab-1", theirs).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.name("tab-1", ok).await, "Renamed", "unchanged");
}

#[tokio::test]
async fn with_sso_a_token_of_the_webhooks_tenant_rebinds_a_new_webhook_of_the_same_team() {
    let s = sso().await;
    let valid = s.token("valid").await;
    let one = hook(TENANT, GROUP, "aa01");
    let two = hook(TENANT, GROUP, "bb02");
    s.create(
        "c1",
        &one,
        Creds {
            token: Some(&valid),
            ..Creds::default()
        },
    )
    .await;
    let signed = Creds {
        hook: Some(&two),
        key: None,
        token: Some(&valid),
    };
    assert_eq!(
        s.name("c1", signed).await,
        "Nightly builds",
        "no key needed with a token of the tenant"
    );
    assert_eq!(
        s.put("c1", Some(&two), "Nightly builds", signed)
            .await
            .status(),
        StatusCode::OK
    );
    let on_two = Creds {
        hook: Some(&two),
        key: None,
        token: Some(&valid),
    };
    assert_eq!(s.name("c1", on_two).await, "Nightly builds");

    // Another team's webhook is refused even with a token of the tenant.
    let team = hook(TENANT, "99990000-0000-4000-8000-000000000099", "cc03");
    let res = s
        .put(
            "c1",
            Some(&team),
            "Taken over",
            Creds {
                hook: Some(&team),
                key: None,
                token: Some(&valid),
            },
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A token of another tenant is refused before anything else.
    let other = s.token("other-tenant").await;
    let res = s
        .put(
            "c1",
            Some(&two),
            "Taken over",
            Creds {
                hook: Some(&two),
                key: None,
                token: Some(&other),
            },
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "other_tenant");
    assert_eq!(s.name("c1", on_two).await, "Nightly builds");
}

#[tokio::test]
async fn with_sso_a_workflows_webhook_moves_only_with_the_edit_key() {
    let s = sso().await;
    let valid = s.token("valid").await;
    let key = s
        .create(
            "tab-1",
            &flow("a1"),
            Creds {
                token: Some(&valid),
                ..Creds::default()
            },
        )
        .await;
    let token_only = Creds {
        hook: None,
        key: None,
        token: Some(&valid),
    };
    let res = s.put("tab-1", Some(&flow("b2")), "Moved", token_only).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a token proves the tenant, not the editor of an opaque webhook"
    );
    let res = s
        .put(
            "tab-1",
            Some(&flow("b2")),
            "Moved",
            Creds {
                key: Some(&key),
                ..token_only
            },
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.name(
            "tab-1",
            Creds {
                hook: Some(&flow("b2")),
                ..token_only
            }
        )
        .await,
        "Moved"
    );
}

// ---- the test card before the first save ----

#[tokio::test]
async fn a_test_card_reaches_a_workflows_webhook_before_anything_is_stored() {
    let s = spawn().await;
    let path = "powerautomate/automations/direct/workflows/f00d/triggers/manual/paths/invoke";
    let url = s.inbox(&format!("{path}?api-version=2016-06-01&sig=abc"));
    let res = s
        .client
        .post(format!("{}/api/test-card", s.url))
        .json(&json!({ "webhookUrl": url, "settings": { "subscription_name": "Draft [click](https://phish.example.com)", "card_style": "detailed" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "delivered": true })
    );
    let inbox: Value = s
        .client
        .get(format!("{}/emulator/api/inbox/{path}", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card = &inbox["messages"][0]["body"];
    assert_eq!(
        card["type"], "message",
        "a Workflows webhook gets an Adaptive Card message"
    );
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert!(
        !card.to_string().contains("Draft") && !card.to_string().contains("phish"),
        "the caller's text never reaches the channel: {card}"
    );
    assert!(
        card.to_string()
            .contains(connector_settings::CONNECTOR.name),
        "the card names the connector: {card}"
    );
    let count: i64 = rusqlite::Connection::open(&s.db)
        .unwrap()
        .query_row("SELECT count(*) FROM connections", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0, "nothing stored");

    // A webhook that refuses says why; a URL that is not one is refused up front.
    s.client
        .put(format!("{}/emulator/api/inbox-mode/{path}", s.url))
        .json(&json!({ "mode": "not-found" }))
        .send()
        .await
        .unwrap();
    let res: Value = s
        .client
        .post(format!("{}/api/test-card", s.url))
        .json(&json!({ "webhookUrl": url }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["delivered"], false);
    assert!(res["error"].as_str().unwrap().contains("404"), "{res}");
    let res = s
        .client
        .post(format!("{}/api/test-card", s.url))
        .json(&json!({ "webhookUrl": "https://evil.example.com/workflows/x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_url_with_dot_segments_is_refused_with_a_clear_message() {
    let s = spawn().await;
    for url in [
        s.inbox("../../api/health"),
        s.inbox("workflows/%2e%2e/%2E%2E/x"),
        "https://contoso.webhook.office.com/webhookb2/./x".to_string(),
    ] {
        let res = s
            .put("c1", Some(&url), "Nightly builds", Creds::default())
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["fields"][0]["message"]
                .as_str()
                .unwrap()
                .contains("'.' or '..' segment"),
            "{body}"
        );
    }
}

// ---- the page's configuration, CORS, logs ----

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
        for h in ["content-type", "authorization", KEY_HEADER, HOOK_HEADER] {
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
        .json(&json!({ "webhookUrl": hook, "settings": settings("Logged") }))
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
            .header(KEY_HEADER, &key)
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

#[tokio::test]
async fn a_connection_says_what_kind_of_webhook_it_posts_to() {
    let s = spawn().await;
    let today = s.inbox(
        "powerautomate/automations/direct/cu/07/workflows/cccc/triggers/manual/paths/invoke?api-version=1&sig=three",
    );
    let retired =
        s.inbox("workflows/dddd/triggers/manual/paths/invoke?api-version=2016-06-01&sig=four");
    let connector = hook(TENANT, GROUP, "kind");
    // A retired Logic Apps URL is no longer taken new (only stored rows keep it).
    let res = s
        .put("kind-2", Some(&retired), "Kinds", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{retired}");
    assert_eq!(error_code(res).await, "webhook_retired");
    for (id, url, kind) in [
        ("kind-1", today.as_str(), "workflows"),
        ("kind-3", connector.as_str(), "connector"),
    ] {
        let res = s.put(id, Some(url), "Kinds", Creds::default()).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{url}");
        let saved: Value = res.json().await.unwrap();
        assert_eq!(saved["webhookKind"], kind, "the save's answer for {url}");
        let key = saved["editKey"].as_str().unwrap().to_string();
        let read: Value = s.get(id, key_only(&key)).await.json().await.unwrap();
        assert_eq!(read["webhookKind"], kind, "the read for {url}");
    }
}
