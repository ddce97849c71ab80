//! The edit key: it alone reads, changes, tests and removes a tab connection; a wrong or
//! missing one gets nothing; it is stored only as a keyed hash, made for an older row at
//! its next save, and it alone moves a Workflows webhook (opaque: no team in it).

use reqwest::StatusCode;
use serde_json::Value;

use super::*;
use crate::helpers::Creds;
use connector_settings::api::EDIT_KEY_HEADER;

// ---- the edit key ----

#[tokio::test]
async fn the_edit_key_alone_reads_changes_tests_and_removes_a_tab_connection() {
    let s = spawn().await;
    let key = s.create_as("tab-1", &flow("a1"), Creds::default()).await;
    let read = s.get_as("tab-1", Creds::key(&key)).await;
    assert_eq!(read.status(), StatusCode::OK);
    let body: Value = read.json().await.unwrap();
    assert!(
        body.get("editKey").is_none(),
        "the key comes back only from the save that made it"
    );

    // Changing the settings needs no webhook URL: the stored one stays.
    let res = s.put_as("tab-1", None, "Renamed", Creds::key(&key)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("editKey").is_none());
    assert_eq!(s.name_as("tab-1", Creds::key(&key)).await, "Renamed");
    assert_eq!(
        s.name_as("tab-1", Creds::hook(&flow("a1"))).await,
        "Renamed",
        "the webhook URL still works as a key"
    );

    let status = s
        .request(reqwest::Method::GET, "tab-1/deliveries", Creds::key(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let card = s
        .request(reqwest::Method::POST, "tab-1/test-card", Creds::key(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(card.status(), StatusCode::ACCEPTED);

    assert_eq!(
        s.delete_as("tab-1", Creds::key(&key)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get_as("tab-1", Creds::key(&key)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_wrong_edit_key_reads_nothing_and_changes_nothing() {
    let s = spawn().await;
    let key = s.create_as("tab-1", &flow("a1"), Creds::default()).await;
    let wrong = "0".repeat(64);
    for c in [
        Creds::key(&wrong),
        Creds::key("not-a-key"),
        Creds {
            hook: Some(&flow("a1")),
            key: Some(&wrong),
            token: None,
        },
    ] {
        assert_eq!(
            s.get_as("tab-1", c).await.status(),
            StatusCode::NOT_FOUND,
            "a wrong key answers like an unknown id"
        );
        assert_eq!(
            s.delete_as("tab-1", c).await.status(),
            StatusCode::NOT_FOUND
        );
        let res = s.put_as("tab-1", None, "Taken over", c).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = s
            .put_as("tab-1", Some(&flow("evil")), "Taken over", c)
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        s.get_as("unknown", Creds::key(&key)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.name_as("tab-1", Creds::key(&key)).await,
        "Nightly builds",
        "unchanged"
    );
    assert_eq!(
        s.name_as("tab-1", Creds::hook(&flow("a1"))).await,
        "Nightly builds",
        "still on its webhook"
    );
}

#[tokio::test]
async fn without_edit_key_or_webhook_url_nothing_is_granted() {
    let s = spawn().await;
    let key = s.create_as("tab-1", &flow("a1"), Creds::default()).await;
    let res = s.get_as("tab-1", Creds::default()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains(EDIT_KEY_HEADER),
        "{body}"
    );
    assert_eq!(
        s.delete_as("tab-1", Creds::default()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = s
        .put_as("tab-1", None, "Taken over", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "webhookUrl");
    // Another Workflows URL with no key does not move it either.
    let res = s
        .put_as("tab-1", Some(&flow("b2")), "Taken over", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.name_as("tab-1", Creds::key(&key)).await, "Nightly builds");
}

#[tokio::test]
async fn the_edit_key_is_stored_only_as_a_keyed_hash() {
    let s = spawn().await;
    let key = s.create_as("tab-1", &flow("a1"), Creds::default()).await;
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
    s.create_as("c1", &h, Creds::default()).await;
    rusqlite::Connection::open(&s.db)
        .unwrap()
        .execute("UPDATE connections SET edit_key_hash = NULL", [])
        .unwrap();
    let res = s
        .put_as("c1", Some(&h), "Nightly builds", Creds::hook(&h))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let key = body["editKey"]
        .as_str()
        .expect("a key for the older connection")
        .to_string();
    let again: Value = s
        .put_as("c1", Some(&h), "Nightly builds", Creds::hook(&h))
        .await
        .json()
        .await
        .unwrap();
    assert!(again.get("editKey").is_none(), "made once");
    assert_eq!(s.name_as("c1", Creds::key(&key)).await, "Nightly builds");
}

// ---- Workflows webhooks: opaque, so only the edit key moves them ----

#[tokio::test]
async fn the_edit_key_replaces_a_workflows_webhook_keeping_settings_and_history() {
    let s = spawn().await;
    let a = "powerautomate/automations/direct/workflows/aaaa/triggers/manual/paths/invoke";
    let b = "powerautomate/automations/direct/workflows/bbbb/triggers/manual/paths/invoke";
    let url_a = s.inbox_url(&format!("{a}?api-version=2016-06-01&sig=one"));
    let url_b = s.inbox_url(&format!("{b}?api-version=2016-06-01&sig=two"));
    let key = s.create_as("tab-1", &url_a, Creds::default()).await;
    assert_eq!(s.card_path("tab-1", Creds::key(&key), a).await, a);

    let res = s
        .put_as("tab-1", Some(&url_b), "Nightly builds", Creds::default())
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "not without the key");
    let res = s
        .put_as("tab-1", Some(&url_b), "Nightly builds", Creds::key(&key))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.card_path("tab-1", Creds::key(&key), b).await,
        b,
        "the next card reaches the new webhook"
    );
    let status: Value = s
        .request(reqwest::Method::GET, "tab-1/deliveries", Creds::key(&key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["delivered"], 2, "the delivery history stays");
    assert_eq!(
        s.get_as("tab-1", Creds::hook(&url_a)).await.status(),
        StatusCode::NOT_FOUND,
        "the old URL is no key any more"
    );
    assert_eq!(
        s.name_as("tab-1", Creds::hook(&url_b)).await,
        "Nightly builds"
    );
}
