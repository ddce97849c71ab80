//! Flows that take only signed-in callers (Workflows URLs without `sig`): the server posts to
//! them with a client-credentials token of the connection's tenant, fetched from the
//! emulator's identity provider, whose inbox checks it as Power Automate does.

use serde_json::{json, Value};

use crate::helpers::{error_of, event, settings, until, Creds, TestApp};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const USER: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const OTHER_TENANT: &str = "00000000-0000-4000-8000-0000000000ff";
/// The Entra app a `--dev-sso` server asks flow tokens as (server/src/emulator/idp.rs).
const DEV_FLOW_CLIENT_ID: &str = "00000000-0000-4000-8000-00000000f10e";

/// An inbox path of today's Workflows shape; with `signed` it carries a `sig`.
fn flow_path(id: &str, signed: bool) -> String {
    let sig = if signed { "&sig=AbC" } else { "" };
    format!("powerautomate/automations/direct/cu/07/workflows/{id}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0{sig}")
}

struct Dev {
    app: TestApp,
}

impl Dev {
    async fn sso() -> Dev {
        Dev {
            app: TestApp::dev_with_flags(&["--dev-sso"]).await,
        }
    }

    fn hook(&self, path: &str) -> String {
        format!("{}/emulator/webhook/{path}", self.app.url)
    }

    async fn sso_token(&self) -> String {
        let v: Value = reqwest::get(format!(
            "{}/emulator/idp/token?tid={TENANT}&oid={USER}",
            self.app.url
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    async fn set_flow_tenant(&self, path: &str, tenant: &str) {
        let path = path.split('?').next().unwrap();
        let res = self
            .app
            .client
            .put(format!("{}/emulator/api/inbox-tenant/{path}", self.app.url))
            .json(&json!({ "tenant": tenant }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }

    async fn save(&self, id: &str, hook: &str, token: Option<&str>) -> reqwest::Response {
        let c = Creds {
            token,
            ..Creds::default()
        };
        self.app
            .request(reqwest::Method::PUT, id, c)
            .json(&json!({ "webhookUrl": hook, "settings": settings() }))
            .send()
            .await
            .unwrap()
    }

    async fn token_requests(&self) -> u64 {
        let v: Value = self
            .app
            .get_path("/emulator/api/idp")
            .await
            .json()
            .await
            .unwrap();
        v["tokenRequests"].as_u64().unwrap()
    }

    async fn status(&self, id: &str, hook: &str, token: &str) -> Value {
        let c = Creds {
            hook: Some(hook),
            token: Some(token),
            ..Creds::default()
        };
        self.app
            .request(reqwest::Method::GET, &format!("{id}/deliveries"), c)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_flow_for_signed_in_callers_gets_its_tenants_token_fetched_once_for_many_cards() {
    let d = Dev::sso().await;
    let path = flow_path("f1", false);
    d.set_flow_tenant(&path, TENANT).await;
    let token = d.sso_token().await;
    let hook = d.hook(&path);
    assert_eq!(d.save("flow-1", &hook, Some(&token)).await.status(), 201);
    for n in 0..3 {
        let res = d
            .app
            .send(&json!({ "id": format!("e{n}"), "type": "build_failed", "title": "t", "project": "p" }))
            .await;
        assert_eq!(res.status(), 202, "{:?}", res.text().await);
    }
    until("three cards in the flow's inbox", 20, async || {
        d.app.inbox(&hook).await.len() == 3
    })
    .await;
    for m in d.app.inbox(&hook).await {
        assert_eq!(m["caller"]["tid"], TENANT, "{m}");
        assert_eq!(m["caller"]["appid"], DEV_FLOW_CLIENT_ID);
        assert_eq!(m["caller"]["aud"], "https://service.flow.microsoft.com/");
    }
    assert_eq!(d.token_requests().await, 1, "one token for three cards");
}

#[tokio::test]
async fn a_token_near_its_end_is_fetched_anew() {
    let d = Dev::sso().await;
    // Tokens that last less than the five minutes kept in hand are fetched for each card.
    let res = d
        .app
        .client
        .put(format!("{}/emulator/api/idp", d.app.url))
        .json(&json!({ "tokenLifetime": 299 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let path = flow_path("f2", false);
    d.set_flow_tenant(&path, TENANT).await;
    let hook = d.hook(&path);
    let token = d.sso_token().await;
    assert_eq!(d.save("flow-2", &hook, Some(&token)).await.status(), 201);
    for n in 0..2 {
        d.app
            .send(&json!({ "id": format!("x{n}"), "type": "build_failed", "title": "t", "project": "p" }))
            .await;
        let want = n + 1;
        until("the card", 20, async || {
            d.app.inbox(&hook).await.len() == want
        })
        .await;
    }
    assert_eq!(d.token_requests().await, 2, "a stale token is not reused");
}

#[tokio::test]
async fn a_flow_of_another_tenant_answers_403_and_the_delivery_error_says_so() {
    let d = Dev::sso().await;
    let path = flow_path("f3", false);
    d.set_flow_tenant(&path, OTHER_TENANT).await;
    let hook = d.hook(&path);
    let token = d.sso_token().await;
    assert_eq!(d.save("flow-3", &hook, Some(&token)).await.status(), 201);
    d.app.send(&event("build_failed", "p")).await;
    let mut last = Value::Null;
    until("the delivery to fail", 20, async || {
        last = d.status("flow-3", &hook, &token).await;
        last["lastError"].is_string()
    })
    .await;
    let error = last["lastError"].as_str().unwrap();
    assert!(
        error.contains("403") && error.contains("MisMatchingOAuthClaims"),
        "{last}"
    );
    assert!(d.app.inbox(&hook).await.is_empty());
}

#[tokio::test]
async fn the_inbox_answers_as_power_automate_does() {
    let d = Dev::sso().await;
    let unsigned = d.hook(&flow_path("f4", false));
    let signed = d.hook(&flow_path("f5", true));
    let post = |url: String, bearer: Option<String>| {
        let mut req = d.app.client.post(url).json(&json!({ "type": "message" }));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    let res = post(unsigned.clone(), None).await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "DirectApiAuthorizationRequired");
    // A sign-in token of the right tenant is not a flow token: the audience is wrong.
    let res = post(unsigned, Some(d.sso_token().await)).await.unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MisMatchingOAuthClaims");
    assert_eq!(post(signed.clone(), None).await.unwrap().status(), 202);
    assert_eq!(
        post(signed, Some("anything".into()))
            .await
            .unwrap()
            .status(),
        401
    );
    // The token endpoint refuses a wrong secret as Entra does.
    let res = d
        .app
        .client
        .post(format!(
            "{}/emulator/idp/{TENANT}/oauth2/v2.0/token",
            d.app.url
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_FLOW_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", "https://service.flow.microsoft.com//.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn without_flow_tokens_a_flow_without_sig_is_refused_with_what_to_do() {
    let app = TestApp::dev().await;
    let hook = format!("{}/emulator/webhook/{}", app.url, flow_path("f6", false));
    let res = app
        .put(
            "flow-6",
            &json!({ "webhookUrl": hook, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = error_of(res).await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("only accepts signed-in callers")
            && message.contains("'Who can trigger the flow' to 'Anyone'")
            && message.contains("--flow-client-id"),
        "{body}"
    );
    let res = app
        .client
        .post(format!("{}/api/test-card", app.url))
        .json(&json!({ "webhookUrl": hook, "settings": settings() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "the test card is refused alike");
    assert!(app.inbox(&hook).await.is_empty());
}

#[tokio::test]
async fn with_flow_tokens_but_no_sign_in_the_tenant_is_missing_and_said() {
    let app = TestApp::dev_with(|c| {
        c.flow_client_id = Some("app-1".into());
        c.flow_client_secret = Some("s3cret".into());
    })
    .await;
    let hook = format!("{}/emulator/webhook/{}", app.url, flow_path("f7", false));
    let res = app
        .put(
            "flow-7",
            &json!({ "webhookUrl": hook, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = error_of(res).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no single sign-on token"),
        "{body}"
    );
}

#[tokio::test]
async fn a_retired_logic_apps_url_is_refused_when_saved_new() {
    let app = TestApp::dev().await;
    let hook = format!(
        "{}/emulator/webhook/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC",
        app.url
    );
    let res = app
        .put(
            "flow-8",
            &json!({ "webhookUrl": hook, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = error_of(res).await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("stopped working in November 2025") && message.contains("new url"),
        "{body}"
    );
    // A signed flow of today's shape is taken as before.
    let today = format!("{}/emulator/webhook/{}", app.url, flow_path("f9", true));
    let res = app
        .put(
            "flow-9",
            &json!({ "webhookUrl": today, "settings": settings() }),
        )
        .await;
    assert_eq!(res.status(), 201);
}
