//! With single sign-on: the edit key needs a token of the connection's tenant, a token of
//! the webhook's tenant rebinds a new webhook of the same team, and a Workflows webhook
//! moves only with the edit key.

use reqwest::StatusCode;

use super::*;
use crate::helpers::Creds;

#[tokio::test]
async fn with_sso_the_edit_key_needs_a_token_of_the_connections_tenant() {
    let s = sso().await;
    let valid = s.dev_token(TENANT, USER, "valid").await;
    let key = s
        .create_as(
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
    assert_eq!(s.name_as("tab-1", ok).await, "Nightly builds");
    assert_eq!(
        s.put_as("tab-1", None, "Renamed", ok).await.status(),
        StatusCode::OK
    );

    let res = s.get_as("tab-1", Creds::key(&key)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the key alone is not enough"
    );
    assert_eq!(error_code(res).await, "invalid_token");
    let other = s.dev_token(TENANT, USER, "other-tenant").await;
    let theirs = Creds {
        key: Some(&key),
        token: Some(&other),
        hook: None,
    };
    let res = s.get_as("tab-1", theirs).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "other_tenant");
    assert_eq!(
        s.put_as("tab-1", Some(&flow("b2")), "Taken over", theirs)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.delete_as("tab-1", theirs).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.name_as("tab-1", ok).await, "Renamed", "unchanged");
}

#[tokio::test]
async fn with_sso_a_token_of_the_webhooks_tenant_rebinds_a_new_webhook_of_the_same_team() {
    let s = sso().await;
    let valid = s.dev_token(TENANT, USER, "valid").await;
    let one = hook(TENANT, GROUP, "aa01");
    let two = hook(TENANT, GROUP, "bb02");
    s.create_as(
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
        s.name_as("c1", signed).await,
        "Nightly builds",
        "no key needed with a token of the tenant"
    );
    assert_eq!(
        s.put_as("c1", Some(&two), "Nightly builds", signed)
            .await
            .status(),
        StatusCode::OK
    );
    let on_two = Creds {
        hook: Some(&two),
        key: None,
        token: Some(&valid),
    };
    assert_eq!(s.name_as("c1", on_two).await, "Nightly builds");

    // Another team's webhook is refused even with a token of the tenant.
    let team = hook(TENANT, "99990000-0000-4000-8000-000000000099", "cc03");
    let res = s
        .put_as(
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
    let other = s.dev_token(TENANT, USER, "other-tenant").await;
    let res = s
        .put_as(
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
    assert_eq!(s.name_as("c1", on_two).await, "Nightly builds");
}

#[tokio::test]
async fn with_sso_a_workflows_webhook_moves_only_with_the_edit_key() {
    let s = sso().await;
    let valid = s.dev_token(TENANT, USER, "valid").await;
    let key = s
        .create_as(
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
    let res = s
        .put_as("tab-1", Some(&flow("b2")), "Moved", token_only)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a token proves the tenant, not the editor of an opaque webhook"
    );
    let res = s
        .put_as(
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
        s.name_as(
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
