//! The test card before the first save: it reaches a Workflows webhook with nothing
//! stored, says why a webhook refused it, and a URL with dot segments is refused clearly.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::helpers::Creds;

#[tokio::test]
async fn a_test_card_reaches_a_workflows_webhook_before_anything_is_stored() {
    let s = spawn().await;
    let path = "powerautomate/automations/direct/workflows/f00d/triggers/manual/paths/invoke";
    let url = s.inbox_url(&format!("{path}?api-version=2016-06-01&sig=abc"));
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
        s.inbox_url("../../api/health"),
        s.inbox_url("workflows/%2e%2e/%2E%2E/x"),
        "https://contoso.webhook.office.com/webhookb2/./x".to_string(),
    ] {
        let res = s
            .put_as("c1", Some(&url), "Nightly builds", Creds::default())
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
