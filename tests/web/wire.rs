//! The wire format: the page's own API client against JSON exactly as the server writes it
//! (serde_json of the `settings::api` types), and what the page sends read back the way the
//! server reads it (serde_json into the same types, unknown fields refused). A field renamed or
//! retyped on either side fails here, not in production.

use serde_json::{json, Value};
use wasm_bindgen_test::*;

use crate::support::*;
use connector_settings::api::{
    Connection, DeliveryStatus, ErrorBody, FieldProblem, SaveConnection, TestCard, TryOutcome,
    TryWebhook,
};
use connector_settings::Value as Setting;
use teams_connector::api::{Api, ApiError, Credentials, RuntimeConfig};

fn api() -> Api {
    Api::new(&RuntimeConfig::default(), 2000)
}

fn creds() -> Credentials<'static> {
    Credentials {
        webhook_url: Some("https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/abc/u"),
        edit_key: Some("key-1"),
        token: Some("token-1"),
    }
}

fn server_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn a_connection() -> Connection {
    let mut settings = connector_settings::Values::new();
    settings.insert("subscription_name".into(), Setting::Text("Deploys".into()));
    settings.insert(
        "events".into(),
        Setting::List(vec!["build_failed".into(), "deployment_finished".into()]),
    );
    settings.insert("mention_channel".into(), Setting::Bool(true));
    Connection {
        entity_id: "conn-1".into(),
        config_name: "Deploys".into(),
        settings,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-02T00:00:00Z".into(),
        disabled: Some("the webhook answered 410".into()),
        webhook_kind: "workflows".into(),
        edit_key: Some("ab".repeat(32)),
        account: None,
    }
}

#[wasm_bindgen_test]
async fn the_page_reads_every_answer_as_the_server_writes_it() {
    let conn = a_connection();
    let status = DeliveryStatus {
        pending: 2,
        delivered: 9_007_199_254_740_991,
        dead: 1,
        last_error: Some("webhook answered 500".into()),
        disabled: None,
    };
    let card = TestCard {
        event_id: "test-1".into(),
    };
    let outcome = TryOutcome {
        delivered: false,
        error: Some("the webhook answered 404".into()),
    };
    install(
        &json!({ "responses": {
            "GET conn-1": { "status": 200, "body": server_json(&conn) },
            "GET deliveries": { "status": 200, "body": server_json(&status) },
            "POST test-card": { "status": 202, "body": server_json(&card) },
        } })
        .to_string(),
    );
    assert_eq!(api().load("conn-1", creds()).await, Ok(conn));
    assert_eq!(
        api().delivery_status("conn-1", creds(), None).await,
        Ok(status)
    );
    assert_eq!(api().test_card("conn-1", creds()).await, Ok(card));
    install(
        &json!({ "responses": { "POST": { "status": 200, "body": server_json(&outcome) } } })
            .to_string(),
    );
    let body = TryWebhook {
        webhook_url: FLOW.into(),
        settings: a_connection().settings,
    };
    assert_eq!(api().try_webhook(&body, None).await, Ok(outcome));
}

#[wasm_bindgen_test]
async fn the_page_reads_the_servers_refusals_with_their_fields() {
    let refusal = ErrorBody {
        error: "validation_failed".into(),
        message: "settings are invalid".into(),
        fields: vec![FieldProblem {
            field: "filter".into(),
            rule: "max_length".into(),
            message: "Use at most 100 characters.".into(),
        }],
    };
    install(
        &json!({ "responses": { "GET": { "status": 422, "body": server_json(&refusal) } } })
            .to_string(),
    );
    assert_eq!(
        api().load("conn-1", creds()).await,
        Err(ApiError::Refused {
            status: 422,
            body: refusal
        })
    );
    // An answer of another shape is a server fault, not a silently empty connection.
    install(
        &json!({ "responses": { "GET": { "status": 200, "body": { "entityId": 5 } } } })
            .to_string(),
    );
    assert_eq!(
        api().load("conn-1", creds()).await,
        Err(ApiError::Server { status: 200 })
    );
}

#[wasm_bindgen_test]
async fn what_the_page_sends_the_server_reads_into_its_own_types() {
    install(&json!({ "responses": { "PUT": { "echo": true }, "POST": { "status": 200, "body": { "delivered": true } } } }).to_string());
    let body = SaveConnection {
        webhook_url: Some(FLOW.into()),
        settings: a_connection().settings,
        app_type: Some("Connector".into()),
        user_object_id: None,
        account_proof: None,
        bot: None,
    };
    let saved = api().save("conn-1", &body, creds()).await.unwrap();
    assert_eq!(saved.settings, body.settings);
    let try_body = TryWebhook {
        webhook_url: FLOW.into(),
        settings: a_connection().settings,
    };
    api().try_webhook(&try_body, Some("token-1")).await.unwrap();
    let s = state();
    let sent = |method: &str| -> String {
        s["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method)
            .unwrap()["body"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // As the server reads them: serde_json, `deny_unknown_fields`.
    let put: SaveConnection = serde_json::from_str(&sent("PUT")).unwrap();
    assert_eq!(server_json(&put), server_json(&body));
    let post: TryWebhook = serde_json::from_str(&sent("POST")).unwrap();
    assert_eq!(server_json(&post), server_json(&try_body));
}

#[wasm_bindgen_test]
async fn config_json_as_the_dev_server_writes_it_configures_the_page() {
    let inbox = "http://127.0.0.1:8080/emulator/webhook/";
    let config = json!({ "apiBaseUrl": "", "validMessageOrigins": [], "sso": true, "devInboxes": [inbox],
            "flowTokens": false, "bot": true });
    install(&json!({ "config": config }).to_string());
    let got = teams_connector::api::runtime_config(2000).await.unwrap();
    assert_eq!(
        got,
        RuntimeConfig {
            api_base_url: String::new(),
            valid_message_origins: Vec::new(),
            sso: true,
            dev_inboxes: vec![inbox.into()],
            flow_tokens: false,
            bot: true,
        }
    );
    // What `cargo xtask dist` writes: fewer members, the rest default.
    let config = json!({ "apiBaseUrl": "https://api.example.com", "validMessageOrigins": ["https://host.example.com"] });
    install(&json!({ "config": config }).to_string());
    let got = teams_connector::api::runtime_config(2000).await.unwrap();
    assert_eq!(got.api_base_url, "https://api.example.com");
    assert_eq!(got.valid_message_origins, ["https://host.example.com"]);
    assert!(!got.sso && got.dev_inboxes.is_empty() && !got.bot);
}
