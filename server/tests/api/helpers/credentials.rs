//! What a request presents to prove it may touch a connection ([`Creds`]: the webhook URL,
//! the edit key, a sign-in token), and the client's calls that present it.

use connector_settings::api::{EDIT_KEY_HEADER, WEBHOOK_HEADER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use super::Api;

/// The credentials of one request, each in its own header: the webhook URL
/// (`x-teams-webhook-url`), the edit key (`x-connector-edit-key`) and a sign-in token
/// (`authorization: Bearer`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Creds<'a> {
    pub hook: Option<&'a str>,
    pub key: Option<&'a str>,
    pub token: Option<&'a str>,
}

impl<'a> Creds<'a> {
    /// Only the webhook URL.
    pub fn hook(hook: &'a str) -> Creds<'a> {
        Creds {
            hook: Some(hook),
            ..Creds::default()
        }
    }

    /// Only the edit key.
    pub fn key(key: &'a str) -> Creds<'a> {
        Creds {
            key: Some(key),
            ..Creds::default()
        }
    }
}

/// The settings of [`super::settings`] named `name`.
pub fn settings_named(name: &str) -> Value {
    let mut s = super::settings();
    s["subscription_name"] = json!(name);
    s
}

impl Api {
    /// A request to `/api/connections/{path}` presenting `c`.
    pub fn request(&self, method: Method, path: &str, c: Creds) -> RequestBuilder {
        let mut r = self
            .client
            .request(method, format!("{}/api/connections/{path}", self.url));
        if let Some(h) = c.hook {
            r = r.header(WEBHOOK_HEADER, h);
        }
        if let Some(k) = c.key {
            r = r.header(EDIT_KEY_HEADER, k);
        }
        if let Some(t) = c.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// `PUT /api/connections/{id}` of settings named `name`, with `webhook` in the body when
    /// given, presenting `c`.
    pub async fn put_as(
        &self,
        id: &str,
        webhook: Option<&str>,
        name: &str,
        c: Creds<'_>,
    ) -> Response {
        let mut body = json!({ "settings": settings_named(name) });
        if let Some(w) = webhook {
            body["webhookUrl"] = json!(w);
        }
        self.request(Method::PUT, id, c)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/connections/{id}` presenting `c`.
    pub async fn get_as(&self, id: &str, c: Creds<'_>) -> Response {
        self.request(Method::GET, id, c).send().await.unwrap()
    }

    /// `DELETE /api/connections/{id}` presenting `c`.
    pub async fn delete_as(&self, id: &str, c: Creds<'_>) -> Response {
        self.request(Method::DELETE, id, c).send().await.unwrap()
    }

    /// Creates `id` on `webhook` (settings named "Nightly builds"), presenting `c`; returns
    /// its edit key, asserting its form (64 hex characters).
    pub async fn create_as(&self, id: &str, webhook: &str, c: Creds<'_>) -> String {
        let res = self.put_as(id, Some(webhook), "Nightly builds", c).await;
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

    /// The stored name of `id`, read presenting `c` (asserting the read is allowed).
    pub async fn name_as(&self, id: &str, c: Creds<'_>) -> String {
        let res = self.get_as(id, c).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["configName"].as_str().unwrap().to_string()
    }

    /// A URL of this server's emulator inbox, with `path` after `/emulator/webhook/`.
    pub fn inbox_url(&self, path: &str) -> String {
        format!("{}/emulator/webhook/{path}", self.url)
    }

    /// What the emulator inbox at `path` (after `/emulator/webhook/`) received.
    pub async fn inbox_messages(&self, path: &str) -> Vec<Value> {
        let got: Value = self
            .get_path(&format!("/emulator/api/inbox/{path}"))
            .await
            .json()
            .await
            .unwrap();
        got["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Queues a test card of `id` presenting `c`, waits until the inbox at `inbox` received
    /// it and its delivery is recorded; returns the path (the URL's form) it was posted to.
    pub async fn card_path(&self, id: &str, c: Creds<'_>, inbox: &str) -> String {
        let before = self.inbox_messages(inbox).await.len();
        let res = self
            .request(Method::POST, &format!("{id}/test-card"), c)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let event: Value = res.json().await.unwrap();
        let event = event["eventId"].as_str().unwrap().to_string();
        for _ in 0..200 {
            let status: Value = self
                .request(Method::GET, &format!("{id}/deliveries?event={event}"), c)
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

    /// A sign-in token of user `oid` in tenant `tid` from the emulator's identity provider
    /// (a server with `--dev-sso`), of `variant` (`valid`, or a broken one).
    pub async fn dev_token(&self, tid: &str, oid: &str, variant: &str) -> String {
        let res: Value = self
            .get_path(&format!(
                "/emulator/idp/token?tid={tid}&oid={oid}&variant={variant}"
            ))
            .await
            .json()
            .await
            .unwrap();
        res["token"].as_str().unwrap().to_string()
    }
}
