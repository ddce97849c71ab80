//! Write budgets: a tenant's is charged only for writes proven to be its own (with single
//! sign-on, the token's tenant), refused writes count against the sender's address, and a
//! real flood from the tenant is still cut.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{settings, Creds, TestApp};

const TENANT: &str = "72f9bf00-0000-4000-8000-000000000001";

fn hook(id: &str) -> String {
    format!("https://contoso.webhook.office.com/webhookb2/0b4f@{TENANT}/IncomingWebhook/{id}/e3c1")
}

/// A server whose tenant budget is `tenant_rate` writes a minute, the sender's address taken
/// from X-Forwarded-For (so one test can speak from many addresses).
async fn server(sso: bool, tenant_rate: u32, address_rate: u32) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (tenant_rate, address_rate) = (tenant_rate.to_string(), address_rate.to_string());
    let mut flags = vec![
        "--tenant-write-rate",
        &tenant_rate,
        "--write-rate",
        &address_rate,
        "--trust-forwarded-for",
    ];
    if sso {
        flags.push("--dev-sso");
    }
    let c = crate::helpers::config_with(dir.path(), sso, &flags);
    TestApp::start_in(dir, c).await
}

async fn token(app: &TestApp, variant: &str) -> String {
    app.dev_token(TENANT, "3f2504e0-4f89-41d3-9a0c-0305e82c3301", variant)
        .await
}

/// `PUT /api/connections/{id}` to `webhook` from `address`, signed in when `bearer`.
async fn put_from(
    app: &TestApp,
    address: &str,
    id: &str,
    webhook: &str,
    bearer: Option<&str>,
) -> StatusCode {
    let c = Creds {
        token: bearer,
        ..Creds::default()
    };
    app.request(reqwest::Method::PUT, id, c)
        .header("x-forwarded-for", address)
        .json(&json!({ "webhookUrl": webhook, "settings": settings() }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn refused_writes_naming_a_tenant_leave_its_own_save_untouched() {
    let app = server(false, 5, 30).await;
    assert_eq!(
        put_from(&app, "198.51.100.1", "ours", &hook("1"), None).await,
        StatusCode::CREATED
    );
    // 42 writers elsewhere name the tenant: another webhook of it, without the edit key.
    for i in 0..42 {
        let status = put_from(&app, &format!("203.0.113.{i}"), "ours", &hook("x"), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "attempt {i}");
    }
    assert_eq!(
        put_from(&app, "198.51.100.1", "ours", &hook("1"), None).await,
        StatusCode::OK,
        "the tenant's own save is not rate limited"
    );
}

#[tokio::test]
async fn with_sso_writes_without_a_token_leave_the_tenants_budget_untouched() {
    let app = server(true, 5, 30).await;
    for i in 0..42 {
        let status = put_from(
            &app,
            &format!("203.0.113.{i}"),
            &format!("c{i}"),
            &hook("1"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let valid = token(&app, "valid").await;
    assert_eq!(
        put_from(&app, "198.51.100.1", "ours", &hook("1"), Some(&valid)).await,
        StatusCode::CREATED,
        "the tenant's own save is not rate limited"
    );
}

#[tokio::test]
async fn with_sso_a_flood_from_the_tenant_is_still_cut_whatever_its_addresses() {
    let app = server(true, 5, 30).await;
    let valid = token(&app, "valid").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(
            put_from(
                &app,
                &format!("203.0.113.{i}"),
                &format!("c{i}"),
                &hook(&i.to_string()),
                Some(&valid),
            )
            .await,
        );
    }
    assert_eq!(statuses[..5], [StatusCode::CREATED; 5], "{statuses:?}");
    assert_eq!(
        statuses[5..],
        [StatusCode::TOO_MANY_REQUESTS; 3],
        "{statuses:?}"
    );
}

#[tokio::test]
async fn refused_writes_count_against_the_senders_address() {
    let app = server(true, 300, 5).await;
    for i in 0..5 {
        let status = put_from(&app, "203.0.113.9", &format!("c{i}"), &hook("1"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_eq!(
        put_from(&app, "203.0.113.9", "c5", &hook("1"), None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the sender's own budget is spent"
    );
    let valid = token(&app, "valid").await;
    assert_eq!(
        put_from(&app, "198.51.100.1", "ours", &hook("1"), Some(&valid)).await,
        StatusCode::CREATED,
        "another sender of the same tenant is not"
    );
}

#[tokio::test]
async fn without_sso_creates_and_test_cards_naming_a_tenant_leave_its_budget_untouched() {
    let app = server(false, 5, 30).await;
    assert_eq!(
        put_from(&app, "198.51.100.1", "ours", &hook("1"), None).await,
        StatusCode::CREATED
    );
    // Others create connections, and send test cards, to webhooks that name the tenant.
    for i in 0..12 {
        let address = format!("203.0.113.{i}");
        let status = put_from(
            &app,
            &address,
            &format!("theirs{i}"),
            &hook(&format!("n{i}")),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "create {i}");
        let res = app
            .client
            .post(format!("{}/api/test-card", app.url))
            .header("x-forwarded-for", &address)
            .json(&json!({ "webhookUrl": hook(&format!("t{i}")), "settings": settings() }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "test card {i}");
    }
    assert_eq!(
        put_from(&app, "198.51.100.1", "ours", &hook("1"), None).await,
        StatusCode::OK,
        "the tenant's own save still has its budget"
    );
}

#[tokio::test]
async fn creates_to_one_webhook_are_bounded_whatever_their_addresses() {
    let app = server(false, 0, 30).await;
    let target = hook("shared");
    let mut created = 0;
    let mut refused = 0;
    for i in 0..15 {
        match put_from(
            &app,
            &format!("203.0.113.{i}"),
            &format!("c{i}"),
            &target,
            None,
        )
        .await
        {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("create {i}: {other}"),
        }
    }
    assert_eq!((created, refused), (10, 5), "ten a minute to one webhook");
    assert_eq!(
        put_from(&app, "198.51.100.1", "other", &hook("elsewhere"), None).await,
        StatusCode::CREATED,
        "another webhook is not affected"
    );
}

/// `POST /api/test-card` to `webhook` from `address`: the status, `Retry-After` and body.
async fn test_card_from(
    app: &TestApp,
    address: &str,
    webhook: &str,
) -> (StatusCode, Option<u64>, Value) {
    let res = app
        .client
        .post(format!("{}/api/test-card", app.url))
        .header("x-forwarded-for", address)
        .json(&json!({ "webhookUrl": webhook }))
        .send()
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (res.status(), retry_after, res.json().await.unwrap())
}

/// Issue 23 #6: each address stopped at its own write rate, so a few addresses together
/// could flood one channel with test cards.
#[tokio::test]
async fn test_cards_from_many_addresses_stop_at_the_limit_per_target_webhook() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |c| {
        c.write_rate = 30;
        c.trust_forwarded_for = true;
    })
    .await;
    let path = "powerautomate/automations/direct/workflows/f100d/triggers/manual/paths/invoke";
    let flow = format!("{}/emulator/webhook/{path}?api-version=1&sig=abc", app.url);
    let mut delivered = 0;
    let mut refused = Vec::new();
    for i in 0..30 {
        let address = format!("203.0.113.{}", i % 5);
        match test_card_from(&app, &address, &flow).await {
            (StatusCode::OK, _, body) => {
                assert_eq!(body["delivered"], true, "{body}");
                delivered += 1;
            }
            (status, retry_after, body) => refused.push((status, retry_after, body)),
        }
    }
    assert_eq!(delivered, 5, "five a minute to one webhook, whoever asks");
    assert_eq!(refused.len(), 25);
    for (status, retry_after, body) in &refused {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(
            retry_after.is_some_and(|s| (1..=61).contains(&s)),
            "{retry_after:?}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("too many test cards to this webhook; try again in"),
            "{body}"
        );
    }
    let inbox: Value = app
        .get_path(&format!("/emulator/api/inbox/{path}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 5);
    // Another webhook has its own limit.
    let other = flow.replace("f100d", "0the7");
    assert_eq!(
        test_card_from(&app, "203.0.113.9", &other).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_test_card_over_the_webhooks_rate_window_waits_for_it() {
    let app = TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |c| {
        c.trust_forwarded_for = true;
    })
    .await;
    let connector = app.hook("busy");
    // At once, so that all five fall in one second however slow the machine.
    let addresses: Vec<String> = (0..5).map(|i| format!("198.51.100.{i}")).collect();
    let mut statuses = futures_util::future::join_all(
        addresses
            .iter()
            .map(|a| test_card_from(&app, a, &connector)),
    )
    .await;
    statuses.sort_by_key(|(s, _, _)| *s);
    let ok = statuses
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(ok, 4, "a connector webhook's 4 a second");
    let (status, retry_after, body) = &statuses[4];
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        retry_after.is_some_and(|s| (1..=2).contains(&s)),
        "{retry_after:?}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("this webhook is at Teams' rate limit; try again in"),
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(retry_after.unwrap())).await;
    assert_eq!(
        test_card_from(&app, "198.51.100.9", &connector).await.0,
        StatusCode::OK,
        "after Retry-After"
    );
}
